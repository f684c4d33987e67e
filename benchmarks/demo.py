"""The instructor's demo profile: seconds per notebook, each run in its demo edition under COURSE_PROFILE=demo.

    python benchmarks/demo.py                 # every notebook 00-05, 3 runs each (median reported)
    python benchmarks/demo.py --repeat 1 notebooks/05_method_comparison.ipynb

For each notebook: the demo edition (``editions.without(nb, {"verify"})``: verification-only cells dropped) is
executed with nbclient in a fresh kernel with COURSE_PROFILE=demo and the hub switched off; the time is the whole
execution including the kernel start. The target is <= 30 s per notebook on a quiet 2-core CPU. This is a
benchmark script, not a test: a busy machine makes every number larger.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_utils.publish.editions import without  # noqa: E402
from course_utils.runtime.execute import execute  # noqa: E402

TARGET_S = 30.0
DEMO_ENV = {"COURSE_PROFILE": "demo", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def demo_edition(path: Path) -> nbformat.NotebookNode:
    """The notebook without its verify cells, outputs cleared."""
    nb = nbformat.from_dict(without(nbformat.read(path, as_version=4), {"verify"}))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


def run_once(path: Path, timeout: int) -> float:
    """Seconds to execute the demo edition of `path` once (kernel start included); raises if a cell fails."""
    nb = demo_edition(path)
    start = time.perf_counter()
    execute(nb, path.parent, timeout=timeout, env=DEMO_ENV)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Run every notebook `--repeat` times; print per-run seconds and the median, flag those over the target."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", help="default: every numbered notebook (notebooks/0*_*.ipynb)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be >= 1, got {args.repeat}")
    paths = [Path(p) for p in args.notebooks] or sorted((ROOT / "notebooks").glob("0[0-9]_*.ipynb"))
    print(f"demo profile, {args.repeat} run(s) per notebook, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}")
    print(f"{'notebook':32} {'runs (s)':>26} {'median (s)':>11}")
    medians = {}
    failed = []
    for path in paths:
        try:
            times = [run_once(path, args.timeout) for _ in range(args.repeat)]
        except Exception as err:  # noqa: BLE001 - report the notebook and go on with the others
            failed.append(path.name)
            print(f"{path.name:32} FAILED: {type(err).__name__}: {str(err).strip().splitlines()[-1][:90]}", flush=True)
            continue
        medians[path.name] = statistics.median(times)
        flag = "" if medians[path.name] <= TARGET_S else f"  > {TARGET_S:.0f} s"
        print(f"{path.name:32} {', '.join(f'{t:.1f}' for t in times):>26} {medians[path.name]:>11.1f}{flag}",
              flush=True)
    print(f"total of medians: {sum(medians.values()):.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
