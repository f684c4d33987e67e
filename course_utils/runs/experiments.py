"""``make experiments``: the long offline comparison (every method × 5+ seeds, learning curves) cached as JSON.

    python -m course_utils experiments --out results/comparison_offline.json       # the committed cache
    python -m course_utils experiments --methods lora --seeds 0 --steps 60 --out build/probe.json

Notebook 05 shows this cache (labelled with how and when it was made) and reruns a short live version whose numbers
it checks against the cache's entries for the same configuration (:func:`matching_runs`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import TrainerCallback

from course_utils.comparison.methods import BUDGETS, COMPARED_METHODS
from course_utils.runtime.cli import CommandParser
from course_utils.runtime.io import versions, write_json
from course_utils.runtime.paths import ROOT

CACHE_PATH = ROOT / "results" / "comparison_offline.json"
#: The offline budget of the cached comparison (its validation curves flatten before the end: see notebook 05).
EXPERIMENT_BUDGET = {**BUDGETS["offline"], "curve_every": 40}
COMPARED_ORDER = COMPARED_METHODS
#: Largest accepted |live - cached| test accuracy: 2 of the 240 test reviews (thread counts may round differently).
RERUN_TOLERANCE = 2 / 240
#: The fields that make two runs "the same configuration" (with method and seed).
CONFIG_KEYS = ("steps", "batch_size", "max_length", "n_train", "n_test")


class LearningCurve(TrainerCallback):
    """Trainer callback: test accuracy and share of 'positive' predictions every `every` steps (eval mode, no RNG)."""

    def __init__(self, tokenizer, dataset, max_length: int, every: int, batch_size: int = 64) -> None:
        if not isinstance(every, int) or every <= 0:
            raise ValueError(f"every must be a positive int, got {every!r}")
        self.encoded = tokenizer(list(dataset["document"]), truncation=True, max_length=max_length,
                                 padding=True, return_tensors="pt")
        self.labels = torch.tensor(list(dataset["label"]))
        self.every, self.batch_size = every, batch_size
        self.points: list[dict] = []

    def predictions(self, model) -> torch.Tensor:
        """Predicted labels on the whole eval set (the model is put back in its training mode)."""
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        out = []
        with torch.no_grad():
            for start in range(0, len(self.labels), self.batch_size):
                batch = {k: v[start:start + self.batch_size].to(device) for k, v in self.encoded.items()}
                out.append(model(**batch).logits.argmax(-1).cpu())
        model.train(was_training)
        return torch.cat(out)

    def point(self, model, step: int) -> None:
        """Evaluate now and append {step, accuracy, p_positive}."""
        predicted = self.predictions(model)
        self.points.append({"step": step, "accuracy": round(float((predicted == self.labels).float().mean()), 6),
                            "p_positive": round(float(predicted.float().mean()), 6)})

    def on_step_end(self, args, state, control, model=None, **kwargs):
        """A point every `every` steps (the last step is the Trainer's own final evaluation)."""
        if state.global_step % self.every == 0 and state.global_step < state.max_steps:
            self.point(model, int(state.global_step))
        return control

    def record(self) -> dict:
        """The curve, as fields of the run's record."""
        return {"curve": list(self.points)}


class StopAfter(TrainerCallback):
    """Stop training after `steps` optimizer steps, leaving the run's schedule (max_steps) as it was."""

    def __init__(self, steps: int) -> None:
        if not isinstance(steps, int) or steps <= 0:
            raise ValueError(f"steps must be a positive int, got {steps!r}")
        self.steps = steps

    def on_step_end(self, args, state, control, **kwargs):
        """Ask the Trainer to stop once `steps` steps are done."""
        if state.global_step >= self.steps:
            control.should_training_stop = True
        return control


def rerun_prefix(cache: dict, methods: Sequence[str], seed: int, stop_after: int, budget: dict, tokenizer, data):
    """Rerun the first `stop_after` steps of cached runs (same budget, schedule and seed) and compare the test
    accuracy at that step with the cached learning curve. Never raises on the difference: see :func:`rerun_outside`.

    Returns a table: method, cached, live, difference, reviews (the difference in test reviews).
    """
    import pandas as pd
    from transformers import AutoConfig

    from course_utils.comparison.run import default_specs, run_one
    from course_utils.runtime.env import strict_checks

    every = cache["meta"]["budget"]["curve_every"]
    if stop_after % every or stop_after >= budget["steps"]:
        raise ValueError(f"stop_after must be a curve step below {budget['steps']}, got {stop_after}")
    hidden = AutoConfig.from_pretrained(cache_model_id()).hidden_size
    rows = []
    for spec in default_specs("offline", hidden, methods=list(methods)):
        (cached,) = matching_runs(cache, spec.method, seed, budget) or [None]
        if cached is None or cached["learning_rate"] != spec.learning_rate:
            raise ValueError(f"the cache has no {spec.method} run for seed {seed} under this budget and rate")
        curve = LearningCurve(tokenizer, data["test"], budget["max_length"], every)
        run_one(spec, cache_model_id(), tokenizer, data, seed=seed, steps=budget["steps"],
                batch_size=budget["batch_size"], max_length=budget["max_length"],
                callbacks=[curve, StopAfter(stop_after)])
        live = next(p["accuracy"] for p in curve.points if p["step"] == stop_after)
        then = next(p["accuracy"] for p in cached["curve"] if p["step"] == stop_after)
        rows.append({"method": spec.label, "cached": then, "live": live, "difference": live - then,
                     "reviews": round((live - then) * len(data["test"]))})
    table = pd.DataFrame(rows)
    off = rerun_outside(table)
    if strict_checks() and len(off):
        raise AssertionError(f"live rerun differs from the cache by more than {RERUN_TOLERANCE}: "
                             f"{off.to_dict('records')}")
    return table


def rerun_outside(table, tolerance: float = RERUN_TOLERANCE):
    """The rows of a :func:`rerun_prefix` table whose |difference| exceeds `tolerance` (empty when all agree)."""
    return table[table["difference"].abs() > tolerance + 1e-9]


def cache_model_id() -> str:
    """The model the cache was made with: the bundled MiniLM of the offline profile."""
    from course_utils.runtime.env import offline_model_path

    return offline_model_path()


def git_commit() -> str:
    """`git rev-parse HEAD` of the repository (or 'unknown' outside a git checkout)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def provenance(budget: dict, learning_rates: dict, seconds: float) -> dict:
    """How the cache was made: profile, budget, learning rates, versions, commit, date, wall time."""
    return {"profile": "offline", "budget": {k: (list(v) if isinstance(v, tuple) else v) for k, v in budget.items()},
            "learning_rates": learning_rates, "versions": versions(), "commit": git_commit(),
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": "make experiments", "wall_seconds": round(seconds, 1),
            "torch_threads": torch.get_num_threads()}


def offline_setup(budget: dict):
    """(profile, data, tokenizer) for `budget` on the bundled model and reviews (truncating on the left)."""
    from course_utils.runtime.data import load_course_data
    from course_utils.runtime.env import make_profile, with_sizes
    from course_utils.runtime.models import load_tokenizer

    profile = with_sizes(make_profile("offline", device="cpu"), n_train=budget["n_train"], n_test=budget["n_test"],
                         max_length=budget["max_length"], batch_size=budget["batch_size"])
    data = load_course_data(profile)
    tokenizer = load_tokenizer(profile.model_id)
    tokenizer.truncation_side = "left"  # keep the end of a long review (its verdict), as notebook 05 does
    return profile, data, tokenizer


def run_budget(spec, model_id: str, tokenizer, data, budget: dict, seeds: Sequence[int], callbacks=None,
               progress=None) -> list[dict]:
    """One method spec × `seeds` under `budget` (:func:`course_utils.comparison.run.run_comparison`); each record
    carries the budget's CONFIG_KEYS and the sizes of the train and test splits (what :func:`matching_runs` reads)."""
    from course_utils.comparison.run import run_comparison

    done = run_comparison([spec], model_id, tokenizer, data, seeds=list(seeds), steps=budget["steps"],
                          batch_size=budget["batch_size"], max_length=budget["max_length"], progress=progress,
                          callbacks=callbacks)
    for run in done:
        run.update({k: budget[k] for k in CONFIG_KEYS}, n_train_rows=len(data["train"]), n_test_rows=len(data["test"]))
    return done


def run_experiments(budget: dict = EXPERIMENT_BUDGET, methods: Sequence[str] | None = None,
                    seeds: Sequence[int] | None = None, learning_rates: dict | None = None,
                    curve: bool = True, progress=None, partial: str | Path | None = None) -> dict:
    """Every method × seed under `budget`; returns {"meta": provenance, "runs": records (with curves)}.

    With `partial`, the runs so far are written there after each method (a long run that is stopped keeps them).
    """
    from transformers import AutoConfig

    from course_utils.comparison.run import MethodSpec, default_specs

    started = time.perf_counter()
    seeds = list(budget["seeds"] if seeds is None else seeds)
    profile, data, tokenizer = offline_setup(budget)
    hidden = AutoConfig.from_pretrained(profile.model_id).hidden_size
    specs = default_specs("offline", hidden, methods=list(methods or COMPARED_METHODS))
    if learning_rates:
        specs = [MethodSpec(s.method, learning_rates.get(s.method, s.learning_rate), s.options) for s in specs]
    make = (lambda: [LearningCurve(tokenizer, data["test"], budget["max_length"], budget["curve_every"])]) \
        if curve else None
    runs: list[dict] = []
    for spec in specs:
        runs += run_budget(spec, profile.model_id, tokenizer, data, budget, seeds, callbacks=make, progress=progress)
        meta = provenance({**budget, "seeds": seeds}, {s.method: s.learning_rate for s in specs},
                          time.perf_counter() - started)
        if partial is not None:
            write_cache({"meta": meta, "runs": runs}, partial)
    return {"meta": meta, "runs": runs}


def merge(payloads: Sequence[dict]) -> dict:
    """One cache from parts (same budget): later parts replace earlier runs of the same method and seed. A run
    replaced at another learning rate is kept, shortened, under meta["superseded"] (e.g. a rate that diverged); a
    rerun at the same rate just replaces it. A merged cache as a part brings its "superseded" and "parts" along,
    so `make experiments` can merge a fresh run into the committed cache without losing the rate searches.
    Provenance (versions, commit, date) is the last part's.
    """
    if not payloads:
        raise ValueError("payloads must hold at least one part")
    first, last = payloads[0]["meta"], payloads[-1]["meta"]

    def fixed(meta: dict) -> dict:
        return {k: v for k, v in meta["budget"].items() if k != "seeds"}

    for part in payloads[1:]:
        if fixed(part["meta"]) != fixed(first):
            raise ValueError(f"parts differ in budget: {fixed(first)} vs {fixed(part['meta'])}")
    kept: dict[tuple, dict] = {}
    superseded = [old for p in payloads for old in p["meta"].get("superseded", [])]
    for part in payloads:
        for run in part["runs"]:
            key = (run["method"], run["seed"])
            old = kept.get(key)
            if old is not None and old["learning_rate"] != run["learning_rate"]:
                superseded.append({k: old[k] for k in ("method", "seed", "learning_rate", "accuracy", "eval_loss",
                                                       "curve", *CONFIG_KEYS) if k in old})
            kept[key] = run
    runs = sorted(kept.values(), key=lambda r: (COMPARED_ORDER.index(r["method"]), r["seed"]))
    parts = [made for p in payloads for made in p["meta"].get("parts", [])
             or [{"methods": sorted({r["method"] for r in p["runs"]}), "seeds": p["meta"]["budget"]["seeds"],
                  "wall_seconds": p["meta"]["wall_seconds"], "date": p["meta"]["date"],
                  "commit": p["meta"].get("commit", "unknown")}]]
    meta = {**first, **{k: last[k] for k in ("versions", "commit", "date", "command", "torch_threads") if k in last},
            "budget": {**first["budget"], "seeds": sorted({r["seed"] for r in runs})},
            "learning_rates": {r["method"]: r["learning_rate"] for r in runs}, "superseded": superseded,
            "parts": parts}
    return {"meta": meta, "runs": runs}


def write_cache(payload: dict, path: str | Path = CACHE_PATH) -> Path:
    """Write the payload as JSON (NaN as null): :func:`course_utils.runtime.io.write_json`."""
    return write_json(path, payload)


def load_cache(path: str | Path = CACHE_PATH) -> dict:
    """The cached comparison {"meta", "runs"}; raises naming the file and `make experiments` when missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no cached comparison at {path}; run `make experiments`")
    payload = json.loads(path.read_text(encoding="utf-8"))
    missing = {"meta", "runs"} - set(payload)
    if missing:
        raise ValueError(f"{path} lacks keys {sorted(missing)}")
    return payload


def matching_runs(cache: dict, method: str, seed: int, budget: dict) -> list[dict]:
    """The cached runs of `method` and `seed` made under the same configuration (CONFIG_KEYS) as `budget`."""
    return [r for r in cache["runs"] if r["method"] == method and r["seed"] == seed and same_config(r, budget)]


def same_config(run: dict, budget: dict) -> bool:
    """Whether `run` was made under `budget`'s configuration (every CONFIG_KEYS field equal)."""
    return all(run.get(k) == budget[k] for k in CONFIG_KEYS)


#: A run "collapsed" when it ends answering one class: accuracy near chance and eval loss at ln 2 (= 0.6931).
COLLAPSE_ACCURACY, COLLAPSE_LOSS_GAP = 0.55, 0.01


def collapsed(run: dict) -> bool:
    """Whether the run ended in the one-class state (accuracy <= 0.55, eval loss within 0.01 of ln 2)."""
    loss = run.get("eval_loss")
    return run["accuracy"] <= COLLAPSE_ACCURACY and loss is not None and abs(loss - math.log(2)) < COLLAPSE_LOSS_GAP


def _rates(text: str) -> dict[str, float]:
    """'lora=1e-3,full=1e-4' -> {'lora': 0.001, 'full': 0.0001}."""
    pairs = [p.split("=") for p in text.split(",") if p]
    if not all(len(p) == 2 for p in pairs):
        raise argparse.ArgumentTypeError(f"learning rates must look like lora=1e-3,full=1e-4, got {text!r}")
    return {k.strip(): float(v) for k, v in pairs}


def main(argv: list[str] | None = None) -> int:
    """CLI: run the experiments and write the JSON; print one summary line per method."""
    from course_utils.comparison.results import format_stats, method_stats

    parser = CommandParser(prog="python -m course_utils experiments", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(CACHE_PATH))
    parser.add_argument("--methods", help="comma-separated (default: all seven)")
    parser.add_argument("--seeds", help="comma-separated ints (default: the budget's)")
    parser.add_argument("--steps", type=int, help="optimizer steps (default: the budget's)")
    parser.add_argument("--max-length", type=int, help="tokens per review (default: the budget's)")
    parser.add_argument("--n-train", type=int, help="training rows (default: all)")
    parser.add_argument("--curve-every", type=int, help="steps between learning-curve points")
    parser.add_argument("--lr", type=_rates, help="override learning rates, e.g. lora=1e-3,full=1e-4")
    parser.add_argument("--merge", nargs="+", metavar="PART", help="join part files (run in parallel) into --out")
    args = parser.parse_args(argv)
    if args.merge:
        payload = merge([load_cache(p) for p in args.merge])
        print(format_stats(method_stats(payload["runs"])))
        print(f"wrote {write_cache(payload, args.out)}")
        return 0
    budget = dict(EXPERIMENT_BUDGET)
    for key in ("steps", "max_length", "n_train", "curve_every"):
        if getattr(args, key) is not None:
            budget[key] = getattr(args, key)
    methods = args.methods.split(",") if args.methods else None
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    payload = run_experiments(budget, methods, seeds, args.lr, partial=args.out + ".partial")
    path = write_cache(payload, args.out)
    if len({r["seed"] for r in payload["runs"]}) >= 2:
        print(format_stats(method_stats(payload["runs"])))
    print(f"wrote {path} ({payload['meta']['wall_seconds']:.0f} s)")
    return 0
