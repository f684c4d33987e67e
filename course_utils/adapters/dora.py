"""DoRA from scratch: ``DoRALinear`` equal to peft's ``LoraConfig(use_dora=True)`` layer, and the lecture's erratum.

DoRA (Liu et al., arXiv 2402.09353, Eq. 2 and 5) writes a weight as magnitude times direction,
``W = m · V / ‖V‖_c``, with **one magnitude per output feature**. In PyTorch's ``nn.Linear`` layout
(out_features, in_features) that is the norm of each *row*: ``m = W.norm(dim=1)``, shape ``(out,)``.
Training keeps ``V = W0`` frozen, learns the direction through LoRA and learns ``m`` directly::

    W' = m · (W0 + s·B A) / ‖W0 + s·B A‖_row          (s = alpha / r)

The norm is a constant for the gradient (paper §4.3). At initialisation ``m = ‖W0‖_row`` and ``B = 0``, so the
layer equals the base layer. ``LectureDoRALayer`` is the lecture's wrong version, kept only to show the error.
The paper's ΔM/ΔD analysis lives in ``course_utils.adapters.dora_analysis``; copying a peft layer in ``peft_interop``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from course_utils.adapters.lora import LoRALinear
from course_utils.runtime import validate

__all__ = ["NORM_EPS", "DoRALinear", "FusedDoRALinear", "LectureDoRALayer", "dora_architecture_figure"]

#: Floor for the row norm ‖W0 + s·BA‖: an all-zero row would otherwise give m / 0 = NaN
#: (peft 0.21.2 does: issue #2049, PR #3237). Rows with a norm above the floor are not affected.
NORM_EPS = 1e-12


class DoRALinear(LoRALinear):
    """DoRA on a frozen ``nn.Linear`` (paper Eq. 5): ``W' = m · (W0 + s·BA) / ‖W0 + s·BA‖_c``, the norm detached (§4.3).

    :class:`~course_utils.adapters.lora.LoRALinear` (same ``lora_A``, ``lora_B``, ``scaling``, init and checks) plus a
    trainable ``magnitude`` m of shape ``(out_features,)``, initialised to the row norms of W0.

    Args:
        base (`nn.Linear`): the layer to adapt; its parameters are frozen in place (not copied).
        r (`int`): rank, 1 <= r <= min(in_features, out_features).
        alpha (`float`): ``lora_alpha`` > 0; the update is scaled by ``alpha / r`` (or ``alpha / sqrt(r)``).
        dropout (`float`): dropout probability on the adapter's input, in [0, 1). Defaults to 0.0.
        use_rslora (`bool`): rsLoRA scaling ``alpha / sqrt(r)``. Defaults to `False`.
    """

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0, use_rslora: bool = False) -> None:
        super().__init__(base, r, alpha, dropout, use_rslora)
        self.magnitude = nn.Parameter(self.weight_norm())  # m = ‖W0‖_row (B = 0): 처음에는 W' = W0

    @torch.no_grad()  # 논문 §4.3: 노름은 상수 취급 (그래디언트가 흐르지 않습니다 = detach)
    def weight_norm(self) -> torch.Tensor:
        """‖W0 + s·BA‖_c: one L2 norm per output row, shape (out,), in the adapter's dtype, without gradient."""
        weight = self.base_layer.weight.to(self.lora_A.weight.dtype) + self.delta_weight()
        return torch.linalg.vector_norm(weight, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``W' x + b``, written as peft does: ``W0 x + b + (scale − 1) ⊙ W0 x + scale ⊙ s·B A x``."""
        result = self.base_layer(x)  # W0 x + b
        if self.merged:
            return result
        x = x.to(self.lora_A.weight.dtype)
        scale = self.magnitude / self.weight_norm().clamp_min(NORM_EPS)  # m / ‖W0 + sBA‖_c (0인 행도 NaN 없이)
        if self.training and self.lora_dropout.p > 0:  # peft처럼: 보정 항은 dropout(x) 위에서 계산합니다
            x = self.lora_dropout(x)
            base = F.linear(x, self.base_layer.weight.to(x.dtype))  # W0 · dropout(x)
        else:  # W0 x는 이미 계산했습니다: result − b
            base = result if self.base_layer.bias is None else result - self.base_layer.bias
        # W' x = scale ⊙ (W0 x + s·BAx) = W0 x + (scale − 1) ⊙ W0 x + scale ⊙ s·BAx
        return (result + (scale - 1) * base + scale * self.scaling * self.lora_B(self.lora_A(x))).to(result.dtype)

    @torch.no_grad()
    def merge(self) -> None:
        """W0 ← W' = scale ⊙ (W0 + ΔW); the scale is kept (as peft keeps the norm) so unmerge can divide it out."""
        if self.merged:
            return super().merge()  # 이미 병합됨: LoRALinear.merge가 경고만 합니다
        self.merge_scale = self.magnitude / self.weight_norm().clamp_min(NORM_EPS)
        self.base_layer.weight.copy_(self.merge_scale[:, None] * (self.base_layer.weight + self.delta_weight()))
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """W0 = W' / scale − ΔW. A row with scale 0 merged to 0: it comes back as −ΔW, its W0 if ‖W0 + ΔW‖ was 0."""
        if not self.merged:
            return super().unmerge()  # 병합 전: LoRALinear.unmerge가 경고만 합니다
        scale = torch.where(self.merge_scale == 0, 1.0, self.merge_scale)
        self.base_layer.weight.copy_(self.base_layer.weight / scale[:, None] - self.delta_weight())
        self.merged = False


# ----------------------------------------------------------------------------------------------------
# Bonus: the same layer, faster (benchmarks/dora.py times it)
# ----------------------------------------------------------------------------------------------------


class FusedDoRALinear(DoRALinear):
    """Bonus: :class:`DoRALinear` with a fused forward, the same numbers in fewer passes over the output.

    ``b + scale ⊙ (W0 x + s·B A x)`` as one matmul that accumulates the LoRA term in place (``addmm_``) and one
    ``addcmul`` for the scale and bias, instead of the readable class's several elementwise passes. With dropout in
    training mode it falls back to ``DoRALinear.forward`` (peft's formula on ``dropout(x)``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``b + scale ⊙ (W0 x + s·B A x)``, fused; see :meth:`DoRALinear.forward` for the formula."""
        if self.merged or (self.training and self.lora_dropout.p > 0):
            return super().forward(x)
        weight, bias = self.base_layer.weight, self.base_layer.bias
        flat = x.reshape(-1, x.shape[-1]).to(self.lora_A.weight.dtype)
        scale = self.magnitude / self.weight_norm().clamp_min(NORM_EPS)
        h = self.lora_A(flat) * self.scaling  # (N, r): scaling this small tensor costs nothing
        combined = torch.mm(flat, weight.to(flat.dtype).t()).addmm_(h, self.lora_B.weight.t())
        out = combined * scale if bias is None else torch.addcmul(bias.to(flat.dtype), combined, scale)
        return out.view(*x.shape[:-1], -1).to(x.dtype)


class LectureDoRALayer(nn.Module):
    """ERRATUM (lecture notes §3.5): ``(base + lora) * magnitude``. Wrong; kept only to show the error.

    What is wrong: the magnitude multiplies the output instead of ``m / ‖W0 + s·BA‖_row``, so the direction is
    never normalised; the text's ``m = ‖W0‖_F`` is one scalar (not one norm per output row) and scales
    every output, bias included, by ‖W0‖_F at initialisation. The lecture's code initialises ``magnitude`` to
    ones instead, which hides the error at step 0 but is still not DoRA once ``B ≠ 0``.
    Use :class:`DoRALinear` for real work.

    Args:
        base_layer (`nn.Linear`): the layer to wrap (frozen here, unlike the lecture's code).
        rank (`int`): LoRA rank, 1 <= rank <= min(in_features, out_features). Defaults to 8.
        alpha (`float`): LoRA alpha > 0; the branch is scaled by ``alpha / rank``. Defaults to 32.
        magnitude_init (`str`): ``"frobenius"`` — the lecture's formula (§3.1–3.2): one scalar ``‖W0‖_F``;
            ``"ones"`` — the lecture's code (§3.5): ``torch.ones(out_features)``. Defaults to ``"frobenius"``.
    """

    def __init__(self, base_layer: nn.Linear, rank: int = 8, alpha: float = 32,
                 magnitude_init: str = "frobenius") -> None:
        super().__init__()
        if not isinstance(base_layer, nn.Linear):
            raise TypeError(f"base_layer must be an nn.Linear (allowed: nn.Linear), "
                            f"got {type(base_layer).__name__}")
        validate.rank(rank, base_layer.in_features, base_layer.out_features)
        self.alpha = validate.positive_number(alpha, "alpha")
        validate.choice(magnitude_init, ("frobenius", "ones"), "magnitude_init")
        self.base_layer = base_layer.requires_grad_(False)
        self.rank = rank
        factory = {"device": base_layer.weight.device, "dtype": base_layer.weight.dtype}
        self.lora_A = nn.Linear(base_layer.in_features, rank, bias=False, **factory)
        self.lora_B = nn.Linear(rank, base_layer.out_features, bias=False, **factory)
        if magnitude_init == "frobenius":  # "m = ‖W0‖_F (스칼라 크기)"
            init = torch.linalg.matrix_norm(base_layer.weight.detach())
        else:  # the lecture's code: nn.Parameter(torch.ones(base_layer.out_features))
            init = torch.ones(base_layer.out_features, **factory)
        self.magnitude = nn.Parameter(init)
        nn.init.kaiming_uniform_(self.lora_A.weight)  # as the lecture writes it (a=0, not peft's a=sqrt(5))
        nn.init.zeros_(self.lora_B.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The lecture's forward: ``(base_layer(x) + B(A(x)) * alpha / rank) * magnitude``."""
        base_output = self.base_layer(x)
        lora_output = self.lora_B(self.lora_A(x)) * (self.alpha / self.rank)
        return (base_output + lora_output) * self.magnitude


# ----------------------------------------------------------------------------------------------------
# Figure for figs/
# ----------------------------------------------------------------------------------------------------


def dora_architecture_figure() -> Figure:
    """The DoRA diagram for figs/: W0 → magnitude m (one per output row) × direction (W0 + sBA)/‖·‖_row."""
    from matplotlib.patches import FancyArrowPatch, Rectangle

    fig = Figure(figsize=(11, 5.0), layout="constrained")
    ax = fig.subplots()
    ax.set_xlim(0, 20.2)
    ax.set_ylim(-1.5, 7.4)
    ax.set_aspect("equal")
    ax.axis("off")
    frozen, trainable, derived = "#B0B7C3", "#F28E2B", "#4C72B0"

    def box(x: float, y: float, w: float, h: float, color: str, text: str, sub: str) -> None:
        ax.add_patch(Rectangle((x, y), w, h, facecolor=color, edgecolor="black", lw=1.2, alpha=0.85))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=12, fontweight="bold")
        ax.text(x + w / 2, y - 0.35, sub, ha="center", va="top", fontsize=8.5)

    def arrow(x0: float, y0: float, x1: float, y1: float) -> None:
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=14, lw=1.3))

    def label(x: float, y: float, text: str, size: float = 16) -> None:
        ax.text(x, y, text, ha="center", va="center", fontsize=size)

    # pretrained weight, split into magnitude and direction
    box(0.2, 1.5, 2.6, 3.6, frozen, "$W_0$", "사전학습 가중치 (고정)\n(out, in)")
    arrow(3.0, 3.3, 3.9, 3.3)
    box(4.1, 1.5, 0.6, 3.6, trainable, "$m$", "크기 m (학습)\n(out,), 초기값 ‖W0‖_row")
    label(5.3, 3.3, "⊙")
    ax.add_patch(Rectangle((5.9, -0.5), 9.6, 6.9, facecolor="none", edgecolor="#555555", lw=1.0, ls="--"))
    ax.text(10.7, 6.15, "방향 (행마다 단위 벡터)", ha="center", va="center", fontsize=9.5, color="#333333")
    box(6.2, 1.5, 2.6, 3.6, frozen, "$V$", "V = W0 (고정)\n(out, in)")
    label(9.35, 3.3, "+ s·", size=14)
    box(10.0, 1.5, 0.5, 3.6, trainable, "$B$", "B (학습)\n(out, r), 0으로 초기화")
    box(10.7, 4.45, 2.6, 0.65, trainable, "$A$", "")
    ax.text(12.0, 4.2, "A (학습)  (r, in)", ha="center", va="top", fontsize=8.5)
    ax.text(14.2, 3.3, "÷ ‖V + sBA‖_row", ha="center", va="center", fontsize=9.5)
    ax.text(10.7, -0.2, "노름은 출력 특성(행)마다 하나, 그래디언트에서 분리 (detach, 논문 §4.3)", ha="center",
            va="center", fontsize=8.5, color="#333333")
    arrow(15.7, 3.3, 16.6, 3.3)
    box(16.8, 1.5, 3.2, 3.6, derived, "$W'$", "W' = m ⊙ (W0 + sBA) / ‖W0 + sBA‖_row\n(out, in)")
    title = "DoRA: 가중치 = 크기 m (출력 행마다 하나) × 단위 방향.  초기에는 B = 0, m = ‖W0‖_row 이므로 W' = W0"
    ax.text(10.1, 7.0, title, ha="center", fontsize=11, fontweight="bold")
    ax.text(8.0, -1.1, "s = α/r,  ⊙: 행마다 곱하기.  y = b + (m / ‖W0 + sBA‖_row) ⊙ (W0 x + s·BAx)", ha="center",
            fontsize=9.5)
    handles = [Rectangle((0, 0), 1, 1, facecolor=c, edgecolor="black") for c in (frozen, trainable, derived)]
    ax.legend(handles, ["고정 (frozen)", "학습 (trainable)", "합성 결과"], loc="lower right",
              fontsize=8.5, frameon=False, ncol=1, bbox_to_anchor=(1.0, 0.0))
    return fig
