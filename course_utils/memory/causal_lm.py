"""QLoRA instruction tuning of a causal LM (notebook 06): training memory at a batch and sequence length, and
whether polyglot-ko fits a GPU.

:func:`qlora_training_bytes` is :func:`~course_utils.memory.estimate.estimate_training_memory` (NF4 + double
quantization weights, LoRA on the layers peft's ``"all-linear"`` adapts, gradients, AdamW states; which layers are
adapted and which are 4-bit is asked of peft and transformers) plus the activations of one step with gradient
checkpointing (:func:`~course_utils.memory.estimate.checkpointed_activation_bytes`). The defaults are notebook 06's
recipe on a T4: loaded with fp16 compute, then ``prepare_model_for_kbit_training`` casts the layers that are not
4-bit (embeddings, layer norms, the LM head) to fp32; LoRA r=16 kept in fp32
(``course_utils.llm.sft.keep_adapter_fp32``) with fp32 AdamW states. Pass ``kbit_upcast=False`` for a recipe
without that call (trl >= 0.26 no longer makes it).

A setting *fits* a GPU when its estimate plus :data:`~course_utils.memory.estimate.CUDA_OVERHEAD_GIB` (CUDA
context, allocator slack) is at most what the GPU reports (:data:`~course_utils.memory.estimate.GPU_GIB`, GiB).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from torch import nn

from course_utils.memory.estimate import (
    CUDA_OVERHEAD_GIB,
    GIB,
    GPU_GIB,
    checkpointed_activation_bytes,
    estimate_training_memory,
)
from course_utils.runtime import validate
from course_utils.runtime.presets import PRESETS

#: notebook 06's QLoRA recipe: LoRA rank, target layers, compute dtype, batch size.
QLORA_R = 16
TARGET_MODULES = "all-linear"
COMPUTE_DTYPE = "fp16"  # a T4 has no bf16; on an A100 bf16 takes the same bytes
BATCH_SIZE = 4
#: The "does model X fit GPU Y" table of notebook 06: models, sequence lengths, GPUs (names of GPU_GIB).
TABLE_MODELS = ("polyglot-ko-1.3b", "polyglot-ko-5.8b", "polyglot-ko-12.8b")
TABLE_SEQ_LENS = (256, 512)
TABLE_GPUS = ("T4", "A100-40G", "A100-80G")
FITS, DOES_NOT_FIT = "✓ 들어감", "✗ 안 들어감"


def qlora_training_bytes(model: nn.Module | str, batch_size: int = BATCH_SIZE, seq_len: int = 256, *,
                         r: int = QLORA_R, target_modules: str | Sequence[str] = TARGET_MODULES,
                         weight_dtype: str = COMPUTE_DTYPE, kbit_upcast: bool = True) -> dict[str, int]:
    """Bytes of one QLoRA training step of a causal LM: the parts of ``estimate_training_memory(model, "qlora")``
    plus ``activations`` (gradient checkpointing, 16-bit activations) and their ``total``.

    Args:
        model: a causal LM (a meta-device copy is enough) or a preset name, e.g. ``"polyglot-ko-1.3b"``.
        batch_size, seq_len: sequences per step and tokens per sequence (the padded length).
        r, target_modules: the LoRA rank and target layers (default: r=16 on every linear layer but the LM head).
        weight_dtype: dtype the layers that stay out of 4-bit are loaded in (the compute dtype: ``"fp16"`` on a T4).
        kbit_upcast: whether ``prepare_model_for_kbit_training`` casts those layers to fp32 (default: yes, as
            notebooks 04 and 06 do).
    """
    validate.positive_int(batch_size, "batch_size")
    validate.positive_int(seq_len, "seq_len")
    parts = dict(estimate_training_memory(model, "qlora", weight_dtype, r=r, target_modules=target_modules,
                                          kbit_upcast=kbit_upcast))
    parts["activations"] = checkpointed_activation_bytes(model, batch_size, seq_len)
    parts["total"] += parts["activations"]
    return parts


def qlora_training_gib(model: nn.Module | str, batch_size: int = BATCH_SIZE, seq_len: int = 256, **kwargs) -> float:
    """:func:`qlora_training_bytes`'s total in GiB (2³⁰ bytes), the unit GPUs report."""
    return qlora_training_bytes(model, batch_size, seq_len, **kwargs)["total"] / GIB


def fits_gpu(total_gib: float, gpu: str) -> bool:
    """Whether an estimate (GiB) plus the CUDA overhead fits what `gpu` reports (a name of ``GPU_GIB``)."""
    validate.choice(gpu, GPU_GIB, "gpu")
    return total_gib + CUDA_OVERHEAD_GIB <= GPU_GIB[gpu]


def qlora_fit_table(models: Sequence[str] = TABLE_MODELS, seq_lens: Sequence[int] = TABLE_SEQ_LENS,
                    batch_size: int = BATCH_SIZE, gpus: Sequence[str] = TABLE_GPUS, r: int = QLORA_R) -> pd.DataFrame:
    """Notebook 06's table: one row per (model preset, sequence length) with the QLoRA training estimate in GiB
    (4-bit weights, activations, the rest) and, per GPU, whether it fits (estimate + CUDA overhead <= reported)."""
    for gpu in gpus:
        validate.choice(gpu, GPU_GIB, "gpus")
    rows = []
    for model in models:
        label = PRESETS[validate.choice(model, PRESETS, "models")].label
        for seq_len in seq_lens:
            parts = qlora_training_bytes(model, batch_size, seq_len, r=r)
            total = parts["total"] / GIB
            row = {"모델": label, "시퀀스 길이": seq_len, "배치": batch_size,
                   "4비트 가중치 (GiB)": parts["weights_4bit"] / GIB, "활성값 (GiB)": parts["activations"] / GIB,
                   "합계 (GiB)": total}
            row |= {f"{gpu} ({GPU_GIB[gpu]:.2f} GiB)": FITS if fits_gpu(total, gpu) else DOES_NOT_FIT for gpu in gpus}
            rows.append(row)
    return pd.DataFrame(rows).round(2)


__all__ = ["BATCH_SIZE", "COMPUTE_DTYPE", "QLORA_R", "TABLE_GPUS", "TABLE_MODELS", "TABLE_SEQ_LENS",
           "TARGET_MODULES", "fits_gpu", "qlora_fit_table", "qlora_training_bytes", "qlora_training_gib"]
