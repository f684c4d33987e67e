"""Choosing every compared method's learning rate on the validation split (course_utils.runs.selection) and the
comparison cache that records the choice."""

from __future__ import annotations

import pytest

from course_utils.comparison.run import COMPARED_METHODS, default_specs
from course_utils.runs import experiments, selection


def run(method: str, rate: float, seed: int, validation: float, test: float = 0.9) -> dict:
    """A selection record as run_grid writes it (only the fields the choice and the cache use)."""
    curve = [{"step": 40, "accuracy": validation - 0.1}, {"step": 320, "accuracy": validation}]
    return {"method": method, "learning_rate": rate, "seed": seed, "validation_accuracy": validation,
            "validation_curve": curve, "accuracy": test, "n_validation_rows": 96,
            **{k: experiments.EXPERIMENT_BUDGET[k] for k in experiments.CONFIG_KEYS}}


def test_every_method_has_a_three_rate_grid_around_its_group():
    for method in COMPARED_METHODS:
        grid = selection.grid_for(method)
        assert len(grid) == 3 and list(grid) == sorted(grid)
    assert selection.grid_for("qlora") == selection.grid_for("lora")   # 4-bit gets the same search as 16-bit
    with pytest.raises(ValueError, match="method must be one of"):
        selection.grid_for("adalora")


def test_the_choice_reads_validation_only():
    runs = [run("lora", 1e-3, s, 0.80, test=0.99) for s in (0, 1)] + \
           [run("lora", 3e-3, s, v, test=0.50) for s, v in ((0, 0.90), (1, 0.86))]
    assert selection.chosen_rates(runs) == {"lora": 3e-3}               # the test accuracy points the other way
    table = selection.rate_table(runs)
    assert [(r["learning_rate"], round(r["validation_mean"], 3)) for r in table] == [(1e-3, 0.8), (3e-3, 0.88)]


def test_a_tie_goes_to_the_smaller_rate_and_uneven_seeds_are_refused():
    runs = [run("dora", rate, s, 0.85) for rate in (1e-3, 3e-3) for s in (0, 1)]
    assert selection.chosen_rates(runs) == {"dora": 1e-3}
    with pytest.raises(ValueError, match="different seeds"):
        selection.chosen_rates(runs[:-1])


def test_final_runs_reuse_the_selection_seeds_and_same_rate_runs_of_an_earlier_cache():
    grid = {"meta": {"budget": {**experiments.EXPERIMENT_BUDGET, "seeds": [0, 1]}},
            "runs": [run("lora", rate, s, v) for rate, v in ((1e-3, 0.8), (3e-3, 0.9)) for s in (0, 1)]}
    old = {"meta": {}, "runs": [run("lora", 3e-3, s, 0.0, test=0.5 + s / 100) for s in (2, 3, 4)]
           + [run("lora", 1e-3, 4, 0.0)]}
    runs, trained = selection.final_runs(grid, [0, 1, 2, 3, 4], reuse=old)
    assert trained == {} and [r["seed"] for r in runs] == [0, 1, 2, 3, 4]
    assert all(r["learning_rate"] == 3e-3 for r in runs)
    assert [r.get("reused", False) for r in runs] == [False, False, True, True, True]
    cache = selection.assemble(grid | {"meta": {**grid["meta"], "rate_grid": {}, "date": "d", "wall_seconds": 1}},
                               runs, trained, [0, 1, 2, 3, 4], 0.0)
    meta = cache["meta"]
    assert meta["selected_on"] == "validation" and meta["learning_rates"] == {"lora": 3e-3}
    assert meta["selection"]["validation_curves"]["lora"][-1] == {"step": 320, "accuracy": 0.9}
    assert meta["reused"] == [("lora", 2), ("lora", 3), ("lora", 4)]


def test_one_tiny_grid_trains_and_scores_on_validation():
    budget = {**experiments.EXPERIMENT_BUDGET, "steps": 2, "curve_every": 1}
    payload = selection.run_grid(["lora"], [0], budget=budget)
    assert [r["learning_rate"] for r in payload["runs"]] == list(selection.grid_for("lora"))
    for record in payload["runs"]:
        assert [p["step"] for p in record["validation_curve"]] == [1, 2]
        assert record["validation_accuracy"] == record["validation_curve"][-1]["accuracy"]
        assert record["n_validation_rows"] == 96 and 0 <= record["accuracy"] <= 1
    assert payload["meta"]["selected_on"] == "validation"


# ----------------------------------------------------------------------------------------------------
# The committed cache
# ----------------------------------------------------------------------------------------------------


def test_the_cache_was_chosen_on_validation_and_the_code_uses_its_rates():
    cache = experiments.load_cache()
    meta = cache["meta"]
    assert meta["selected_on"] == "validation" and meta["n_validation"] == 96
    chosen = meta["selection"]["chosen"]
    assert chosen == selection.chosen_rates([r for r in cache["runs"] if "validation_accuracy" in r]
                                            + extra_rows(meta))
    assert {s.method: s.learning_rate for s in default_specs("offline", 384)} == chosen == meta["learning_rates"]
    for method in COMPARED_METHODS:
        tried = {row["learning_rate"] for row in meta["selection"]["table"] if row["method"] == method}
        assert tried == set(selection.grid_for(method)), method
        assert sorted(r["seed"] for r in cache["runs"] if r["method"] == method) == [0, 1, 2, 3, 4]


def extra_rows(meta: dict) -> list[dict]:
    """The selection table's rows as validation-only records (the rates not chosen have no final run)."""
    return [{"method": row["method"], "learning_rate": row["learning_rate"], "seed": seed, "validation_accuracy": v}
            for row in meta["selection"]["table"] for seed, v in zip(row["seeds"], row["validation"])
            if row["learning_rate"] != meta["selection"]["chosen"][row["method"]]]


def test_the_truncation_check_compares_one_method_at_its_chosen_rate():
    grid = {"meta": {}, "runs": [run("lora", rate, s, v) for rate, v in ((1e-3, 0.8), (3e-3, 0.9)) for s in (0, 1)]}
    right = [{**run("lora", 3e-3, s, 0.5), "truncation_side": "right"} for s in (0, 1)]
    assert selection.truncation_check(grid, right) == {"method": "lora", "learning_rate": 3e-3, "seeds": [0, 1],
                                                       "left": 0.9, "right": 0.5}
    with pytest.raises(ValueError, match="chosen rate"):
        selection.truncation_check(grid, [{**r, "learning_rate": 1e-3} for r in right])
    with pytest.raises(ValueError, match="selection seeds"):
        selection.truncation_check(grid, right[:1])


def test_validation_curves_are_shaped_for_the_curve_table():
    from course_utils.comparison.figures import curve_table, validation_runs

    record = {"method": "lora", "seed": 1, "accuracy": 0.5, "validation_curve": [
        {"step": 40, "accuracy": 0.6, "p_positive": 0.9}, {"step": 80, "accuracy": 0.8, "p_positive": 0.5}]}
    (shaped,) = validation_runs([record, {"method": "lora", "seed": 2, "curve": []}])   # no validation: left out
    table = curve_table([shaped])
    assert table[["step", "accuracy", "p_positive"]].values.tolist() == [[40, 0.6, 0.9], [80, 0.8, 0.5]]
