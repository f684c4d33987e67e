"""The course's memory figures (registered in course_utils.figs): full fine-tuning by model size, and full FT vs
LoRA vs QLoRA from the estimator."""

from __future__ import annotations

from course_utils.memory import GB, PART_COLORS, PART_LABELS, PARTS, breakdown_rows, full_finetune_bytes
from course_utils.presets import PRESETS

__all__ = ["full_finetune_memory_figure", "qlora_memory_figure"]


def full_finetune_memory_figure():
    """Stacked bars: full fine-tuning memory of 7B and 65B models, fp32 vs bf16 weights (figs/)."""
    from matplotlib.figure import Figure

    labels = {"weights": "가중치", "gradients": "그래디언트", "optimizer_states": "AdamW 상태"}
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    for ax, (name, n) in zip(fig.subplots(1, 2), (("7B", 7 * 10**9), ("65B", 65 * 10**9))):
        dtypes = ("fp32", "bf16")
        bottom = [0.0, 0.0]
        for part, label in labels.items():
            values = [full_finetune_bytes(n, dtype)[part] / GB for dtype in dtypes]
            ax.bar([f"가중치 {d}" for d in dtypes], values, bottom=bottom, label=label)
            bottom = [b + v for b, v in zip(bottom, values)]
        for total, x in zip(bottom, range(2)):
            ax.annotate(f"{total:,.0f} GB", (x, total), ha="center", va="bottom")
        ax.axhline(80, color="k", ls="--", lw=1)
        ax.annotate("GPU 한 장 80 GB", (-0.45, 80), ha="left", va="bottom", fontsize=8)
        ax.set_title(f"{name} 모델")
        ax.set_ylabel("GB (10^9 바이트)")
        ax.set_ylim(0, max(bottom) * 1.15)
    fig.axes[0].legend(loc="upper right", fontsize=8)
    fig.suptitle("완전 파인튜닝 메모리 (AdamW 상태 fp32, 활성값 제외)")
    return fig



def qlora_memory_figure():
    """Stacked bars: training memory of full FT vs LoRA vs QLoRA for LLaMA-7B and LLaMA-65B (figs/)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    for ax, name in zip(fig.subplots(1, 2), ("llama-7b", "llama-65b")):
        rows = list(breakdown_rows(name).values())
        labels = [label for label, _ in rows]
        bottom = [0.0] * len(rows)
        for part in PARTS:
            values = [est[part] / GB for _, est in rows]
            if any(values):
                ax.bar(labels, values, bottom=bottom, label=PART_LABELS[part], color=PART_COLORS[part])
                bottom = [b + v for b, v in zip(bottom, values)]
        for x, total in enumerate(bottom):
            ax.annotate(f"{total:,.1f} GB", (x, total), ha="center", va="bottom", fontsize=8)
        for gpu, style in ((48, "--"), (80, ":")):
            if gpu < max(bottom) * 1.15:
                ax.axhline(gpu, color="k", ls=style, lw=1)
                ax.annotate(f"GPU {gpu} GB", (1.01, gpu), xycoords=("axes fraction", "data"), ha="left",
                            va="center", fontsize=7)
        ax.set_ylim(0, max(bottom) * 1.15)
        ax.tick_params(axis="x", labelsize=8)
        ax.set_title(f"{PRESETS[name].label} (LoRA r={PRESETS[name].r}, 모든 Linear)")
        ax.set_ylabel("GB (10^9 바이트)")
    fig.axes[1].legend(loc="upper right", fontsize=7)
    fig.suptitle("학습 메모리: 완전 FT vs LoRA vs QLoRA (AdamW 상태 fp32, 활성값 제외)")
    return fig


