"""The cached offline comparison (results/comparison_offline.json): its contents, the statistics over seeds, the
learning-curve callback, merging parallel parts, and one cached configuration re-run against the cache."""

from __future__ import annotations

import math

import pytest

from course_utils.comparison.figures import converged_at, curve_table, curves_figure, paired_figure
from course_utils.comparison.results import method_stats, paired_differences, summarize, t_interval
from course_utils.comparison.run import COMPARED_METHODS, default_specs, run_one
from course_utils.runs import experiments


@pytest.fixture(scope="module")
def cache() -> dict:
    return experiments.load_cache()


# ----------------------------------------------------------------------------------------------------
# The cache
# ----------------------------------------------------------------------------------------------------


def test_cache_holds_five_seeds_of_every_method_above_chance(cache):
    meta, runs = cache["meta"], cache["runs"]
    for key in ("versions", "profile", "budget", "commit", "date", "learning_rates"):
        assert meta[key], key
    assert meta["profile"] == "offline" and len(meta["commit"]) == 40
    budget = {k: meta["budget"][k] for k in experiments.CONFIG_KEYS}
    assert budget == {k: experiments.EXPERIMENT_BUDGET[k] for k in experiments.CONFIG_KEYS}
    seeds = {m: sorted(r["seed"] for r in runs if r["method"] == m) for m in COMPARED_METHODS}
    assert all(len(s) >= 5 for s in seeds.values()), seeds
    stats = method_stats(runs).set_index("method")
    assert (stats["ci_low"] > 0.5).all(), stats              # every method clearly above chance
    rates = {s.method: s.learning_rate for s in default_specs("offline", 384)}
    assert all(r["learning_rate"] == rates[r["method"]] for r in runs)   # the cache matches the code's rates
    for run in runs:
        assert run["steps"] == meta["budget"]["steps"]
        every = meta["budget"]["curve_every"]
        assert [p["step"] for p in run["curve"]] == list(range(every, run["steps"], every))


def test_the_cache_can_be_shown(cache):
    curves = curve_table(cache["runs"])
    plateau = converged_at(curves)
    assert set(plateau["method"]) == set(COMPARED_METHODS)
    assert (plateau["within_tolerance_from_step"] <= plateau["last_step"]).all()
    assert curves_figure(curves) is not None and paired_figure(paired_differences(cache["runs"])) is not None
    summary = summarize(cache["runs"])
    assert summary["accuracy_ci_low"].notna().all()


def test_one_cached_configuration_reruns_to_the_cached_numbers(cache):
    """The cheapest cached method, seed 0, the whole budget: accuracy, loss and curve equal the cache."""
    cheapest = min(COMPARED_METHODS, key=lambda m: next(r["seconds_per_step"] for r in cache["runs"]
                                                         if r["method"] == m and r["seed"] == 0))
    budget = experiments.EXPERIMENT_BUDGET
    (cached,) = experiments.matching_runs(cache, cheapest, 0, budget)
    _, data, tokenizer = experiments.offline_setup(budget)
    spec = default_specs("offline", 384, methods=[cheapest])[0]
    curve = experiments.LearningCurve(tokenizer, data["test"], budget["max_length"], budget["curve_every"])
    live = run_one(spec, experiments.cache_model_id(), tokenizer, data, seed=0, steps=budget["steps"],
                   batch_size=budget["batch_size"], max_length=budget["max_length"], callbacks=[curve])
    assert live["steps"] == cached["steps"]
    assert abs(live["accuracy"] - cached["accuracy"]) <= experiments.RERUN_TOLERANCE, (live, cached)
    assert live["eval_loss"] == pytest.approx(cached["eval_loss"], abs=0.01)
    for now, then in zip(curve.points, cached["curve"], strict=True):
        assert now["step"] == then["step"]
        assert abs(now["accuracy"] - then["accuracy"]) <= experiments.RERUN_TOLERANCE


def test_the_notebook_rerun_of_the_4bit_methods_stays_within_the_tolerance(cache):
    """Notebook 05's live rerun (40 steps of seed 0), strictly: the 4-bit methods depend on bitsandbytes' CPU path,
    LoRA is their reference. The notebook itself only shows the differences (they depend on the machine)."""
    budget = experiments.EXPERIMENT_BUDGET
    _, data, tokenizer = experiments.offline_setup(budget)
    table = experiments.rerun_prefix(cache, ["lora", "qlora", "qdora"], seed=0, stop_after=40, budget=budget,
                                     tokenizer=tokenizer, data=data)
    assert list(table["method"]) == ["LoRA", "QLoRA", "QDoRA"]
    assert experiments.rerun_outside(table).empty, table
    assert (table["reviews"] == (table["difference"] * len(data["test"])).round()).all()


def test_rerun_outside_flags_only_rows_past_the_tolerance():
    import pandas as pd

    table = pd.DataFrame({"method": ["a", "b", "c"], "difference": [0.0, -experiments.RERUN_TOLERANCE, 0.05]})
    assert list(experiments.rerun_outside(table)["method"]) == ["c"]
    assert list(experiments.rerun_outside(table, tolerance=0.0)["method"]) == ["b", "c"]


# ----------------------------------------------------------------------------------------------------
# Statistics
# ----------------------------------------------------------------------------------------------------


def test_t_interval_matches_the_textbook_value():
    mean, low, high = t_interval([0, 1, 2, 3, 4])
    assert mean == 2 and high - mean == pytest.approx(2.7764451 * math.sqrt(2.5) / math.sqrt(5), rel=1e-6)
    assert low == pytest.approx(2 * mean - high)
    with pytest.raises(ValueError, match="at least 2"):
        t_interval([0.7])
    with pytest.raises(ValueError, match="level"):
        t_interval([0.1, 0.2], level=1.5)


def fake_runs(gaps: dict[str, list[float]]) -> list[dict]:
    """LoRA at 0.70 + noise per seed; each other method = LoRA + its gap on that seed."""
    lora = [0.70, 0.62, 0.75, 0.66, 0.71]
    runs = [{"method": "lora", "label": "LoRA", "seed": s, "accuracy": a} for s, a in enumerate(lora)]
    for method, gap in gaps.items():
        runs += [{"method": method, "label": method, "seed": s, "accuracy": a + g}
                 for s, (a, g) in enumerate(zip(lora, gap))]
    return runs


def test_paired_differences_see_a_steady_gap_that_separate_intervals_miss():
    runs = fake_runs({"dora": [0.02, 0.03, 0.02, 0.025, 0.03], "full": [0.05, -0.06, 0.04, -0.05, 0.01]})
    diffs = paired_differences(runs).set_index("method")
    assert diffs.loc["dora", "real"] and diffs.loc["dora", "ci_low"] > 0          # small but the same every seed
    assert not diffs.loc["full", "real"]                                           # large swings both ways
    stats = method_stats(runs).set_index("method")
    assert stats.loc["dora", "ci_low"] < stats.loc["lora", "ci_high"]             # the separate intervals overlap
    with pytest.raises(ValueError, match="baseline"):
        paired_differences(runs, baseline="qlora")


# ----------------------------------------------------------------------------------------------------
# Merging parts and the re-run guard
# ----------------------------------------------------------------------------------------------------


def part(method: str, seeds: list[int], rate: float, accuracy: float) -> dict:
    budget = {**experiments.EXPERIMENT_BUDGET, "seeds": seeds}
    meta = {"budget": budget, "learning_rates": {method: rate}, "commit": "c" * 40, "wall_seconds": 1.0,
            "date": "2026-01-01 00:00 UTC"}
    return {"meta": meta, "runs": [{"method": method, "seed": s, "learning_rate": rate, "accuracy": accuracy,
                                    "eval_loss": 0.6, "curve": [],
                                    **{k: budget[k] for k in experiments.CONFIG_KEYS}} for s in seeds]}


def test_merge_replaces_reruns_and_keeps_what_they_replaced():
    merged = experiments.merge([part("full", [0, 1], 3e-4, 0.5), part("lora", [0, 1], 3e-3, 0.7),
                                part("full", [0, 1], 1e-4, 0.8)])
    assert [(r["method"], r["seed"], r["learning_rate"]) for r in merged["runs"]] == [
        ("full", 0, 1e-4), ("full", 1, 1e-4), ("lora", 0, 3e-3), ("lora", 1, 3e-3)]
    assert merged["meta"]["learning_rates"] == {"full": 1e-4, "lora": 3e-3}
    assert [(s["method"], s["learning_rate"]) for s in merged["meta"]["superseded"]] == [("full", 3e-4)] * 2
    assert merged["meta"]["superseded"][0]["steps"] == experiments.EXPERIMENT_BUDGET["steps"]
    assert [p["methods"] for p in merged["meta"]["parts"]] == [["full"], ["lora"], ["full"]]
    again = experiments.merge([merged, part("lora", [1], 1e-3, 0.9)])   # a merged cache merged again keeps its history
    assert [(s["method"], s["learning_rate"]) for s in again["meta"]["superseded"]] == [
        ("full", 3e-4), ("full", 3e-4), ("lora", 3e-3)]
    assert [p["methods"] for p in again["meta"]["parts"]] == [["full"], ["lora"], ["full"], ["lora"]]
    assert again["meta"]["learning_rates"] == {"full": 1e-4, "lora": 1e-3}
    rerun = experiments.merge([again, part("full", [0, 1], 1e-4, 0.81)])   # same rate: replaced, not superseded
    assert rerun["meta"]["superseded"] == again["meta"]["superseded"]
    assert [r["accuracy"] for r in rerun["runs"] if r["method"] == "full"] == [0.81, 0.81]
    newest = part("lora", [3], 1e-3, 0.9)
    newest["meta"].update(date="2027-01-01 00:00 UTC", commit="d" * 40)
    assert {k: experiments.merge([rerun, newest])["meta"][k] for k in ("date", "commit")} == {
        "date": "2027-01-01 00:00 UTC", "commit": "d" * 40}          # provenance of the newest part
    other = part("lora", [2], 3e-3, 0.7)
    other["meta"]["budget"]["steps"] = 5
    with pytest.raises(ValueError, match="differ in budget"):
        experiments.merge([part("lora", [0], 3e-3, 0.7), other])


def test_bad_input_names_the_argument(tmp_path):
    with pytest.raises(FileNotFoundError, match="make experiments"):
        experiments.load_cache(tmp_path / "none.json")
    with pytest.raises(ValueError, match="every must be"):
        experiments.LearningCurve(None, {"document": [], "label": []}, 32, 0)
    with pytest.raises(ValueError, match="steps must be"):
        experiments.StopAfter(0)
    with pytest.raises(ValueError, match="payloads"):
        experiments.merge([])


# ----------------------------------------------------------------------------------------------------
# The 4-bit learning-rate rule
# ----------------------------------------------------------------------------------------------------


def test_collapsed_needs_chance_accuracy_and_ln2_loss():
    assert experiments.collapsed({"accuracy": 0.5, "eval_loss": 0.6931})
    assert not experiments.collapsed({"accuracy": 0.5, "eval_loss": 0.75})     # near chance but still moving
    assert not experiments.collapsed({"accuracy": 0.9, "eval_loss": 0.6931})
    assert not experiments.collapsed({"accuracy": 0.5, "eval_loss": None})
