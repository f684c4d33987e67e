"""The course's checkpoint questions: the lecture's 18 (three per section, §2–§7) plus notebook extras.

Content only: the question classes, `Wrong` and the registry are the engine in :mod:`course_utils.exercises.engine`
(kept apart as learntools keeps ``core/problem.py`` apart from its exercise files). Answers that depend on the
package, on the student's variant or on the notebook's run are computed by the small helpers below, never typed
into a question. Sections 2–4 are here; sections 5–7, the notebook extras and the written "why" parts are in
:mod:`course_utils.exercises.sections_5_7`; :mod:`course_utils.exercises.catalog` imports both in lecture order.
"""

from __future__ import annotations

import random
from functools import cache, lru_cache

from course_utils.exercises.engine import Context, Text, Wrong, register
from course_utils.exercises.kinds import ChoiceQuestion, NumericQuestion, SetQuestion, TupleQuestion, WrittenQuestion
from course_utils.exercises.variants import pick

# ------------------------------------------------------------------------------------------------------------
# Answers computed with the package (the variant's numbers arrive in the context), never typed into a question
# ------------------------------------------------------------------------------------------------------------


def _reduction(r: int, d: int = 1024, k: int = 1024, count_b: bool = True) -> float:
    """Percent of a d×k weight's parameters that LoRA with rank r saves (A only when count_b is False)."""
    from course_utils.adapters.params import full_params_for_shape, lora_params_for_shape, reduction_percent

    full = full_params_for_shape(k, d)
    lora = lora_params_for_shape(k, d, r) if count_b else r * k
    return reduction_percent(full, lora)


S2_Q2_DEFAULT = {"r": 16, "d": 1024, "k": 1024}
S2_Q2_GAP = 0.2  # percent points between any two variants' answers, and between an answer and its known wrong ones


def _s2_q2_wrong(c: Context) -> list[float]:
    """The known wrong answers of s2_q2 for the variant in `c` (in the order of its Wrong entries)."""
    r, d, k = c["r"], c["d"], c["k"]
    right = _reduction(r, d, k)
    return [_reduction(r, d, k, count_b=False), 100 - right, right / 100, _reduction(2 * r, d, k),
            d * k / (r * (d + k))]


@lru_cache(maxsize=1)
def s2_q2_variants() -> tuple[dict[str, int], ...]:
    """(r, d, k) variants of s2_q2 whose answers differ from each other and from their known wrong answers."""
    chosen: list[dict[str, int]] = [dict(S2_Q2_DEFAULT)]
    for r in (4, 8, 12, 16, 24, 32, 48, 64):
        for d, k in ((768, 768), (1024, 1024), (2048, 2048), (4096, 4096), (1024, 4096), (768, 3072), (2048, 512)):
            c = {"r": r, "d": d, "k": k}
            right = _reduction(r, d, k)
            far = all(abs(right - _reduction(o["r"], o["d"], o["k"])) >= S2_Q2_GAP for o in chosen)
            if far and all(abs(right - w) >= S2_Q2_GAP for w in _s2_q2_wrong(c)) and right < 99.95:
                chosen.append(c)
    return tuple(chosen)


def _s2_q2_draw(rng: random.Random) -> dict[str, int]:
    """A student's (r, d, k) for s2_q2."""
    return pick(rng, s2_q2_variants(), S2_Q2_DEFAULT)


def _mse_ratio(context: Context, top: str = "int4", bottom: str = "nf4") -> float:
    """quantization_mse(data, top) / quantization_mse(data, bottom) for the notebook's data (blocksize 64)."""
    from course_utils.quant.quant_study import quantization_mse

    data = context["data"]
    return quantization_mse(data, top) / quantization_mse(data, bottom)


def _gauss() -> dict[str, object]:
    """Notebook 03's seeded data, rebuilt: torch.randn(2**18) with seed 0 (the grader re-checks s4_q1 with it)."""
    import torch

    return {"data": torch.randn(1 << 18, generator=torch.Generator().manual_seed(0))}


LLAMA_PRESETS = ("llama-7b", "llama-13b", "llama-33b", "llama-65b")
GPU_48 = "A6000"  # "48 GB" as sold: 47.99 GiB as reported
GPU_24 = "A10G/L4"  # "24 GB"


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


def _ranks_ok(given: tuple, c: Context) -> bool:
    """s3_q1: a measured LoRA rank between 1 and r, and a DoRA rank above it."""
    r = int(c.get("r") or c["measured"][0])
    return len(given) == 2 and 1 <= given[0] <= r and given[1] > given[0]


# ------------------------------------------------------------------------------------------------------------
# The questions, in lecture order (§2–§4)
# ------------------------------------------------------------------------------------------------------------

register(WrittenQuestion(
    id="s2_q1", notebook="01_lora_math",
    prompt="LoRA가 가중치 업데이트를 저차원 부분공간으로 제한하는 이유는 무엇인가?",
    hint_text="2절의 SVD 결과(완전 파인튜닝의 ΔW 에너지가 어디에 모여 있었나)와 3절의 파라미터 수 r(d+k)를 떠올리세요.",
    explanation=("적응에 필요한 변화 ΔW는 내재적 랭크가 낮다는 가설(LoRA 논문 §4.1)에 기대어, d×k개 대신 r(d+k)개만 "
                 "학습합니다. 그래디언트·옵티마이저 상태도 그만큼만 필요하고 작업별 어댑터가 작아지며, W0+BA로 "
                 "병합하면 추론 비용이 없습니다."),
))
register(NumericQuestion(
    id="s2_q2", notebook="01_lora_math",
    prompt=("{d}×{k} 가중치 행렬(출력 {d}, 입력 {k})에 랭크 r={r}의 LoRA를 붙일 때, 파라미터 감소율(%)을 계산하라. "
            "(소수 첫째 자리까지, 예: 12.3)"),
    hint_text=("완전 파인튜닝은 {d}·{k}개, LoRA는 A(r×{k})와 B({d}×r) 두 행렬입니다. "
               "감소율 = 100·(1 − LoRA/전체)."),
    explanation="전체 {d}·{k}개, LoRA {r}·({d}+{k})개이므로 감소율은 100·(1 − {r}·({d}+{k})/({d}·{k}))%입니다.",
    draw=_s2_q2_draw, default=S2_Q2_DEFAULT,
    answer=lambda c: _reduction(c["r"], c["d"], c["k"]), decimals=1, unit="%",
    wrong=(
        Wrong(lambda c: _s2_q2_wrong(c)[0],
              "A와 B를 모두 세었나요? LoRA는 A(r×in)와 B(out×r) 두 행렬을 학습하므로 r·(in+out)개입니다."),
        Wrong(lambda c: _s2_q2_wrong(c)[1], "그것은 남는 비율(LoRA/전체)입니다. 감소율은 100에서 그 값을 뺀 것입니다."),
        Wrong(lambda c: _s2_q2_wrong(c)[2], "비율(0~1)로 적었습니다. 퍼센트(%)로 적으세요."),
        Wrong(lambda c: _s2_q2_wrong(c)[3], "LoRA 파라미터를 두 배로 셌습니다: r·(in+out)에서 in과 out을 한 번씩만 "
                                            "더하세요."),
        Wrong(lambda c: _s2_q2_wrong(c)[4], "그것은 '몇 배 줄었나'(전체 / LoRA)입니다. 감소율(%)로 바꿔 보세요."),
    ),
))
register(WrittenQuestion(
    id="s2_q3", notebook="01_lora_math",
    prompt='LoRA의 "저차원 병목" 문제는 어떤 상황에서 더 심각해지는가?',
    hint_text="필요한 ΔW의 랭크가 r보다 높아지는 경우를 생각하세요: 작업·도메인의 거리, 데이터 양, 랭크와 붙이는 층의 "
              "수.",
    explanation=("필요한 업데이트의 랭크가 r보다 높을 때입니다: 사전학습과 거리가 먼 작업·도메인(새 언어 등), "
                 "데이터가 많고 복잡한 작업, 랭크가 아주 작거나 붙이는 층이 적을 때. DoRA 논문 Table 15에서 r=8의 "
                 "LoRA는 40.7, DoRA는 77.9로 낮은 랭크에서 격차가 컸습니다. 대응: 랭크를 키우거나(rsLoRA), "
                 "target_modules를 넓히거나, DoRA를 씁니다."),
))
register(TupleQuestion(
    id="s3_q1", notebook="02_dora_decomposition", context=("measured",), optional_context=("r",),
    prompt=("DoRA의 가중치 분해는 LoRA의 저차원 근사와 어떻게 다른가? 층 0 query의 ΔW 랭크를 직접 재서 (LoRA, DoRA) "
            "튜플로 적으세요 (실행마다 값은 조금 다를 수 있습니다)."),
    hint_text="effective_weight(layer) − layer.get_base_layer().weight 의 torch.linalg.matrix_rank를 두 모델에 대해 "
              "구하세요.",
    explanation=("LoRA의 ΔW = sBA는 랭크가 r 이하입니다. DoRA는 W' − W0 = diag(m/‖W0+sBA‖ − 1)·W0 + diag(m/‖·‖)·sBA "
                 "라서 행마다 다른 배율이 W0 전체에 곱해지고, 변화량의 랭크가 r에 묶이지 않습니다. 추가 파라미터는 "
                 "층마다 출력 특성 수뿐입니다."),
    answer=lambda c: tuple(int(v) for v in c["measured"]), labels=("LoRA 랭크", "DoRA 랭크"), accept=_ranks_ok,
    wrong=(
        Wrong(lambda c: tuple(int(v) for v in c["measured"])[::-1], "순서가 바뀌었습니다: (LoRA 랭크, DoRA 랭크) "
                                                                    "순서로 적으세요."),
        Wrong(lambda c: (int(c["measured"][0]), int(c["measured"][0])),
              "DoRA의 ΔW도 랭크 r로 묶인다고 생각했나요? 크기 벡터가 행마다 W0를 다르게 늘리므로 랭크가 훨씬 큽니다."),
    ),
))
register(WrittenQuestion(
    id="s3_q2", notebook="02_dora_decomposition",
    prompt="크기와 방향 업데이트를 분리하는 것이 더 나은 성능으로 이어질 수 있는 이유는 무엇인가?",
    hint_text="5절의 ΔM·ΔD 정의와 논문 Figure 2의 상관계수(완전 FT −0.62, LoRA +0.83, DoRA −0.31)를 비교하세요.",
    explanation=("LoRA의 sBA 하나는 크기와 방향을 함께 바꿔 둘이 같이 커지는 경향(+0.83)을 보입니다. DoRA는 크기 m을 "
                 "따로 학습해 '방향은 조금, 크기는 많이' 같은 갱신이 가능하고, 완전 파인튜닝의 패턴(−0.62)에 더 "
                 "가깝습니다(−0.31). 저자들은 이것이 학습 능력과 안정성을 높인다고 설명합니다 (우리 작은 실험은 이 "
                 "상관을 재현하지 못했습니다)."),
))
register(WrittenQuestion(
    id="s3_q3", notebook="02_dora_decomposition",
    prompt="DoRA가 저차원 설정에서 특히 효과적인 이유는 무엇인가?",
    hint_text="s3_q1의 결과: DoRA 변화량의 랭크는 r에 묶였나요? 그리고 DoRA 논문 Table 15의 랭크별 결과.",
    explanation=("r이 작으면 LoRA의 ΔW = sBA가 표현할 수 있는 변화가 크게 제한됩니다. DoRA는 랭크와 무관하게 출력 "
                 "특성마다 크기를 조절하고 저차원 갱신은 방향에만 씁니다. Table 15(LLaMA-7B)에서 DoRA는 모든 랭크에서 "
                 "앞서고 격차는 낮은 랭크에서 큽니다 (r=8: LoRA 40.7, DoRA 77.9)."),
))
register(NumericQuestion(
    id="s4_q1", notebook="03_nf4_quantization", context=("data",), rebuild=_gauss,
    prompt=("NF4 양자화는 표준 4비트 양자화 접근법과 어떻게 다른가? 정규분포 데이터를 blocksize 64로 양자화할 때 "
            "INT4(대칭 absmax) MSE는 NF4 MSE의 몇 배인가? (소수 둘째 자리까지)"),
    hint_text=('quant_study.quantization_mse(data, "int4") / quant_study.quantization_mse(data, "nf4") 입니다. '
               '분자와 분모의 순서에 주의하세요.'),
    explanation=("INT4는 [−1, 1]을 등간격으로 나누고, NF4는 16개 값을 정규분포의 등확률 분위수에 두어 값이 몰린 0 "
                 "근처를 촘촘히 표현합니다 (0을 정확히 담도록 음수 7개·양수 8개). 그래서 같은 4비트로도 정규분포 "
                 "가중치의 오차가 작습니다. 강의의 '로그 분포'는 틀린 설명입니다."),
    answer=_mse_ratio, decimals=2, unit="배",
    wrong=(
        Wrong(lambda c: _mse_ratio(c, "nf4", "int4"), "거꾸로 나눴습니다: INT4 MSE를 NF4 MSE로 나누세요 (답은 1보다 "
                                                      "큽니다)."),
        Wrong(lambda c: _mse_ratio(c, "fp4", "nf4"), "그것은 FP4와 NF4의 비입니다. INT4(\"int4\")를 쓰세요."),
        Wrong(1.0, "같은 4비트라도 오차는 같지 않습니다: 실제로 계산해 보세요."),
    ),
))
register(SetQuestion(
    id="s4_q2", notebook="04_qlora_training",
    prompt="QLoRA가 효과적으로 작동하게 하는 핵심 기술적 혁신 세 가지를 고르세요 (QLoRA 논문 §3).",
    hint_text="논문 §3이 QLoRA에서 새로 제안한 것만 고르세요. 보기마다 QLoRA 이전에도 쓰이던 기법인지 따져 보세요.",
    explanation=("NF4(정규분포 분위수로 만든 4비트 자료형), 이중 양자화(absmax까지 8비트로: 0.5 → 0.127비트/파라미터, "
                 "65B에서 약 3GB), 페이지드 옵티마이저(메모리가 모자랄 때 옵티마이저 상태를 CPU RAM으로). 그 위에서 "
                 "16비트 LoRA 어댑터만 학습합니다."),
    options={"NF4": "정규분포 분위수로 만든 4비트 자료형",
             "double quantization": "양자화 상수(absmax)를 다시 8비트로 양자화",
             "paged optimizers": "GPU 메모리가 넘칠 때 옵티마이저 상태를 CPU RAM으로 옮김",
             "gradient checkpointing": "활성값을 저장하지 않고 역전파 때 다시 계산",
             "LoRA dropout": "LoRA 가지의 입력에 드롭아웃"},
    why={"gradient checkpointing": "QLoRA 이전부터 있던 기법입니다 (QLoRA의 새 기여가 아님).",
         "LoRA dropout": "정규화 기법으로, 메모리와 무관하고 LoRA 논문부터 있었습니다."},
    answer=frozenset({"NF4", "double quantization", "paged optimizers"}),
    wrong_examples=(frozenset({"NF4", "double quantization", "gradient checkpointing"}), frozenset({"NF4"})),
))
register(ChoiceQuestion(
    id="s4_q3", notebook="04_qlora_training",
    prompt=("표준 LoRA나 완전 파인튜닝 대신 QLoRA를 선택할 때는 언제인가? bf16 기본 모델의 LoRA로는 48GB GPU(A6000, "
            "보고되는 용량 약 48 GiB) 한 장에 들어가지 않지만 QLoRA로는 들어가는 가장 큰 LLaMA 프리셋은? (r=64, 모든 "
            "Linear, 활성값 제외, GiB로 비교)"),
    hint_text='estimate_training_memory(name, method, "bf16")["total"] / GIB 를 네 프리셋과 "lora", "qlora"에 대해 '
              '표로 만들어 GPU_GIB["A6000"]과 비교하세요.',
    explanation=("메모리가 모델을 담기에 모자랄 때 QLoRA를 고릅니다. GPU가 충분하면 LoRA가 더 빠르고 단순합니다. "
                 "QLoRA 논문 초록처럼 65B도 QLoRA로는 48GB GPU 한 장에 들어갑니다 (활성값을 빼고, GiB로 비교)."),
    options=LLAMA_PRESETS, answer=lambda _: largest_qlora_only(),
    feedback={name: gib_note(name, "lora", GPU_48) for name in ("llama-7b", "llama-13b", "llama-33b")},
))

#: The lecture's 18 question ids, s2_q1 … s7_q3 (the nbNN_... extras and the *_why parts are not among them).
LECTURE_IDS = tuple(f"s{section}_q{n}" for section in range(2, 8) for n in range(1, 4))
