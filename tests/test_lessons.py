"""The cached lessons (results/lessons_offline.json) behind notebook 04's LoRA vs QLoRA and notebook 01's sweep:
chosen on validation, every setting × seed present, the notebooks' tables computed from it, and one cached LoRA
run re-trained against it."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from course_utils.runs import experiments, lessons

CONFIG = ("steps", "batch_size", "max_length", "n_train", "n_test", "curve_every")


@pytest.fixture(scope="module")
def cache() -> dict:
    return lessons.load_lessons()


def test_the_cache_was_chosen_on_validation_and_covers_the_grid(cache):
    meta, runs = cache["meta"], cache["runs"]
    assert meta["selected_on"] == "validation" and meta["profile"] == "offline"
    for key in ("versions", "date", "wall_seconds", "commit", "budget_probe"):
        assert meta[key], key
    assert {k: meta["budget"][k] for k in CONFIG} == {k: lessons.LESSON_BUDGET[k] for k in CONFIG}
    seeds = meta["budget"]["seeds"]
    assert len(seeds) >= 3 and meta["learning_rate"] == lessons.LEARNING_RATE
    assert sorted((r["setting"], r["seed"]) for r in runs) == sorted((s, seed) for s in lessons.SETTINGS
                                                                        for seed in seeds)
    for run in runs:                                     # each run is the setting the code defines, at the budget
        assert {k: run[k] for k in lessons.SETTINGS[run["setting"]].record()} == \
            lessons.SETTINGS[run["setting"]].record()
        assert run["steps"] == meta["budget"]["steps"] and run["trainable_params"] > 0
        every = meta["budget"]["curve_every"]
        assert [p["step"] for p in run["validation_curve"]] == list(range(every, run["steps"], every))
    # the probe that chose the budget was read on validation and had levelled off at the chosen step count
    probe = meta["budget_probe"]
    assert probe["split"] == "validation" and probe["curve"][str(meta["budget"]["steps"])] >= max(
        v for step, v in probe["curve"].items() if int(step) <= meta["budget"]["steps"])


def test_the_test_split_is_kept_only_for_the_compared_methods_and_the_choice(cache):
    runs = cache["runs"]
    assert cache["meta"]["chosen"] == lessons.chosen_setting(runs)
    keep = {*lessons.METHODS.values(), cache["meta"]["chosen"]}
    for run in runs:
        assert (run["test_accuracy"] is not None) == (run["setting"] in keep), run["setting"]
    summary = lessons.chosen_summary(cache)
    chosen = [r for r in runs if r["setting"] == summary["setting"]]
    assert (summary["test"], summary["test_std"]) == pytest.approx(_by_hand([r["test_accuracy"] for r in chosen]))
    assert (summary["validation"], summary["validation_std"]) == pytest.approx(
        _by_hand([r["validation_accuracy"] for r in chosen]))
    assert lessons.describe("qv_r8_a16") == "r=8, α=16, query · value"
    assert lessons.describe("qlora_all") == "QLoRA r=8, α=16, 모든 Linear"


def test_lora_and_qlora_clearly_learn(cache):
    table = lessons.method_table(cache)
    assert (table["시드 수"] >= 3).all()
    assert (table["검증 정확도"] > 0.75).all() and (table["테스트 정확도"] > 0.75).all(), table


def test_mean_std_is_the_sample_standard_deviation():
    mean, sd = lessons.mean_std([0.8, 0.9, 1.0])
    assert mean == pytest.approx(0.9) and sd == pytest.approx(0.1)
    assert lessons.mean_std([0.7]) == (0.7, 0.0)
    with pytest.raises(ValueError, match="at least one"):
        lessons.mean_std([])


def _by_hand(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def test_the_shown_tables_are_computed_from_the_cache(cache):
    runs = cache["runs"]
    table = lessons.method_table(cache).set_index("방법")
    for label, setting in lessons.METHODS.items():
        for split, key in (("검증", "validation_accuracy"), ("테스트", "test_accuracy")):
            mean, sd = _by_hand([r[key] for r in runs if r["setting"] == setting])
            assert table.loc[label, f"{split} 정확도"] == pytest.approx(mean, abs=1e-12)
            assert table.loc[label, f"{split} 표준편차"] == pytest.approx(sd, abs=1e-12)
    sweep = lessons.sweep_table(cache)
    assert len(sweep) == sum(len(rows) for rows in lessons.SWEEP.values())
    for row in sweep.itertuples():
        mean, sd = _by_hand([r["validation_accuracy"] for r in runs if r["setting"] == row.setting])
        assert sweep.loc[row.Index, "검증 정확도"] == pytest.approx(mean, abs=1e-12)
        assert sweep.loc[row.Index, "표준편차"] == pytest.approx(sd, abs=1e-12)
    assert lessons.method_figure(cache) is not None and lessons.sweep_figure(cache) is not None


def test_missing_cache_and_unknown_settings_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="make lessons"):
        lessons.load_lessons(tmp_path / "none.json")
    with pytest.raises(ValueError, match="unknown"):
        lessons.run_lessons(settings=["qv_r3"])


def test_one_cached_lora_run_reruns_to_its_validation_accuracy(cache):
    """LoRA r=8 on query+value (the sweep's base, the cheapest LoRA setting), seed 0, the whole budget: about 40 s
    on one thread. Its validation accuracy and curve equal the cache within RERUN_TOLERANCE (2 of 96 reviews)."""
    budget = cache["meta"]["budget"]
    (cached,) = [r for r in cache["runs"] if r["setting"] == "qv_r8_a16" and r["seed"] == 0]
    _, data, tokenizer = experiments.offline_setup(budget)
    assert len(data["validation"]) == cache["meta"]["n_validation"]
    live = lessons.run_setting(lessons.SETTINGS["qv_r8_a16"], 0, budget, tokenizer, data)
    points = [(f"step {now['step']}", then["accuracy"], now["accuracy"])
              for now, then in zip(live["validation_curve"], cached["validation_curve"], strict=True)]
    table = pd.DataFrame([*points, ("final", cached["validation_accuracy"], live["validation_accuracy"])],
                         columns=["method", "cached", "live"])
    table["difference"] = table["live"] - table["cached"]
    assert experiments.rerun_outside(table, tolerance=lessons.RERUN_TOLERANCE).empty, table
    assert live["trainable_params"] == cached["trainable_params"]
