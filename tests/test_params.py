"""course_utils.adapters.params: formula counts vs peft's get_nb_trainable_parameters(), and the facts §5 numbers."""

from __future__ import annotations

import math

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import BertConfig

from course_utils.adapters.params import (
    adapter_size_mb,
    count_trainable,
    dora_magnitude_params,
    format_peft_line,
    full_params_for_shape,
    lora_breakdown,
    lora_params_for_shape,
    reduction_percent,
    scaling_factors,
)
from course_utils.adapters.peft_rules import lora_target_names
from course_utils.runtime.presets import config_only_model, klue_bert_base_config

KLUE_TARGETS = ["query", "value", "key", "dense"]


def tiny_config() -> BertConfig:
    """A 2-layer BERT with hidden 32: every count is exercised, nothing is slow."""
    return BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=64, num_labels=2)


@pytest.fixture(scope="module")
def klue_model():
    """klue/bert-base shaped BertForSequenceClassification on the meta device (built once per module)."""
    return config_only_model(klue_bert_base_config())


@pytest.fixture(scope="module")
def tiny_model():
    """Tiny BERT classifier on the meta device, shared by tests that do not modify it."""
    return config_only_model(tiny_config())


def peft_counts(config: BertConfig, task_type: str | None, device: str = "meta", **lora_kwargs):
    """The reference: peft's own count on a fresh model."""
    model = config_only_model(config, device=device)
    peft_model = get_peft_model(model, LoraConfig(task_type=task_type, **lora_kwargs))
    return peft_model.get_nb_trainable_parameters()


# ----------------------------------------------------------------------------------------------------
# count_trainable == peft
# ----------------------------------------------------------------------------------------------------

PEFT_CASES = [
    # (id, config factory, task_type, LoraConfig kwargs)
    ("tiny-qv-r8-seqcls", tiny_config, "SEQ_CLS", {"r": 8, "target_modules": ["query", "value"]}),
    ("tiny-qkvdense-r1-notask", tiny_config, None, {"r": 1, "target_modules": KLUE_TARGETS}),
    ("tiny-alllinear-r16-seqcls", tiny_config, "SEQ_CLS", {"r": 16, "target_modules": "all-linear"}),
    ("tiny-dora-r8-seqcls", tiny_config, "SEQ_CLS",
     {"r": 8, "target_modules": KLUE_TARGETS, "use_dora": True}),
    ("tiny-regex-r4-tokcls-biasall", tiny_config, "TOKEN_CLS",
     {"r": 4, "target_modules": r".*\.(query|value)", "bias": "all"}),
    ("tiny-dense-lora_only-exclude-pooler", tiny_config, None,
     {"r": 2, "target_modules": ["dense"], "bias": "lora_only", "exclude_modules": ["pooler.dense"]}),
    ("tiny-value-save-pooler-rslora", tiny_config, "SEQ_CLS",
     {"r": 3, "target_modules": ["value"], "modules_to_save": ["pooler"], "use_rslora": True,
      "lora_alpha": 7}),
    ("tiny-dora-biasall-seqcls", tiny_config, "SEQ_CLS",
     {"r": 2, "target_modules": ["key", "dense"], "use_dora": True, "bias": "all"}),
    ("klue-qkvdense-r8-seqcls", klue_bert_base_config, "SEQ_CLS", {"r": 8, "target_modules": KLUE_TARGETS}),
    ("klue-qkvdense-r16-seqcls", klue_bert_base_config, "SEQ_CLS", {"r": 16, "target_modules": KLUE_TARGETS}),
    ("klue-dora-r8-seqcls", klue_bert_base_config, "SEQ_CLS",
     {"r": 8, "target_modules": KLUE_TARGETS, "use_dora": True}),
    ("klue-qv-r1-notask", klue_bert_base_config, None, {"r": 1, "target_modules": ["query", "value"]}),
    ("klue-alllinear-r8-seqcls", klue_bert_base_config, "SEQ_CLS", {"r": 8, "target_modules": "all-linear"}),
]


@pytest.mark.parametrize(("make_config", "task_type", "kwargs"), [c[1:] for c in PEFT_CASES],
                         ids=[c[0] for c in PEFT_CASES])
def test_count_trainable_matches_peft(make_config, task_type, kwargs):
    config = make_config()
    ours = count_trainable(config_only_model(config), r=kwargs["r"],
                           target_modules=kwargs["target_modules"], task_type=task_type,
                           **{k: v for k, v in kwargs.items() if k not in ("r", "target_modules")})
    assert ours == peft_counts(config, task_type, **kwargs)


def test_method_dora_equals_use_dora(tiny_model):
    by_method = count_trainable(tiny_model, method="dora", r=4, target_modules=KLUE_TARGETS)
    by_flag = count_trainable(tiny_model, r=4, target_modules=KLUE_TARGETS, use_dora=True)
    plain = count_trainable(tiny_model, r=4, target_modules=KLUE_TARGETS)
    assert by_method == by_flag
    # 2 layers x (q, k, v, attn-out 32 + intermediate 64 + output 32) + pooler 32 output features
    assert by_method[0] - plain[0] == 2 * (32 * 3 + 32 + 64 + 32) + 32


def test_real_weights_count_like_meta():
    """The meta-device shortcut changes nothing: the same count on a model with real random weights."""
    kwargs = {"r": 4, "target_modules": KLUE_TARGETS}
    real = config_only_model(tiny_config(), device="cpu")
    assert next(real.parameters()).device.type == "cpu"
    assert count_trainable(real, **kwargs) == peft_counts(tiny_config(), "SEQ_CLS", device="cpu", **kwargs)


def test_count_does_not_modify_model(tiny_model):
    before = [(n, p.requires_grad) for n, p in tiny_model.named_parameters()]
    count_trainable(tiny_model, r=2, target_modules="all-linear")
    assert [(n, p.requires_grad) for n, p in tiny_model.named_parameters()] == before


# ----------------------------------------------------------------------------------------------------
# facts §5: the klue/bert-base numbers
# ----------------------------------------------------------------------------------------------------


def test_klue_config_from_facts():
    cfg = klue_bert_base_config()
    assert (cfg.vocab_size, cfg.hidden_size) == (32000, 768)
    assert (cfg.num_hidden_layers, cfg.num_attention_heads) == (12, 12)
    assert (cfg.intermediate_size, cfg.max_position_embeddings, cfg.type_vocab_size) == (3072, 512, 2)
    assert cfg.num_labels == 2 and cfg.pad_token_id == 0


def test_klue_base_total_on_meta(klue_model):
    params = list(klue_model.parameters())
    assert all(p.device.type == "meta" for p in params)
    assert sum(p.numel() for p in params) == 110_618_882
    assert sum(p.numel() for p in klue_model.bert.parameters()) == 110_617_344


@pytest.mark.parametrize(("method", "r", "line"), [
    ("lora", 8, "trainable params: 1,340,930 || all params: 111,959,812 || trainable%: 1.1977"),
    ("lora", 16, "trainable params: 2,680,322 || all params: 113,299,204 || trainable%: 2.3657"),
    ("dora", 8, "trainable params: 1,424,642 || all params: 112,043,524 || trainable%: 1.2715"),
    ("dora", 16, "trainable params: 2,764,034 || all params: 113,382,916 || trainable%: 2.4378"),
])
def test_klue_lines_from_facts(klue_model, method, r, line):
    counts = count_trainable(klue_model, method=method, r=r, target_modules=KLUE_TARGETS, task_type="SEQ_CLS",
                             lora_alpha=32, lora_dropout=0.1, bias="none")
    assert format_peft_line(*counts) == line


def test_klue_other_targets_from_facts(klue_model):
    assert count_trainable(klue_model, r=8, target_modules=["query", "value"]) == (296_450, 110_915_332)
    assert count_trainable(klue_model, r=8, target_modules=["query", "key", "value"])[0] == 443_906


def test_lecture_line_is_not_reproducible(klue_model):
    """Lecture: 1,572,864 || 110,104,322. Neither number comes out for its stated config."""
    trainable, total = count_trainable(klue_model, r=8, target_modules=KLUE_TARGETS, lora_alpha=32)
    assert trainable != 1_572_864 and total != 110_104_322
    assert total > 110_618_882  # all params can never be below the base model's 110,618,882
    # facts §5's guess: r=16 on q,v of a 24-layer, 1024-wide model
    assert 24 * 2 * lora_params_for_shape(1024, 1024, 16) == 1_572_864


def test_format_peft_line_matches_peft_print(capsys):
    model = get_peft_model(config_only_model(tiny_config()),
                           LoraConfig(task_type="SEQ_CLS", r=2, target_modules=["query"]))
    model.print_trainable_parameters()
    printed = capsys.readouterr().out.strip()
    assert format_peft_line(*model.get_nb_trainable_parameters()) == printed


def test_klue_breakdown_adds_up(klue_model):
    rows = lora_breakdown(klue_model, 8, KLUE_TARGETS, use_dora=True)
    by_module = {row["module"]: row for row in rows}
    assert by_module["bert.pooler.dense"]["count"] == 1  # 'dense' also hits the pooler
    assert by_module["bert.encoder.layer.*.intermediate.dense"]["shape (out×in)"] == "3072×768"
    assert sum(row["count"] for row in rows) == 73
    lora = sum(row["LoRA params"] for row in rows)
    assert lora == 8 * 167_424 == 1_339_392
    assert sum(row["DoRA magnitude"] for row in rows) == 83_712
    assert lora + 1_538 == 1_340_930  # + the classifier copy


def test_find_targets_suffix_rule(tiny_model):
    names = lora_target_names(tiny_model, ["dense"], task_type="SEQ_CLS")
    assert "bert.pooler.dense" in names
    assert "bert.encoder.layer.0.attention.output.dense" in names
    assert len(names) == 2 * 3 + 1
    # "output.dense" matches only modules whose name ends in ".output.dense"
    names = lora_target_names(tiny_model, ["output.dense"])
    assert len(names) == 4 and "bert.pooler.dense" not in names
    # the match is at a "." boundary: a partial name such as "uery" is not "query", and peft refuses it
    with pytest.raises(ValueError, match=r"peft .* refuses target_modules=\['uery'\]"):
        lora_target_names(tiny_model, ["uery"])


def test_all_linear_skips_classifier_only_under_seq_cls(tiny_model):
    with_task = set(lora_target_names(tiny_model, "all-linear", task_type="SEQ_CLS"))
    assert "classifier" not in with_task
    assert len(with_task) == 2 * 6 + 1


# ----------------------------------------------------------------------------------------------------
# per-shape helpers (the lecture's worked examples)
# ----------------------------------------------------------------------------------------------------


def test_lecture_768_example():
    full = full_params_for_shape(768, 768)
    lora = lora_params_for_shape(768, 768, 8)
    assert (full, lora) == (589_824, 12_288)
    assert reduction_percent(full, lora) == pytest.approx(97.916666, abs=1e-5)


def test_checkpoint_1024_r16():
    full = full_params_for_shape(1024, 1024)
    lora = lora_params_for_shape(1024, 1024, 16)
    assert (full, lora) == (1_048_576, 32_768)
    assert reduction_percent(full, lora) == 96.875


def test_small_helpers():
    assert full_params_for_shape(768, 2, bias=True) == 1_538
    assert dora_magnitude_params(3072) == 3072
    assert lora_params_for_shape(768, 3072, 8) == 30_720
    s = scaling_factors(8, 32)
    assert s["lora"] == 4.0
    assert s["rslora"] == pytest.approx(32 / math.sqrt(8)) and round(s["rslora"], 2) == 11.31
    assert adapter_size_mb(1_340_930, "fp32") == pytest.approx(5.36372)
    assert adapter_size_mb(1_340_930, torch.bfloat16) == pytest.approx(2.68186)


# ----------------------------------------------------------------------------------------------------
# bad input
# ----------------------------------------------------------------------------------------------------


# Held-out architectures: Falcon's FalconLinear (a subclass of nn.Linear) and BART's 2-class out_proj at r=4
HELD_OUT = [
    ("falcon", "CAUSAL_LM", {"r": 8, "target_modules": ["query_key_value", "dense"]}),
    ("falcon", "CAUSAL_LM", {"r": 4, "target_modules": "all-linear", "use_dora": True}),
    ("bart-cls", "SEQ_CLS", {"r": 4, "target_modules": ["q_proj", "v_proj", "out_proj"]}),
    ("bart-cls", "SEQ_CLS", {"r": 8, "target_modules": "all-linear"}),
]


@pytest.mark.parametrize(("arch", "task_type", "kwargs"), HELD_OUT, ids=[f"{a}-{i}" for i, (a, _, _) in
                                                                          enumerate(HELD_OUT)])
def test_held_out_architectures_count_like_peft(arch, task_type, kwargs):
    from archs import build

    ours = count_trainable(build(arch), task_type=task_type, **kwargs)
    peft_model = get_peft_model(build(arch), LoraConfig(task_type=task_type, **kwargs))
    assert ours == peft_model.get_nb_trainable_parameters()
    rows = lora_breakdown(build(arch), kwargs["r"], kwargs["target_modules"], task_type=task_type)
    assert sum(row["LoRA params"] for row in rows) > 0


def test_bart_head_out_proj_has_rank_above_its_size():
    from archs import build

    names = lora_target_names(build("bart-cls"), ["out_proj"], task_type="SEQ_CLS")
    assert "classification_head.out_proj" in names  # 32 -> 2, adapted at r=4 by peft


@pytest.mark.parametrize("r", [0, -1])
def test_rank_must_be_positive(tiny_model, r):
    with pytest.raises(ValueError, match=r"\br\b.*>= 1"):
        count_trainable(tiny_model, r=r, target_modules=["query"])


def test_rank_above_layer_size_is_counted_like_peft(tiny_model):
    # peft builds r > min(in, out) (no longer low rank): counting it is right, refusing it would be a bug
    assert count_trainable(tiny_model, r=33, target_modules=["query"]) == peft_counts(
        tiny_config(), "SEQ_CLS", r=33, target_modules=["query"])
    assert lora_params_for_shape(4, 8, 5) == 5 * 12


def test_rank_must_be_int(tiny_model):
    with pytest.raises(TypeError, match="r must be"):
        count_trainable(tiny_model, r=8.0, target_modules=["query"])


@pytest.mark.parametrize("alpha", [0, -16, float("nan")])
def test_alpha_must_be_positive(tiny_model, alpha):
    with pytest.raises(ValueError, match="lora_alpha must be a finite number > 0"):
        count_trainable(tiny_model, r=4, target_modules=["query"], lora_alpha=alpha)


def test_target_not_linear(tiny_model):
    with pytest.raises(ValueError, match=r"(?s)refuses target_modules=\['LayerNorm'\].*LayerNorm.*not supported"):
        count_trainable(tiny_model, r=4, target_modules=["LayerNorm"])
    with pytest.raises(ValueError, match=r"(?s)refuses target_modules='\.\*embeddings'.*not supported"):
        count_trainable(tiny_model, r=4, target_modules=r".*embeddings")


def test_target_matches_nothing(tiny_model):
    # an entry that matches nothing beside one that does is ignored, as peft ignores it
    assert count_trainable(tiny_model, r=4, target_modules=["query", "q_proj"]) == peft_counts(
        tiny_config(), "SEQ_CLS", r=4, target_modules=["query", "q_proj"])
    with pytest.raises(ValueError, match=r"refuses target_modules='nothing\\\\.here'"):
        count_trainable(tiny_model, r=4, target_modules=r"nothing\.here")
    with pytest.raises(ValueError, match="target_modules must name at least one module"):
        count_trainable(tiny_model, r=4, target_modules=[])


def test_other_bad_arguments(tiny_model):
    with pytest.raises(ValueError, match="method must be one of"):
        count_trainable(tiny_model, method="ia3", r=4, target_modules=["query"])
    with pytest.raises(ValueError, match="bias must be one of"):
        count_trainable(tiny_model, r=4, target_modules=["query"], bias="some")
    with pytest.raises(ValueError, match="task_type must be one of"):
        count_trainable(tiny_model, r=4, target_modules=["query"], task_type="CLS")
    with pytest.raises(TypeError, match="unexpected keyword arguments"):
        count_trainable(tiny_model, r=4, target_modules=["query"], rank_pattern={"query": 2})
    with pytest.raises(ValueError, match="total must be an integer >= 1"):
        format_peft_line(1, 0)
    with pytest.raises(ValueError, match="full must be an integer >= 1"):
        reduction_percent(0, 1)


def test_figure_shows_the_klue_numbers():
    from course_utils.adapters.params import lora_param_counts_figure

    fig = lora_param_counts_figure()
    left, right = fig.axes
    assert "1,340,930" in right.get_title()
    assert "111,959,812" in fig.get_suptitle() and "1.1977%" in fig.get_suptitle()
    assert right.get_yticklabels()[0].get_text() == "classifier 사본"
    assert len(left.lines[0].get_xdata()) == 9


# ----------------------------------------------------------------------------------------------------
# VB-LoRA and WaveFT == peft (facts §4)
# ----------------------------------------------------------------------------------------------------


def peft_counts_with(config: BertConfig, peft_config):
    """peft's count for any peft config on a fresh meta-device model."""
    return get_peft_model(config_only_model(config), peft_config).get_nb_trainable_parameters()


NEW_METHOD_CASES = [
    # (id, config factory, method, count_trainable kwargs (r, targets, options))
    ("tiny-vblora-qkv-h64-b32", tiny_config, "vblora",
     {"r": 4, "target_modules": ["query", "key", "value"], "num_vectors": 64, "vector_length": 32}),
    ("tiny-vblora-dense-k3-save-pooler", tiny_config, "vblora",
     {"r": 2, "target_modules": ["dense"], "num_vectors": 16, "vector_length": 16, "topk": 3,
      "modules_to_save": ["pooler"]}),
    ("tiny-waveft-qv-100", tiny_config, "waveft", {"target_modules": ["query", "value"], "n_frequency": 100}),
    ("tiny-waveft-alllinear-7", tiny_config, "waveft", {"target_modules": "all-linear", "n_frequency": 7}),
    ("klue-vblora-qv-b128", klue_bert_base_config, "vblora",
     {"r": 4, "target_modules": ["query", "value"], "num_vectors": 90, "vector_length": 128}),
    ("klue-waveft-qkvdense", klue_bert_base_config, "waveft", {"target_modules": KLUE_TARGETS}),
]


def _peft_config(method: str, kwargs: dict):
    from peft import VBLoRAConfig, WaveFTConfig

    kwargs = dict(kwargs)
    if method == "vblora":
        return VBLoRAConfig(task_type="SEQ_CLS", **kwargs)
    kwargs.pop("r", None)
    return WaveFTConfig(task_type="SEQ_CLS", **kwargs)


@pytest.mark.parametrize(("make_config", "method", "kwargs"), [c[1:] for c in NEW_METHOD_CASES],
                         ids=[c[0] for c in NEW_METHOD_CASES])
def test_vblora_waveft_count_matches_peft(make_config, method, kwargs):
    config = make_config()
    ours = count_trainable(config_only_model(config), method=method, **kwargs)
    assert ours == peft_counts_with(config, _peft_config(method, kwargs))


def test_facts_tiny_vblora_and_waveft():
    """facts §4: tiny BERT (hidden 128, 2 layers, 2 heads; vocab 1000 and 64 positions fit its totals), q/k/v."""
    tiny128 = BertConfig(vocab_size=1000, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=512, max_position_embeddings=64)
    model = config_only_model(tiny128)
    qkv = ["query", "key", "value"]
    vb = count_trainable(model, "vblora", r=4, target_modules=qkv, num_vectors=64, vector_length=64)
    assert format_peft_line(*vb) == "trainable params: 10,498 || all params: 560,516 || trainable%: 1.8729"
    from course_utils.adapters.params import adapter_parts

    parts = adapter_parts(model, "vblora", r=4, target_modules=qkv, num_vectors=64, vector_length=64)
    assert (parts["logits_A"], parts["logits_B"], parts["vector_bank"], parts["modules_to_save"]) == (
        3_072, 3_072, 4_096, 258)
    wave = count_trainable(model, "waveft", target_modules=qkv, n_frequency=100)
    assert format_peft_line(*wave) == "trainable params: 858 || all params: 550,876 || trainable%: 0.1558"
    wave = count_trainable(model, "waveft", target_modules=qkv)  # default n_frequency 2592
    assert format_peft_line(*wave) == "trainable params: 15,810 || all params: 565,828 || trainable%: 2.7941"


def test_facts_klue_vblora_and_waveft_defaults(klue_model):
    """facts §4: klue-size BERT with peft's defaults on q/k/v."""
    from course_utils.adapters.params import adapter_parts

    qkv = ["query", "key", "value"]
    vb = count_trainable(klue_model, "vblora", r=4, target_modules=qkv)
    assert format_peft_line(*vb) == "trainable params: 288,258 || all params: 110,907,140 || trainable%: 0.2599"
    parts = adapter_parts(klue_model, "vblora", r=4, target_modules=qkv)
    assert (parts["logits_A"], parts["logits_B"], parts["vector_bank"]) == (110_592, 110_592, 65_536)
    wave = count_trainable(klue_model, "waveft", target_modules=qkv)
    assert format_peft_line(*wave) == "trainable params: 94,850 || all params: 110,713,732 || trainable%: 0.0857"


def test_vblora_waveft_size_constraints_like_peft(tiny_model):
    from peft import VBLoRAConfig, WaveFTConfig

    # hidden 32 is not divisible by vector_length 256 (peft's default): both refuse
    with pytest.raises(ValueError, match="vector_length=256 must divide"):
        count_trainable(tiny_model, "vblora", r=4, target_modules=["query"])
    with pytest.raises(ValueError, match="divisible by `vector_length`"):
        get_peft_model(config_only_model(tiny_config()), VBLoRAConfig(r=4, target_modules=["query"]))
    # 32x32 = 1024 < 2592
    with pytest.raises(ValueError, match="n_frequency must be <= in_features·out_features = 1024"):
        count_trainable(tiny_model, "waveft", target_modules=["query"])
    with pytest.raises(ValueError, match="product is 1024"):
        get_peft_model(config_only_model(tiny_config()), WaveFTConfig(target_modules=["query"]))
    with pytest.raises(ValueError, match="topk must be in 1..num_vectors=4"):
        count_trainable(tiny_model, "vblora", r=4, target_modules=["query"], num_vectors=4, vector_length=8,
                        topk=5)
    with pytest.raises(TypeError, match="unexpected keyword arguments \\['lora_alpha'\\]"):
        count_trainable(tiny_model, "waveft", target_modules=["query"], lora_alpha=8)
    with pytest.raises(ValueError, match="bias must be one of \\['none'\\]"):
        count_trainable(tiny_model, "waveft", target_modules=["query"], n_frequency=10, bias="all")


def test_vblora_stored_params_paper_formula():
    from course_utils.adapters.params import vblora_stored_params

    # paper §3.4: hb + 3LMr(d/b) for k=2, uint8 indices; e.g. L=12, M=2 (q, v), d=768, r=4, b=256, h=256
    shapes = [(768, 768)] * 24
    assert vblora_stored_params(shapes, r=4, num_vectors=256, vector_length=256) == 256 * 256 + 3 * 12 * 2 * 4 * 3
    # k=3: per sub-vector 2 weights + 3 uint8 indices (0.75 float32)
    assert vblora_stored_params([(8, 8)], r=1, num_vectors=4, vector_length=4, topk=3) == 16 + 4 * 2.75
    with pytest.raises(ValueError, match="vector_length=5 must divide"):
        vblora_stored_params([(8, 8)], r=1, num_vectors=4, vector_length=5)
