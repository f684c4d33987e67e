"""Notebook 06's memory estimate: polyglot-ko presets, QLoRA at a batch × sequence length, the GPU table."""

from __future__ import annotations

import copy
import time

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, LlamaConfig, LlamaForCausalLM

from course_utils.adapters import peft_rules
from course_utils.adapters.params import count_trainable
from course_utils.adapters.peft_rules import four_bit_module_names, peft_plan
from course_utils.memory import causal_lm
from course_utils.memory.causal_lm import fits_gpu, qlora_fit_table, qlora_training_bytes, qlora_training_gib
from course_utils.memory.estimate import CUDA_OVERHEAD_GIB, GIB, GPU_GIB, estimate_training_memory
from course_utils.runtime.presets import PRESETS, preset_model

POLYGLOT = ("polyglot-ko-1.3b", "polyglot-ko-5.8b", "polyglot-ko-12.8b")


@pytest.mark.parametrize("name", POLYGLOT)
def test_polyglot_presets_have_the_parameter_count_of_their_model_cards(name):
    # n_parameters on the model cards: 1,331,810,304 / 5,885,059,072 / 12,898,631,680
    model = preset_model(name)
    count = sum(p.numel() for p in model.parameters())
    # 12.8B: its config.json gives 12,893,603,840, 5,027,840 (0.04 %) fewer than its card says; the card's
    # arithmetic is not published, the config is what transformers builds
    assert PRESETS[name].params - count == (5_027_840 if name == "polyglot-ko-12.8b" else 0)
    assert type(model).__name__ == "GPTNeoXForCausalLM" and not model.config.tie_word_embeddings


def test_polyglot_configs_are_their_config_json_values():
    expected = {  # hidden, layers, heads, ffn, rotary_pct (config.json on the hub); vocab 30080, 2048 positions
        "polyglot-ko-1.3b": (2048, 24, 16, 8192, 0.5),
        "polyglot-ko-5.8b": (4096, 28, 16, 16384, 0.25),
        "polyglot-ko-12.8b": (5120, 40, 40, 20480, 0.5),
    }
    for name, values in expected.items():
        c = preset_model(name).config
        assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size) == values[:4], name
        assert c.rope_parameters["partial_rotary_factor"] == values[4], name
        assert (c.vocab_size, c.max_position_embeddings, c.use_parallel_residual) == (30080, 2048, True), name


def test_all_linear_adapts_the_four_linear_layers_of_every_block_never_the_head():
    model = preset_model("polyglot-ko-1.3b")
    plan = peft_plan(model, "all-linear", task_type="CAUSAL_LM")
    assert len(plan.adapted) == 24 * 4 and plan.saved == ()
    assert {a.name.rsplit(".", 1)[-1] for a in plan.adapted} == {"query_key_value", "dense", "dense_h_to_4h",
                                                                   "dense_4h_to_h"}
    adapted = {a.name for a in plan.adapted}
    # the head stays 16-bit by transformers' own choice (it is embed_out in transformers 5.0, lm_head in 5.24)
    assert set(four_bit_module_names(model)) == adapted


def _tiny(arch: str, tied: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    if arch == "gpt_neox":
        model = GPTNeoXForCausalLM(GPTNeoXConfig(vocab_size=96, hidden_size=32, num_hidden_layers=2,
                                                 num_attention_heads=4, intermediate_size=64, rotary_pct=0.5,
                                                 tie_word_embeddings=tied))
    else:
        model = LlamaForCausalLM(LlamaConfig(vocab_size=96, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                             num_key_value_heads=2, intermediate_size=64, tie_word_embeddings=tied))
    model.tie_weights()
    return model


@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
@pytest.mark.parametrize("arch", ["gpt_neox", "llama"])
def test_trainable_count_and_adapter_bytes_equal_what_peft_reports(arch, tied):
    model = _tiny(arch, tied)
    assert (model.get_output_embeddings().weight is model.get_input_embeddings().weight) == tied
    wrapped = get_peft_model(copy.deepcopy(model), LoraConfig(r=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    trainable, total = wrapped.get_nb_trainable_parameters()
    assert count_trainable(model, "lora", r=16, target_modules="all-linear", task_type="CAUSAL_LM") == (trainable,
                                                                                                         total)
    assert not any(head in name for name, _ in wrapped.named_parameters() if "lora_" in name
                   for head in ("lm_head", "embed_out"))
    estimate = estimate_training_memory(model, "qlora", "fp16", r=16, target_modules="all-linear", kbit_upcast=False)
    assert estimate["adapters"] == estimate["gradients"] == 4 * trainable  # fp32 LoRA A/B, nothing else trained


def test_one_row_of_the_table_by_hand():
    """polyglot-ko-1.3b, batch 4, length 256: every part recomputed from the config (h 2048, 24 layers, 16 heads,
    vocab 30080), byte for byte."""
    h, layers, heads, vocab, b, s, r = 2048, 24, 16, 30080, 4, 256, 16
    parts = qlora_training_bytes("polyglot-ko-1.3b", b, s)
    # not 4-bit: both embeddings (untied), 2 layer norms per block + the final one, in fp32 after
    # prepare_model_for_kbit_training; the 4-bit layers' biases (qkv 3h, dense h, h→4h 4h, 4h→h h) in the compute
    # dtype (fp16); the rotary inv_freq buffers (2 × 32 fp32)
    upcast = 2 * vocab * h + layers * 2 * 2 * h + 2 * h
    biases = layers * (3 * h + h + 4 * h + h)
    assert parts["weights"] == 4 * upcast + 2 * biases + 2 * 32 * 4
    # NF4 + double quant per 4-bit weight of n elements: n/2 codes + n/64 absmax bytes + 4·n/(64·256) fp32
    # second-level absmax + the two code tables and the offset (16·4 + 256·4 + 4 bytes); 12·h² weights per block
    shapes = [(h, 3 * h), (h, h), (h, 4 * h), (4 * h, h)]
    nf4 = sum(i * o // 2 + i * o // 64 + 4 * i * o // (64 * 256) + 16 * 4 + 256 * 4 + 4 for i, o in shapes)
    assert parts["weights_4bit"] == layers * nf4
    lora = layers * sum(r * (i + o) for i, o in shapes)  # A (r×in) + B (out×r) per adapted layer
    assert lora == 12_582_912
    assert parts["adapters"] == parts["gradients"] == 4 * lora  # fp32
    assert parts["optimizer_states"] == 2 * 4 * lora + 4 * (layers * 4 * 2)  # AdamW: 2 fp32 states + a step per tensor
    # gradient checkpointing: each block's input (2 bytes), one block recomputed (Korthikanti et al. eq. 1), logits ×10
    one_block = s * b * h * 34 + 5 * heads * s * s * b
    assert parts["activations"] == layers * b * s * h * 2 + one_block + b * s * vocab * 10
    assert parts["total"] == sum(parts[k] for k in ("weights", "weights_4bit", "adapters", "gradients",
                                                    "optimizer_states", "activations")) == 1_820_056_960


def test_the_table_marks_the_t4_fit_of_every_model_and_length():
    table = qlora_fit_table()
    assert list(table["모델"]) == [PRESETS[m].label for m in POLYGLOT for _ in (256, 512)]
    assert list(table.columns[-3:]) == ["T4 (15.00 GiB)", "A100-40G (40.00 GiB)", "A100-80G (80.00 GiB)"]
    for row in table.itertuples(index=False):
        total = qlora_training_gib(next(m for m in POLYGLOT if PRESETS[m].label == row[0]), 4, row[1])
        assert row[5] == round(total, 2)
        assert row[6] == ("✓ 들어감" if total + CUDA_OVERHEAD_GIB <= 15.0 else "✗ 안 들어감")
    assert table.loc[(table["모델"] == "polyglot-ko-1.3B"), "T4 (15.00 GiB)"].eq("✓ 들어감").all()
    assert qlora_training_gib("polyglot-ko-1.3b", 4, 512) < 3.0  # far from the T4's 15 GiB


def test_fits_compares_gib_with_the_cuda_overhead_and_reads_the_one_gpu_table():
    assert causal_lm.GPU_GIB is GPU_GIB and GPU_GIB["A100-40G"] == 40.0 and GPU_GIB["T4"] == 15.0
    assert fits_gpu(15.0 - CUDA_OVERHEAD_GIB, "T4") and not fits_gpu(15.0 - CUDA_OVERHEAD_GIB + 0.01, "T4")
    with pytest.raises(ValueError, match="gpu"):
        fits_gpu(1.0, "H100")
    with pytest.raises(ValueError, match="seq_len"):
        qlora_training_bytes("polyglot-ko-1.3b", 4, 0)


def test_the_table_builds_in_under_2_seconds_of_cpu():
    """With the libraries imported but the estimator's caches empty (measured: about 1.1 s of CPU on the CI machine;
    CPU time, so other jobs on the machine do not count)."""
    qlora_fit_table(models=("polyglot-ko-1.3b",), seq_lens=(256,))  # imports transformers, peft, bitsandbytes
    preset_model.cache_clear()
    peft_rules._CACHE.clear()
    start = time.process_time()
    qlora_fit_table()
    assert time.process_time() - start < 2.0


def test_qlora_uses_far_less_than_a_16_bit_base():
    qlora = qlora_training_bytes("polyglot-ko-12.8b", 4, 512)
    lora = estimate_training_memory("polyglot-ko-12.8b", "lora", "fp16", r=16, target_modules="all-linear")
    assert lora["total"] / GIB > GPU_GIB["T4"] > qlora["total"] / GIB  # 12.8B fits a T4 only in 4-bit
