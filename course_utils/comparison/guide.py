"""Which fine-tuning method fits: a small decision helper driven by GPU memory and model size.

The memory side is :func:`course_utils.memory.estimate.estimate_training_memory` (weights, adapters, gradients and AdamW
states, equal to the measured tensor inventory). All sizes are GiB (2³⁰ bytes), the unit GPUs report (a "48 GB"
A6000 reports 47.99 GiB: :data:`course_utils.memory.estimate.GPU_GIB`). What the estimate leaves out is reserved from
the
GPU: activations with gradient checkpointing (:func:`course_utils.memory.estimate.checkpointed_activation_bytes`,
batch 1 ×
512 tokens by default) and :data:`course_utils.memory.estimate.CUDA_OVERHEAD_GIB` for the CUDA context. The rule order
follows the lecture's guide (§5.2, §7.1, §7.3), corrected where measurements disagree (see notebook 05).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd
from torch import nn

from course_utils.comparison.methods import METHOD_LABELS
from course_utils.memory.estimate import (
    CUDA_OVERHEAD_GIB,
    GIB,
    GPU_GIB,
    checkpointed_activation_bytes,
    estimate_training_memory,
)
from course_utils.runtime.presets import PRESETS
from course_utils.runtime.validate import choice, positive_int, positive_number

GOALS = ("balanced", "accuracy", "storage")
GOAL_LABELS = {"balanced": "균형 (기본)", "accuracy": "정확도 우선", "storage": "저장 공간 최소"}
#: What a recommendation shows: the comparison's method labels, plus one for "nothing fits".
RECOMMENDATION_LABELS = {**METHOD_LABELS, None: "(맞는 방법 없음)"}
#: LoRA share of the model assumed when only a parameter count is given (the lecture's "0.1-0.5%": upper end).
DEFAULT_ADAPTER_FRACTION = 0.005
#: GPUs of the default table: an 8 GiB card plus what the common GPUs report (GiB).
# The guide's table shows a small card and the GPUs a student meets (Colab's T4, L4 and A100, a 48 GB workstation card).
DEFAULT_GPUS = {"소형 GPU": 8.0, **{name: GPU_GIB[name] for name in ("T4", "L4", "A100-40G", "A6000", "A100-80G")}}
ESTIMATE_ASSUMPTIONS = ("기본 모델 bf16, 어댑터·AdamW 상태 fp32, 4비트가 아닌 층은 fp32로 올림 "
                        "(prepare_model_for_kbit_training)")


@dataclass(frozen=True)
class Recommendation:
    """A method (or None when nothing fits), the memory numbers behind it (GiB) and the reasons, in Korean."""

    method: str | None
    goal: str
    gpu_memory_gib: float
    budget_gib: float
    reserve_gib: float
    estimates_gib: dict[str, float]
    reasons: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """Display name of the method."""
        return RECOMMENDATION_LABELS[self.method]

    def fits(self, kind: str) -> bool:
        """Whether the estimate for `kind` ('full', 'lora' or 'qlora') is within the budget."""
        if kind not in self.estimates_gib:
            raise ValueError(f"kind must be one of {sorted(self.estimates_gib)}, got {kind!r}")
        return self.estimates_gib[kind] <= self.budget_gib

    def __str__(self) -> str:
        lines = [f"추천: {self.label} (GPU {self.gpu_memory_gib:.2f} GiB, 목표: {GOAL_LABELS[self.goal]})"]
        lines += [f"  - {reason}" for reason in self.reasons]
        return "\n".join(lines)


def _model_argument(model: object) -> str | int | nn.Module:
    """`model` if it is a preset name, a positive parameter count or an nn.Module, else a ValueError/TypeError."""
    if isinstance(model, str):
        if model not in PRESETS:
            raise ValueError(f"model must be one of the presets {sorted(PRESETS)}, a parameter count or a model; "
                             f"got {model!r}")
        return model
    if isinstance(model, bool) or not isinstance(model, (int, nn.Module)):
        raise TypeError(f"model must be a preset name, a positive int (parameter count) or an nn.Module; "
                        f"got {type(model).__name__}")
    if isinstance(model, int) and model <= 0:
        raise ValueError(f"model as a parameter count must be > 0, got {model}")
    return model


def training_estimates_gib(model: str | int | nn.Module, weight_dtype: str = "bf16") -> dict[str, float]:
    """Estimated training memory (GiB, activations excluded) of full FT, LoRA and QLoRA for `model`.

    A bare parameter count gets LoRA adapters of ``DEFAULT_ADAPTER_FRACTION`` of the model.
    """
    model = _model_argument(model)
    extra = {}
    if isinstance(model, int):
        extra = {"adapter_params": max(1, round(DEFAULT_ADAPTER_FRACTION * model))}
    return {kind: estimate_training_memory(model, kind, weight_dtype, **(extra if kind != "full" else {}))["total"]
            / GIB for kind in ("full", "lora", "qlora")}


def default_reserve_gib(model: str | int | nn.Module, batch_size: int = 1, seq_len: int = 512) -> float:
    """GiB held back from the GPU: CUDA context plus activations with gradient checkpointing (0 for a bare count)."""
    model = _model_argument(model)
    positive_int(batch_size, "batch_size")
    positive_int(seq_len, "seq_len")
    if isinstance(model, int):  # no shapes: activations cannot be estimated
        return CUDA_OVERHEAD_GIB
    return CUDA_OVERHEAD_GIB + checkpointed_activation_bytes(model, batch_size, seq_len) / GIB


def _choose(goal: str, fits: dict[str, bool]) -> tuple[str | None, str]:
    """The method for `goal` given which of full/lora/qlora fit, and the one-line reason (Korean)."""
    if not fits["qlora"]:
        return None, "QLoRA조차 예산을 넘습니다: 더 작은 모델, 더 큰 GPU, 또는 여러 GPU/CPU 오프로딩이 필요합니다."
    if goal == "accuracy":
        if fits["full"]:
            return "full", ("완전 파인튜닝이 들어갑니다: 정확도의 기준선이고, PEFT의 이점(저장·다중 작업)이 "
                            "필요 없을 때 가장 확실합니다.")
        if fits["lora"]:
            return "dora", ("완전 FT는 넘고 LoRA는 들어갑니다: 같은 랭크에서 DoRA가 LoRA보다 대체로 낫습니다 "
                            "(DoRA 논문 표 1).")
        return "qdora", "16비트 기본 모델은 넘고 4비트는 들어갑니다: 4비트 기본 모델 위의 DoRA(QDoRA)."
    if goal == "storage":
        if fits["lora"]:
            return "vblora", ("16비트 기본 모델이 들어갑니다: 저장할 어댑터가 가장 작은 VB-LoRA "
                              "(벡터 뱅크 + top-k 인덱스).")
        return "qlora", ("16비트 기본 모델이 넘습니다: QLoRA (VB-LoRA를 4비트 기본 모델에 얹는 것은 "
                         "이 강의에서 검증하지 않았습니다).")
    if fits["lora"]:
        return "lora", "16비트 기본 모델 + LoRA가 들어갑니다: 가장 널리 지원되고 빠른 기준선 (4비트 복원 비용 없음)."
    return "qlora", "16비트 기본 모델 + LoRA가 넘습니다: 가중치를 NF4+DQ(약 4.13비트)로 줄이는 QLoRA."


def recommend(gpu_memory_gib: float, model: str | int | nn.Module = "klue/bert-base", goal: str = "balanced", *,
              weight_dtype: str = "bf16", batch_size: int = 1, seq_len: int = 512,
              reserve_gib: float | None = None) -> Recommendation:
    """Pick a fine-tuning method for one GPU: the estimator says what fits, `goal` says what to prefer.

    Args:
        gpu_memory_gib: GPU memory in GiB, as the GPU reports it (``memory.GPU_GIB``: T4 15.0, A6000 47.99).
        model: a preset of :data:`course_utils.runtime.presets.PRESETS` (e.g. ``"llama-7b"``), a parameter count, or an
            unquantized model (a meta-device copy is enough).
        goal: ``"balanced"`` (LoRA, else QLoRA), ``"accuracy"`` (full FT, else DoRA, else QDoRA) or
            ``"storage"`` (VB-LoRA, else QLoRA).
        weight_dtype: base weights on the GPU: ``"bf16"`` / ``"fp16"`` (usual) or ``"fp32"``.
        batch_size, seq_len: the batch whose activations (gradient checkpointing on) are reserved.
        reserve_gib: GiB held back instead of :func:`default_reserve_gib` (0: compare the tensors alone).
    """
    gpu = positive_number(gpu_memory_gib, "gpu_memory_gib")
    choice(goal, GOALS, "goal")
    if reserve_gib is None:
        reserve = default_reserve_gib(model, batch_size, seq_len)
        why_reserve = (f"CUDA 컨텍스트 {CUDA_OVERHEAD_GIB:g} GiB + 활성값 (그래디언트 체크포인팅, 배치 {batch_size} × "
                       f"{seq_len}토큰)" if not isinstance(model, int) else
                       f"CUDA 컨텍스트 {CUDA_OVERHEAD_GIB:g} GiB (파라미터 수만 주어져 활성값은 추정하지 않음)")
    else:
        if isinstance(reserve_gib, bool) or not isinstance(reserve_gib, (int, float)) or not 0 <= reserve_gib < gpu:
            raise ValueError(f"reserve_gib must be a number in [0, gpu_memory_gib), got {reserve_gib!r}")
        reserve, why_reserve = float(reserve_gib), "직접 지정"
    estimates = training_estimates_gib(model, weight_dtype)
    budget = gpu - reserve
    fits = {kind: value <= budget for kind, value in estimates.items()}
    method, why = _choose(goal, fits)
    reasons = [
        f"예산 {budget:.2f} GiB = GPU {gpu:.2f} GiB − 예비 {reserve:.2f} GiB ({why_reserve}).",
        "추정 (GiB, 활성값 제외): " + ", ".join(
            f"{RECOMMENDATION_LABELS[k]} {v:,.2f} {'✓' if fits[k] else '✗'}" for k, v in estimates.items()),
        f"가정: {ESTIMATE_ASSUMPTIONS}.",
        why,
    ]
    if method in ("dora", "qdora"):
        reasons.append("DoRA의 메모리는 LoRA와 거의 같지만 (크기 벡터 + 노름 계산) 스텝은 더 느립니다 "
                       "(노트북 05의 측정).")
    return Recommendation(method, goal, gpu, budget, reserve, estimates, reasons)


def recommendation_table(gpus: Mapping[str, float] | None = None,
                         models: tuple[str, ...] = ("klue/bert-base", "llama-7b", "llama-13b", "llama-33b",
                                                    "llama-65b"),
                         goal: str = "balanced", **kwargs) -> pd.DataFrame:
    """A grid: one row per model preset, one column per GPU (name → GiB), each cell the recommended method."""
    gpus = DEFAULT_GPUS if gpus is None else gpus
    if not isinstance(gpus, Mapping) or not gpus or not models:
        raise ValueError("gpus (a dict name -> GiB) and models must both be non-empty")
    rows = {}
    for model in models:
        label = PRESETS[_model_argument(model)].label if isinstance(model, str) else str(model)
        rows[label] = {f"{name} ({gib:.2f} GiB)": recommend(gib, model, goal, **kwargs).label
                       for name, gib in gpus.items()}
    return pd.DataFrame(rows).T


__all__ = ["DEFAULT_GPUS", "GOALS", "RECOMMENDATION_LABELS", "Recommendation", "default_reserve_gib", "recommend",
           "recommendation_table", "training_estimates_gib"]
