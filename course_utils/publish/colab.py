"""Colab one-click: the Open-in-Colab badge, the setup cell, an environment check, and a rewrite tool.

The repository address lives in one place, ``[project.urls] Repository`` in ``pyproject.toml``;
``make colab REPO=owner/name`` (``python -m course_utils colab owner/name``) updates it and rewrites the
badge and
setup cells of every notebook and the badges of README.md from it.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from course_utils.publish.editions import PRACTICE_DIR
from course_utils.runtime.cli import CommandParser
from course_utils.runtime.paths import ROOT

DIST_NAME = "course-utils"
BRANCH = "main"
REPO_PATTERN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
SETUP_MARKER = "# [colab-setup]"
# Colab shows a code cell whose metadata says cellView "form" as its #@title line only, the code folded away.
SETUP_TITLE = "#@title 환경 설정 (이 셀을 실행하세요)"
FORM_VIEW = {"cellView": "form"}
BADGE_CELL_ID, SETUP_CELL_ID = "colab-badge", "colab-setup"
# `make bundle` writes dist/BUNDLE_NAME; the setup cell looks for it in the Colab root and in Drive's MyDrive.
BUNDLE_NAME = "peft-course-colab.zip"
COURSE_FOLDER = "peft-course"  # where the bundle unpacks and the clone goes, under $COURSE_COLAB_ROOT
# Colab opens a notebook carrying this metadata on a GPU runtime (T4 is the free tier's GPU).
ACCELERATOR, GPU_TYPE = "GPU", "T4"
# The requirements the course checks at start-up (torch is Colab's own build; the others come from pyproject).
CHECKED_PACKAGES = ("torch", "transformers", "peft", "bitsandbytes")
COLAB_URL = re.compile(r"(?<=\]\()(https://colab\.research\.google\.com/github/)([^/\s)]+/[^/\s)]+)(/blob/)")
#: A whole badge target in markdown, ending in the notebook's file name (any repository, branch and folder).
BADGE_TARGET = re.compile(r"(?<=\]\()https://colab\.research\.google\.com/github/[^\s)]+/(\d\d_[^/\s)]+\.ipynb)(?=\))")
PYPROJECT_REPO = re.compile(r'(?m)^(Repository\s*=\s*")https://github\.com/([^"]+)(")')


# ----------------------------------------------------------------------------------------------------
# The repository address
# ----------------------------------------------------------------------------------------------------


def validate_repo(repo: str) -> str:
    """Return `repo` if it is a GitHub 'owner/name', else raise ValueError naming the expected form."""
    if not isinstance(repo, str):
        raise TypeError(f"repo must be a str 'owner/name', got {type(repo).__name__}")
    repo = repo.strip()
    name = repo.split("/")[-1]
    if not REPO_PATTERN.fullmatch(repo) or name in (".", "..") or name.endswith(".git"):
        raise ValueError(f"repo must be a GitHub 'owner/name' (letters, digits, '-', '.', '_'; no '.git'), e.g. "
                         f"'peft-course/peft-course-ko'; got {repo!r}")
    return repo


def configured_repo(root: Path = ROOT) -> str:
    """The repository from ``[project.urls] Repository`` in ``root/pyproject.toml``."""
    urls = tomllib.loads((Path(root) / "pyproject.toml").read_text(encoding="utf-8"))["project"].get("urls", {})
    url = urls.get("Repository", "")
    prefix = "https://github.com/"
    if not url.startswith(prefix):
        raise ValueError(f"pyproject.toml [project.urls] Repository must be '{prefix}owner/name', got {url!r}")
    return validate_repo(url[len(prefix):])


def set_configured_repo(repo: str, root: Path = ROOT) -> bool:
    """Write `repo` into ``[project.urls] Repository``; True if the file changed."""
    repo = validate_repo(repo)
    path = Path(root) / "pyproject.toml"
    text = path.read_text(encoding="utf-8")
    if not PYPROJECT_REPO.search(text):
        raise ValueError(f"{path}: no line 'Repository = \"https://github.com/owner/name\"' under [project.urls]")
    new = PYPROJECT_REPO.sub(lambda m: f"{m[1]}https://github.com/{repo}{m[3]}", text, count=1)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


# ----------------------------------------------------------------------------------------------------
# Generated cells
# ----------------------------------------------------------------------------------------------------


def colab_url(repo: str, notebook: str) -> str:
    """The Colab address that opens `notebook` (a file name in notebooks/) from GitHub, in its practice edition
    (no instructor notes, no slide text: editions.PRACTICE_DIR)."""
    return (f"https://colab.research.google.com/github/{validate_repo(repo)}/blob/{BRANCH}/{PRACTICE_DIR}/"
            f"{notebook}")


def badge_markdown(repo: str, notebook: str) -> str:
    """The Open-in-Colab badge for `notebook` as markdown."""
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(repo, notebook)})"


def badge_cell_source(repo: str, notebook: str) -> str:
    """Source of the first (markdown) cell: the badge and one Korean line on what the next cell does."""
    return (f"{badge_markdown(repo, notebook)}\n\n"
            "Colab에서는 아래 첫 코드 셀이 강의 패키지를 설치하고 환경을 점검합니다 (GPU 런타임 권장). "
            "로컬에서는 설치 없이 점검만 합니다.")


def setup_cell_source(repo: str) -> str:
    """Source of the first code cell: on Colab install the course (bundle, else clone); everywhere print the check."""
    return SETUP_TEMPLATE.replace("__REPO__", validate_repo(repo)).replace("__BUNDLE__", BUNDLE_NAME)


# The cell a student runs first; it must work before course_utils exists, so it uses the standard library only.
# Every failure raises SetupError, which Jupyter and Colab render as its one Korean sentence (no traceback).
SETUP_TEMPLATE = f'''{SETUP_TITLE}
{SETUP_MARKER} Colab에서는 강의 패키지를 설치하고, 어디서나 환경을 점검합니다.
import importlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = "__REPO__"


class SetupError(Exception):
    def _render_traceback_(self):  # 트레이스백 대신 한 문장만 보여 줍니다
        return [f"설치 실패: {{self}}"]


def run(args, what, todo):
    """명령을 실행하고, 실패하면 '무엇이 안 됐는지 (원인). 할 일.'만 보여 주고 멈춥니다."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=900,
                              env={{**os.environ, "GIT_TERMINAL_PROMPT": "0"}})
        lines = done.stderr.strip().splitlines() or ["?"]  # git: 'fatal: ...', pip: 'ERROR: ...'
        cause = next((x for x in lines if x.startswith(("fatal:", "ERROR:"))), lines[-1]) if done.returncode else ""
    except (OSError, subprocess.SubprocessError) as err:
        cause = str(err)
    if cause:
        raise SetupError(f"{{what}} ({{cause}}). {{todo}}") from None


if "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ:  # Colab에서만 설치합니다
    root = Path(os.environ.get("COURSE_COLAB_ROOT", "/content"))
    folder = root / "{COURSE_FOLDER}"
    bundles = [where / "__BUNDLE__" for where in (root, Path("/content/drive/MyDrive"))]
    bundle = next((path for path in bundles if path.is_file()), None)
    if not (folder / "pyproject.toml").is_file():  # 1) 강사가 나눠 준 번들, 2) 저장소 복제
        shutil.rmtree(folder, ignore_errors=True)
        url = os.environ.get("COURSE_REPO_URL", "https://github.com/" + REPO)
        if bundle:
            print(f"강사가 나눠 준 번들을 풉니다: {{bundle}}")
            try:
                with zipfile.ZipFile(bundle) as archive:
                    archive.extractall(root)
            except (OSError, zipfile.BadZipFile) as err:
                raise SetupError(f"{{bundle}} 파일을 풀지 못했습니다 ({{err}}). 번들을 다시 받아 올리세요.") from None
        else:
            print(f"저장소를 받습니다: {{url}}")
            run(["git", "clone", "-q", "--depth", "1", url, str(folder)], f"{{url}} 저장소를 받지 못했습니다",
                f"주소를 확인하거나, 강사에게 받은 __BUNDLE__ 파일을 {{root}} 또는 Drive의 MyDrive에 "
                "올리고 이 셀을 다시 실행하세요.")
    print("강의 패키지를 설치합니다...")
    wheels = sorted(folder.glob("dist/*.whl"))  # 번들에는 미리 만든 wheel이 들어 있습니다
    package = f"{{wheels[-1]}}[colab]" if wheels else f"{{folder}}[colab]"
    run([sys.executable, "-m", "pip", "install", "-q", package], "강의 패키지를 설치하지 못했습니다",
        "인터넷 연결을 확인하고 이 셀을 다시 실행하세요.")
    sys.path.insert(0, str(folder))  # 이 폴더의 course_utils가 data/와 figs/를 찾습니다
    importlib.invalidate_caches()
    from google.colab import output

    output.enable_custom_widget_manager()

from course_utils.publish.colab import check_environment

env_checks = check_environment()'''


# ----------------------------------------------------------------------------------------------------
# Environment check
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One line of the environment check: status is 'OK', 'FAIL' or '--' (not needed here)."""

    name: str
    status: str
    detail: str

    def line(self) -> str:
        """The printed line, e.g. '[OK] transformers 5.24.0 (필요: >=4.56)'."""
        return f"[{self.status}] {self.name}: {self.detail}"


def required_specifiers(dist: str = DIST_NAME) -> dict[str, str]:
    """Version ranges the installed course package declares, e.g. {'transformers': '>=4.56'}."""
    from packaging.requirements import Requirement

    try:
        requires = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        return {}
    out = {}
    for text in requires:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            out[req.name.lower()] = str(req.specifier)
    return out


def check_package(name: str, specifier: str = "") -> Check:
    """Whether `name` is installed and its version is inside `specifier`."""
    from packaging.specifiers import SpecifierSet

    try:
        installed = metadata.version(name)
    except metadata.PackageNotFoundError:
        return Check(name, "FAIL", f"설치되지 않음 (필요: {specifier or '아무 버전'})")
    wanted = f" (필요: {specifier})" if specifier else ""
    if specifier and not SpecifierSet(specifier).contains(installed, prereleases=True):
        return Check(name, "FAIL", f"{installed}, 지원 범위 밖{wanted}")
    return Check(name, "OK", f"{installed}{wanted}")


def check_gpu(colab: bool) -> list[Check]:
    """GPU and bf16 lines: a missing GPU fails only on Colab (locally the offline CPU profile is expected)."""
    import torch

    if not torch.cuda.is_available():
        if colab:
            return [Check("GPU", "FAIL", "없음 — 런타임 → 런타임 유형 변경 → T4 GPU를 고르세요"),
                    Check("bf16", "--", "GPU 없음")]
        return [Check("GPU", "--", "없음 (CPU 오프라인 프로필로 실행)"), Check("bf16", "--", "GPU 없음 (CPU는 fp32)")]
    from course_utils.runtime.units import GIB  # GPUs are compared in GiB everywhere in the course

    props = torch.cuda.get_device_properties(0)
    gpu = Check("GPU", "OK", f"{props.name}, {props.total_memory / GIB:.1f} GiB")
    from course_utils.runtime.env import gpu_computes_bf16  # a T4 says bf16 is "supported" (emulated): ask the hardware

    if gpu_computes_bf16():
        return [gpu, Check("bf16", "OK", "지원 (학습은 bf16)")]
    return [gpu, Check("bf16", "--", "미지원 (T4 등): fp16으로 학습")]


def check_environment(colab: bool | None = None, verbose: bool = True) -> list[Check]:
    """Print one [OK]/[FAIL]/[--] line per requirement (python, torch, transformers, peft, bitsandbytes, GPU, bf16)."""
    from course_utils.runtime.env import in_colab

    colab = in_colab() if colab is None else colab
    specs = required_specifiers()
    python_ok = sys.version_info >= (3, 11)
    checks = [Check("python", "OK" if python_ok else "FAIL", f"{sys.version.split()[0]} (필요: >=3.11)")]
    checks += [check_package(name, specs.get(name, "")) for name in CHECKED_PACKAGES]
    checks += check_gpu(colab)
    if verbose:
        print(f"환경 점검 ({'Colab' if colab else '로컬'})")
        for check in checks:
            print(check.line())
        failed = [c.name for c in checks if c.status == "FAIL"]
        print(f"실패 {len(failed)}개: {', '.join(failed)}" if failed else "필요한 것이 모두 준비되었습니다.")
    return checks


# ----------------------------------------------------------------------------------------------------
# Rewriting notebooks and README
# ----------------------------------------------------------------------------------------------------


def _is_badge_cell(cell) -> bool:
    """A markdown cell holding the Open-in-Colab badge."""
    return cell.cell_type == "markdown" and BADGE_IMAGE in cell.source


def is_setup_source(source: str) -> bool:
    """Whether `source` is a generated setup cell: the marker on its first line, or on the line after the form title."""
    return any(line.startswith(SETUP_MARKER) for line in source.split("\n", 2)[:2])


def _is_setup_cell(cell) -> bool:
    """A code cell generated by setup_cell_source."""
    return cell.cell_type == "code" and is_setup_source(cell.source)


def apply_colab_cells(nb, repo: str, notebook: str) -> bool:
    """Insert or update the badge cell (cell 0) and the setup cell (first code cell); True if `nb` changed."""
    import nbformat  # only for rewriting (a dev tool); the setup cell on Colab needs just check_environment

    badge, setup = badge_cell_source(repo, notebook), setup_cell_source(repo)
    changed = False
    badges = [i for i, c in enumerate(nb.cells) if _is_badge_cell(c)]
    if badges and badges[0] != 0:
        nb.cells.insert(0, nb.cells.pop(badges[0]))
        changed = True
    if not badges:
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(badge, id=BADGE_CELL_ID))
        changed = True
    elif nb.cells[0].source != badge:
        nb.cells[0].source = badge
        changed = True
    setups = [i for i, c in enumerate(nb.cells) if _is_setup_cell(c)]
    first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), len(nb.cells))
    if setups and setups[0] != first_code:
        nb.cells.insert(first_code, nb.cells.pop(setups[0]))
        changed = True
    if not setups:
        nb.cells.insert(first_code, nbformat.v4.new_code_cell(setup, id=SETUP_CELL_ID, metadata=dict(FORM_VIEW)))
        changed = True
    elif nb.cells[first_code].source != setup:
        cell = nb.cells[first_code]
        cell.source, cell.outputs = setup, []  # the execution count stays: rewriting back restores the same bytes
        changed = True
    cell_meta = nb.cells[first_code].metadata
    if any(cell_meta.get(key) != value for key, value in FORM_VIEW.items()):
        cell_meta.update(FORM_VIEW)  # Colab folds the code away and shows the #@title line
        changed = True
    return apply_gpu_metadata(nb) or changed


def apply_gpu_metadata(nb) -> bool:
    """Set Colab's GPU runtime metadata (accelerator GPU, gpuType T4), keeping other keys; True if `nb` changed."""
    colab_meta = nb.metadata.setdefault("colab", {})
    if nb.metadata.get("accelerator") == ACCELERATOR and colab_meta.get("gpuType") == GPU_TYPE:
        return False
    nb.metadata["accelerator"], colab_meta["gpuType"] = ACCELERATOR, GPU_TYPE
    return True


def rewrite_notebook(path: Path, repo: str) -> bool:
    """Apply the badge and setup cells to the notebook at `path`; write and return True only if it changed."""
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    if not apply_colab_cells(nb, repo, path.name):
        return False
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return True


def rewrite_readme(path: Path, repo: str) -> bool:
    """Point every Colab badge link in the README at `repo`'s practice edition; True if the file changed."""
    path, repo = Path(path), validate_repo(repo)
    text = path.read_text(encoding="utf-8")
    new = BADGE_TARGET.sub(lambda m: colab_url(repo, m[1]), text)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def notebook_paths(root: Path = ROOT) -> list[Path]:
    """The numbered course notebooks under root/notebooks."""
    return sorted((Path(root) / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def rewrite(repo: str | None = None, paths: Sequence[Path] | None = None, root: Path = ROOT) -> list[Path]:
    """Set the repository (default: the configured one) and rewrite pyproject, README and notebooks; changed files."""
    root = Path(root)
    repo = validate_repo(repo) if repo is not None else configured_repo(root)
    changed = []
    if set_configured_repo(repo, root):
        changed.append(root / "pyproject.toml")
    readme = root / "README.md"
    if readme.is_file() and rewrite_readme(readme, repo):
        changed.append(readme)
    for path in paths if paths is not None else notebook_paths(root):
        if rewrite_notebook(Path(path), repo):
            changed.append(Path(path))
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m course_utils colab [owner/name] [--root DIR] [NOTEBOOK ...]."""
    parser = CommandParser(prog="python -m course_utils colab", description=main.__doc__)
    parser.add_argument("repo", nargs="?", help="GitHub owner/name (default: pyproject [project.urls] Repository)")
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to rewrite (default: notebooks/NN_*)")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    try:
        changed = rewrite(args.repo or None, args.notebooks or None, args.root)
    except ValueError as err:
        parser.exit(2, f"error: {err}\n")
    repo = configured_repo(args.root)
    print(f"저장소 {repo}: 바뀐 파일 {len(changed)}개" + "".join(f"\n  {p}" for p in changed))
    return 0
