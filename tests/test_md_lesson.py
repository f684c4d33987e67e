"""Notebook 02's ΔM/ΔD runs that learn (results/md_offline.json, course_utils.runs.md_lesson): what the cache holds,
that it used notebook 05's validation-chosen rates, and that one of its runs reruns to the cached numbers."""

from __future__ import annotations

import pandas as pd
import pytest

from course_utils.adapters.dora_analysis import md_correlations
from course_utils.runs import experiments, md_lesson
from course_utils.runs.lessons import RERUN_TOLERANCE


@pytest.fixture(scope="module")
def cache() -> dict:
    return md_lesson.load_md()


def test_the_cache_holds_every_method_and_seed_and_every_run_learned(cache):
    rows, finals = pd.DataFrame(cache["rows"]), pd.DataFrame(cache["finals"])
    budget = cache["meta"]["budget"]
    layers = 6  # MiniLM-L6: one query layer per encoder layer
    assert len(rows) == len(md_lesson.MD_METHODS) * len(budget["seeds"]) * budget["n_checkpoints"] * layers
    assert sorted(rows["step"].unique()) == [80, 160, 240, 320]
    assert (finals["validation_accuracy"] > 0.85).all(), finals          # far above chance: the runs learned
    assert cache["meta"]["budget"]["steps"] == experiments.EXPERIMENT_BUDGET["steps"]


def test_the_cache_used_notebook_05s_validation_chosen_rates(cache):
    chosen = experiments.load_cache()["meta"]["selection"]["chosen"]
    assert cache["meta"]["learning_rates"] == {m: chosen[m] for m in md_lesson.MD_METHODS}
    assert md_lesson.md_rates() == cache["meta"]["learning_rates"]


def test_missing_cache_names_the_make_target(tmp_path):
    with pytest.raises(FileNotFoundError, match="make lessons"):
        md_lesson.load_md(tmp_path / "none.json")


def test_one_cached_run_reruns_to_the_cached_numbers(cache):
    """LoRA, seed 0, the whole budget: validation accuracy within 2 of 96 reviews, ΔM/ΔD rows and correlation close."""
    payload = md_lesson.run_md(seeds=[0], rates=cache["meta"]["learning_rates"], methods=["lora"])
    (final,) = payload["finals"]
    (cached,) = [f for f in cache["finals"] if (f["method"], f["seed"]) == ("lora", 0)]
    assert abs(final["validation_accuracy"] - cached["validation_accuracy"]) <= RERUN_TOLERANCE + 1e-9
    live = pd.DataFrame(payload["rows"])
    then = pd.DataFrame([r for r in cache["rows"] if (r["method"], r["seed"]) == ("lora", 0)])
    assert live["delta_m"].to_numpy() == pytest.approx(then["delta_m"].to_numpy(), rel=0.05)
    assert md_correlations(live)["lora"] == pytest.approx(md_correlations(then)["lora"], abs=0.02)
