"""Answers computed with the package (the variant's numbers arrive in the context), never typed into a question.

Helpers of the checkpoint content (:mod:`course_utils.exercises.s2` … :mod:`course_utils.exercises.s7`, extras):
answers that depend on the package, on the student's variant or on the notebook's run. The teaching modules are
imported when an answer is computed (the grader loads every question without loading torch-heavy modules).
"""

from __future__ import annotations

import random
from functools import cache, lru_cache

from course_utils.exercises.engine import Context, Text
from course_utils.exercises.variants import pick


def reduction(r: int, d: int = 1024, k: int = 1024, count_b: bool = True) -> float:
    """Percent of a d×k weight's parameters that LoRA with rank r saves (A only when count_b is False)."""
    from course_utils.adapters.params import full_params_for_shape, lora_params_for_shape, reduction_percent

    full = full_params_for_shape(k, d)
    lora = lora_params_for_shape(k, d, r) if count_b else r * k
    return reduction_percent(full, lora)


S2_Q2_DEFAULT = {"r": 16, "d": 1024, "k": 1024}
S2_Q2_GAP = 0.2  # percent points between any two variants' answers, and between an answer and its known wrong ones


def s2_q2_wrong(c: Context) -> list[float]:
    """The known wrong answers of s2_q2 for the variant in `c` (in the order of its Wrong entries)."""
    r, d, k = c["r"], c["d"], c["k"]
    right = reduction(r, d, k)
    return [reduction(r, d, k, count_b=False), 100 - right, right / 100, reduction(2 * r, d, k),
            d * k / (r * (d + k))]


@lru_cache(maxsize=1)
def s2_q2_variants() -> tuple[dict[str, int], ...]:
    """(r, d, k) variants of s2_q2 whose answers differ from each other and from their known wrong answers."""
    chosen: list[dict[str, int]] = [dict(S2_Q2_DEFAULT)]
    for r in (4, 8, 12, 16, 24, 32, 48, 64):
        for d, k in ((768, 768), (1024, 1024), (2048, 2048), (4096, 4096), (1024, 4096), (768, 3072), (2048, 512)):
            c = {"r": r, "d": d, "k": k}
            right = reduction(r, d, k)
            far = all(abs(right - reduction(o["r"], o["d"], o["k"])) >= S2_Q2_GAP for o in chosen)
            if far and all(abs(right - w) >= S2_Q2_GAP for w in s2_q2_wrong(c)) and right < 99.95:
                chosen.append(c)
    return tuple(chosen)


def s2_q2_draw(rng: random.Random) -> dict[str, int]:
    """A student's (r, d, k) for s2_q2."""
    return pick(rng, s2_q2_variants(), S2_Q2_DEFAULT)


def mse_ratio(context: Context, top: str = "int4", bottom: str = "nf4") -> float:
    """quantization_mse(data, top) / quantization_mse(data, bottom) for the notebook's data (blocksize 64)."""
    from course_utils.quant.quant_study import quantization_mse

    data = context["data"]
    return quantization_mse(data, top) / quantization_mse(data, bottom)


def gauss_data() -> dict[str, object]:
    """Notebook 03's seeded data, rebuilt: torch.randn(2**18) with seed 0 (the grader re-checks s4_q1 with it)."""
    import torch

    return {"data": torch.randn(1 << 18, generator=torch.Generator().manual_seed(0))}


LLAMA_PRESETS = ("llama-7b", "llama-13b", "llama-33b", "llama-65b")
GPU_48 = "A6000"  # "48 GB" as sold: 47.99 GiB as reported
GPU_24 = "A10G"  # "24 GB" as sold: 22.49 GiB as reported


def gpu_gib(gpu: str) -> float:
    """A GPU's memory in GiB as it reports it (course_utils.memory.estimate.GPU_GIB)."""
    from course_utils.memory.estimate import GPU_GIB

    return GPU_GIB[gpu]


@cache
def training_gib(preset: str, method: str) -> float:
    """estimate_training_memory(preset, method, "bf16") in GiB (r=64, all Linear, no activations)."""
    from course_utils.memory.estimate import GIB, estimate_training_memory

    return estimate_training_memory(preset, method, "bf16")["total"] / GIB


def largest_qlora_only(gpu: str = GPU_48) -> str:
    """The largest LLaMA preset that does not fit `gpu` with LoRA but fits with QLoRA (compared in GiB)."""
    fits = [name for name in LLAMA_PRESETS if training_gib(name, "lora") > gpu_gib(gpu) >= training_gib(name, "qlora")]
    return fits[-1]


def methods_that_fit(preset: str = "llama-7b", gpu: str = GPU_24) -> frozenset[str]:
    """Methods whose estimated training memory fits `gpu` (compared in GiB)."""
    return frozenset(m for m in ("full", "lora", "qlora") if training_gib(preset, m) <= gpu_gib(gpu))


def gib_note(preset: str, method: str, gpu: str) -> Text:
    """Feedback that quotes the estimator's number for (preset, method) next to the GPU's, both in GiB."""
    return lambda _: (f"계산기로 {preset} {method}는 {training_gib(preset, method):.1f} GiB입니다 "
                      f"({gpu} GPU는 {gpu_gib(gpu):.2f} GiB).")


def measured(context: Context) -> float:
    """The notebook's measured value, passed as measured=..."""
    return float(context["measured"])


def ranks_ok(given: tuple, c: Context) -> bool:
    """s3_q1: a measured LoRA rank between 1 and r, and a DoRA rank above it."""
    r = int(c.get("r") or c["measured"][0])
    return len(given) == 2 and 1 <= given[0] <= r and given[1] > given[0]
