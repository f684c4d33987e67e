"""Copy a peft LoRA / DoRA layer into the course's :class:`LoRALinear` / :class:`DoRALinear`.

The copy has the same W0, b, A, B (and m), r, alpha, scaling and dropout as the peft layer, on a deep copy of its base
layer (merging one leaves the other alone). Every tensor keeps the dtype it has in peft: on a bfloat16 or float16
model peft keeps the adapter (A, B and the DoRA magnitude) in float32 (``get_peft_model(...,
autocast_adapter_dtype=True)``, the default), so our copy does too and both compute the same numbers.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from course_utils.adapters.dora import DoRALinear
from course_utils.adapters.lora import LoRALinear

__all__ = ["dora_from_peft", "lora_from_peft"]


def lora_from_peft(
    peft_layer: nn.Module, adapter_name: str = "default", adapter_dtype: torch.dtype | None = None
) -> LoRALinear:
    """A :class:`LoRALinear` equal to a peft LoRA layer (plain LoRA, not DoRA).

    Args:
        peft_layer (`peft.tuners.lora.Linear`): an unmerged peft LoRA layer on an ``nn.Linear``.
        adapter_name (`str`): which adapter to copy. Defaults to ``"default"``.
        adapter_dtype (`torch.dtype`, *optional*): store A and B in this dtype instead of peft's (e.g.
            ``torch.bfloat16`` to build an all-bf16 layer and compare it with peft's fp32 adapters).
    """
    if _uses_dora(peft_layer, adapter_name):
        raise ValueError("peft_layer uses DoRA (use_dora=True); LoRALinear is plain LoRA: use dora_from_peft")
    layer = _copy_config(LoRALinear, peft_layer, adapter_name)
    _copy_tensor(layer.lora_A.weight, peft_layer.lora_A[adapter_name].weight, adapter_dtype)
    _copy_tensor(layer.lora_B.weight, peft_layer.lora_B[adapter_name].weight, adapter_dtype)
    return layer


def dora_from_peft(peft_layer: nn.Module, adapter_name: str = "default") -> DoRALinear:
    """A :class:`DoRALinear` equal to a peft DoRA layer (``LoraConfig(use_dora=True)``), dtypes included.

    Args:
        peft_layer (`peft.tuners.lora.Linear`): an unmerged peft layer made with ``use_dora=True``.
        adapter_name (`str`): which adapter to copy. Defaults to ``"default"``.
    """
    if not _uses_dora(peft_layer, adapter_name):
        raise ValueError(f"peft_layer must be a peft LoRA Linear layer with use_dora=True for adapter "
                         f"{adapter_name!r} (no lora_magnitude_vector[{adapter_name!r}])")
    layer = _copy_config(DoRALinear, peft_layer, adapter_name)
    _copy_tensor(layer.lora_A.weight, peft_layer.lora_A[adapter_name].weight)
    _copy_tensor(layer.lora_B.weight, peft_layer.lora_B[adapter_name].weight)
    _copy_tensor(layer.magnitude, peft_layer.lora_magnitude_vector[adapter_name].weight)
    return layer


def _uses_dora(peft_layer: nn.Module, adapter_name: str) -> bool:
    """Whether the peft layer has a DoRA magnitude for this adapter."""
    return adapter_name in getattr(peft_layer, "lora_magnitude_vector", {})


def _copy_tensor(mine: nn.Parameter, theirs: torch.Tensor, dtype: torch.dtype | None = None) -> None:
    """Replace a parameter's values by a copy of peft's, in peft's dtype (or ``dtype``) and device."""
    mine.data = theirs.detach().to(dtype=dtype or theirs.dtype, copy=True)


def _copy_config(cls: type[LoRALinear], peft_layer: nn.Module, adapter_name: str) -> LoRALinear:
    """A new ``cls`` on a deep copy of peft's base layer, with its r, alpha, dropout, rsLoRA and scaling."""
    for attr in ("base_layer", "lora_A", "lora_B", "scaling", "r", "lora_alpha"):
        if not hasattr(peft_layer, attr):
            raise ValueError(f"peft_layer must be a peft LoRA Linear layer (missing {attr!r}), "
                             f"got {type(peft_layer).__name__}")
    if adapter_name not in peft_layer.lora_A:
        raise ValueError(f"adapter_name must be one of {list(peft_layer.lora_A.keys())}, got {adapter_name!r}")
    if getattr(peft_layer, "merged", False):
        raise ValueError("peft_layer is merged; call peft_layer.unmerge() first")
    base = peft_layer.get_base_layer()
    if not isinstance(base, nn.Linear):
        raise ValueError(f"peft_layer must wrap an nn.Linear (allowed: nn.Linear), got {type(base).__name__}")
    drop = peft_layer.lora_dropout[adapter_name]
    layer = cls(
        copy.deepcopy(base),
        r=peft_layer.r[adapter_name],
        alpha=peft_layer.lora_alpha[adapter_name],
        dropout=drop.p if isinstance(drop, nn.Dropout) else 0.0,
        use_rslora=bool(getattr(peft_layer, "use_rslora", {}).get(adapter_name, False)),
    )
    layer.scaling = float(peft_layer.scaling[adapter_name])
    return layer
