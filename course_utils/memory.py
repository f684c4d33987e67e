"""Training-memory arithmetic: bytes for weights, gradients and optimizer states."""

from __future__ import annotations

BYTES_PER_ELEMENT = {"fp32": 4, "bf16": 2, "fp16": 2}
ADAMW_STATES = 2  # exp_avg and exp_avg_sq, one of each per trained parameter
GB = 10**9  # decimal gigabytes, as in the lecture's "28 GB"


def _dtype_bytes(dtype: str, argument: str) -> int:
    """Bytes per element of a named dtype, or a ValueError naming `argument`."""
    if dtype not in BYTES_PER_ELEMENT:
        raise ValueError(f"{argument} must be one of {sorted(BYTES_PER_ELEMENT)}, got {dtype!r}")
    return BYTES_PER_ELEMENT[dtype]


def full_finetune_bytes(n_params: int, weight_dtype: str = "fp32", state_dtype: str = "fp32") -> dict[str, int]:
    """Bytes of weights, gradients (same dtype) and AdamW states for full fine-tuning, activations excluded."""
    if not isinstance(n_params, int) or n_params <= 0:
        raise ValueError(f"n_params must be a positive int, got {n_params!r}")
    weight = _dtype_bytes(weight_dtype, "weight_dtype")
    state = _dtype_bytes(state_dtype, "state_dtype")
    parts = {
        "weights": n_params * weight,
        "gradients": n_params * weight,
        "optimizer_states": n_params * ADAMW_STATES * state,
    }
    parts["total"] = sum(parts.values())
    return parts


def figure():
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
