"""`make run`: execute every notebook headless into build/ (.ipynb + HTML) and print a summary."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbconvert import HTMLExporter

from course_utils.runtime.cli import CommandParser
from course_utils.runtime.env import BUILD_DIR_ENV, PROFILE_ENV, profile_override
from course_utils.runtime.execute import execute
from course_utils.runtime.notebook import HEADLINE_MIME
from course_utils.runtime.paths import ROOT


def headlines(nb: nbformat.NotebookNode) -> dict:
    """All numbers a notebook reported with `course_utils.runtime.notebook.headline`."""
    found: dict = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            found.update(output.get("data", {}).get(HEADLINE_MIME, {}))
    return found


def run_notebook(path: Path, out_dir: Path, timeout: int, env: dict[str, str] | None = None) -> dict:
    """Execute one notebook (its kernel's environment plus `env`), write the executed copy and its HTML, return a
    summary row."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    status = "ok"
    try:
        execute(nb, path.parent, timeout=timeout, env=env)
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
        status = f"FAILED: {type(err).__name__}: {str(err).strip().splitlines()[-1][:100]}"
    minutes = (time.perf_counter() - start) / 60
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_dir / path.name)
    html, _ = HTMLExporter().from_notebook_node(nb)
    (out_dir / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    return {"notebook": path.name, "minutes": minutes, "status": status, "headline": headlines(nb)}


def format_summary(rows: list[dict]) -> str:
    """The one-screen summary table."""
    lines = [f"{'notebook':32} {'min':>5}  {'status':8} headline numbers", "-" * 100]
    for row in rows:
        numbers = ", ".join(f"{k}={v}" for k, v in row["headline"].items())
        lines.append(f"{row['notebook']:32} {row['minutes']:5.2f}  {row['status'][:60]:8} {numbers}")
    return "\n".join(lines)


def comparison_table(out_dir: Path, since: float | None = None) -> str | None:
    """Notebook 05's method comparison as text, read from its results file in `out_dir`.

    None if the file is absent or (with `since`, a time.time() value) older than `since`: a stale table from an
    earlier run is not shown as this run's.
    """
    from course_utils.comparison.results import format_table, read_results, results_path

    path = results_path(out_dir)
    if not path.is_file() or (since is not None and path.stat().st_mtime < since):
        return None
    results = read_results(path)
    meta = results["meta"]
    title = (f"method comparison ({path.name}: profile={meta.get('profile')}, steps={meta.get('steps')}, "
             f"seeds={meta.get('seeds')})")
    return title + "\n" + format_table(results["summary"])


def main(argv: list[str] | None = None) -> int:
    """Run the notebooks given (default: all of notebooks/) and print the summary; 1 if any failed."""
    parser = CommandParser(prog="python -m course_utils run", description=__doc__)
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    # the kernels' environment: the offline profile unless one is set; notebook 05 writes its results to --out
    env = {PROFILE_ENV: profile_override() or "offline", BUILD_DIR_ENV: str(args.out.resolve())}
    rows = []
    started = time.time()
    for path in paths:
        print(f"running {path.name} ...", flush=True)
        rows.append(run_notebook(path, args.out, args.timeout, env))
    print()
    print(format_summary(rows))
    table = comparison_table(args.out, since=started)
    if table:
        print("\n" + table)
    print(f"\nexecuted notebooks and HTML: {args.out}")
    return int(any(row["status"] != "ok" for row in rows))
