"""Model shapes nobody needs to download: klue/bert-base, LLaMA and polyglot-ko presets, built on the meta device.

A meta-device model has exact shapes and module names but allocates no memory, so a klue- or 65B-size model costs
milliseconds; ``numel()`` works on it, and so do peft's ``get_peft_model`` and every count in this package.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn

from course_utils.runtime.validate import choice

#: Kept out of 4-bit for a BERT classifier: the head, which peft trains as a full copy, and the pooler.
#: "bert.pooler" (not "pooler") matches bert.pooler.dense: skip entries match full names from the start or as suffixes.
DEFAULT_SKIP_MODULES = ("classifier", "bert.pooler")


def klue_bert_base_config(num_labels: int = 2):
    """The klue/bert-base ``BertConfig`` (its config.json: vocab 32000, hidden 768, 12 layers, 12 heads, ffn 3072)."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=32000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
        hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, max_position_embeddings=512,
        type_vocab_size=2, initializer_range=0.02, layer_norm_eps=1e-12, pad_token_id=0, num_labels=num_labels,
    )


def config_only_model(config=None, device: str | torch.device = "meta") -> nn.Module:
    """A sequence classifier built from ``config`` alone (no download); klue/bert-base when ``config`` is None.

    Args:
        config (`PretrainedConfig`, *optional*): any transformers config with a sequence-classification model.
        device (`str` or `torch.device`): ``"meta"`` (default; shapes only) or ``"cpu"`` (random weights).
    """
    from transformers import AutoModelForSequenceClassification

    config = klue_bert_base_config() if config is None else config
    with torch.device(device):
        model = AutoModelForSequenceClassification.from_config(config=config)
    model.tie_weights()  # as from_pretrained does (transformers 5.0 does not tie in the constructor)
    return model


@dataclass(frozen=True)
class Preset:
    """A model config plus the LoRA/QLoRA settings usually used with it."""

    label: str
    kind: str  # "bert", "llama" or "gpt_neox"
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    target_modules: str | tuple[str, ...]
    skip_modules: tuple[str, ...] | None  # None: transformers' defaults (the output layer, whatever its name)
    r: int
    # GPT-NeoX only (the LLaMA and BERT presets keep their config classes' defaults)
    max_positions: int = 2048
    rotary_pct: float = 1.0
    tie_word_embeddings: bool = False
    parallel_residual: bool = True
    params: int | None = None  # the parameter count the model card publishes (checked in tests/test_causal_lm.py)


def llama_ffn_size(dim: int, multiple_of: int = 256) -> int:
    """LLaMA's FFN width: 2/3 of 4·dim, rounded up to a multiple of `multiple_of` (Meta's reference code)."""
    hidden = int(2 * 4 * dim / 3)
    return multiple_of * -(-hidden // multiple_of)


# LLaMA: dim/heads/layers from the LLaMA paper (Touvron et al. 2023, Table 2), FFN = llama_ffn_size(dim),
# vocab 32000. QLoRA's recipe: LoRA r=64 on all linear layers (Dettmers et al. 2023, §4).
PRESETS: dict[str, Preset] = {
    "klue/bert-base": Preset("klue/bert-base (110M)", "bert", 768, 12, 12, 3072, 32000,
                             ("query", "key", "value", "dense"), DEFAULT_SKIP_MODULES, 8),
    "llama-7b": Preset("LLaMA-7B", "llama", 4096, 32, 32, 11008, 32000, "all-linear", ("lm_head",), 64),
    "llama-13b": Preset("LLaMA-13B", "llama", 5120, 40, 40, 13824, 32000, "all-linear", ("lm_head",), 64),
    "llama-33b": Preset("LLaMA-33B", "llama", 6656, 60, 52, 17920, 32000, "all-linear", ("lm_head",), 64),
    "llama-65b": Preset("LLaMA-65B", "llama", 8192, 80, 64, 22016, 32000, "all-linear", ("lm_head",), 64),
    # polyglot-ko (GPT-NeoX), notebook 06's Colab model and its larger siblings. Values from each model's config.json
    # on the Hugging Face hub (huggingface.co/EleutherAI/polyglot-ko-{1.3b,5.8b,12.8b}: 1.3b and 12.8b at main, 5.8b at
    # commit 581a4c3, the safetensors upload): hidden_size, num_hidden_layers, num_attention_heads,
    # intermediate_size, vocab_size 30080, max_position_embeddings 2048, rotary_pct, tie_word_embeddings false,
    # use_parallel_residual true. `params`: n_parameters on each model card (1.3b and 5.8b equal the config's count;
    # 12.8b's card says 5,027,840 more than its config.json builds, unexplained). LoRA r=16 on all linear layers (the
    # course's QLoRA recipe for notebook 06). skip_modules None: transformers' own choice keeps the output layer out of
    # 4-bit, as course_utils.llm.models loads it (its name changed: embed_out in transformers 5.0, lm_head in 5.24).
    "polyglot-ko-1.3b": Preset("polyglot-ko-1.3B", "gpt_neox", 2048, 24, 16, 8192, 30080, "all-linear", None,
                               16, rotary_pct=0.5, params=1_331_810_304),
    "polyglot-ko-5.8b": Preset("polyglot-ko-5.8B", "gpt_neox", 4096, 28, 16, 16384, 30080, "all-linear", None,
                               16, rotary_pct=0.25, params=5_885_059_072),
    "polyglot-ko-12.8b": Preset("polyglot-ko-12.8B", "gpt_neox", 5120, 40, 40, 20480, 30080, "all-linear",
                                None, 16, rotary_pct=0.5, params=12_898_631_680),
}


@lru_cache(maxsize=16)
def preset_model(name: str) -> nn.Module:
    """The preset's model on the meta device (exact shapes and module names, no memory)."""
    p = PRESETS[choice(name, PRESETS, "model")]
    if p.kind == "bert":
        return config_only_model(klue_bert_base_config())
    if p.kind == "gpt_neox":
        return _gpt_neox_model(p)
    from transformers import LlamaConfig, LlamaForCausalLM

    with torch.device("meta"):
        model = LlamaForCausalLM(LlamaConfig(
            vocab_size=p.vocab, hidden_size=p.hidden, num_hidden_layers=p.layers, num_attention_heads=p.heads,
            num_key_value_heads=p.heads, intermediate_size=p.intermediate))
    model.tie_weights()  # LLaMA-1 does not tie (tie_word_embeddings=False): a no-op kept for the general rule
    return model


def _gpt_neox_model(p: Preset) -> nn.Module:
    """A GPT-NeoX causal LM (polyglot-ko) on the meta device, from the preset's config.json values."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    config = GPTNeoXConfig(
        vocab_size=p.vocab, hidden_size=p.hidden, num_hidden_layers=p.layers, num_attention_heads=p.heads,
        intermediate_size=p.intermediate, max_position_embeddings=p.max_positions,
        tie_word_embeddings=p.tie_word_embeddings, use_parallel_residual=p.parallel_residual)
    # config.json's rotary_pct: transformers 5 keeps it as rope_parameters["partial_rotary_factor"] (the old keyword
    # is read by 5.0 but no longer a documented parameter of 5.24), so it is set where both versions read it
    config.rope_parameters["partial_rotary_factor"] = p.rotary_pct
    with torch.device("meta"):
        model = GPTNeoXForCausalLM(config)
    model.tie_weights()  # polyglot-ko does not tie (a no-op kept for the general rule)
    return model
