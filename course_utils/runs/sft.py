"""Command-line instruction tuning (notebook 06): QLoRA SFT of a causal LM on one task of the Korean instructions.

    python -m course_utils sft --task aspect --out build/sft-aspect
    accelerate launch --multi_gpu --num_processes 2 -m course_utils.runs.sft --task aspect --steps 40 --out build/s2

The base model (the course's tiny Korean LLaMA by default, or ``--model`` a hub id / local folder) is loaded in NF4,
answers the task's test prompts greedily (``before``), gets LoRA adapters on every linear layer and is trained with
trl's SFTTrainer on the train split, loss on the answer only (:func:`course_utils.llm.sft.build_sft_trainer`), then
answers the same prompts again (``after``). ``--batch-size`` is the *global* batch, as in ``peft-course train``. Only
the main process writes ``--out``: ``adapter/``, then ``metrics.json`` (last, atomically).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from course_utils.runs.command import (
    METRICS_FILE,
    UsageError,
    check_model,
    check_out,
    finish,
    int_at_least,
    log,
    move_into_place,
    positive_float,
    run_command,
)
from course_utils.runtime.cli import CommandParser
from course_utils.runtime.env import world_size
from course_utils.runtime.paths import DATA_DIR

INSTRUCTIONS = DATA_DIR / "ko_instructions.jsonl"
SPLITS = ("train", "test")
#: The measured recipes (2-core CPU, the tiny model): aspect 400 steps -> exact 0.98; sentiment 150 steps -> 0.88.
#: A task of another data file gets the aspect recipe. LoRA alpha is 2 x rank.
RECIPES = {"aspect": {"steps": 400, "lr": 3e-3, "rank": 16}, "sentiment": {"steps": 150, "lr": 2e-3, "rank": 8}}
DEFAULT_RECIPE = RECIPES["aspect"]
BATCH_SIZE, MAX_LENGTH, SEED = 16, 128, 0
PROG = "python -m course_utils.runs.sft"


def build_parser() -> argparse.ArgumentParser:
    """The command line; the task-dependent defaults are None here and filled in by :func:`resolve`."""
    parser = CommandParser(prog=PROG, description=__doc__.split("\n\n")[0],
                           formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--task", required=True, help="a task of the data file (bundled: aspect, sentiment)")
    parser.add_argument("--out", required=True, help="output folder: metrics.json and adapter/")
    parser.add_argument("--model", help="hub id or local folder of a causal LM (default: the course's tiny LLaMA)")
    parser.add_argument("--data", help=f"JSONL rows {{split, task, instruction, input, output}} (default: "
                        f"{INSTRUCTIONS.relative_to(DATA_DIR.parent)})")
    parser.add_argument("--steps", type=int_at_least(1), help="optimizer steps (default: the task's recipe)")
    parser.add_argument("--lr", type=positive_float, help="learning rate (default: the task's recipe)")
    parser.add_argument("--rank", type=int_at_least(1), help="LoRA rank r, alpha = 2r (default: the task's recipe)")
    parser.add_argument("--batch-size", type=int_at_least(1), default=BATCH_SIZE,
                        help="GLOBAL batch: examples per step over all processes")
    parser.add_argument("--max-length", type=int_at_least(8), default=MAX_LENGTH,
                        help="tokens of prompt + answer; a longer train row is an error, never cut")
    parser.add_argument("--seed", type=int_at_least(0), default=SEED, help="seed of the adapters and data order")
    return parser


@dataclass(frozen=True)
class Plan:
    """A validated run: everything decided before any model is loaded or anything is written."""

    task: str
    model: str
    data: Path
    steps: int
    lr: float
    rank: int
    batch_size: int  # global: all processes together
    per_device_batch_size: int
    world_size: int
    max_length: int
    seed: int
    out: Path


def read_rows(path: Path) -> list[dict]:
    """The JSONL rows of `path`; a missing file or a line that is not a JSON object is a UsageError."""
    if not path.is_file():
        raise UsageError(f"--data {path}: no such file")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise UsageError(f"--data {path.name} line {number}: not JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise UsageError(f"--data {path.name} line {number}: not a JSON object")
        rows.append(row | {"line": number})
    return rows


def task_splits(rows: list[dict], task: str, where: str) -> dict[str, list[dict]]:
    """{train, test} rows of `task`, each row checked (fields, text); an unknown task or an empty split is an error."""
    from course_utils.llm.prompts import check_row

    tasks = sorted({str(row.get("task")) for row in rows})
    if task not in tasks:
        raise UsageError(f"--task {task!r}: not in {where} (tasks there: {', '.join(tasks)})")
    splits: dict[str, list[dict]] = {split: [] for split in SPLITS}
    for row in rows:
        if row.get("task") == task and row.get("split") in splits:
            try:
                check_row(row, where=f"{where} line {row['line']}")
            except (KeyError, TypeError, ValueError) as err:
                raise UsageError(str(err).strip("\"'")) from None
            splits[row["split"]].append(row)
    empty = [split for split, part in splits.items() if not part]
    if empty:
        raise UsageError(f"--task {task!r}: no {' and no '.join(empty)} rows in {where}")
    return splits


def answers_of(rows: list[dict]) -> list[str]:
    """The well-formed answers of a task: every distinct output of its train rows, sorted."""
    return sorted({row["output"].strip() for row in rows})


def longest_row(tokenizer, rows: list[dict]) -> int:
    """Tokens of the longest prompt + answer + end token (what trl trains on)."""
    from course_utils.llm.prompts import to_prompt_completion

    pairs = [to_prompt_completion(row) for row in rows]
    return max(len(tokenizer(p["prompt"] + p["completion"])["input_ids"]) + 1 for p in pairs)


def resolve(args: argparse.Namespace) -> Plan:
    """Check every argument, fill the task's recipe; raise UsageError before anything is written."""
    out = check_out(args.out)
    data = Path(args.data).expanduser().resolve() if args.data else INSTRUCTIONS
    splits = task_splits(read_rows(data), args.task, data.name)
    from course_utils.llm.models import TINY_MODEL_DIR, load_tokenizer  # imports transformers: after the cheap checks

    model = check_model(args.model or str(TINY_MODEL_DIR))
    world = world_size()
    if args.batch_size % world:
        raise UsageError(f"--batch-size {args.batch_size} must be divisible by the number of processes ({world})")
    longest = longest_row(load_tokenizer(model), splits["train"])
    if longest > args.max_length:
        raise UsageError(f"--max-length {args.max_length}: the longest {args.task} train row has {longest} tokens "
                         "(rows are never cut)")
    recipe = RECIPES.get(args.task, DEFAULT_RECIPE)
    return Plan(task=args.task, model=model, data=data, steps=args.steps or recipe["steps"],
                lr=args.lr or recipe["lr"], rank=args.rank or recipe["rank"], batch_size=args.batch_size,
                per_device_batch_size=args.batch_size // world, world_size=world, max_length=args.max_length,
                seed=args.seed, out=out)


def evaluate(model, tokenizer, rows: list[dict], allowed: list[str]) -> dict[str, float]:
    """Greedy answers to `rows`: {exact, format} (course_utils.llm.generation)."""
    from course_utils.llm.generation import generate_answers, score

    return score(generate_answers(model, tokenizer, rows), rows, allowed)


def _log(message: str, main: bool = True) -> None:
    log("course_utils.runs.sft", message, main)


def run(plan: Plan, started: float | None = None) -> dict:
    """Load, score, train, score again (every process); write adapter/ and metrics.json (main process)."""
    started = time.perf_counter() if started is None else started
    import torch
    from accelerate import PartialState
    from transformers.utils import logging as hf_logging

    from course_utils.llm.deploy import folder_mb
    from course_utils.llm.models import load_causal_lm, load_tokenizer
    from course_utils.llm.sft import add_lora, build_sft_trainer
    from course_utils.runtime.data import quiet_datasets
    from course_utils.runtime.env import compute_dtype
    from course_utils.runtime.io import library_versions, versions
    from course_utils.runtime.quiet import silence_library_noise
    from course_utils.runtime.training import measure_parameters

    state = PartialState(cpu=not torch.cuda.is_available())  # gloo on a machine without a GPU, as train.py
    main = state.is_main_process
    if state.num_processes != plan.world_size:
        raise RuntimeError(f"WORLD_SIZE={plan.world_size} but accelerate sees {state.num_processes} processes")
    hf_logging.set_verbosity_error()
    silence_library_noise()  # peft's and trl's calls of renamed transformers names, per-file progress bars
    device = "cpu" if state.device.type == "cpu" else str(state.device)
    splits = task_splits(read_rows(plan.data), plan.task, plan.data.name)
    allowed = answers_of(splits["train"])
    _log(f"QLoRA r={plan.rank} on {plan.model} | task {plan.task}: train={len(splits['train'])}, "
         f"test={len(splits['test'])} | {state.num_processes} process(es), {device} | {plan.steps} steps x global "
         f"batch {plan.batch_size}, lr {plan.lr:g}", main)
    tokenizer = load_tokenizer(plan.model)
    model = load_causal_lm(plan.model, four_bit=True, device=device, compute_dtype=compute_dtype(device))
    before = evaluate(model, tokenizer, splits["test"], allowed)
    _log(f"before: {before}", main)
    model = add_lora(model, plan.rank, plan.seed)
    trainable, total = measure_parameters(model)
    staging = plan.out / ".adapter.partial"  # only the main process writes it
    train_started = time.perf_counter()
    with (tempfile.TemporaryDirectory(prefix="course-sft-") as scratch, contextlib.redirect_stdout(sys.stderr),
          quiet_datasets()):
        trainer = build_sft_trainer(model, tokenizer, splits["train"], learning_rate=plan.lr, max_steps=plan.steps,
                                    batch_size=plan.per_device_batch_size, max_length=plan.max_length,
                                    seed=plan.seed, output_dir=scratch)
        trainer.train()
    train_seconds = time.perf_counter() - train_started
    after = evaluate(trainer.model, tokenizer, splits["test"], allowed)
    metrics = {
        "task": plan.task, "model": plan.model, "steps": plan.steps, "lr": plan.lr, "rank": plan.rank,
        "lora_alpha": 2 * plan.rank, "target_modules": "all-linear", "before": before, "after": after,
        "allowed_answers": allowed, "trainable_params": trainable, "total_params": total, "adapter_mb": None,
        "seconds": None, "train_seconds": round(train_seconds, 2), "world_size": state.num_processes,
        "distributed_type": state.distributed_type.value, "device": device, "global_batch_size": plan.batch_size,
        "per_device_batch_size": plan.per_device_batch_size, "max_length": plan.max_length, "seed": plan.seed,
        "n_train": len(splits["train"]), "n_test": len(splits["test"]), "data": str(plan.data),
        "written_by_process": state.process_index, "versions": {**versions(), **library_versions(("trl",))}}
    if main:
        trainer.model.save_pretrained(staging)
        move_into_place(staging, plan.out / "adapter")
        metrics["adapter_mb"] = round(folder_mb(plan.out / "adapter"), 3)
    return finish(state, metrics, plan.out, started, f"after: {after} -> {plan.out}", _log)


def main(argv: list[str] | None = None) -> int:
    """Parse, validate (exit 2 with one line on bad input, nothing written), train; print the result line."""
    return run_command(argv, build_parser, resolve, run, lambda plan, metrics: {
        "metrics": str(plan.out / METRICS_FILE), "before": metrics["before"], "after": metrics["after"],
        "world_size": metrics["world_size"], "seconds": metrics["seconds"]})

if __name__ == "__main__":
    sys.exit(main())
