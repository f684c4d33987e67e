"""course_utils.guide: the decision helper follows the memory estimator and validates its input."""

from __future__ import annotations

import pytest

from course_utils.guide import GOALS, recommend, recommendation_table, training_estimates_gb
from course_utils.memory import GB, estimate_training_memory
from course_utils.presets import preset_model


def test_estimates_are_the_memory_estimator():
    est = training_estimates_gb("llama-7b")
    for kind in ("full", "lora", "qlora"):
        assert est[kind] == estimate_training_memory("llama-7b", kind, "bf16")["total"] / GB
    assert est["qlora"] < est["lora"] < est["full"]


def test_budget_decides_between_lora_and_qlora():
    est = training_estimates_gb("llama-7b")
    # a GPU whose budget sits just above / below LoRA's estimate
    above = recommend(est["lora"] / 0.75 + 0.01, "llama-7b")
    below = recommend(est["lora"] / 0.75 - 0.01, "llama-7b")
    assert (above.method, below.method) == ("lora", "qlora")
    assert above.fits("lora") and not below.fits("lora") and below.fits("qlora")
    assert above.budget_gb == pytest.approx(0.75 * above.gpu_memory_gb)


def test_lecture_rules_checked_against_the_estimator():
    # §7.3 "16 GB: LoRA or DoRA" does not hold for a 7B model: LoRA on bf16 7B needs > 16 GB before activations
    assert training_estimates_gb("llama-7b")["lora"] > 16
    assert recommend(16, "llama-7b").method == "qlora"
    # §7.3 "8 GB: QLoRA + small batch": QLoRA 7B's tensors alone are ~7 GB, too tight with the default reserve
    assert recommend(8, "llama-7b").method is None
    assert recommend(8, "llama-7b", activation_reserve=0.1).method == "qlora"
    # klue/bert-base fits anywhere; with the accuracy goal full fine-tuning is the pick
    assert recommend(16, "klue/bert-base", "accuracy").method == "full"


@pytest.mark.parametrize(("goal", "roomy", "tight"), [
    ("balanced", "lora", "qlora"), ("accuracy", "dora", "qdora"), ("storage", "vblora", "qlora")])
def test_goals(goal, roomy, tight):
    assert recommend(48, "llama-13b", goal).method == roomy      # 13B: full FT needs ~156 GB, LoRA ~30 GB
    assert recommend(24, "llama-13b", goal).method == tight
    assert recommend(24, "llama-65b", goal).method is None


def test_model_forms_agree():
    by_preset = recommend(24, "klue/bert-base")
    by_module = recommend(24, preset_model("klue/bert-base"))
    assert by_preset.estimates_gb == by_module.estimates_gb
    by_count = recommend(24, 7_000_000_000)
    assert by_count.method == "lora" and by_count.estimates_gb["full"] == pytest.approx(84.0)


def test_reasons_and_table():
    rec = recommend(16, "llama-7b")
    text = str(rec)
    assert "QLoRA" in text and "16 GB" in text and len(rec.reasons) >= 3
    table = recommendation_table((8, 80), ("klue/bert-base", "llama-65b"))
    assert table.shape == (2, 2)
    assert table.loc["LLaMA-65B", "80 GB"] == "QLoRA" and table.loc["klue/bert-base (110M)", "8 GB"] == "LoRA"


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"gpu_memory_gb": 0}, ValueError, "gpu_memory_gb must be a finite number > 0"),
    ({"gpu_memory_gb": "16GB"}, TypeError, "gpu_memory_gb must be a number"),
    ({"gpu_memory_gb": 16, "model": "gpt-5"}, ValueError, "model must be one of the presets"),
    ({"gpu_memory_gb": 16, "model": -5}, ValueError, "parameter count must be > 0"),
    ({"gpu_memory_gb": 16, "model": 1.5}, TypeError, "model must be a preset name"),
    ({"gpu_memory_gb": 16, "goal": "fast"}, ValueError, "goal must be one of"),
    ({"gpu_memory_gb": 16, "activation_reserve": 1.0}, ValueError, "activation_reserve must be a number in"),
])
def test_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        recommend(**kwargs)


def test_goals_constant():
    assert GOALS == ("balanced", "accuracy", "storage")
