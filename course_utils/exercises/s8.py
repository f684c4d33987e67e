"""Checkpoint questions of §8, the course's causal-LM section (QLoRA instruction tuning; 06_causal_lm_qlora).

The lecture's checkpoint questions end at §7; notebook 06 adds three: why the prompt is masked (s8_q1, a count with
per-student numbers), adapter vs merged deployment (s8_q2, written) and whether a polyglot-ko setting fits a GPU in
4-bit (s8_q3, the estimator's GiB with per-student numbers). Content: registered with the engine when imported;
:mod:`course_utils.exercises.catalog` imports every section in order.
"""

from __future__ import annotations

import random
from functools import cache, lru_cache

from course_utils.exercises.engine import Context, Wrong, register
from course_utils.exercises.kinds import NumericQuestion, WrittenQuestion
from course_utils.exercises.variants import pick

NOTEBOOK = "06_causal_lm_qlora"

# -- s8_q1: how many positions the loss averages over -----------------------------------------------------------
S8_Q1_DEFAULT = {"P": 37, "A": 12}
# Every variant has its own answer count A (two students never share an answer) and P > A + 1 (no known wrong
# answer equals the right one).
S8_Q1_VARIANTS = tuple({"P": p, "A": a} for p, a in zip((22, 25, 28, 30, 33, 35, 40, 44, 48, 52, 57),
                                                        (6, 8, 9, 11, 14, 15, 17, 19, 21, 23, 26)))


def loss_positions(c: Context) -> int:
    """Positions the loss averages over: the answer tokens and the end token (labels -100 on the prompt; the
    one-token shift of next-token prediction drops the first label, which is a prompt token)."""
    return c["A"] + 1


def s8_q1_draw(rng: random.Random) -> dict[str, int]:
    """A student's (P, A) for s8_q1."""
    return pick(rng, S8_Q1_VARIANTS, S8_Q1_DEFAULT)


register(NumericQuestion(
    id="s8_q1", notebook=NOTEBOOK, draw=s8_q1_draw, default=S8_Q1_DEFAULT,
    prompt=("토크나이즈한 학습 예제 하나가 프롬프트(템플릿과 명령어) 토큰 P = {P}, 응답 토큰 A = {A}, 그리고 끝 "
            "토큰(EOS) 하나로 이루어져 있습니다. mask_prompt처럼 프롬프트 토큰의 레이블을 -100으로 가리면, 이 예제의 "
            "손실은 몇 개 위치의 교차 엔트로피를 평균한 것인가요? (패딩은 없습니다. 정수로 답하세요.)"),
    hint_text=("레이블이 -100인 위치는 손실에서 빠집니다. 모델은 다음 토큰을 예측하므로 레이블은 한 칸 밀려 "
               "비교되고, 맨 앞 토큰의 레이블은 쓰이지 않습니다. 맨 앞 토큰은 어느 쪽에 속하나요?"),
    explanation=("가려진 프롬프트는 빠지고 응답 토큰과 끝 토큰, 곧 응답 길이 + 1개 위치만 남습니다. 프롬프트를 "
                 "가리는 까닭은 모델이 배울 것이 명령어가 주어졌을 때의 응답이지 명령어 문장을 이어 쓰는 법이 "
                 "아니기 때문입니다. 가리지 않으면 매번 같은 템플릿 토큰과 긴 명령어가 손실의 대부분을 차지해 응답의 "
                 "신호가 묽어집니다. 끝 토큰을 학습해야 생성이 제때 멈춥니다."),
    answer=loss_positions, unit="개",
    wrong=(Wrong(lambda c: c["P"] + c["A"] + 1, "모든 토큰을 셌습니다. 프롬프트는 레이블 -100으로 가려져 손실에서 "
                                                "빠집니다."),
           Wrong(lambda c: c["P"] + c["A"], "가리지 않았을 때의 수입니다 (한 칸 밀려 맨 앞 토큰만 빠짐). "
                                            "프롬프트 토큰은 -100이라 손실에서 빠집니다."),
           Wrong(lambda c: c["A"], "끝 토큰(EOS)을 빠뜨렸습니다. 끝 토큰도 레이블에 있어서 모델이 언제 멈출지 "
                                   "배웁니다."),
           Wrong(lambda c: c["P"], "거꾸로 셌습니다: 손실에서 빠지는 쪽이 프롬프트입니다.")),
))

register(WrittenQuestion(
    id="s8_q2", notebook=NOTEBOOK,
    prompt=("학습한 LoRA를 배포할 때, 어댑터만 따로 두고 기본 모델 위에 얹어 쓰는 방식과 기본 모델에 병합"
            "(merge_and_unload)한 모델 하나를 배포하는 방식의 장단점을 비교하세요."),
    hint_text=("저장 크기(MB와 GB), 한 기본 모델로 여러 작업을 서비스하는 경우, 추론할 때 필요한 라이브러리와 지연 "
               "시간, 그리고 4비트 기본 모델에 병합하면 무슨 일이 생기는지 따져 보세요."),
    explanation=("어댑터만 두면 작업마다 수 MB만 저장·전송하고, 기본 모델 하나를 메모리에 올린 채 여러 어댑터를 바꿔 "
                 "끼워(작업·사용자별) 서비스할 수 있습니다. 대신 추론에 peft가 필요하고 층마다 LoRA 경로를 따로 "
                 "계산해 지연 시간이 조금 늘어납니다. 병합하면 W ← W + (α/r)·B·A가 가중치에 더해져 추가 지연이 "
                 "없고 peft 없이 transformers만으로 돌아가지만, 작업마다 기본 모델 크기(수 GB)의 사본이 생기고 "
                 "어댑터를 바꿀 수 없습니다. QLoRA로 학습했다면 기본 모델을 16/32비트로 다시 불러와 병합해야 합니다. "
                 "4비트 코드에 병합하면 다시 양자화되어 출력이 달라집니다 (peft도 경고합니다)."),
))


# -- s8_q3: does a polyglot-ko setting fit a T4 in 4-bit --------------------------------------------------------
S8_Q3_MODELS = ("polyglot-ko-1.3b", "polyglot-ko-5.8b")
# Sequence lengths outside the notebook's table (256, 512), so no student's answer is printed in the notebook;
# the default is trl's default max_length.
S8_Q3_SEQ_LENS = (384, 768, 1024)
S8_Q3_BATCHES = (2, 4, 8)
S8_Q3_DEFAULT = {"model": "polyglot-ko-1.3b", "seq_len": 1024, "batch": 4}
S8_Q3_TOL = 0.02  # GiB: a student copies the estimator's number at two decimals
S8_Q3_GAP = 0.1  # GiB between any two variants' answers
S8_Q3_WRONG_GAP = 0.05  # GiB between an answer and its known wrong ones (more than twice the tolerance)


@cache
def qlora_parts(model: str, seq_len: int, batch: int) -> dict[str, int]:
    """course_utils.memory.causal_lm.qlora_training_bytes for a variant (notebook 06's recipe)."""
    from course_utils.memory.causal_lm import qlora_training_bytes

    return qlora_training_bytes(model, batch, seq_len)


@cache
def lora_fp16_bytes(model: str, seq_len: int, batch: int) -> int:
    """The same training with the base model's weights in fp16 instead of NF4 (plain LoRA), activations included."""
    from course_utils.memory.causal_lm import COMPUTE_DTYPE, QLORA_R, TARGET_MODULES
    from course_utils.memory.estimate import checkpointed_activation_bytes, estimate_training_memory

    states = estimate_training_memory(model, "lora", COMPUTE_DTYPE, r=QLORA_R, target_modules=TARGET_MODULES)
    return states["total"] + checkpointed_activation_bytes(model, batch, seq_len)


def _gib(nbytes: int) -> float:
    return nbytes / 2**30


def qlora_gib(c: Context) -> float:
    """The right answer of s8_q3: the QLoRA training estimate in GiB."""
    return _gib(qlora_parts(c["model"], c["seq_len"], c["batch"])["total"])


def s8_q3_wrong(c: Context) -> list[float]:
    """The known wrong answers of s8_q3 (in the order of its Wrong entries)."""
    parts = qlora_parts(c["model"], c["seq_len"], c["batch"])
    return [parts["total"] / 10**9, _gib(parts["total"] - parts["optimizer_states"]),
            _gib(lora_fp16_bytes(c["model"], c["seq_len"], c["batch"])), _gib(parts["total"] - parts["activations"]),
            _gib(parts["weights_4bit"])]


@lru_cache(maxsize=1)
def s8_q3_variants() -> tuple[dict[str, object], ...]:
    """(model, seq_len, batch) variants whose answers differ from each other and from their known wrong answers."""
    chosen: list[dict[str, object]] = [dict(S8_Q3_DEFAULT)]
    for model in S8_Q3_MODELS:
        for seq_len in S8_Q3_SEQ_LENS:
            for batch in S8_Q3_BATCHES:
                c = {"model": model, "seq_len": seq_len, "batch": batch}
                right = qlora_gib(c)
                far = all(abs(right - qlora_gib(o)) >= S8_Q3_GAP for o in chosen)
                if far and all(abs(right - w) >= S8_Q3_WRONG_GAP for w in s8_q3_wrong(c)):
                    chosen.append(c)
    return tuple(chosen)


def s8_q3_draw(rng: random.Random) -> dict[str, object]:
    """A student's (model, seq_len, batch) for s8_q3."""
    return pick(rng, s8_q3_variants(), S8_Q3_DEFAULT)


register(NumericQuestion(
    id="s8_q3", notebook=NOTEBOOK, draw=s8_q3_draw, default=S8_Q3_DEFAULT,
    prompt=("EleutherAI/{model} 모델을 노트북 06의 QLoRA(NF4 + 이중 양자화, fp16 계산, "
            "prepare_model_for_kbit_training, LoRA r=16, 모든 Linear 층)로 배치 {batch}, 시퀀스 길이 {seq_len}에서 "
            "학습하려 합니다. 이 강의의 계산기로 학습 메모리(가중치, 어댑터, 그래디언트, AdamW 상태, 그래디언트 "
            "체크포인팅을 켠 활성값)를 추정하면 몇 GiB인가요? (소수 둘째 자리까지) "
            "그 설정이 T4(보고되는 용량 15 GiB)에 들어가는지는 이어지는 서술 문제에 적으세요."),
    hint_text=('course_utils.memory.causal_lm.qlora_training_gib("{model}", batch_size={batch}, seq_len={seq_len})'
               "를 계산하세요. 단위는 GiB(2³⁰ 바이트)입니다."),
    explanation=("NF4로 저장한 Linear 가중치(파라미터당 약 4.127비트), 4비트가 아니어서 "
                 "prepare_model_for_kbit_training이 fp32로 올린 임베딩·LM 헤드·층 정규화, fp32 LoRA 어댑터와 그 "
                 "그래디언트·AdamW 상태 두 개, 그리고 층마다 입력만 남기고 역전파 때 다시 계산하는 "
                 "활성값(로짓 배치·길이·어휘 크기가 큰 몫)을 더한 값입니다. GPU와는 GiB로 비교하고, CUDA "
                 "컨텍스트와 할당기 여유로 약 0.5 GiB를 남겨 두세요."),
    answer=qlora_gib, abs_tol=S8_Q3_TOL, decimals=2, unit=" GiB",
    wrong=(Wrong(lambda c: s8_q3_wrong(c)[0], "GB(10⁹ 바이트)로 계산했습니다. GPU 메모리는 GiB(2³⁰ 바이트)로 "
                                              "비교합니다."),
           Wrong(lambda c: s8_q3_wrong(c)[1], "AdamW 상태(학습하는 파라미터마다 1차·2차 모멘트 두 개)를 "
                                              "빠뜨렸습니다."),
           Wrong(lambda c: s8_q3_wrong(c)[2], "기본 모델을 fp16으로 계산했습니다. QLoRA에서는 Linear 가중치가 "
                                              "NF4(약 4.127비트)입니다."),
           Wrong(lambda c: s8_q3_wrong(c)[3], "활성값을 빠뜨렸습니다. 배치와 시퀀스 길이에 따라 커지는 활성값(특히 "
                                              "로짓)도 더하세요."),
           Wrong(lambda c: s8_q3_wrong(c)[4], "4비트 가중치만 셌습니다. 4비트가 아닌 층, 어댑터, 그래디언트, "
                                              "옵티마이저 상태, 활성값도 더하세요.")),
))
