"""What the training commands share (``peft-course train`` and ``peft-course sft``): argument types that reject bad
input with one line, the ``--model`` check, progress on stderr and putting a finished output folder in place.

Bad input raises :class:`UsageError` (or an ``argparse.ArgumentTypeError`` inside argparse); the command turns it into
one ``error:`` line on stderr and exit code 2 before anything is written.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
from pathlib import Path

from course_utils.runtime.env import hub_offline
from course_utils.runtime.validate import positive_int, positive_number

#: Written last (atomically) by every training command: its presence means a finished run.
METRICS_FILE = "metrics.json"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class UsageError(ValueError):
    """Bad command-line input: reported as one line on stderr, exit code 2, nothing written."""


def int_at_least(low: int):
    """argparse type: an int >= `low` (0 or 1), checked by validate.positive_int."""
    def parse(text: str) -> int:
        if not re.fullmatch(r"[+-]?\d+", text.strip()):
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}")
        try:
            return positive_int(int(text), "value", allow_zero=low == 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {int(text)}") from None
    return parse


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        return positive_number(float(text), "value")
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None


def check_model(model: str) -> str:
    """A local folder that exists, or a hub id (cached, when the hub is switched off)."""
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise UsageError(f"--model {model}: folder has no config.json (not a transformers model)")
        return str(path.resolve())
    if model.startswith(("/", ".", "~")) or not HUB_ID.match(model):
        raise UsageError(f"--model {model}: no such folder (and not a hub id like 'klue/bert-base')")
    if hub_offline():
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(model, "config.json"), str):
            raise UsageError(f"--model {model}: not in the local cache and HF_HUB_OFFLINE=1 (pass a local folder)")
    return model


def check_out(out: str) -> Path:
    """The output folder: it may exist (a rerun replaces its results), but not as a file."""
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    return path


def log(command: str, message: str, main: bool = True) -> None:
    """Progress on stderr (main process only), so stdout carries just the result line."""
    if main:
        print(f"[{command}] {message}", file=sys.stderr, flush=True)


def move_into_place(staging: Path, target: Path) -> None:
    """Replace folder `target` by `staging` (an old `target` is removed only after the new one is in place)."""
    old = target.with_name(f".{target.name}.old")
    if target.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)


def finish(state, metrics: dict, out: Path, started: float, message: str, log_line) -> dict:
    """End of a training command on every process: the main process times the run, writes ``metrics.json`` last
    (atomically) and logs `message`; then all processes wait for each other and leave the process group."""
    from course_utils.runtime.io import write_json

    if state.is_main_process:
        metrics["seconds"] = round(time.perf_counter() - started, 2)
        write_json(out / METRICS_FILE, metrics)  # last: its presence means a finished run
        log_line(message, True)
    state.wait_for_everyone()
    if state.use_distributed:
        state.destroy_process_group()
    return metrics


def run_command(argv: list[str] | None, build_parser, resolve, run, summary) -> int:
    """Parse, validate (exit 2 with one line on bad input, nothing written), run; the main process prints
    ``summary(plan, metrics)`` as one JSON line."""
    import json

    from course_utils.runtime.env import is_main_process

    started = time.perf_counter()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        plan = resolve(args)
    except UsageError as err:
        parser.error(str(err))
    metrics = run(plan, started)
    if is_main_process():
        print(json.dumps(summary(plan, metrics)))
    return 0
