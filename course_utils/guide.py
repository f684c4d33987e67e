"""Which fine-tuning method fits: a small decision helper driven by GPU memory and model size.

The memory side is :func:`course_utils.memory.estimate_training_memory` (weights, adapters, gradients and AdamW
states, equal to the measured tensor inventory); activations, the CUDA context and allocator slack are not in
that estimate, so a share of the GPU (``activation_reserve``) is held back for them. The rule order follows the
lecture's guide (§5.2, §7.1, §7.3), corrected where measurements disagree (see notebook 05).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
from torch import nn

from course_utils.compare import METHOD_LABELS
from course_utils.memory import GB, estimate_training_memory
from course_utils.presets import PRESETS
from course_utils.validate import choice, positive_number

GOALS = ("balanced", "accuracy", "storage")
GOAL_LABELS = {"balanced": "균형 (기본)", "accuracy": "정확도 우선", "storage": "저장 공간 최소"}
#: What a recommendation shows: the comparison's method labels, plus one for "nothing fits".
RECOMMENDATION_LABELS = {**METHOD_LABELS, None: "(맞는 방법 없음)"}
#: LoRA share of the model assumed when only a parameter count is given (the lecture's "0.1-0.5%": upper end).
DEFAULT_ADAPTER_FRACTION = 0.005


@dataclass(frozen=True)
class Recommendation:
    """A method (or None when nothing fits), the memory numbers behind it and the reasons, in Korean."""

    method: str | None
    goal: str
    gpu_memory_gb: float
    budget_gb: float
    estimates_gb: dict[str, float]
    reasons: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """Display name of the method."""
        return RECOMMENDATION_LABELS[self.method]

    def fits(self, kind: str) -> bool:
        """Whether the estimate for `kind` ('full', 'lora' or 'qlora') is within the budget."""
        if kind not in self.estimates_gb:
            raise ValueError(f"kind must be one of {sorted(self.estimates_gb)}, got {kind!r}")
        return self.estimates_gb[kind] <= self.budget_gb

    def __str__(self) -> str:
        lines = [f"추천: {self.label} (GPU {self.gpu_memory_gb:g} GB, 목표: {GOAL_LABELS[self.goal]})"]
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


def training_estimates_gb(model: str | int | nn.Module, weight_dtype: str = "bf16") -> dict[str, float]:
    """Estimated training memory (GB, activations excluded) of full FT, LoRA and QLoRA for `model`.

    A bare parameter count gets LoRA adapters of ``DEFAULT_ADAPTER_FRACTION`` of the model.
    """
    model = _model_argument(model)
    extra = {}
    if isinstance(model, int):
        extra = {"adapter_params": max(1, round(DEFAULT_ADAPTER_FRACTION * model))}
    return {kind: estimate_training_memory(model, kind, weight_dtype, **(extra if kind != "full" else {}))["total"]
            / GB for kind in ("full", "lora", "qlora")}


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


def recommend(gpu_memory_gb: float, model: str | int | nn.Module = "klue/bert-base", goal: str = "balanced", *,
              weight_dtype: str = "bf16", activation_reserve: float = 0.25) -> Recommendation:
    """Pick a fine-tuning method for one GPU: the estimator says what fits, `goal` says what to prefer.

    Args:
        gpu_memory_gb: GPU memory in GB (T4: 16, A100: 40 or 80).
        model: a preset of :data:`course_utils.presets.PRESETS` (e.g. ``"llama-7b"``), a parameter count, or an
            unquantized model (a meta-device copy is enough).
        goal: ``"balanced"`` (LoRA, else QLoRA), ``"accuracy"`` (full FT, else DoRA, else QDoRA) or
            ``"storage"`` (VB-LoRA, else QLoRA).
        weight_dtype: base weights on the GPU: ``"bf16"`` / ``"fp16"`` (usual) or ``"fp32"``.
        activation_reserve: share of the GPU held back for activations, CUDA context and allocator slack
            (the estimate leaves them out), in [0, 0.9].
    """
    gpu = positive_number(gpu_memory_gb, "gpu_memory_gb")
    choice(goal, GOALS, "goal")
    if isinstance(activation_reserve, bool) or not isinstance(activation_reserve, (int, float)) \
            or not 0 <= activation_reserve <= 0.9:
        raise ValueError(f"activation_reserve must be a number in [0, 0.9], got {activation_reserve!r}")
    estimates = training_estimates_gb(model, weight_dtype)
    budget = gpu * (1 - activation_reserve)
    fits = {kind: value <= budget for kind, value in estimates.items()}
    method, why = _choose(goal, fits)
    reasons = [
        f"예산 {budget:.1f} GB = GPU {gpu:g} GB의 {1 - activation_reserve:.0%} (나머지는 활성값·CUDA 컨텍스트 몫).",
        "추정 (활성값 제외): " + ", ".join(
            f"{RECOMMENDATION_LABELS[k]} {v:,.2f} GB {'✓' if fits[k] else '✗'}" for k, v in estimates.items()),
        why,
    ]
    if method in ("dora", "qdora"):
        reasons.append("DoRA의 메모리는 LoRA와 거의 같지만 (크기 벡터 + 노름 계산) 스텝은 더 느립니다 "
                       "(노트북 05의 측정).")
    return Recommendation(method, goal, gpu, budget, estimates, reasons)


def recommendation_table(gpu_sizes_gb: Sequence[float] = (8, 16, 24, 48, 80),
                         models: Sequence[str] = ("klue/bert-base", "llama-7b", "llama-13b", "llama-33b",
                                                  "llama-65b"),
                         goal: str = "balanced", **kwargs) -> pd.DataFrame:
    """A grid: one row per model preset, one column per GPU size, each cell the recommended method."""
    if not gpu_sizes_gb or not models:
        raise ValueError("gpu_sizes_gb and models must both be non-empty")
    rows = {}
    for model in models:
        label = PRESETS[_model_argument(model)].label if isinstance(model, str) else str(model)
        rows[label] = {f"{gpu:g} GB": recommend(gpu, model, goal, **kwargs).label for gpu in gpu_sizes_gb}
    return pd.DataFrame(rows).T


__all__ = ["GOALS", "RECOMMENDATION_LABELS", "Recommendation", "recommend", "recommendation_table",
           "training_estimates_gb"]
