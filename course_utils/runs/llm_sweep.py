"""``make llm-sweep``: choose notebook 06's offline budget on the validation split (results/llm_sweep.json).

    python -m course_utils.runs.llm_sweep [--out results/llm_sweep.json]

Each grid point trains a fresh QLoRA adapter (the course's tiny LLaMA in 4-bit, LoRA all-linear) on the train split
with trl's SFTTrainer and scores greedy answers on the validation split. The test split is never read here.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

from course_utils.llm import budget
from course_utils.runtime.io import versions, write_json


def train_one(task: str, steps: int, learning_rate: float, rank: int) -> dict:
    """One grid point: validation exact/format match after `steps` steps at `learning_rate`."""
    from course_utils.llm.data import answers, load_instructions
    from course_utils.llm.generation import generate_answers, score
    from course_utils.llm.models import TINY_MODEL_DIR, load_causal_lm, load_tokenizer
    from course_utils.llm.sft import add_lora, build_sft_trainer
    from course_utils.runtime.env import seed_everything

    fixed = budget.FIXED
    seed_everything(fixed["seed"])
    tokenizer = load_tokenizer(str(TINY_MODEL_DIR))
    model = add_lora(load_causal_lm(str(TINY_MODEL_DIR)), rank, seed=fixed["seed"])
    started = time.perf_counter()
    build_sft_trainer(model, tokenizer, load_instructions(task, "train"), learning_rate=learning_rate,
                      max_steps=steps, batch_size=fixed["batch_size"], max_length=fixed["max_length"],
                      seed=fixed["seed"]).train()
    validation = load_instructions(task, "validation")
    scores = score(generate_answers(model, tokenizer, validation), validation, answers(task))
    return {"task": task, "steps": steps, "learning_rate": learning_rate, "rank": rank,
            "validation_exact": scores["exact"], "validation_format": scores["format"],
            "train_seconds": round(time.perf_counter() - started, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=budget.SWEEP_FILE)
    args = parser.parse_args(argv)
    runs = []
    for task, grid in budget.GRID.items():
        for steps, lr in itertools.product(grid["steps"], grid["learning_rate"]):
            runs.append(train_one(task, steps, lr, grid["rank"]))
            print(runs[-1], flush=True)
    meta = {"selected_on": "validation", "fixed": budget.FIXED, "grid": budget.GRID, "versions": versions(),
            "model": "course_utils/llm/ko_tiny_llama"}
    write_json(args.out, {"meta": meta, "runs": runs})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
