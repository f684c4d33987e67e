"""Tiny random models of several architectures (no download), shared by the tests that go beyond BERT."""

from __future__ import annotations

import torch
from transformers import (
    AutoModelForSequenceClassification,
    BartConfig,
    BertConfig,
    DistilBertConfig,
    FalconConfig,
    FalconForCausalLM,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    RobertaConfig,
    T5Config,
    T5ForConditionalGeneration,
)

TINY = {"vocab_size": 128}


def build(arch: str, device: str = "meta") -> torch.nn.Module:
    """A tiny model of `arch` on `device` ("meta" for counts, "cpu" for real weights), tied as when loaded."""
    model = _construct(arch, device)
    model.tie_weights()  # transformers 5.0 ties only when loading; later versions tie in the constructor too
    return model


def _construct(arch: str, device: str) -> torch.nn.Module:
    """The untied model, built from its config."""
    with torch.device(device):
        if arch == "bert":
            return AutoModelForSequenceClassification.from_config(BertConfig(
                hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, **TINY))
        if arch == "roberta":
            return AutoModelForSequenceClassification.from_config(RobertaConfig(
                hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, **TINY))
        if arch == "distilbert":
            return AutoModelForSequenceClassification.from_config(DistilBertConfig(
                dim=32, n_layers=2, n_heads=2, hidden_dim=64, **TINY))
        if arch == "llama":  # tied input/output embeddings, rotary inv_freq buffer
            return LlamaForCausalLM(LlamaConfig(
                hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                intermediate_size=64, tie_word_embeddings=True, **TINY))
        if arch == "llama-cls":
            return AutoModelForSequenceClassification.from_config(LlamaConfig(
                hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                intermediate_size=64, pad_token_id=0, **TINY))
        if arch == "gpt2":  # Conv1D layers
            return GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=64, bos_token_id=0,
                                              eos_token_id=0, **TINY))
        if arch == "t5":  # _keep_in_fp32_modules = ["wo"]
            return T5ForConditionalGeneration(T5Config(d_model=32, d_ff=64, d_kv=16, num_layers=2, num_heads=2,
                                                       decoder_start_token_id=0, **TINY))
        if arch == "falcon":  # FalconLinear (a subclass of nn.Linear) in query_key_value, dense, the MLP
            return FalconForCausalLM(FalconConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                                  **TINY))
        if arch == "bart-cls":  # classification_head.out_proj: a 32 -> 2 nn.Linear, adapted by name suffix
            return AutoModelForSequenceClassification.from_config(BartConfig(
                d_model=32, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
                encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64, **TINY))
    raise ValueError(f"arch must be one of {sorted(ARCHS)}, got {arch!r}")


ARCHS = ("bert", "roberta", "distilbert", "llama", "llama-cls", "gpt2", "t5", "falcon", "bart-cls")
