"""bitsandbytes' two CPU paths for a 4-bit layer, and why the course keeps every 4-bit layer on the portable one.

bitsandbytes 0.50.2 (``nn/modules.py``, ``Linear4bit``) sets ``support_avx512bf16_for_cpu = has_avx512bf16()`` in
``__init__``. On a CPU with AVX512-BF16 (flag ``avx512_bf16``; current Xeons, many servers and cloud VMs) the first
``forward`` in eval mode without grad *repacks* the weight once (``functional._convert_weight_packed_for_cpu``:
codes regrouped in blocks of 32 output rows, absmax reshaped to ``(out, in // blocksize)`` and cast to bf16) and
from then on uses another kernel (``gemv_4bit`` on the packed layout, bf16 inputs). Elsewhere the weight stays in
the portable layout that :mod:`course_utils.nf4` reproduces bit for bit.

The packed path is an inference speed-up, but on the course's models it breaks three things:

* layers with ``in_features < blocksize`` (tiny test models) or ``out_features`` not a multiple of 32 crash in the
  repack (``shape '[32, 0]' is invalid``);
* the repack is not undone when training resumes: a model evaluated in eval mode and then trained again runs
  ``matmul_4bit`` on the packed layout and fails (``a view of a leaf Variable that requires grad is being used in
  an in-place operation``), and every evaluate → train → evaluate loop (learning curves, before/after) meets it;
* logits move by bf16 rounding, so accuracies differ from machines without the flag (a few of 240 test reviews).

So :func:`use_portable_path` turns the packed path off for every ``Linear4bit`` of a model; the course's 4-bit
loaders call it, and the numbers are the same on every x86 CPU. :func:`packed_reference` computes what the packed
path computes, in pure torch, so tests check the conversion on any machine (``tests/test_bnb_cpu.py``), and run
bitsandbytes' real packed kernel where the CPU has it.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["PACKED_BLOCK_ROWS", "packable", "packed_path_available", "packed_reference", "use_portable_path"]

#: Output rows per block of the packed layout (``block_n`` of ``_convert_weight_packed_for_cpu``).
PACKED_BLOCK_ROWS = 32


def packed_path_available() -> bool:
    """True where bitsandbytes would take its packed AVX512-BF16 path on this CPU (its own ``has_avx512bf16``)."""
    from bitsandbytes.functional import has_avx512bf16

    return bool(has_avx512bf16())


def packable(in_features: int, out_features: int, blocksize: int) -> bool:
    """Whether bitsandbytes' repack accepts a layer of this shape: whole absmax blocks per row, 32-row blocks."""
    return in_features >= blocksize and in_features % blocksize == 0 and out_features % PACKED_BLOCK_ROWS == 0


def _four_bit_layers(model: nn.Module) -> list[nn.Module]:
    """Every bitsandbytes ``Linear4bit`` in `model` (peft wraps them; the base layers are still found)."""
    import bitsandbytes as bnb

    return [module for module in model.modules() if isinstance(module, bnb.nn.Linear4bit)]


def use_portable_path(model: nn.Module) -> int:
    """Keep every ``Linear4bit`` of `model` on bitsandbytes' portable CPU path; returns how many layers it set.

    A layer already repacked (it ran in eval mode on a CPU with AVX512-BF16) is converted back to the portable
    layout with bitsandbytes' own inverse, the one it uses before saving or moving to CUDA.
    """
    from bitsandbytes.functional import _convert_weight_packed_for_cpu_inverse

    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    layers = _four_bit_layers(model)
    for layer in layers:
        layer.support_avx512bf16_for_cpu = False
        state = getattr(layer.weight, "quant_state", None)  # None: a weight never quantized (a head left in fp32)
        if state is not None and getattr(state, "packing_format_for_cpu", False):
            layer.weight.data, layer.weight.quant_state = _convert_weight_packed_for_cpu_inverse(
                layer.weight.data, state)
    return len(layers)


def packed_reference(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What bitsandbytes' packed CPU path returns for ``layer(x)``, computed in pure torch on any CPU.

    The weight is repacked by bitsandbytes' own ``_convert_weight_packed_for_cpu`` (on a copy), read back from the
    packed layout and dequantized with the packed path's bf16 absmax; the input is rounded to bf16, the product
    accumulated in fp32 and rounded to bf16, as the kernel does (it agrees with bitsandbytes' kernel to one bf16 unit
    of the largest output, ``tests/test_bnb_cpu.py``). `layer` itself is not changed.
    """
    import bitsandbytes.functional as F

    state = copy.deepcopy(layer.weight.quant_state)
    out_features, in_features = state.shape
    if not packable(in_features, out_features, state.blocksize):
        raise ValueError(f"bitsandbytes cannot repack a {out_features}×{in_features} layer with blocksize "
                         f"{state.blocksize} (needs in_features a multiple of blocksize and out_features of 32)")
    packed, state = F._convert_weight_packed_for_cpu(layer.weight.data.clone(), state)
    codes, _ = F._convert_weight_packed_for_cpu_inverse(packed, copy.deepcopy(state))
    codes = codes.view(torch.uint8).reshape(-1)
    nibbles = torch.stack([codes >> 4, codes & 0xF], dim=1).reshape(out_features, in_features).long()
    absmax = state.absmax.T.float().repeat_interleave(state.blocksize, dim=1)  # (out, in), bf16 values
    weight = state.code.float()[nibbles] * absmax
    result = (x.to(layer.compute_dtype or x.dtype).to(torch.bfloat16).float() @ weight.T).to(torch.bfloat16)
    result = result.to(x.dtype)
    return result + layer.bias.to(x.dtype) if layer.bias is not None else result
