"""LoRA from scratch: ``LoRALinear`` laid out exactly like peft's, plus the SVD energy of a weight update.

Shapes follow peft (``peft/tuners/lora/layer.py``), not the lecture's ``ΔW = A×B``:
``lora_A.weight`` is (r, in_features), ``lora_B.weight`` is (out_features, r), and ``ΔW = B @ A * scaling``
has the base weight's (out_features, in_features) shape.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .params import _check_alpha, _check_rank, find_lora_targets

__all__ = ["LoRALinear", "energy_figure", "inject_lora", "rank_for_energy", "singular_value_energy"]


class LoRALinear(nn.Module):
    """A frozen ``nn.Linear`` plus a trainable low-rank update: ``y = W0 x + b + scaling * B(A(dropout(x)))``.

    Args:
        base (`nn.Linear`): the layer to adapt; its parameters are frozen in place (not copied).
        r (`int`): rank, 1 <= r <= min(in_features, out_features).
        alpha (`float`): ``lora_alpha`` > 0; the update is scaled by ``alpha / r`` (or ``alpha / sqrt(r)``).
        dropout (`float`): dropout probability on the LoRA branch's input only, in [0, 1). Defaults to 0.0.
        use_rslora (`bool`): rsLoRA scaling ``alpha / sqrt(r)`` (arXiv 2312.03732). Defaults to `False`.
    """

    def __init__(
        self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0, use_rslora: bool = False
    ) -> None:
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"base must be an nn.Linear (allowed: nn.Linear), got {type(base).__name__}")
        _check_rank(r, base.in_features, base.out_features)
        alpha = _check_alpha(alpha, "alpha")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.base_layer = base
        self.base_layer.requires_grad_(False)
        self.in_features = base.in_features
        self.out_features = base.out_features
        self.r = r
        self.alpha = alpha
        self.use_rslora = use_rslora
        self.scaling = alpha / math.sqrt(r) if use_rslora else alpha / r
        factory = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_A = nn.Linear(self.in_features, r, bias=False, **factory)
        self.lora_B = nn.Linear(r, self.out_features, bias=False, **factory)
        self.lora_dropout = nn.Dropout(p=dropout) if dropout > 0.0 else nn.Identity()
        self.merged = False
        self.reset_lora_parameters()

    def reset_lora_parameters(self) -> None:
        """peft's default init: Kaiming-uniform(a=sqrt(5)) on A (bound 1/sqrt(in)), zeros on B, so ΔW = 0."""
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)

    def delta_weight(self) -> torch.Tensor:
        """ΔW = B @ A * scaling, shape (out, in); computed in fp32 for (b)float16 on CPU, as peft does."""
        weight_a, weight_b = self.lora_A.weight, self.lora_B.weight
        dtype = weight_b.dtype
        cast = weight_b.device.type == "cpu" and dtype in (torch.float16, torch.bfloat16)
        if cast:
            weight_a, weight_b = weight_a.float(), weight_b.float()
        delta = (weight_b @ weight_a) * self.scaling
        return delta.to(dtype) if cast else delta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Base output plus the scaled LoRA branch (only the base path once merged)."""
        result = self.base_layer(x)
        if self.merged:
            return result
        result_dtype = result.dtype
        x = x.to(self.lora_A.weight.dtype)
        result = result + self.lora_B(self.lora_A(self.lora_dropout(x))) * self.scaling
        return result.to(result_dtype)

    @torch.no_grad()
    def merge(self) -> None:
        """Fold ΔW into the base weight (``W0 += ΔW``) so inference costs one matmul."""
        if self.merged:
            warnings.warn("LoRALinear is already merged; nothing to do.", stacklevel=2)
            return
        self.base_layer.weight.data += self.delta_weight()
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Take ΔW out of the base weight again (``W -= ΔW``), restoring W0 up to rounding."""
        if not self.merged:
            warnings.warn("LoRALinear is not merged; nothing to do.", stacklevel=2)
            return
        weight = self.base_layer.weight
        weight.data -= self.delta_weight().to(weight.dtype)
        self.merged = False

    @classmethod
    def from_peft(
        cls, peft_layer: nn.Module, adapter_name: str = "default", adapter_dtype: torch.dtype | None = None
    ) -> LoRALinear:
        """A ``LoRALinear`` with the same W0, b, A, B, r, alpha, scaling and dropout as a peft LoRA layer.

        The base layer is deep-copied, so merging one does not change the other. The adapter weights keep
        peft's dtype (fp32 on a half-precision base by default), so the outputs agree bit for bit.

        Args:
            peft_layer (`peft.tuners.lora.Linear`): an unmerged peft LoRA layer (plain LoRA, not DoRA).
            adapter_name (`str`): which adapter to copy. Defaults to ``"default"``.
            adapter_dtype (`torch.dtype`, *optional*): store A and B in this dtype instead of peft's (e.g.
                ``torch.bfloat16`` to compare an all-bf16 layer with peft's fp32 adapters).
        """
        for attr in ("base_layer", "lora_A", "lora_B", "scaling", "r", "lora_alpha"):
            if not hasattr(peft_layer, attr):
                raise ValueError(f"peft_layer must be a peft LoRA Linear layer (missing {attr!r})")
        if adapter_name not in peft_layer.lora_A:
            allowed = list(peft_layer.lora_A.keys())
            raise ValueError(f"adapter_name must be one of {allowed}, got {adapter_name!r}")
        if getattr(peft_layer, "use_dora", {}).get(adapter_name, False):
            raise ValueError("peft_layer uses DoRA (use_dora=True); LoRALinear is plain LoRA")
        layer = cls._copy_config_from_peft(peft_layer, adapter_name)
        peft_a, peft_b = peft_layer.lora_A[adapter_name].weight, peft_layer.lora_B[adapter_name].weight
        # peft keeps adapters in fp32 on a (b)float16 base (autocast_adapter_dtype=True); copy that dtype too
        layer.lora_A.to(dtype=adapter_dtype or peft_a.dtype)
        layer.lora_B.to(dtype=adapter_dtype or peft_b.dtype)
        with torch.no_grad():
            layer.lora_A.weight.copy_(peft_a)
            layer.lora_B.weight.copy_(peft_b)
        return layer

    @classmethod
    def _copy_config_from_peft(cls, peft_layer: nn.Module, adapter_name: str) -> LoRALinear:
        """A new layer on a deep copy of peft's base with its r, alpha, dropout, rsLoRA and scaling."""
        if getattr(peft_layer, "merged", False):
            raise ValueError("peft_layer is merged; call peft_layer.unmerge() first")
        drop = peft_layer.lora_dropout[adapter_name]
        layer = cls(
            copy.deepcopy(peft_layer.base_layer),
            r=peft_layer.r[adapter_name],
            alpha=peft_layer.lora_alpha[adapter_name],
            dropout=drop.p if isinstance(drop, nn.Dropout) else 0.0,
            use_rslora=bool(getattr(peft_layer, "use_rslora", {}).get(adapter_name, False)),
        )
        layer.scaling = float(peft_layer.scaling[adapter_name])
        return layer

    def extra_repr(self) -> str:
        """Shown by ``print(layer)``."""
        return (f"in_features={self.in_features}, out_features={self.out_features}, r={self.r}, "
                f"alpha={self.alpha:g}, scaling={self.scaling:.4g}, merged={self.merged}")


def inject_lora(
    model: nn.Module,
    target_modules: Sequence[str] | str,
    r: int,
    alpha: float,
    dropout: float = 0.0,
    use_rslora: bool = False,
) -> list[str]:
    """Replace the matched ``nn.Linear`` layers of ``model`` in place by :class:`LoRALinear`; freeze the rest.

    Matching follows peft's rules without a task type (see ``course_utils.params.find_lora_targets``), so no
    classifier copy is made: only the LoRA matrices are trainable afterwards.

    Args:
        model (`nn.Module`): the model to modify in place.
        target_modules (`list[str]` or `str`): names (suffix rule), a regex (full match) or ``"all-linear"``.
        r (`int`): rank for every adapted layer.
        alpha (`float`): ``lora_alpha`` > 0.
        dropout (`float`): LoRA dropout. Defaults to 0.0.
        use_rslora (`bool`): ``alpha / sqrt(r)`` scaling. Defaults to `False`.

    Returns:
        `list[str]`: the names of the replaced modules.
    """
    targets = find_lora_targets(model, target_modules, task_type=None)
    for _, module in targets:  # validate every rank before changing anything
        _check_rank(r, module.in_features, module.out_features)
    model.requires_grad_(False)
    for name, module in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, LoRALinear(module, r=r, alpha=alpha, dropout=dropout, use_rslora=use_rslora))
    return [name for name, _ in targets]


def singular_value_energy(delta: torch.Tensor) -> torch.Tensor:
    """Cumulative energy fraction of a matrix's singular values: ``out[k-1] = Σ_{i<k} σ_i² / Σ σ_i²``.

    ``out[r-1]`` is the share of ‖ΔW‖_F² the best rank-r approximation keeps (Eckart–Young); float64 math.

    Args:
        delta (`torch.Tensor`): a 2-D matrix, e.g. ΔW = W_after - W_before; must not be all zeros.
    """
    if delta.ndim != 2:
        raise ValueError(f"delta must be a 2-D matrix, got shape {tuple(delta.shape)}")
    s = torch.linalg.svdvals(delta.detach().to(torch.float64).cpu())
    energy = s.square()
    total = energy.sum()
    if total == 0:
        raise ValueError("delta must not be all zeros (its energy is 0)")
    return torch.cumsum(energy, 0) / total


def rank_for_energy(delta: torch.Tensor, fraction: float) -> int:
    """Smallest rank r whose top-r singular values hold at least ``fraction`` of the energy.

    Args:
        delta (`torch.Tensor`): a 2-D matrix.
        fraction (`float`): target energy share in (0, 1].
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    cum = singular_value_energy(delta)
    # tolerate float rounding at fraction == 1.0
    return int(torch.searchsorted(cum, torch.tensor(fraction - 1e-12, dtype=cum.dtype)).item()) + 1


def energy_figure(curves: Mapping[str, torch.Tensor], mark_rank: int = 8, max_rank: int = 64):
    """Cumulative singular-value energy curves (from :func:`singular_value_energy`), one line per matrix.

    Args:
        curves (`Mapping[str, torch.Tensor]`): label -> cumulative energy fractions.
        mark_rank (`int`): rank marked with a vertical line and read off in the legend. Defaults to 8.
        max_rank (`int`): last rank shown. Defaults to 64.
    """
    from matplotlib.figure import Figure

    if not curves:
        raise ValueError("curves must contain at least one label -> energy curve")
    if mark_rank < 1:
        raise ValueError(f"mark_rank must be >= 1, got {mark_rank}")
    fig = Figure(figsize=(6.5, 3.8), layout="constrained")
    ax = fig.subplots()
    for label, energy in curves.items():
        k = min(max_rank, len(energy))
        at = float(energy[min(mark_rank, len(energy)) - 1])
        ax.plot(range(1, k + 1), energy[:k].numpy(), label=f"{label} (r={mark_rank}: {at:.0%})")
    ax.axvline(mark_rank, color="k", ls="--", lw=1)
    ax.set_xlabel("랭크 r (위에서부터 r개의 특이값)")
    ax.set_ylabel(r"누적 에너지 비율 $\sum_{i \leq r} \sigma_i^2 / \sum_i \sigma_i^2$")
    ax.set_ylim(0, 1.02)
    ax.set_title("ΔW의 에너지가 몇 개의 방향에 모여 있나")
    ax.legend(fontsize=8, loc="lower right")
    return fig
