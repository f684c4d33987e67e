"""Colab one-click: repository validation, the setup cell (local and on a fake Colab), the environment check,
and `make colab REPO=...` / `python -m course_utils colab` rewriting copies of the notebooks and README."""

from __future__ import annotations

import importlib.metadata as metadata
import shutil
import subprocess
import sys
import tomllib
import types
import zipfile
from pathlib import Path

import nbformat
import pytest
import torch
from packaging.requirements import Requirement

from course_utils.publish import colab

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


@pytest.fixture()
def fake_colab(monkeypatch, tmp_path):
    """A fake google.colab (widget manager recorded), COURSE_COLAB_ROOT in tmp_path, sys.path restored after."""
    enabled = []
    google = types.ModuleType("google")
    google_colab = types.ModuleType("google.colab")
    google_colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: enabled.append(True))
    google.colab = google_colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", google_colab)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("COURSE_COLAB_ROOT", str(tmp_path))
    monkeypatch.delenv("COURSE_REPO_URL", raising=False)
    return enabled


def fake_runs(monkeypatch, returncode: int = 0, stderr: str = "") -> list:
    """subprocess.run replaced by a recorder answering `returncode` / `stderr` (nothing is cloned or installed)."""
    calls = []

    def run(args, **kw):
        calls.append((list(args), kw))
        return subprocess.CompletedProcess(args, returncode, "", stderr)

    monkeypatch.setattr(subprocess, "run", run)
    return calls


def test_setup_cell_on_colab_clones_installs_and_enables_widgets(monkeypatch, fake_colab, tmp_path, capsys):
    calls = fake_runs(monkeypatch)
    exec(colab.setup_cell_source("someone/peft-course"), {})
    folder = tmp_path / colab.COURSE_FOLDER
    assert [args for args, _ in calls] == [
        ["git", "clone", "-q", "--depth", "1", "https://github.com/someone/peft-course", str(folder)],
        [sys.executable, "-m", "pip", "install", "-q", f"{folder}[colab]"],
    ]
    assert all(kw["env"]["GIT_TERMINAL_PROMPT"] == "0" and kw["timeout"] for _, kw in calls)
    assert sys.path[0] == str(folder) and fake_colab == [True]
    out = capsys.readouterr().out
    assert "강의 패키지를 설치합니다" in out and "환경 점검 (Colab)" in out
    if not torch.cuda.is_available():
        assert "[FAIL] GPU: 없음" in out and "T4 GPU" in out


def test_course_repo_url_overrides_the_clone_address(monkeypatch, fake_colab):
    monkeypatch.setenv("COURSE_REPO_URL", "file:///srv/mirror.git")
    calls = fake_runs(monkeypatch)
    exec(colab.setup_cell_source("someone/peft-course"), {})
    assert calls[0][0][5] == "file:///srv/mirror.git"


def test_a_bundle_in_the_colab_root_is_unpacked_and_its_wheel_installed(monkeypatch, fake_colab, tmp_path):
    inner = f"{colab.COURSE_FOLDER}/dist/course_utils-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(tmp_path / colab.BUNDLE_NAME, "w") as archive:
        archive.writestr(inner, b"wheel")
        archive.writestr(f"{colab.COURSE_FOLDER}/pyproject.toml", "")
    calls = fake_runs(monkeypatch)
    exec(colab.setup_cell_source("someone/peft-course"), {})
    assert [args for args, _ in calls] == [[sys.executable, "-m", "pip", "install", "-q", f"{tmp_path / inner}[colab]"]]


@pytest.mark.parametrize("stderr, cause", [
    ("Cloning...\nfatal: repository 'x' not found\nPlease make sure\nand the repository exists.",
     "fatal: repository 'x' not found"),
    ("", "?"),
])
def test_a_failed_clone_stops_with_one_korean_sentence(monkeypatch, fake_colab, tmp_path, stderr, cause):
    fake_runs(monkeypatch, returncode=128, stderr=stderr)
    with pytest.raises(Exception) as caught:
        exec(colab.setup_cell_source("someone/peft-course"), {})
    lines = caught.value._render_traceback_()  # what Jupyter and Colab show instead of a traceback
    assert lines == [f"설치 실패: https://github.com/someone/peft-course 저장소를 받지 못했습니다 ({cause}). "
                     f"주소를 확인하거나, 강사에게 받은 {colab.BUNDLE_NAME} 파일을 {tmp_path} 또는 Drive의 MyDrive에 "
                     "올리고 이 셀을 다시 실행하세요."]
    assert fake_colab == []


def test_a_damaged_bundle_says_to_fetch_it_again(monkeypatch, fake_colab, tmp_path):
    (tmp_path / colab.BUNDLE_NAME).write_bytes(b"not a zip")
    calls = fake_runs(monkeypatch)
    with pytest.raises(Exception) as caught:
        exec(colab.setup_cell_source("someone/peft-course"), {})
    (line,) = caught.value._render_traceback_()
    assert "파일을 풀지 못했습니다" in line and line.endswith("번들을 다시 받아 올리세요.") and calls == []


def test_a_failed_install_says_what_to_do(monkeypatch, fake_colab, tmp_path):
    (tmp_path / colab.COURSE_FOLDER).mkdir()
    (tmp_path / colab.COURSE_FOLDER / "pyproject.toml").write_text("")
    fake_runs(monkeypatch, returncode=1, stderr="ERROR: No matching distribution found for peft>=0.18\nnotice")
    with pytest.raises(Exception) as caught:
        exec(colab.setup_cell_source("someone/peft-course"), {})
    assert caught.value._render_traceback_() == [
        "설치 실패: 강의 패키지를 설치하지 못했습니다 (ERROR: No matching distribution found for peft>=0.18). "
        "인터넷 연결을 확인하고 이 셀을 다시 실행하세요."]


def test_the_setup_cell_also_looks_in_drive_and_stays_short():
    source = colab.setup_cell_source("someone/peft-course")
    assert '"/content/drive/MyDrive"' in source and "COURSE_COLAB_ROOT" in source
    assert len(source.splitlines()) <= 70 and max(map(len, source.splitlines())) <= 120


def test_the_check_needs_no_dev_packages():
    code = ("import sys\nfrom course_utils.publish.colab import check_environment\ncheck_environment()\n"
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
    assert bf16.status == ("OK" if torch.cuda.get_device_capability()[0] >= 8 else "--")


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
        assert code[0].metadata.get("cellView") == "form", path.name
        assert sum(colab.SETUP_MARKER in c.source for c in nb.cells) == 1
        assert sum(colab.BADGE_IMAGE in c.source for c in nb.cells) == 1
        assert nb.metadata["accelerator"] == "GPU" and nb.metadata["colab"]["gpuType"] == "T4", path.name
        nbformat.validate(nb)
    readme = (root / "README.md").read_text()
    links = colab.COLAB_URL.findall(readme)
    assert links and all(found == repo for _, found, _ in links)
    for path in notebooks:
        assert colab.colab_url(repo, path.name) in readme, f"README has no Colab badge for {path.name}"
    assert colab.configured_repo(root) == repo


def test_readme_rewrite_leaves_example_addresses_alone(tmp_path):
    """Only badge links (markdown link targets) change; an address shown as an example in backticks stays."""
    readme = tmp_path / "README.md"
    example = "`https://colab.research.google.com/github/내계정/저장소이름/blob/main/notebooks/00_peft_motivation.ipynb`"
    badge = "[![Open In Colab](x.svg)](https://colab.research.google.com/github/a/b/blob/main/notebooks/00_x.ipynb)"
    readme.write_text(f"{badge}\n\n예: {example}\n", encoding="utf-8")
    assert colab.rewrite_readme(readme, "x/y")
    text = readme.read_text(encoding="utf-8")
    assert "github/x/y/blob/main/release/practice/00_x.ipynb)" in text and example in text


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
    assert (checkout / "README.md").read_bytes() == (ROOT / "README.md").read_bytes()  # already at `original`
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
               if not (colab.BADGE_IMAGE in c.source or colab.is_setup_source(c.source))]
        new = [c for c in after.cells
               if not (colab.BADGE_IMAGE in c.source or colab.is_setup_source(c.source))]
        assert len(after.cells) == len(new) + 2, path.name
        assert new == old, path.name


def test_cli_rejects_a_bad_repo_and_touches_nothing(checkout):
    before = snapshot(checkout)
    result = subprocess.run([sys.executable, "-m", "course_utils", "colab", "not a repo", "--root", str(checkout)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "owner/name" in result.stderr
    assert snapshot(checkout) == before


def test_setup_cell_that_moved_is_put_back_first(checkout):
    path = colab.notebook_paths(checkout)[0]
    colab.rewrite("x/y", root=checkout)
    nb = nbformat.read(path, as_version=4)
    setup = next(i for i, c in enumerate(nb.cells) if colab.is_setup_source(c.source))
    nb.cells.append(nb.cells.pop(setup))
    nb.cells[-1].source = nb.cells[-1].source.replace("x/y", "old/repo")
    nbformat.write(nb, path)
    assert colab.rewrite("x/y", root=checkout) == [path]
    assert_points_at(checkout, "x/y")


def test_gpu_metadata_is_added_and_other_metadata_kept():
    nb = nbformat.v4.new_notebook(metadata={"language_info": {"name": "python"}, "colab": {"name": "x.ipynb"}})
    assert colab.apply_gpu_metadata(nb) is True
    assert nb.metadata == {"language_info": {"name": "python"}, "accelerator": "GPU",
                           "colab": {"name": "x.ipynb", "gpuType": "T4"}}
    assert colab.apply_gpu_metadata(nb) is False


def test_in_a_jupyter_kernel_a_failure_shows_one_line_and_stops_run_all(monkeypatch, tmp_path):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    missing = (tmp_path / "nowhere.git").as_uri()
    for key, value in {"COLAB_RELEASE_TAG": "test", "COURSE_COLAB_ROOT": str(tmp_path),
                       "COURSE_REPO_URL": missing}.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(colab.setup_cell_source("x/y")),
                                         nbformat.v4.new_code_cell("print('second cell ran')")])
    with pytest.raises(CellExecutionError):
        NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    (error,) = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert len(error.traceback) == 1 and error.traceback[0].startswith(f"설치 실패: {missing} 저장소를 받지 못했습니다")
    assert nb.cells[1].outputs == []  # Run all stops at the setup cell


@pytest.mark.parametrize("path", colab.notebook_paths(), ids=lambda p: p.name)
def test_every_notebook_opens_on_a_colab_gpu_runtime(path):
    metadata = nbformat.read(path, as_version=4).metadata
    assert metadata.get("accelerator") == "GPU" and metadata.get("colab", {}).get("gpuType") == "T4", \
        f"{path.name}: no Colab GPU metadata: run `make colab` (python -m course_utils colab)"


@pytest.mark.parametrize("path", colab.notebook_paths(), ids=lambda p: p.name)
def test_the_setup_cell_is_one_collapsed_colab_form(path):
    """Colab shows a form cell as its #@title line (code folded); no instructor note inside or right before it."""
    nb = nbformat.read(path, as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert setup.source.splitlines()[0] == colab.SETUP_TITLE and setup.source.splitlines()[0].startswith("#@title ")
    assert setup.metadata.get("cellView") == "form"
    assert "make colab" not in setup.source and "REPO=owner/name" not in setup.source
    before = nb.cells[nb.cells.index(setup) - 1]
    assert "강사용 메모" not in before.source, f"{path.name}: an instructor note sits right before the setup cell"


def test_rewrite_adds_the_form_view_to_an_old_setup_cell():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t"),
                                         nbformat.v4.new_code_cell("# [colab-setup] old\nprint(1)")])
    assert colab.apply_colab_cells(nb, "x/y", "00_x.ipynb")
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert setup.source == colab.setup_cell_source("x/y") and setup.metadata["cellView"] == "form"
    assert sum(c.cell_type == "code" for c in nb.cells) == 1
    assert not colab.apply_colab_cells(nb, "x/y", "00_x.ipynb")  # idempotent
