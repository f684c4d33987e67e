"""Notebook 06's offline budget, chosen on the validation split (never on test) by ``make llm-sweep``.

The sweep (course_utils/runs/llm_sweep.py) trains one QLoRA adapter per (steps, learning rate) on the train split,
scores greedy answers on the validation split and stores every row in results/llm_sweep.json. The notebook reads the
chosen budget from there: the best validation exact match, ties to fewer steps (cheaper), then the smaller rate.
"""

from __future__ import annotations

import json
from pathlib import Path

from course_utils.runtime.paths import RESULTS_DIR

SWEEP_FILE = RESULTS_DIR / "llm_sweep.json"
#: What every sweep run shares (the grid varies steps and learning rate per task).
FIXED = {"batch_size": 16, "max_length": 128, "lora_alpha_over_r": 2, "seed": 42}
GRID = {"aspect": {"rank": 16, "steps": (150, 300, 400), "learning_rate": (1e-3, 3e-3)},
        "sentiment": {"rank": 8, "steps": (75, 150, 300), "learning_rate": (1e-3, 2e-3)}}


def load_sweep(path: str | Path = SWEEP_FILE) -> dict:
    """The stored sweep: {meta: {..., selected_on: 'validation'}, runs: [{task, steps, learning_rate, rank, ...}]}."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path.name}이 없습니다: make llm-sweep으로 만드세요 (no sweep file)")
    return json.loads(path.read_text(encoding="utf-8"))


def selected_budget(task: str, sweep: dict | None = None) -> dict:
    """The chosen run of `task`: best validation exact match, then fewer steps, then the smaller learning rate."""
    sweep = load_sweep() if sweep is None else sweep
    if sweep.get("meta", {}).get("selected_on") != "validation":
        raise ValueError("the sweep must be scored on the validation split (meta.selected_on == 'validation')")
    runs = [run for run in sweep["runs"] if run["task"] == task]
    if not runs:
        raise ValueError(f"no sweep run for task {task!r}; tasks: {sorted({r['task'] for r in sweep['runs']})}")
    best = max(runs, key=lambda r: (r["validation_exact"], -r["steps"], -r["learning_rate"]))
    return {k: best[k] for k in ("task", "steps", "learning_rate", "rank", "validation_exact")} | {
        k: sweep["meta"]["fixed"][k] for k in ("batch_size", "max_length", "seed")}
