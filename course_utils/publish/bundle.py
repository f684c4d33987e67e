"""`make bundle`: one zip an instructor hands out (LMS, Drive) instead of publishing a repository.

``dist/peft-course-colab.zip`` holds one folder, ``peft-course/``: the course package built as a wheel
(``dist/*.whl``, installs without a build step), the notebooks, the bundled data and figures, and the package
source (the notebooks' ``course_utils`` finds ``data/`` and ``figs/`` next to itself). ``pyproject.toml`` is
written last: the Colab setup cell takes a folder holding it as completely unpacked.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from course_utils.publish.colab import BUNDLE_NAME, COURSE_FOLDER
from course_utils.publish.editions import PRACTICE_DIR
from course_utils.runtime.cli import CommandParser
from course_utils.runtime.paths import ROOT

# What the bundle carries besides the wheel, relative to the repository root (folders are copied whole).
# results/lessons_offline.json: the stored runs notebooks 01 and 04 show in every profile (Colab included);
# results/md_offline.json: the ΔM/ΔD runs notebook 02 shows in every profile;
# results/llm_sweep.json: notebook 06's budget when a Colab session falls back to the offline profile.
# PRACTICE_DIR (release/practice): the student edition of the notebooks (no slide text, no instructor notes).
CONTENTS = ("README.md", "course_utils", "notebooks", PRACTICE_DIR, "data", "figs",
            "results/lessons_offline.json", "results/md_offline.json", "results/llm_sweep.json")
SKIPPED = ("__pycache__", ".ipynb_checkpoints")


def bundle_files(root: Path = ROOT) -> list[Path]:
    """The repository files the bundle carries (no caches), relative to `root`, pyproject.toml last."""
    root = Path(root)
    files = []
    for name in CONTENTS:
        path = root / name
        if not path.exists():
            raise FileNotFoundError(f"the bundle needs {path} (run make bundle from the repository root)")
        found = sorted(path.rglob("*")) if path.is_dir() else [path]
        files += [p.relative_to(root) for p in found
                  if p.is_file() and not any(part in SKIPPED for part in p.parts) and p.suffix != ".pyc"]
    return files + [Path("pyproject.toml")]


def build_wheel(out_dir: Path, root: Path = ROOT) -> Path:
    """Build the course package's wheel into `out_dir` from a clean copy of the sources (no build/ in the tree)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "src"
        source.mkdir()
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(Path(root) / name, source / name)
        shutil.copytree(Path(root) / "course_utils", source / "course_utils",
                        ignore=shutil.ignore_patterns(*SKIPPED, "*.pyc"))
        result = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                                 "-w", str(out_dir), str(source)], capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(f"pip wheel failed:\n{result.stderr[-2000:]}")
    wheels = sorted(out_dir.glob("course_utils-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one course_utils wheel in {out_dir}, found {[w.name for w in wheels]}")
    return wheels[0]


def build_bundle(out: Path | None = None, root: Path = ROOT) -> Path:
    """Write the zip (default root/dist/peft-course-colab.zip) and return its path."""
    root = Path(root)
    out = Path(out) if out is not None else root / "dist" / BUNDLE_NAME
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = build_wheel(Path(tmp), root)
        partial = out.with_suffix(".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(wheel, f"{COURSE_FOLDER}/dist/{wheel.name}")
            for rel in bundle_files(root):
                archive.write(root / rel, f"{COURSE_FOLDER}/{rel.as_posix()}")
        partial.replace(out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: python -m course_utils bundle [--out FILE] [--root DIR]."""
    parser = CommandParser(prog="python -m course_utils bundle", description=main.__doc__)
    parser.add_argument("--out", type=Path, default=None, help=f"zip to write (default: dist/{BUNDLE_NAME})")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    out = build_bundle(args.out, args.root)
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    wheel = next(n for n in names if n.endswith(".whl"))
    notebooks = sum(n.endswith(".ipynb") and f"/{PRACTICE_DIR}/" not in n for n in names)
    practice = sum(n.endswith(".ipynb") and f"/{PRACTICE_DIR}/" in n for n in names)
    print(f"{out}: 파일 {len(names)}개, 노트북 {notebooks}개 (학생판 {practice}개), {Path(wheel).name}, "
          f"{out.stat().st_size / 2**20:.1f} MiB")
    return 0
