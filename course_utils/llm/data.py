"""The instruction rows of notebook 06: bundled Korean instructions (data/ko_instructions.jsonl, CC0)."""

from __future__ import annotations

import json
from pathlib import Path

from course_utils.runtime.paths import DATA_DIR

INSTRUCTIONS_FILE = DATA_DIR / "ko_instructions.jsonl"
TASKS = ("aspect", "sentiment")
SPLITS = ("train", "validation", "test")


def load_instructions(task: str, split: str, path: str | Path = INSTRUCTIONS_FILE) -> list[dict]:
    """The rows of one task and split ({instruction, input, output, ...}), in file order."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row for row in rows if row["task"] == task and row["split"] == split]


def answers(task: str) -> list[str]:
    """Every well-formed answer of a task (the format check of notebook 06): the aspects, or 긍정/부정."""
    return sorted({row["output"] for split in SPLITS for row in load_instructions(task, split)})
