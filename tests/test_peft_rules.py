"""peft_rules and the counts built on it, beyond BERT: every answer compared with peft / transformers themselves."""

from __future__ import annotations

import warnings

import pytest
import torch
from archs import build
from peft import LoraConfig, VBLoRAConfig, WaveFTConfig, get_peft_model

from course_utils.adapters.params import count_trainable
from course_utils.adapters.peft_rules import (
    four_bit_module_names,
    lora_target_names,
    meta_copy,
    peft_plan,
    task_type_of,
)

# (arch, task_type, LoraConfig kwargs): one row per question a student could ask of a real model
CASES = [
    ("roberta", "SEQ_CLS", {"r": 4, "target_modules": "all-linear"}),  # head classifier.dense is not adapted
    ("roberta", "SEQ_CLS", {"r": 4, "target_modules": ["dense"]}),     # nor by the suffix rule
    ("distilbert", "SEQ_CLS", {"r": 4, "target_modules": ["q_lin", "v_lin"]}),  # pre_classifier saved too
    ("llama", "CAUSAL_LM", {"r": 4, "target_modules": "all-linear"}),  # tied embeddings counted once
    ("llama", "CAUSAL_LM", {"r": 2, "target_modules": ["q_proj", "v_proj"], "use_dora": True}),
    ("llama-cls", "SEQ_CLS", {"r": 4, "target_modules": "all-linear"}),  # head "score"
    ("gpt2", "CAUSAL_LM", {"r": 4, "target_modules": "all-linear"}),  # Conv1D
    ("gpt2", None, {"r": 2, "target_modules": ["c_attn"], "bias": "lora_only"}),
    ("t5", "SEQ_2_SEQ_LM", {"r": 4, "target_modules": ["q", "v", "wo"]}),
    ("t5", "SEQ_2_SEQ_LM", {"r": 4, "target_modules": "all-linear", "bias": "all"}),
    ("bert", "SEQ_CLS", {"r": 4, "target_modules": ["word_embeddings", "query"], "use_dora": True}),  # Embedding
]


def peft_count(arch: str, task_type: str | None, **kwargs) -> tuple[int, int]:
    """The reference: peft's own count on a fresh meta-device model."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_peft_model(build(arch), LoraConfig(task_type=task_type, **kwargs)).get_nb_trainable_parameters()


@pytest.mark.parametrize(("arch", "task_type", "kwargs"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_count_trainable_equals_peft_on_other_architectures(arch, task_type, kwargs):
    rest = {k: v for k, v in kwargs.items() if k not in ("r", "target_modules")}
    ours = count_trainable(build(arch), r=kwargs["r"], target_modules=kwargs["target_modules"], task_type=task_type,
                           **rest)
    assert ours == peft_count(arch, task_type, **kwargs)


@pytest.mark.parametrize(("config_cls", "kwargs"), [
    (VBLoRAConfig, {"r": 2, "target_modules": ["q_proj", "v_proj"], "num_vectors": 8, "vector_length": 16}),
    (WaveFTConfig, {"target_modules": ["q_proj", "v_proj"], "n_frequency": 64}),
])
def test_vblora_and_waveft_equal_peft_on_llama(config_cls, kwargs):
    method = "vblora" if config_cls is VBLoRAConfig else "waveft"
    ours = count_trainable(build("llama"), method=method, task_type="CAUSAL_LM", **kwargs)
    reference = get_peft_model(build("llama"), config_cls(task_type="CAUSAL_LM", **kwargs))
    assert ours == reference.get_nb_trainable_parameters()


def test_gpt2_all_linear_adapts_conv1d_layers():
    plan = peft_plan(build("gpt2"), "all-linear", task_type="CAUSAL_LM")
    assert {layer.layer_type for layer in plan.adapted} == {"Conv1D"}
    c_attn = next(layer for layer in plan.adapted if layer.name.endswith("h.0.attn.c_attn"))
    assert (c_attn.in_features, c_attn.out_features) == (32, 96)  # Conv1D stores (in, out): read the right way


def test_string_modules_to_save_is_a_type_error_not_characters():
    with pytest.raises(TypeError, match=r"modules_to_save must be a list of module names such as \['classifier'\]"):
        count_trainable(build("bert"), r=4, target_modules=["query"], modules_to_save="classifier")
    with pytest.raises(TypeError, match="target_modules must contain non-empty strings"):
        count_trainable(build("bert"), r=4, target_modules=["query", 3])


def test_configuration_peft_refuses_is_refused():
    """DistilBERT's all-linear adapts pre_classifier, which SEQ_CLS's suffix rule also saves: peft raises, so do we."""
    with pytest.raises(TypeError, match="modules_to_save cannot be applied"):
        get_peft_model(build("distilbert"), LoraConfig(task_type="SEQ_CLS", r=4, target_modules="all-linear"))
    with pytest.raises(ValueError, match="refuses target_modules='all-linear'.*DistilBertForSequenceClassification"):
        count_trainable(build("distilbert"), r=4, target_modules="all-linear")


def test_layer_without_a_formula_is_named():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3))
    with pytest.raises(ValueError, match=r"no formula for Conv2d layers such as '0'"):
        count_trainable(model, r=2, target_modules=["0"], task_type=None)


def test_already_wrapped_or_quantized_model_is_refused():
    wrapped = get_peft_model(build("bert"), LoraConfig(r=2, target_modules=["query"]))
    with pytest.raises(ValueError, match="unquantized base model without adapters"):
        lora_target_names(wrapped.base_model.model, ["query"])


def test_meta_copy_keeps_ties_and_leaves_the_model_alone():
    model = build("llama", device="cpu")
    clone = meta_copy(model)
    assert clone.lm_head.weight is clone.model.embed_tokens.weight
    assert next(clone.parameters()).device.type == "meta" and next(model.parameters()).device.type == "cpu"


def test_task_type_of_reads_the_model_class():
    assert [task_type_of(build(a)) for a in ("bert", "llama", "gpt2", "t5")] == [
        "SEQ_CLS", "CAUSAL_LM", "CAUSAL_LM", "SEQ_2_SEQ_LM"]


@pytest.mark.parametrize("arch", ["bert", "llama", "gpt2", "t5"])
def test_four_bit_names_equal_a_real_bitsandbytes_load(arch, tmp_path):
    """The names transformers really turns into Linear4bit when it loads the saved model in 4-bit on the CPU."""
    from transformers import BitsAndBytesConfig

    torch.manual_seed(0)
    model = build(arch, device="cpu")
    model.save_pretrained(tmp_path)
    skip = ["classifier", "bert.pooler"] if arch == "bert" else None
    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", llm_int8_skip_modules=skip)
    loader = type(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = loader.from_pretrained(tmp_path, quantization_config=config, device_map="cpu")
    real = tuple(n for n, m in loaded.named_modules() if type(m).__name__ == "Linear4bit")
    assert four_bit_module_names(build(arch), skip) == real
    assert real  # the comparison is about something
