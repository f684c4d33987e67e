"""Colab one-click: repository validation, the setup cell (local and on a fake Colab), the environment check,
and `make colab REPO=...` / `python -m course_utils.colab` rewriting copies of the notebooks and README."""

from __future__ import annotations

import importlib.metadata as metadata
import shutil
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import nbformat
import pytest
import torch
from packaging.requirements import Requirement

from course_utils import colab

ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------------------------------
# Repository address
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("repo", ["a/b", "peft-course/peft-course-ko", "Owner9/name.with_dots-1"])
def test_valid_repos_pass(repo):
    assert colab.validate_repo(repo) == repo


@pytest.mark.parametrize("repo", ["", "a", "a/b/c", "a b/c", "-a/b", "a/..", "https://github.com/a/b", "a/b c",
                                  "a/b.git"])
def test_bad_repos_name_the_expected_form(repo):
    with pytest.raises(ValueError, match="owner/name"):
        colab.validate_repo(repo)


def test_repo_must_be_a_string():
    with pytest.raises(TypeError, match="repo"):
        colab.validate_repo(42)


def test_the_repository_lives_in_pyproject():
    url = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    assert url == f"https://github.com/{colab.configured_repo()}"


# ----------------------------------------------------------------------------------------------------
# The setup cell and the environment check
# ----------------------------------------------------------------------------------------------------


@pytest.fixture()
def recorded_runs(monkeypatch):
    """subprocess.run replaced by a recorder (nothing is installed or cloned)."""
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda args, **kw: calls.append((list(args), kw)))
    return calls


def test_setup_cell_locally_installs_nothing_and_prints_the_check(monkeypatch, recorded_runs, capsys):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    path_before = list(sys.path)
    exec(colab.setup_cell_source("x/y"), {})
    assert recorded_runs == [] and sys.path == path_before
    out = capsys.readouterr().out
    assert "환경 점검 (로컬)" in out
    for name in ("python", "torch", "transformers", "peft", "bitsandbytes", "GPU", "bf16"):
        assert any(line.startswith(("[OK] ", "[--] ", "[FAIL] ")) and f"] {name}:" in line
                   for line in out.splitlines()), f"no check line for {name}:\n{out}"
    if not torch.cuda.is_available():
        assert "[--] GPU: 없음 (CPU 오프라인 프로필로 실행)" in out and "[FAIL]" not in out


def test_setup_cell_on_colab_clones_installs_and_enables_widgets(monkeypatch, recorded_runs, capsys):
    enabled = []
    google = types.ModuleType("google")
    google_colab = types.ModuleType("google.colab")
    google_colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: enabled.append(True))
    google.colab = google_colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", google_colab)
    monkeypatch.setattr(sys, "path", list(sys.path))
    exec(colab.setup_cell_source("someone/peft-course"), {})
    folder = "/content/peft-course"
    assert [args for args, _ in recorded_runs] == [
        ["git", "clone", "-q", "--depth", "1", "https://github.com/someone/peft-course", folder],
        [sys.executable, "-m", "pip", "install", "-q", "-e", f"{folder}[colab]"],
    ]
    assert all(kw.get("check") for _, kw in recorded_runs)
    assert sys.path[0] == folder and enabled == [True]
    out = capsys.readouterr().out
    assert "환경 점검 (Colab)" in out
    if not torch.cuda.is_available():
        assert "[FAIL] GPU: 없음" in out and "T4 GPU" in out


def test_the_check_needs_no_dev_packages():
    code = ("import sys\nfrom course_utils.colab import check_environment\ncheck_environment()\n"
            "assert not {'nbformat', 'nbval', 'pytest'} & set(sys.modules), sorted(sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_check_package_inside_outside_and_missing():
    installed = metadata.version("transformers")
    inside = colab.check_package("transformers", f">={installed}")
    assert inside.status == "OK" and installed in inside.detail
    outside = colab.check_package("transformers", f"<{installed}")
    assert outside.status == "FAIL" and "지원 범위 밖" in outside.line()
    missing = colab.check_package("no-such-package-for-course-tests", ">=1")
    assert missing.status == "FAIL" and "설치되지 않음" in missing.detail


def test_required_versions_come_from_pyproject():
    declared = {Requirement(r).name: str(Requirement(r).specifier)
                for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    specs = colab.required_specifiers()
    for name in ("transformers", "peft", "bitsandbytes"):
        assert specs[name] == declared[name]


def test_environment_check_lines_in_order(capsys):
    checks = colab.check_environment(colab=False)
    assert [c.name for c in checks] == ["python", "torch", "transformers", "peft", "bitsandbytes", "GPU", "bf16"]
    assert all(c.status in ("OK", "FAIL", "--") for c in checks)
    assert [c.line() for c in checks] == capsys.readouterr().out.splitlines()[1:-1]
    assert all(c.status == "OK" for c in checks[:5]), [c.line() for c in checks]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU lines")
def test_missing_gpu_fails_only_on_colab():
    assert [c.status for c in colab.check_gpu(colab=False)] == ["--", "--"]
    assert [c.status for c in colab.check_gpu(colab=True)] == ["FAIL", "--"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_and_bf16_lines_on_a_gpu():
    gpu, bf16 = colab.check_gpu(colab=True)
    assert gpu.status == "OK" and torch.cuda.get_device_name(0) in gpu.detail
    assert bf16.status == ("OK" if torch.cuda.is_bf16_supported() else "--")


# ----------------------------------------------------------------------------------------------------
# Rewriting copies of the notebooks, README and pyproject
# ----------------------------------------------------------------------------------------------------


@pytest.fixture()
def checkout(tmp_path) -> Path:
    """A copy of the files `make colab` touches (and the Makefile)."""
    for name in ("pyproject.toml", "README.md", "Makefile"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    return tmp_path


def snapshot(root: Path) -> dict[str, bytes]:
    """Bytes of every file under `root`."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def assert_points_at(root: Path, repo: str) -> None:
    """Every notebook has the badge cell first and the setup cell as first code cell, README badges use `repo`."""
    notebooks = colab.notebook_paths(root)
    assert notebooks
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        assert nb.cells[0].source == colab.badge_cell_source(repo, path.name), path.name
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code[0].source == colab.setup_cell_source(repo), path.name
        assert "setup(" in code[1].source, path.name
        assert sum(colab.SETUP_MARKER in c.source for c in nb.cells) == 1
        assert sum(colab.BADGE_IMAGE in c.source for c in nb.cells) == 1
        nbformat.validate(nb)
    readme = (root / "README.md").read_text()
    links = colab.COLAB_URL.findall(readme)
    assert links and all(found == repo for _, found, _ in links)
    for path in notebooks:
        assert colab.colab_url(repo, path.name) in readme, f"README has no Colab badge for {path.name}"
    assert colab.configured_repo(root) == repo


def test_make_colab_rewrites_every_badge_and_setup_cell_of_a_copy(checkout):
    venv = Path(sys.prefix)
    result = subprocess.run(["make", "-s", "colab", "REPO=x/y", f"VENV={venv}"], cwd=checkout,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_points_at(checkout, "x/y")
    assert (ROOT / "pyproject.toml").read_text() != (checkout / "pyproject.toml").read_text()


def test_rewrite_is_idempotent_and_reversible(checkout):
    original = colab.configured_repo(checkout)
    colab.rewrite(original, root=checkout)
    assert_points_at(checkout, original)
    direct = snapshot(checkout)
    assert colab.rewrite(original, root=checkout) == []
    assert snapshot(checkout) == direct
    changed = colab.rewrite("other-owner/other-name", root=checkout)
    assert len(changed) == 2 + len(colab.notebook_paths(checkout))
    assert_points_at(checkout, "other-owner/other-name")
    colab.rewrite(original, root=checkout)
    assert snapshot(checkout) == direct


def test_rewrite_only_adds_two_cells_and_keeps_the_rest(checkout):
    before = {p.name: nbformat.read(p, as_version=4) for p in colab.notebook_paths(checkout)}
    colab.rewrite("x/y", root=checkout)
    for path in colab.notebook_paths(checkout):
        after = nbformat.read(path, as_version=4)
        old = [c for c in before[path.name].cells
               if not (colab.BADGE_IMAGE in c.source or c.source.startswith(colab.SETUP_MARKER))]
        new = [c for c in after.cells
               if not (colab.BADGE_IMAGE in c.source or c.source.startswith(colab.SETUP_MARKER))]
        assert len(after.cells) == len(new) + 2, path.name
        assert new == old, path.name


def test_cli_rejects_a_bad_repo_and_touches_nothing(checkout):
    before = snapshot(checkout)
    result = subprocess.run([sys.executable, "-m", "course_utils.colab", "not a repo", "--root", str(checkout)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "owner/name" in result.stderr
    assert snapshot(checkout) == before


def test_setup_cell_that_moved_is_put_back_first(checkout):
    path = colab.notebook_paths(checkout)[0]
    colab.rewrite("x/y", root=checkout)
    nb = nbformat.read(path, as_version=4)
    setup = next(i for i, c in enumerate(nb.cells) if c.source.startswith(colab.SETUP_MARKER))
    nb.cells.append(nb.cells.pop(setup))
    nb.cells[-1].source = nb.cells[-1].source.replace("x/y", "old/repo")
    nbformat.write(nb, path)
    assert colab.rewrite("x/y", root=checkout) == [path]
    assert_points_at(checkout, "x/y")
