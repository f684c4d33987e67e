"""Concept diagrams drawn by code (`make figs`): the LoRA layer and the QLoRA pipeline, with Korean labels."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Polygon, Rectangle

FROZEN, TRAINABLE, DERIVED, MEMORY = "#B0B7C3", "#F28E2B", "#4C72B0", "#59A14F"


def _canvas(width: float, height: float, xlim: float, ylim: float) -> tuple[Figure, Axes]:
    """A blank figure whose axes run 0..xlim by 0..ylim in equal units, without ticks."""
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.subplots()
    ax.set_xlim(0, xlim)
    ax.set_ylim(0, ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def _box(ax: Axes, xy: tuple[float, float], w: float, h: float, color: str, text: str,
         size: float = 14, style: str = "round,pad=0.05") -> None:
    """A filled, rounded box with centred text."""
    x, y = xy
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=style, facecolor=color, edgecolor="black", lw=1.3))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], **style) -> None:
    """An arrow from `start` to `end`."""
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=18, lw=1.6, **style))


def _legend(ax: Axes, colors: dict[str, str], loc: str, **where) -> None:
    """A colour legend without a frame."""
    handles = [Rectangle((0, 0), 1, 1, facecolor=c, edgecolor="black") for c in colors.values()]
    ax.legend(handles, list(colors), loc=loc, fontsize=12, frameon=False, **where)


def lora_diagram_figure() -> Figure:
    """LoRA: frozen W0 beside the trainable B·A path through an r-dim bottleneck, scaled by α/r (Hu et al. §4.1)."""
    fig, ax = _canvas(11, 8.6, 14, 11.2)
    _box(ax, (4.3, 0.2), 1.4, 0.8, "white", "입력 $x$\n(k차원)", 13)
    _box(ax, (0.6, 2.6), 4.2, 3.8, FROZEN, "$W_0$\n\n사전학습 가중치\n(고정, d × k)", 15)
    # A: k차원 → r차원으로 줄이는 사다리꼴, B: r차원 → d차원으로 늘리는 사다리꼴
    ax.add_patch(Polygon([(6.0, 2.6), (10.6, 2.6), (8.9, 4.2), (7.7, 4.2)], facecolor=TRAINABLE, edgecolor="black"))
    ax.text(8.3, 3.25, "$A$ (r × k)", ha="center", va="center", fontsize=15)
    ax.add_patch(Rectangle((7.7, 4.2), 1.2, 0.6, facecolor="white", edgecolor="black", lw=1.3))
    ax.text(8.3, 4.5, "$r$", ha="center", va="center", fontsize=15, fontweight="bold")
    ax.add_patch(Polygon([(7.7, 4.8), (8.9, 4.8), (10.6, 6.4), (6.0, 6.4)], facecolor=TRAINABLE, edgecolor="black"))
    ax.text(8.3, 5.75, "$B$ (d × r)", ha="center", va="center", fontsize=15)
    ax.text(11.0, 4.5, "랭크 $r$ 병목\n$r \\ll \\min(d, k)$", ha="left", va="center", fontsize=13)
    ax.text(11.0, 3.0, "A: 무작위 초기화", ha="left", va="center", fontsize=12)
    ax.text(11.0, 6.0, "B: 0으로 초기화\n(시작할 때 $\\Delta W = 0$)", ha="left", va="center", fontsize=12)
    _box(ax, (7.4, 7.0), 1.8, 0.75, "white", "× $\\alpha / r$", 15)
    ax.add_patch(Circle((5.0, 8.35), 0.32, facecolor="white", edgecolor="black", lw=1.3))
    ax.text(5.0, 8.35, "+", ha="center", va="center", fontsize=20)
    _box(ax, (4.0, 9.3), 2.0, 0.8, DERIVED, "출력 $h$ (d차원)", 13)
    _arrow(ax, (5.0, 1.05), (2.7, 2.55))
    _arrow(ax, (5.0, 1.05), (8.3, 2.55))
    _arrow(ax, (2.7, 6.45), (4.75, 8.2))
    _arrow(ax, (8.3, 6.45), (8.3, 6.95))
    _arrow(ax, (7.7, 7.75), (5.3, 8.35))
    _arrow(ax, (5.0, 8.7), (5.0, 9.25))
    ax.text(7.0, 11.1, "LoRA: $h = W_0 x + (\\alpha / r) \\, B A x$", ha="center", va="top", fontsize=17,
            fontweight="bold")
    ax.text(0.3, 7.6, "학습 파라미터: $r(d + k)$개\n\n병합(merge) 후 추론:\n$W = W_0 + (\\alpha / r) \\, BA$",
            ha="left", va="center", fontsize=12)
    _legend(ax, {"고정 (frozen)": FROZEN, "학습 (trainable)": TRAINABLE}, "lower right")
    return fig


def qlora_pipeline_figure() -> Figure:
    """QLoRA: NF4 storage → dequantize → bf16 matmul, plus the bf16 LoRA path; paged optimizer states (§3)."""
    fig, ax = _canvas(13, 7.6, 17, 10)
    ax.add_patch(Rectangle((0.2, 3.0), 16.6, 6.3, facecolor="none", edgecolor="#555555", lw=1.2, ls="--"))
    ax.text(0.4, 9.05, "GPU 메모리", ha="left", va="center", fontsize=14, fontweight="bold")
    _box(ax, (0.6, 6.2), 3.6, 1.9, FROZEN, "NF4 가중치 (고정)\n4비트 코드 + 블록별 absmax\n(이중 양자화)", 12)
    _box(ax, (5.0, 6.45), 2.8, 1.4, "white", "역양자화\n(층마다, 계산 직전)", 12)
    _box(ax, (8.6, 6.45), 3.0, 1.4, DERIVED, "bf16 행렬곱\n$X W^\\top$", 13)
    _box(ax, (8.6, 3.9), 3.0, 1.5, TRAINABLE, "LoRA 경로 (bf16)\n$s \\cdot X A^\\top B^\\top$", 13)
    _box(ax, (12.6, 5.4), 1.0, 1.0, "white", "+", 20)
    _box(ax, (14.4, 5.45), 2.1, 0.9, DERIVED, "출력 $Y$ (bf16)", 12)
    _box(ax, (5.0, 4.0), 2.8, 1.3, "white", "입력 $X$ (bf16)", 13)
    _arrow(ax, (4.25, 7.15), (4.95, 7.15))
    _arrow(ax, (7.85, 7.15), (8.55, 7.15))
    _arrow(ax, (7.85, 4.9), (8.55, 6.6))
    _arrow(ax, (7.85, 4.6), (8.55, 4.6))
    _arrow(ax, (11.65, 7.0), (12.6, 6.2))
    _arrow(ax, (11.65, 4.7), (12.6, 5.6))
    _arrow(ax, (13.65, 5.9), (14.35, 5.9))
    ax.text(10.1, 3.45, "그래디언트는 LoRA 파라미터에만 (W는 고정)", ha="center", va="center", fontsize=12)
    _box(ax, (0.6, 3.6), 3.6, 1.6, MEMORY, "옵티마이저 상태\n(LoRA 파라미터의\nAdamW 모멘트)", 12)
    ax.add_patch(Rectangle((0.2, 0.2), 16.6, 2.2, facecolor="none", edgecolor="#555555", lw=1.2, ls="--"))
    ax.text(0.4, 2.15, "CPU RAM", ha="left", va="center", fontsize=14, fontweight="bold")
    _box(ax, (0.6, 0.5), 3.6, 1.2, MEMORY, "밀려난 옵티마이저 상태", 12)
    _arrow(ax, (1.8, 3.55), (1.8, 1.75), color="#333333")
    _arrow(ax, (3.0, 1.75), (3.0, 3.55), color="#333333")
    ax.text(1.7, 2.65, "내보내기", ha="right", va="center", fontsize=11)
    ax.text(3.1, 2.65, "다시 가져오기", ha="left", va="center", fontsize=11)
    ax.text(4.6, 1.1, "페이지드 옵티마이저: GPU 메모리가 모자랄 때 옵티마이저 상태만 CPU RAM으로 내보내고\n"
            "업데이트 단계에서 다시 GPU로 가져옵니다 (NVIDIA 통합 메모리). 가중치·그래디언트·활성값은 GPU에 남습니다.",
            ha="left", va="center", fontsize=11.5)
    ax.text(8.5, 9.95, "QLoRA: $Y = X \\cdot \\mathrm{dequant}(W^{\\mathrm{NF4}}) + s \\cdot X A^\\top B^\\top$",
            ha="center", va="top", fontsize=16, fontweight="bold")
    _legend(ax, {"고정 (4비트 저장)": FROZEN, "학습 (LoRA)": TRAINABLE, "bf16 계산": DERIVED,
                 "옵티마이저 상태": MEMORY}, "upper center", ncol=4, bbox_to_anchor=(0.5, 0.0))
    return fig
