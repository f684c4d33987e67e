"""``make experiments`` step 1: every compared method's learning rate, chosen on the validation split.

    python -m course_utils select --out build/selection.json                      # the whole grid
    python -m course_utils select --methods lora --seeds 0 --out build/probe.json

Each method is trained at each rate of its :data:`RATE_GRID` row (three rates, a factor of about 3 apart) on the
selection seeds, under the cached comparison's budget. A rate is scored by its mean accuracy on the validation
split (96 reviews carved from the training data, never trained on); the test split plays no part in the choice.
Each run is a full comparison record (test accuracy and curve included, as :mod:`course_utils.runs.experiments`
stores them), so the chosen rate's selection seeds are also its first final runs.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

from course_utils.comparison.methods import COMPARED_METHODS, rate_group
from course_utils.runs.experiments import (
    EXPERIMENT_BUDGET,
    LearningCurve,
    offline_setup,
    provenance,
    run_budget,
    write_cache,
)
from course_utils.runtime.cli import CommandParser

#: The rates tried per rate group: the same three-point grid for every adapter method (4-bit included), a tenth of
#: it for WaveFT (peft scales its coefficients by 25, see methods.LEARNING_RATES) and the BERT range for Full FT.
RATE_GRID = {
    "full": (3e-5, 1e-4, 3e-4),
    "adapter": (1e-3, 3e-3, 1e-2),
    "quantized": (1e-3, 3e-3, 1e-2),
    "waveft": (1e-4, 3e-4, 1e-3),
}
#: The seeds every rate is tried on (the final comparison adds the budget's other seeds at the chosen rate).
SELECTION_SEEDS = (0, 1)


class ValidationCurve(LearningCurve):
    """Validation accuracy every `every` steps and once more when training ends (its last point is the score)."""

    def on_train_end(self, args, state, control, model=None, **kwargs):
        """The final point, after the last optimizer step."""
        self.point(model, int(state.global_step))
        return control

    def record(self) -> dict:
        """The validation curve and final validation accuracy, as fields of the run's record."""
        return {"validation_curve": list(self.points), "validation_accuracy": self.points[-1]["accuracy"]}


def grid_for(method: str) -> tuple[float, ...]:
    """The learning rates tried for `method`."""
    if method not in COMPARED_METHODS:
        raise ValueError(f"method must be one of {list(COMPARED_METHODS)}, got {method!r}")
    return RATE_GRID[rate_group(method)]


def run_grid(methods: Sequence[str] | None = None, seeds: Sequence[int] = SELECTION_SEEDS,
             budget: dict = EXPERIMENT_BUDGET, partial: str | None = None, rates: Sequence[float] | None = None,
             truncation_side: str = "left") -> dict:
    """Every method × grid rate (or `rates`) × selection seed; returns {"meta", "runs"} (records with validation
    fields). `truncation_side` "right" keeps the start of a long review instead of its end (the tokenizer default)."""
    from transformers import AutoConfig

    from course_utils.comparison.run import MethodSpec, default_specs

    started = time.perf_counter()
    if truncation_side not in ("left", "right"):
        raise ValueError(f"truncation_side must be 'left' or 'right', got {truncation_side!r}")
    profile, data, tokenizer = offline_setup(budget)
    tokenizer.truncation_side = truncation_side
    hidden = AutoConfig.from_pretrained(profile.model_id).hidden_size
    every = budget["curve_every"]

    def callbacks() -> list:
        return [LearningCurve(tokenizer, data["test"], budget["max_length"], every),
                ValidationCurve(tokenizer, data["validation"], budget["max_length"], every)]

    runs: list[dict] = []
    for spec in default_specs("offline", hidden, methods=list(methods or COMPARED_METHODS)):
        for rate in rates or grid_for(spec.method):
            done = run_budget(MethodSpec(spec.method, rate, spec.options), profile.model_id, tokenizer, data,
                              budget, seeds, callbacks=callbacks)
            for run in done:
                run.update(n_validation_rows=len(data["validation"]), truncation_side=truncation_side)
                print(f"{spec.method} lr {rate:g} seed {run['seed']}: validation {run['validation_accuracy']:.3f}",
                      flush=True)
            runs += done
            meta = selection_meta(budget, seeds, time.perf_counter() - started)
            if partial is not None:
                write_cache({"meta": meta, "runs": runs}, partial)
    return {"meta": selection_meta(budget, seeds, time.perf_counter() - started), "runs": runs}


def selection_meta(budget: dict, seeds: Sequence[int], seconds: float) -> dict:
    """Provenance of a grid run, marked as selected on validation."""
    meta = provenance({**budget, "seeds": list(seeds)}, {}, seconds)
    return {**meta, "selected_on": "validation", "rate_grid": {k: list(v) for k, v in RATE_GRID.items()},
            "command": "python -m course_utils select"}


def rate_table(runs: Sequence[dict]) -> list[dict]:
    """One row per (method, rate): the seeds and the mean validation accuracy (the score of the choice)."""
    rows = []
    for method, rate in sorted({(r["method"], r["learning_rate"]) for r in runs},
                               key=lambda mr: (COMPARED_METHODS.index(mr[0]), mr[1])):
        same = sorted((r for r in runs if (r["method"], r["learning_rate"]) == (method, rate)),
                      key=lambda r: r["seed"])
        rows.append({"method": method, "learning_rate": rate, "seeds": [r["seed"] for r in same],
                     "validation": [r["validation_accuracy"] for r in same],
                     "validation_mean": statistics.fmean(r["validation_accuracy"] for r in same)})
    return rows


def chosen_rates(runs: Sequence[dict]) -> dict[str, float]:
    """Per method, the rate with the highest mean validation accuracy over the selection seeds (a tie goes to the
    smaller rate). Only rates tried on the same seeds compete; the test split is never read."""
    chosen: dict[str, float] = {}
    rows = rate_table(runs)
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        seeds = set(mine[0]["seeds"])
        if any(set(r["seeds"]) != seeds for r in mine):
            raise ValueError(f"the {method} rates were tried on different seeds: {[r['seeds'] for r in mine]}")
        best = max(mine, key=lambda r: (round(r["validation_mean"], 9), -r["learning_rate"]))
        chosen[method] = best["learning_rate"]
    return chosen


def mean_curves(runs: Sequence[dict], rates: dict[str, float]) -> dict[str, list[dict]]:
    """Per method, the validation curve at its chosen rate averaged over the selection seeds (the evidence that
    the step budget is long enough: the curves flatten before it ends)."""
    curves = {}
    for method, rate in rates.items():
        mine = [r["validation_curve"] for r in runs if r["method"] == method and r["learning_rate"] == rate]
        steps = [p["step"] for p in mine[0]]
        curves[method] = [{"step": step, "accuracy": round(statistics.fmean(c[i]["accuracy"] for c in mine), 6)}
                          for i, step in enumerate(steps)]
    return curves


def final_runs(selection: dict, seeds: Sequence[int], reuse: dict | None = None) -> tuple[list[dict], dict]:
    """The comparison's runs at the chosen rates: the selection runs of those rates, then the other `seeds` from
    `reuse` (an earlier cache under the same budget, run at the same rate and seed: the same computation) or,
    failing that, trained now. Returns (runs, {method: seeds trained now})."""
    from course_utils.runs.experiments import matching_runs, run_experiments

    budget = selection["meta"]["budget"]
    rates = chosen_rates(selection["runs"])
    runs = [r for r in selection["runs"] if rates[r["method"]] == r["learning_rate"]]
    trained: dict[str, list[int]] = {}
    for method, rate in rates.items():
        have = {r["seed"] for r in runs if r["method"] == method}
        for seed in (s for s in seeds if s not in have):
            old = [r for r in matching_runs(reuse, method, seed, budget) if r["learning_rate"] == rate] if reuse else []
            if old:
                runs.append({**old[0], "reused": True})
            else:
                trained.setdefault(method, []).append(seed)
    for method, todo in trained.items():
        runs += run_experiments({**budget, "seeds": todo}, [method], todo, {method: rates[method]})["runs"]
    runs.sort(key=lambda r: (COMPARED_METHODS.index(r["method"]), r["seed"]))
    return runs, trained


def truncation_check(selection: dict, other: Sequence[dict]) -> dict:
    """Validation accuracy of cutting long reviews on the left (the comparison) vs on the right (`other`: runs of
    one method at its chosen rate on the selection seeds, the other truncation side)."""
    rates = chosen_rates(selection["runs"])
    method, rate = other[0]["method"], other[0]["learning_rate"]
    if rate != rates[method] or {r["method"] for r in other} != {method}:
        raise ValueError(f"the truncation check must run one method at its chosen rate ({rates}), got {method} {rate}")
    left = [r for r in selection["runs"] if r["method"] == method and r["learning_rate"] == rate]
    if sorted(r["seed"] for r in left) != sorted(r["seed"] for r in other):
        raise ValueError("the truncation check must use the selection seeds")
    return {"method": method, "learning_rate": rate, "seeds": sorted(r["seed"] for r in other),
            "left": statistics.fmean(r["validation_accuracy"] for r in left),
            other[0]["truncation_side"]: statistics.fmean(r["validation_accuracy"] for r in other)}


def assemble(selection: dict, runs: list[dict], trained: dict, seeds: Sequence[int], seconds: float,
             truncation: dict | None = None) -> dict:
    """The comparison cache: its runs, and in its meta how the rates (and truncation) were chosen on validation."""
    rates = chosen_rates(selection["runs"])
    meta = provenance({**selection["meta"]["budget"], "seeds": list(seeds)}, rates, seconds)
    meta.update(selected_on="validation", n_validation=selection["runs"][0]["n_validation_rows"],
                selection={"seeds": selection["meta"]["budget"]["seeds"], "rate_grid": selection["meta"]["rate_grid"],
                           "table": rate_table(selection["runs"]), "chosen": rates,
                           "validation_curves": mean_curves(selection["runs"], rates),
                           "date": selection["meta"]["date"], "wall_seconds": selection["meta"]["wall_seconds"]},
                trained_now=trained, reused=sorted({(r["method"], r["seed"]) for r in runs if r.get("reused")}),
                truncation=truncation)
    return {"meta": meta, "runs": runs}


def main(argv: list[str] | None = None) -> int:
    """CLI: run the grid (or, with --finals, the final runs), write the JSON, print the validation table."""
    parser = CommandParser(prog="python -m course_utils select", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--methods", help="comma-separated (default: all seven)")
    parser.add_argument("--seeds", help="comma-separated ints (default: 0,1)")
    parser.add_argument("--rates", help="comma-separated learning rates (default: the method's grid)")
    parser.add_argument("--chosen-from", metavar="SELECTION",
                        help="run each method at the rate chosen in this grid file")
    parser.add_argument("--truncation", choices=("left", "right"), default="left",
                        help="which end of a long review to cut (default: left, as the comparison)")
    parser.add_argument("--finals", metavar="SELECTION", nargs="+",
                        help="grid files (joined): write the comparison cache at their chosen rates to --out")
    parser.add_argument("--reuse", nargs="+", default=[],
                        help="earlier caches or experiments files whose runs at a chosen rate are kept (first match)")
    parser.add_argument("--truncation-check", help="a grid file of one method at its chosen rate, cut on the right")
    args = parser.parse_args(argv)
    if args.finals:
        from course_utils.runs.experiments import load_cache

        started = time.perf_counter()
        parts = [load_cache(p) for p in args.finals]
        selection = {"meta": {**parts[-1]["meta"], "wall_seconds": sum(p["meta"]["wall_seconds"] for p in parts)},
                     "runs": [r for p in parts for r in p["runs"]]}
        seeds = list(EXPERIMENT_BUDGET["seeds"])
        reuse = {"runs": [r for path in args.reuse for r in load_cache(path)["runs"]]} if args.reuse else None
        runs, trained = final_runs(selection, seeds, reuse)
        check = truncation_check(selection, load_cache(args.truncation_check)["runs"]) if args.truncation_check \
            else None
        write_cache(assemble(selection, runs, trained, seeds, time.perf_counter() - started, check), args.out)
        print("chosen:", chosen_rates(selection["runs"]), "| trained now:", trained)
        return 0
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else list(SELECTION_SEEDS)
    methods = args.methods.split(",") if args.methods else None
    rates = [float(r) for r in args.rates.split(",")] if args.rates else None
    if args.chosen_from:
        from course_utils.runs.experiments import load_cache

        chosen = chosen_rates(load_cache(args.chosen_from)["runs"])
        rates = sorted({chosen[m] for m in (methods or COMPARED_METHODS)})
        if len(rates) != 1:
            raise ValueError(f"--chosen-from: give --methods that share one chosen rate, got {chosen}")
    payload = run_grid(methods, seeds, partial=args.out + ".partial", rates=rates, truncation_side=args.truncation)
    write_cache(payload, args.out)
    for row in rate_table(payload["runs"]):
        print(f"{row['method']:>7} {row['learning_rate']:<7g} validation {row['validation_mean']:.3f}")
    print("chosen:", chosen_rates(payload["runs"]))
    return 0
