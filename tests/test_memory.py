"""course_utils.memory.estimate: the estimator equals the measured tensor inventory, lecture claims, bad input, the
widget."""

from __future__ import annotations

import math

import pytest
import torch
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from torch import nn

from course_utils.adapters.peft_rules import four_bit_module_names
from course_utils.memory import estimate as memory
from course_utils.memory import figures as memory_figures
from course_utils.memory import inventory
from course_utils.memory.estimate import GIB, estimate_training_memory
from course_utils.memory.inventory import inventory_bytes, measure_training_memory
from course_utils.quant import nf4
from course_utils.runtime.env import make_profile
from course_utils.runtime.models import (
    load_classifier,
    load_classifier_4bit,
    load_model_and_tokenizer,
    load_tokenizer,
    quantized_modules,
)
from course_utils.runtime.presets import DEFAULT_SKIP_MODULES, PRESETS, llama_ffn_size, preset_model

TARGETS = ["query", "key", "value", "dense"]


def lora_config(r: int = 8, targets=TARGETS) -> LoraConfig:
    return LoraConfig(task_type="SEQ_CLS", r=r, lora_alpha=16, lora_dropout=0.1, target_modules=list(targets))


def make_batch(tokenizer) -> dict[str, torch.Tensor]:
    batch = tokenizer(["a good movie", "bad film, would not watch again"], return_tensors="pt", padding=True)
    batch["labels"] = torch.tensor([1, 0])
    return batch


@pytest.fixture(scope="module")
def offline():
    """The offline profile's model id and tokenizer (MiniLM-L6, BERT architecture)."""
    profile = make_profile("offline", device="cpu")
    return profile.model_id, load_tokenizer(profile.model_id)


# ----------------------------------------------------------------------------------------------------
# Estimator == inventory after one optimizer step, to the byte
# ----------------------------------------------------------------------------------------------------


def test_full_finetuning_estimate_equals_inventory(offline):
    model_id, tokenizer = offline
    model, _ = load_model_and_tokenizer(make_profile("offline", device="cpu"))
    estimate = estimate_training_memory(model, "full", "fp32")
    measured = measure_training_memory(model, make_batch(tokenizer))
    assert estimate == measured
    n = sum(p.numel() for p in model.parameters())
    assert measured["gradients"] == 4 * n and measured["adapters"] == measured["weights_4bit"] == 0
    # AdamW: exp_avg + exp_avg_sq (fp32) per parameter, plus a 4-byte `step` per parameter tensor
    assert measured["optimizer_states"] == 8 * n + 4 * len(list(model.parameters()))


def test_lora_estimate_equals_inventory(offline):
    model_id, tokenizer = offline
    model = load_classifier(model_id)
    estimate = estimate_training_memory(model, "lora", "fp32", r=8, target_modules=TARGETS)
    peft_model = get_peft_model(model, lora_config())
    measured = measure_training_memory(peft_model, make_batch(tokenizer))
    assert estimate == measured
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    assert measured["adapters"] == measured["gradients"] == 4 * trainable


def test_qlora_estimate_equals_inventory(offline):
    model_id, tokenizer = offline
    base = load_classifier(model_id)  # the estimate needs only the unquantized shapes
    estimate = estimate_training_memory(base, "qlora", "fp32", r=8, target_modules=TARGETS)
    model = prepare_model_for_kbit_training(load_classifier_4bit(model_id))
    peft_model = get_peft_model(model, lora_config())
    measured = measure_training_memory(peft_model, make_batch(tokenizer))
    assert estimate == measured
    # the 4-bit part is exactly what bitsandbytes stores for each quantized weight
    import bitsandbytes as bnb

    shapes = [m.weight.quant_state.shape for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert measured["weights_4bit"] == sum(memory.nf4_weight_bytes(math.prod(s)) for s in shapes)
    # weights_4bit + fp weights is far less than the fp32 model
    fp32 = estimate_training_memory(base, "lora", "fp32", r=8, target_modules=TARGETS)
    assert measured["weights"] + measured["weights_4bit"] < 0.7 * fp32["weights"]


def test_bf16_lora_and_qlora_and_other_optimizers_match_on_a_tiny_bert(tiny_klue_dir):
    tokenizer = load_tokenizer(str(tiny_klue_dir))
    batch = make_batch(tokenizer)
    # LoRA on a bf16 base: peft keeps A/B in fp32, the classifier copy stays bf16; torch's AdamW state has the
    # dtype of its parameter ("param")
    base = load_classifier(str(tiny_klue_dir), dtype=torch.bfloat16)
    estimate = estimate_training_memory(base, "lora", "bf16", r=4, target_modules=["query", "value"],
                                        state_dtype="param")
    assert estimate == measure_training_memory(get_peft_model(base, lora_config(4, ["query", "value"])), batch)
    # QLoRA with bf16 compute: prepare_model_for_kbit_training upcasts to fp32, Linear4bit casts its bias back
    base = load_classifier(str(tiny_klue_dir))
    model = prepare_model_for_kbit_training(load_classifier_4bit(str(tiny_klue_dir), compute_dtype=torch.bfloat16),
                                            use_gradient_checkpointing=False)
    peft_model = get_peft_model(model, lora_config(4))
    for optimizer in ("adamw", "sgd", "sgd_momentum"):
        estimate = estimate_training_memory(base, "qlora", "bf16", optimizer, r=4, target_modules=TARGETS)
        assert estimate == measure_training_memory(peft_model, batch, optimizer), optimizer


def test_estimate_on_a_meta_model_equals_the_estimate_on_the_loaded_model(tiny_klue_dir):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    loaded = load_classifier(str(tiny_klue_dir))
    with torch.device("meta"):
        meta = AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(tiny_klue_dir))
    for method in memory.MEMORY_METHODS:
        assert estimate_training_memory(meta, method, "bf16") == estimate_training_memory(loaded, method, "bf16")


def test_nf4_weight_bytes_equals_what_bitsandbytes_stores():
    import bitsandbytes.functional as F

    for n in (64 * 256, 100, 4096 * 3 + 7, 768 * 3072):
        w = torch.randn(n)
        packed, state = F.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=True)
        tensors = [packed, state.absmax, state.code, state.offset, state.state2.absmax, state.state2.code]
        assert memory.nf4_weight_bytes(n) == sum(t.numel() * t.element_size() for t in tensors), n
        packed, state = F.quantize_4bit(w, blocksize=64, quant_type="nf4", compress_statistics=False)
        assert memory.nf4_weight_bytes(n, double_quant=False) == sum(
            t.numel() * t.element_size() for t in (packed, state.absmax, state.code)), n
    # per parameter, the constants vanish: 4.127 bits (NF4 + DQ), as nf4.bits_per_parameter measures
    n = 64 * 256 * 1000
    assert 8 * memory.nf4_weight_bytes(n) / n == pytest.approx(nf4.bits_per_parameter(64, True), abs=1e-3)


def test_which_modules_become_4bit(offline):
    model_id, _ = offline
    base = load_classifier(model_id)
    names = list(four_bit_module_names(base, DEFAULT_SKIP_MODULES))
    model = load_classifier_4bit(model_id)
    assert names == quantized_modules(model)
    assert len(names) == 6 * 6 and not any("classifier" in n or "pooler" in n for n in names)


# ----------------------------------------------------------------------------------------------------
# Model presets and the lecture's claims
# ----------------------------------------------------------------------------------------------------


def test_presets_have_the_published_sizes():
    count = {name: sum(p.numel() for p in preset_model(name).parameters()) for name in ("klue/bert-base",
                                                                                                "llama-7b")}
    assert count["klue/bert-base"] == 110_618_882  # facts §5
    assert count["llama-7b"] == 6_738_415_616  # LLaMA-7B
    assert [llama_ffn_size(d) for d in (4096, 5120, 6656, 8192)] == [11008, 13824, 17920, 22016]
    assert [PRESETS[f"llama-{s}"].intermediate for s in ("7b", "13b", "33b", "65b")] == [
        11008, 13824, 17920, 22016]


def test_lecture_claims_numerically():
    claims = memory.lecture_claims()
    # "7B ≈ 28 GB": fp32 weights only; with gradients and AdamW states it is 112 GB (bf16 weights: 84 GB), far over 40
    assert claims["full_fp32_weights_7b_gb"] == 28.0
    assert claims["full_fp32_total_7b_gb"] == 112.0 and claims["full_bf16_total_7b_gb"] == 84.0
    # "65B on one 48 GB GPU" (QLoRA abstract), compared in GiB with the 47.99 GiB an A6000 reports: the persistent
    # tensors fit with both the course's defaults and the QLoRA repository's bf16 recipe ...
    assert 31 < claims["qlora_65b_weights_4bit_gib"] < 32
    assert claims["qlora_65b_repo_recipe_gib"] < claims["qlora_65b_gib"] < claims["a6000_gib"] == 49_140 / 1024
    # ... and with the repository's batch (4 x 528 tokens, gradient checkpointing) only the bf16 recipe still fits
    overhead = claims["activations_65b_gib"] + memory.CUDA_OVERHEAD_GIB
    assert claims["qlora_65b_repo_recipe_gib"] + overhead < claims["a6000_gib"] < claims["qlora_65b_gib"] + overhead
    # "~75% less memory": true for the 4-bit weight storage vs 16-bit (1 - 4.127/16), not for training totals
    assert claims["reduction_weight_bits"] == pytest.approx(1 - 4.126953125 / 16)
    assert 0.74 < claims["reduction_weight_bits"] < 0.75
    assert claims["reduction_vs_lora_bf16"] < 0.70 < 0.90 < claims["reduction_vs_full_bf16"]


def test_gpu_fits_fail_if_gb_and_gib_are_mixed():
    """The same 65B QLoRA tensors: 48.3 "GB" (10^9) against a "48 GB" GPU looks like a miss, 44.99 GiB is a fit."""
    total = estimate_training_memory("llama-65b", "qlora", "bf16")["total"]
    assert memory.gib(total) == total / 2**30 and memory.gb(total) == total / 10**9
    assert memory.gb(total) > 48 > memory.GPU_GIB["A6000"] > memory.gib(total)  # mixing units flips the answer
    assert memory.GPU_GIB["T4"] == 15.0 and memory.GIB == 2**30 and memory.GB == 10**9



def test_gpu_sizes_are_what_nvidia_smi_reports():
    """One table, in MiB as nvidia-smi prints the total; GiB derived from it (no flat "24 GiB")."""
    assert memory.GPU_MIB == {"T4": 15_360, "A10G": 23_028, "L4": 23_034, "A100-40G": 40_960, "A6000": 49_140,
                              "A100-80G": 81_920, "H100-80G": 81_559}
    assert memory.GPU_GIB == {name: mib / 1024 for name, mib in memory.GPU_MIB.items()}
    assert round(memory.GPU_GIB["A10G"], 2) == 22.49 and round(memory.GPU_GIB["L4"], 2) == 22.49
    with pytest.raises(ValueError, match="nbytes must be >= 0"):
        memory.gib(-1)


def test_checkpointed_activation_bytes_by_hand():
    # LLaMA-65B, batch 1 x 512: 80 layer inputs (2 bytes) + one layer recomputed + logits (10 bytes each)
    b, s, h, layers, heads, vocab = 1, 512, 8192, 80, 64, 32000
    expected = layers * b * s * h * 2 + s * b * h * 34 + 5 * heads * s * s * b + b * s * vocab * 10
    assert memory.checkpointed_activation_bytes("llama-65b", 1, 512) == expected
    # a sequence classifier has no LM head: no vocabulary-sized logits
    bert = memory.checkpointed_activation_bytes("klue/bert-base", 2, 128)
    assert bert == 12 * 2 * 128 * 768 * 2 + 128 * 2 * 768 * 34 + 5 * 12 * 128 * 128 * 2
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        memory.checkpointed_activation_bytes("llama-7b", 0)
    with pytest.raises(TypeError, match="transformers model"):
        memory.checkpointed_activation_bytes(nn.Linear(2, 2))


def test_check_estimate_is_exact_on_cpu_and_tolerant_on_cuda():
    estimate = memory.with_total({"weights": 1000, "adapters": 100, "gradients": 100, "optimizer_states": 200})
    assert "바이트 단위로 같습니다" in inventory.check_estimate(estimate, dict(estimate), "cpu")
    off_by_one = memory.with_total({**estimate, "weights": 1001})
    with pytest.raises(AssertionError, match="differs from the measurement on CPU"):
        inventory.check_estimate(estimate, off_by_one, "cpu")
    verdict = inventory.check_estimate(estimate, off_by_one, "cuda")  # a GPU run reports, never stops, within 15%
    assert "weights +1 B" in verdict and "0.07%" in verdict
    far_off = memory.with_total({**estimate, "weights": 2000})
    with pytest.raises(AssertionError, match="allowed 15%"):
        inventory.check_estimate(estimate, far_off, "cuda")
    with pytest.raises(ValueError, match="missing"):
        inventory.check_estimate({"total": 1}, estimate, "cpu")


def test_full_finetune_bytes_agrees_with_the_estimator_for_a_bare_count():
    for dtype in ("fp32", "bf16"):
        old = memory.full_finetune_bytes(7 * 10**9, dtype)
        new = estimate_training_memory(7 * 10**9, "full", dtype)
        assert new["total"] == old["total"] and new["optimizer_states"] == old["optimizer_states"]
    q = estimate_training_memory(10**9, "qlora", "bf16", adapter_params=10**6)
    assert q["weights_4bit"] == memory.nf4_weight_bytes(10**9) and q["adapters"] == 4 * 10**6


# ----------------------------------------------------------------------------------------------------
# Bad input: clear errors naming the argument and the allowed values
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "prefix"}, "method must be one of \\['full', 'lora', 'qlora'\\]"),
    ({"weight_dtype": "int8"}, "weight_dtype must be one of"),
    ({"weight_dtype": "nf4"}, "weight_dtype must be one of"),
    ({"optimizer": "adafactor"}, "optimizer must be one of \\['adamw', 'sgd', 'sgd_momentum'\\]"),
    ({"state_dtype": "fp8"}, "state_dtype must be one of"),
    ({"adapter_dtype": "int4"}, "adapter_dtype must be one of"),
    ({"r": 0}, "r must be an integer >= 1"),
    ({"r": -8}, "r must be an integer >= 1"),
    ({"blocksize": 100}, "blocksize must be one of"),
    ({"target_modules": ["nope"]}, r"refuses target_modules=\['nope'\]"),
])
def test_estimator_rejects_bad_arguments(kwargs, message):
    args = {"model_or_sizes": "klue/bert-base", "method": "lora", **kwargs}
    with pytest.raises(ValueError, match=message):
        estimate_training_memory(**args)


@pytest.mark.parametrize("size, message", [
    (-7 * 10**9, "model_or_sizes must be an integer >= 1"), (0, "model_or_sizes must be an integer >= 1"),
    ("gpt-5", "model_or_sizes must be one of"),
])
def test_estimator_rejects_bad_sizes(size, message):
    with pytest.raises(ValueError, match=message):
        estimate_training_memory(size, "full")
    with pytest.raises(TypeError, match="model_or_sizes must be an nn.Module"):
        estimate_training_memory([1, 2], "full")


def test_estimator_rejects_negative_or_missing_adapter_size_and_adapted_models(tiny_klue_dir):
    with pytest.raises(ValueError, match="adapter_params must be an integer >= 0"):
        estimate_training_memory(10**9, "lora", adapter_params=-1)
    with pytest.raises(ValueError, match="adapter_params must be given"):
        estimate_training_memory(10**9, "qlora")
    model = get_peft_model(load_classifier(str(tiny_klue_dir)), lora_config(4))
    with pytest.raises(ValueError, match="unquantized base model without adapters"):
        estimate_training_memory(model.base_model.model, "lora")


def test_4bit_on_a_model_without_linear_layers_is_a_clear_error(tiny_klue_dir):
    no_linear = nn.Sequential(nn.Embedding(100, 16), nn.LayerNorm(16))
    with pytest.raises(ValueError, match="no layer left to quantize to 4-bit"):
        estimate_training_memory(no_linear, "qlora")
    with pytest.raises(ValueError, match="refuses target_modules='all-linear'"):
        estimate_training_memory(no_linear, "lora")
    # the real loader: skipping every Linear leaves nothing to quantize
    with pytest.raises(ValueError, match="no nn.Linear layers left to quantize"):
        load_classifier_4bit(str(tiny_klue_dir), skip_modules=["bert", "classifier"])


def test_inventory_rejects_meta_models_and_non_modules():
    with pytest.raises(ValueError, match="meta device"):
        inventory_bytes(preset_model("klue/bert-base"))
    with pytest.raises(TypeError, match="nn.Module"):
        inventory_bytes("model")
    with pytest.raises(ValueError, match="optimizer must be one of"):
        inventory.make_optimizer(nn.Linear(2, 2), "lion")
    with pytest.raises(ValueError, match="no trainable parameters"):
        inventory.make_optimizer(nn.Linear(2, 2).requires_grad_(False))


def test_inventory_counts_shared_storage_once():
    layer = nn.Linear(4, 4, bias=False)
    tied = nn.Sequential(layer, layer)
    assert inventory_bytes(tied)["weights"] == 4 * 16


def test_classifier_in_4bit_breaks_get_peft_model(tiny_klue_dir):
    """The pitfall the notebook shows: with an empty skip list the head is Linear4bit and peft cannot train it."""
    model = load_classifier_4bit(str(tiny_klue_dir), skip_modules=[])
    assert "classifier" in quantized_modules(model)
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require gradients"):
        get_peft_model(prepare_model_for_kbit_training(model, use_gradient_checkpointing=False), lora_config(4))


# ----------------------------------------------------------------------------------------------------
# Figure and widget
# ----------------------------------------------------------------------------------------------------


def test_qlora_figure_shows_the_three_methods_for_7b_and_65b():
    fig = memory_figures.qlora_memory_figure()
    axes = [ax for ax in fig.axes if ax.get_yticklabels()]
    assert len(axes) == 2
    labels = [t.get_text() for t in axes[0].get_yticklabels()]
    assert len(labels) == 4 and labels[0].startswith("QLoRA") and labels[-1].startswith("완전")
    rows = memory.breakdown_rows("llama-7b")
    totals = [est["total"] for _, est in rows.values()]
    assert totals[0] > totals[1] > totals[2] > totals[3]
    assert rows["qlora"][1] == estimate_training_memory("llama-7b", "qlora", "bf16")
    # the axis ends past the PEFT bars (QLoRA readable), the full FT bar is clipped and labelled; units are GiB
    for ax, name in zip(axes, ("llama-7b", "llama-65b")):
        lora_gib = memory.breakdown_rows(name)["lora"][1]["total"] / memory.GIB
        assert lora_gib < ax.get_xlim()[1] < 2 * lora_gib and ax.get_xlabel() == "GiB"
        texts = [t.get_text() for t in ax.texts]
        assert any("잘림" in t for t in texts) and all("GB" not in t.replace("GiB", "") for t in texts)
    assert "A6000\n47.99 GiB" in [t.get_text() for t in axes[1].texts]


def test_full_finetune_figure_is_in_gib_without_caret_text():
    fig = memory_figures.full_finetune_memory_figure()
    texts = [t.get_text() for ax in fig.axes for t in ax.texts] + [ax.get_ylabel() for ax in fig.axes]
    assert not any("^" in t for t in texts) and "GiB" in fig.axes[0].get_ylabel()
    assert f"{7 * 10**9 * 16 / 2**30:,.0f} GiB" in texts  # 7B fp32: 112e9 bytes = 104 GiB


def _memory_explorer():
    try:
        from course_utils.display.widgets import memory_explorer
    except ImportError:
        from course_utils.memory_widget import memory_explorer
    return memory_explorer


def test_memory_explorer_shows_the_estimators_numbers():
    w = _memory_explorer()(model="llama-7b", method="qlora", dtype="bf16")
    assert w.state["parts"] == estimate_training_memory("llama-7b", "qlora", "bf16", r=64)
    w.model.value = "llama-65b"
    w.method.value = "lora"
    w.dtype.value = "fp32"
    w.rank.value = 16
    expected = estimate_training_memory("llama-65b", "lora", "fp32", r=16)
    assert w.state["parts"] == expected
    assert f"{expected['total'] / GIB:,.2f}</span> GiB" in w.total.value
    assert w.state["fits"] == {gpu: expected["total"] <= size * GIB for gpu, size in memory.GPU_GIB.items()}
    for part in ("weights", "adapters", "gradients", "optimizer_states"):
        assert f"data-part='{part}' data-bytes='{expected[part]}'" in w.bar.value
    assert "weights_4bit" not in w.bar.value  # LoRA has no 4-bit part
    w.method.value = "qlora"
    assert f"data-bytes='{estimate_training_memory('llama-65b', 'qlora', 'fp32', r=16)['weights_4bit']}'" in w.bar.value
    w.model.value = "klue/bert-base"  # a new model resets the rank to the preset's
    assert w.rank.value == PRESETS["klue/bert-base"].r == w.state["r"]
    with pytest.raises(ValueError, match="model must be one of"):
        _memory_explorer()(model="gpt-5")
    with pytest.raises(ValueError, match="dtype must be one of"):
        _memory_explorer()(dtype="int8")


def test_classifier_in_4bit_from_a_checkpoint_without_a_head_fails_at_the_first_forward(tmp_path):
    """Pretrained checkpoints (klue/bert-base, MiniLM) have no classifier: it stays an unquantized fp32 Parameter in
    a Linear4bit, get_peft_model accepts it, and the first forward fails."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=30, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=16)).save_pretrained(tmp_path)
    model = load_classifier_4bit(str(tmp_path), skip_modules=[])
    assert type(model.classifier).__name__ == "Linear4bit" and model.classifier.weight.dtype == torch.float32
    peft_model = get_peft_model(prepare_model_for_kbit_training(model, use_gradient_checkpointing=False),
                                lora_config(4, ["query", "value"]))
    peft_model.train()
    with pytest.raises(AssertionError):
        peft_model(input_ids=torch.tensor([[2, 5, 3]]), labels=torch.tensor([1]))
