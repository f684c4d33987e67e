"""``make lessons`` part (c): notebook 02's ΔM/ΔD analysis on runs long enough to learn, cached as JSON.

    python -m course_utils md-lesson --out results/md_offline.json               # the committed cache
    python -m course_utils md-lesson --steps 16 --seeds 0 --out build/probe.json

Notebook 02 trains each method only a few dozen steps live, which is not long enough to learn. These runs train
notebook 05's models (classifier and pooler trained, reviews cut on the left) with its budget (320 steps × batch
8, 32 tokens, learning rate decayed linearly) and the learning rates it chose on the validation split, and record
(ΔM, ΔD) of every query layer at 4 checkpoints with
:func:`course_utils.adapters.dora_analysis.track_magnitude_direction` (the function notebook 02 runs live).
The validation accuracy after training shows that every run learned.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from course_utils.runs.experiments import EXPERIMENT_BUDGET, LearningCurve, cache_model_id, offline_setup
from course_utils.runs.experiments import provenance as comparison_provenance
from course_utils.runtime.cli import CommandParser
from course_utils.runtime.io import write_json
from course_utils.runtime.paths import ROOT

MD_PATH = ROOT / "results" / "md_offline.json"
#: Notebook 05's budget (steps, batch, length), 4 checkpoints as in the paper's Figure 2, 3 seeds.
MD_BUDGET = {"steps": 320, "batch_size": 8, "max_length": 32, "n_checkpoints": 4, "seeds": (0, 1, 2)}
#: The methods of the paper's Figure 2 (built as notebook 05 builds them: r=8, alpha=16 on query and value).
MD_METHODS = ("full", "lora", "dora")


def md_rates() -> dict[str, float]:
    """Notebook 05's validation-chosen rates of Full FT, LoRA and DoRA (read from the comparison cache)."""
    from course_utils.runs.experiments import load_cache

    rates = load_cache()["meta"]["learning_rates"]
    return {m: rates[m] for m in MD_METHODS}


def build(method: str, rate: float, seed: int):
    """Notebook 05's model for `method` (:func:`course_utils.comparison.run.build_model`: r=8, alpha=16 on query and
    value, classifier and pooler trained), with its learning rate `rate`."""
    from course_utils.comparison.run import MethodSpec, build_model, default_specs

    (spec,) = default_specs("offline", 384, methods=[method])
    return build_model(MethodSpec(method, rate, spec.options), cache_model_id(), "cpu", torch.float32, seed)


def run_md(budget: dict = MD_BUDGET, seeds: Sequence[int] | None = None,
           rates: dict[str, float] | None = None, partial: str | Path | None = None,
           methods: Sequence[str] = MD_METHODS) -> dict:
    """Every method × seed: the (ΔM, ΔD) rows and the validation accuracy after training."""
    from course_utils.adapters.dora_analysis import track_magnitude_direction

    started = time.perf_counter()
    seeds = list(budget["seeds"] if seeds is None else seeds)
    rates = rates or md_rates()
    _, data, tokenizer = offline_setup({**EXPERIMENT_BUDGET, "max_length": budget["max_length"]})  # cut on the left
    rows, finals = [], []
    for seed in seeds:
        for method in methods:
            model = build(method, rates[method], seed)
            table = track_magnitude_direction(model, tokenizer, data, method=method, learning_rate=rates[method],
                                              steps=budget["steps"], n_checkpoints=budget["n_checkpoints"],
                                              batch_size=budget["batch_size"], max_length=budget["max_length"],
                                              seed=seed, progress=False, schedule="linear")
            rows += [{**row, "seed": seed} for row in table.to_dict("records")]
            check = LearningCurve(tokenizer, data["validation"], budget["max_length"], every=1)
            check.point(model, budget["steps"])
            finals.append({"method": method, "seed": seed, "learning_rate": rates[method],
                           "validation_accuracy": check.points[-1]["accuracy"]})
            print(f"{method} seed {seed}: validation {finals[-1]['validation_accuracy']:.3f}", flush=True)
            payload = {"meta": provenance(budget, seeds, rates, len(data["validation"]),
                                          time.perf_counter() - started), "rows": rows, "finals": finals}
            if partial is not None:
                write_json(partial, payload)
    return payload


def provenance(budget: dict, seeds: Sequence[int], rates: dict, n_validation: int, seconds: float) -> dict:
    """How the cache was made: the comparison's provenance (versions, commit, date, wall time) and this setting."""
    return {**comparison_provenance({**budget, "seeds": list(seeds)}, rates, seconds), "command": "make lessons",
            "model": "MiniLM-L6 (bundled)", "rates_from": "notebook 05 (selected on validation)",
            "models": "notebook 05's (comparison.run.build_model)", "n_validation": n_validation,
            "optimizer": "AdamW, learning rate decayed linearly to 0 (as the Trainer), no weight decay",
            "truncation_side": "left"}


def load_md(path: str | Path = MD_PATH) -> dict:
    """The cached runs {"meta", "rows", "finals"}; raises naming the file and `make lessons` when missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no cached ΔM/ΔD runs at {path}; run `make lessons`")
    payload = json.loads(path.read_text(encoding="utf-8"))
    if {"meta", "rows", "finals"} - set(payload):
        raise ValueError(f"{path} lacks 'meta', 'rows' or 'finals'")
    return payload


def main(argv: list[str] | None = None) -> int:
    """CLI: run the methods × seeds and write the JSON."""
    parser = CommandParser(prog="python -m course_utils md-lesson", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(MD_PATH))
    parser.add_argument("--seeds", help="comma-separated ints (default: 0,1,2)")
    parser.add_argument("--steps", type=int, help="optimizer steps (default: 320)")
    args = parser.parse_args(argv)
    budget = {**MD_BUDGET, **({"steps": args.steps} if args.steps else {})}
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    payload = run_md(budget, seeds, partial=args.out + ".partial")
    path = write_json(args.out, payload)
    print(f"wrote {path} ({payload['meta']['wall_seconds']:.0f} s)")
    return 0
