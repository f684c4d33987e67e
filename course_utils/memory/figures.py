"""The course's memory figures (registered in course_utils.publish.figures): full fine-tuning by model size, and full
FT vs
LoRA vs QLoRA from the estimator. Sizes in GiB (2³⁰ bytes), the unit GPUs report (:data:`memory.GPU_GIB`)."""

from __future__ import annotations

from course_utils.memory.estimate import (
    GIB,
    GPU_GIB,
    PART_COLORS,
    PART_LABELS,
    PARTS,
    breakdown_rows,
    full_finetune_bytes,
)
from course_utils.runtime.presets import PRESETS

__all__ = ["full_finetune_memory_figure", "qlora_memory_figure"]

#: GPU lines drawn in the figures: name -> GiB the GPU reports.
FIGURE_GPUS = {name: GPU_GIB[name] for name in ("T4", "A6000", "A100-80G")}


LABEL_BOX = {"fc": "white", "ec": "none", "alpha": 0.85, "pad": 1}  # value labels stay readable over GPU lines


def _gpu_lines(ax, limit: float, vertical: bool, gpus: tuple[str, ...] = tuple(FIGURE_GPUS)) -> None:
    """Dashed lines for the GPUs below `limit` GiB, labelled outside the plot area (never over the bars)."""
    for name, gib in FIGURE_GPUS.items():
        if gib >= limit or name not in gpus:
            continue
        text = f"{name}\n{gib:.2f} GiB"
        if vertical:
            ax.axvline(gib, color="k", ls="--", lw=1)
            ax.annotate(text, (gib, 1.01), xycoords=("data", "axes fraction"), ha="center", va="bottom", fontsize=7)
        else:
            ax.axhline(gib, color="k", ls="--", lw=1)
            ax.annotate(text, (1.01, gib), xycoords=("axes fraction", "data"), ha="left", va="center", fontsize=7)


def full_finetune_memory_figure():
    """Stacked bars: full fine-tuning memory of 7B and 65B models, fp32 vs bf16 weights (figs/)."""
    from matplotlib.figure import Figure

    labels = {"weights": "가중치", "gradients": "그래디언트", "optimizer_states": "AdamW 상태"}
    fig = Figure(figsize=(9, 4.0), layout="constrained")
    for ax, (name, n) in zip(fig.subplots(1, 2), (("7B", 7 * 10**9), ("65B", 65 * 10**9))):
        dtypes = ("fp32", "bf16")
        bottom = [0.0, 0.0]
        for part, label in labels.items():
            values = [full_finetune_bytes(n, dtype)[part] / GIB for dtype in dtypes]
            ax.bar([f"가중치 {d}" for d in dtypes], values, bottom=bottom, label=label, width=0.55,
                   color=PART_COLORS[part])
            bottom = [b + v for b, v in zip(bottom, values)]
        top = max(bottom) * 1.18
        for x, total in enumerate(bottom):  # totals above the bars, inside the headroom
            ax.annotate(f"{total:,.0f} GiB", (x, total), xytext=(0, 3), textcoords="offset points", ha="center",
                        va="bottom", fontsize=9, bbox=LABEL_BOX, zorder=5)
        _gpu_lines(ax, top, vertical=False, gpus=("A100-80G",))
        ax.set_title(f"{name} 모델")
        ax.set_ylabel("GiB")
        ax.set_ylim(0, top)
    fig.legend(*fig.axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=8)
    fig.suptitle("완전 파인튜닝 메모리 (GiB, AdamW 상태 fp32, 활성값 제외)")
    return fig


def qlora_memory_figure():
    """Horizontal stacked bars: full FT vs LoRA vs QLoRA for LLaMA-7B and LLaMA-65B (figs/).

    The axis ends a little past the largest PEFT bar so the QLoRA bars stay readable; the full fine-tuning bar
    runs off the axis and its total is written at the edge.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.6), layout="constrained")
    for ax, name in zip(fig.subplots(1, 2), ("llama-7b", "llama-65b")):
        rows = list(breakdown_rows(name).values())[::-1]  # full FT on top
        labels = [label.replace("\n", " ") for label, _ in rows]
        totals = [est["total"] / GIB for _, est in rows]
        limit = max(t for (label, _), t in zip(rows, totals) if not label.startswith("완전")) * 1.45
        left = [0.0] * len(rows)
        for part in PARTS:
            values = [est[part] / GIB for _, est in rows]
            if any(values):
                ax.barh(labels, values, left=left, label=PART_LABELS[part], color=PART_COLORS[part], height=0.6)
                left = [a + v for a, v in zip(left, values)]
        for y, total in enumerate(totals):
            if total > limit:  # the clipped full FT bar: its total at the edge, on a white box
                ax.annotate(f"{total:,.1f} GiB (축 밖으로 잘림)", (limit, y), xytext=(-4, 0),
                            textcoords="offset points", ha="right", va="center", fontsize=8, bbox=LABEL_BOX, zorder=5)
            else:
                ax.annotate(f"{total:,.1f} GiB", (total, y), xytext=(4, 0), textcoords="offset points",
                            ha="left", va="center", fontsize=8, bbox=LABEL_BOX, zorder=5)
        _gpu_lines(ax, limit, vertical=True)
        ax.set_xlim(0, limit)
        ax.tick_params(axis="y", labelsize=8)
        ax.set_xlabel("GiB")
        ax.set_title(f"{PRESETS[name].label} (LoRA r={PRESETS[name].r}, 모든 Linear)", pad=26)
    fig.legend(*fig.axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=5, fontsize=8)
    fig.suptitle("학습 메모리: 완전 FT vs LoRA vs QLoRA (GiB, 기본 모델 bf16, AdamW 상태 fp32, 활성값 제외)")
    return fig
