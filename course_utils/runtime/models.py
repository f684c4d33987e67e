"""Base model and tokenizer per profile, and a 4-bit NF4 loader that keeps the head in full precision."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BitsAndBytesConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as hf_logging

from course_utils.runtime import validate
from course_utils.runtime.bnb_cpu import use_portable_path
from course_utils.runtime.env import Profile
from course_utils.runtime.presets import DEFAULT_SKIP_MODULES

ID2LABEL = {0: "negative", 1: "positive"}


def load_tokenizer(model_id: str) -> PreTrainedTokenizerBase:
    """The tokenizer of `model_id` (hub id or local folder)."""
    return AutoTokenizer.from_pretrained(model_id)


def load_classifier(model_id: str, num_labels: int = 2, dtype: torch.dtype = torch.float32,
                    **kwargs) -> PreTrainedModel:
    """A sequence-classification model on `model_id` with a fresh `num_labels` head."""
    if not isinstance(num_labels, int) or num_labels < 2:
        raise ValueError(f"num_labels must be an int >= 2, got {num_labels!r}")
    labels = ID2LABEL if num_labels == 2 else {i: f"LABEL_{i}" for i in range(num_labels)}
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialized classifier" notice is expected here
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            model_id, num_labels=num_labels, id2label=labels, label2id={v: k for k, v in labels.items()},
            dtype=dtype, **kwargs)
    finally:
        hf_logging.set_verbosity(verbosity)


def load_model_and_tokenizer(profile: Profile, num_labels: int = 2,
                             dtype: torch.dtype = torch.float32) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Tokenizer and classifier for the profile, on the profile's device, weights in `dtype` (fp32 default)."""
    model = load_classifier(profile.model_id, num_labels=num_labels, dtype=dtype)
    return model.to(profile.device), load_tokenizer(profile.model_id)


def nf4_config(compute_dtype: torch.dtype = torch.float32,
               skip_modules: Sequence[str] | None = DEFAULT_SKIP_MODULES) -> BitsAndBytesConfig:
    """NF4 + double quantization set explicitly (the library default is FP4 without DQ)."""
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
        # None: transformers' own choice (tied and output embeddings, the last module); a list replaces it entirely
        llm_int8_skip_modules=None if skip_modules is None else list(validate.name_list(skip_modules, "skip_modules")),
    )


def load_classifier_4bit(model_id: str, num_labels: int = 2, device: str = "cpu",
                         compute_dtype: torch.dtype = torch.float32,
                         skip_modules: Sequence[str] = DEFAULT_SKIP_MODULES) -> PreTrainedModel:
    """A classifier whose Linear layers are bitsandbytes NF4 `Linear4bit`, except `skip_modules`.

    Every 4-bit layer stays on bitsandbytes' portable CPU path (:func:`course_utils.runtime.bnb_cpu.use_portable_path`),
    so evaluating, then training again, works and gives the same numbers on every CPU.
    """
    # each process of a multi-GPU run loads onto its own GPU ("cuda:1" -> 1), never all onto GPU 0
    device_map = {"": torch.device(device).index or 0} if device.startswith("cuda") else {"": "cpu"}
    model = load_classifier(model_id, num_labels=num_labels, dtype=compute_dtype,
                            quantization_config=nf4_config(compute_dtype, skip_modules), device_map=device_map)
    if not quantized_modules(model):
        raise ValueError(f"model {model_id!r} has no nn.Linear layers left to quantize to 4-bit "
                         f"(skip_modules={list(skip_modules)})")
    use_portable_path(model)
    return model


def quantized_modules(model: nn.Module) -> list[str]:
    """Names of the modules that are bitsandbytes `Linear4bit`."""
    import bitsandbytes as bnb

    return [name for name, module in model.named_modules() if isinstance(module, bnb.nn.Linear4bit)]


def tokenize(data, tokenizer: PreTrainedTokenizerBase, max_length: int):
    """Tokenize the `document` column (truncated to `max_length`), keeping `label`."""
    if not isinstance(max_length, int) or max_length < 8:
        raise ValueError(f"max_length must be an int >= 8, got {max_length!r}")

    def encode(batch):
        return tokenizer(batch["document"], truncation=True, max_length=max_length)

    return data.map(encode, batched=True, remove_columns=["document"])
