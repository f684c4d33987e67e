"""LoRA from scratch: ``LoRALinear`` laid out like peft's ``lora.Linear``, and ``inject_lora`` for a whole model.

Shapes follow peft (``peft/tuners/lora/layer.py``), not the lecture's ``ΔW = A×B``: ``lora_A.weight`` is
(r, in_features), ``lora_B.weight`` is (out_features, r), and ``ΔW = s · B @ A`` (s = alpha / r) has the base
weight's (out_features, in_features) shape. Copying a peft layer into ours: ``course_utils.adapters.peft_interop``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
from torch import nn

from course_utils.adapters.peft_rules import lora_target_names
from course_utils.runtime import validate

__all__ = ["LoRALinear", "inject_lora"]


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update: ``y = W0 x + b + s · B A dropout(x)``, s = alpha / r.

    Args:
        base (`nn.Linear`): the layer to adapt; its parameters are frozen in place (not copied).
        r (`int`): rank, 1 <= r <= min(in_features, out_features).
        alpha (`float`): ``lora_alpha`` > 0.
        dropout (`float`): dropout probability on the LoRA branch's input, in [0, 1). Defaults to 0.0.
        use_rslora (`bool`): scale by ``alpha / sqrt(r)`` instead (rsLoRA, arXiv 2312.03732). Defaults to `False`.
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0, use_rslora: bool = False) -> None:
        super().__init__()
        self.base_layer = validate.instance(base, nn.Linear, "base").requires_grad_(False)  # W0와 b는 얼려 둡니다
        self.r = validate.rank(r, base.in_features, base.out_features)  # 1 <= r <= min(in, out)
        self.alpha = validate.positive_number(alpha, "alpha")
        self.scaling = alpha / math.sqrt(r) if use_rslora else alpha / r  # s = α/r (rsLoRA: α/√r)
        like_w0 = {"bias": False, "device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_A = nn.Linear(base.in_features, r, **like_w0)  # A: (r, in) — 입력을 r차원으로 줄이고
        self.lora_B = nn.Linear(r, base.out_features, **like_w0)  # B: (out, r) — 다시 출력 차원으로 늘립니다
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))  # peft와 같은 초기화
        nn.init.zeros_(self.lora_B.weight)  # B = 0 → ΔW = 0: 처음에는 원래 층과 똑같은 출력
        self.lora_dropout = nn.Dropout(validate.probability(dropout, "dropout"))  # LoRA 가지의 입력에만
        self.merged = False

    def delta_weight(self) -> torch.Tensor:
        """ΔW = s · B A, shape (out, in) like W0."""
        return self.scaling * (self.lora_B.weight @ self.lora_A.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``W0 x + b + s · B(A(dropout(x)))``; once merged, only the base layer."""
        result = self.base_layer(x)  # W0 x + b
        if self.merged:
            return result
        x = self.lora_dropout(x.to(self.lora_A.weight.dtype))  # 어댑터의 dtype으로 (peft는 bf16 모델에서도 fp32)
        return (result + self.scaling * self.lora_B(self.lora_A(x))).to(result.dtype)

    @torch.no_grad()
    def merge(self) -> None:
        """W0 ← W0 + ΔW: inference then costs one matmul, like the base layer."""
        if self.merged:
            warnings.warn(f"{type(self).__name__} is already merged; nothing to do.", stacklevel=2)
            return
        self.base_layer.weight += self.delta_weight()
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """W0 ← W − ΔW: undoes merge (W0 comes back up to rounding)."""
        if not self.merged:
            warnings.warn(f"{type(self).__name__} is not merged; nothing to do.", stacklevel=2)
            return
        self.base_layer.weight -= self.delta_weight()
        self.merged = False


def inject_lora(
    model: nn.Module,
    target_modules: Sequence[str] | str,
    r: int,
    alpha: float,
    dropout: float = 0.0,
    use_rslora: bool = False,
) -> list[str]:
    """Replace the ``nn.Linear`` layers peft would adapt by :class:`LoRALinear`, in place; freeze everything else.

    The targets are the layers peft itself would adapt (``course_utils.adapters.peft_rules.lora_target_names``,
    without a task
    type: no classifier copy is made), so only the LoRA matrices are trainable afterwards.

    Args:
        model (`nn.Module`): the model to modify in place.
        target_modules (`list[str]` or `str`): as in peft: names (a name or its last parts), or one string that is a
            regex matched against the full module name, or ``"all-linear"``.
        r (`int`): rank for every adapted layer.
        alpha (`float`): ``lora_alpha`` > 0.
        dropout (`float`): LoRA dropout. Defaults to 0.0.
        use_rslora (`bool`): ``alpha / sqrt(r)`` scaling. Defaults to `False`.

    Returns:
        `list[str]`: the names of the replaced modules.

    Raises:
        ValueError: peft finds no target, or a target is not an ``nn.Linear`` (e.g. GPT-2's ``Conv1D``).
    """
    try:
        names = lora_target_names(model, target_modules, task_type=None)  # peft's own rules, on a meta-device copy
    except ValueError as error:
        if not isinstance(target_modules, str):
            raise
        raise ValueError(f"{error}\nA string target_modules is one regex matched against the whole module name "
                         f"(or 'all-linear'); to match by name pass a list, e.g. [{target_modules!r}]") from error
    validate.positive_number(alpha, "alpha")  # check everything before changing the model
    validate.probability(dropout, "dropout")
    for name in names:
        module = model.get_submodule(name)
        if not isinstance(module, nn.Linear):
            raise ValueError(f"target_modules={target_modules!r} matches {name!r}, a {type(module).__name__}; "
                             f"LoRALinear adapts nn.Linear layers only (allowed: names of nn.Linear modules)")
        validate.rank(r, module.in_features, module.out_features, where=f" for module {name!r}")
    model.requires_grad_(False)
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        setattr(parent, child, LoRALinear(model.get_submodule(name), r, alpha, dropout, use_rslora))
    return names
