"""The base causal LM per profile: a real Korean LM online, the course's own tiny LLaMA offline; 4-bit NF4 loading."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from course_utils.runtime.bnb_cpu import use_portable_path
from course_utils.runtime.models import nf4_config, quantized_modules

#: The course's own base model (built by ``make tiny-llm`` from data/ko_corpus.txt; see its README.md model card).
TINY_MODEL_DIR = Path(__file__).resolve().parent / "ko_tiny_llama"
#: The Colab model: a Korean GPT-NeoX base (not instruction-tuned), Apache-2.0 (references.md).
COLAB_MODEL_ID = "EleutherAI/polyglot-ko-1.3b"


def base_model_id(online: bool) -> str:
    """The hub id of the Colab model when the hub is reachable, else the folder of the course's tiny LLaMA."""
    return COLAB_MODEL_ID if online else str(TINY_MODEL_DIR)


def load_tokenizer(model_id: str) -> PreTrainedTokenizerBase:
    """The tokenizer, with a pad token (GPT-NeoX/LLaMA tokenizers often have none: the end token then pads)."""
    tokenizer = AutoTokenizer.from_pretrained(model_id)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(model_id: str, four_bit: bool = True, device: str = "cpu",
                   compute_dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    """The causal LM in NF4 + double quantization (`four_bit`) or in `compute_dtype`, on `device`.

    The output layer stays unquantized (transformers' own choice: the output embeddings, tied or not). On a CPU
    every 4-bit layer keeps bitsandbytes' portable path, so generating and then training works on every CPU.
    """
    if not isinstance(four_bit, bool):
        raise TypeError(f"four_bit must be True or False, got {four_bit!r}")
    device_map = {"": torch.device(device).index or 0} if device.startswith("cuda") else {"": "cpu"}
    # skip_modules=None: transformers keeps the output layer (lm_head, GPT-NeoX's embed_out) out of 4-bit by itself; a
    # list naming "lm_head" would replace that choice and quantize GPT-NeoX's embed_out on transformers 5.0
    kwargs = {"quantization_config": nf4_config(compute_dtype, skip_modules=None)} if four_bit else {}
    model = AutoModelForCausalLM.from_pretrained(model_id, dtype=compute_dtype, device_map=device_map, **kwargs)
    if four_bit:
        if not quantized_modules(model):
            raise ValueError(f"transformers quantized no layer of {type(model).__name__} to 4-bit: it converts only "
                             "layers whose type is exactly nn.Linear or Conv1D (Falcon's FalconLinear, for one, stays "
                             "as it is); train it with four_bit=False (LoRA), or pick another model")
        use_portable_path(model)
    model.generation_config.pad_token_id = model.generation_config.pad_token_id or model.config.eos_token_id
    return model


def shape_only(model_id: str) -> PreTrainedModel:
    """The causal LM built from its config alone on the meta device: shapes, no weights, no memory (for counting)."""
    from transformers import AutoConfig

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config=AutoConfig.from_pretrained(model_id))
    model.tie_weights()  # as from_pretrained does
    return model
