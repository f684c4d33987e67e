"""Checkpoint questions of lecture §2 (LoRA; 01_lora_math).

Content: registered with the engine when imported; :mod:`course_utils.exercises.catalog` imports every
section in lecture order.
"""

from __future__ import annotations

from course_utils.exercises.computed import (
    S2_Q2_DEFAULT,
    reduction,
    s2_q2_draw,
    s2_q2_wrong,
)
from course_utils.exercises.engine import Wrong, register
from course_utils.exercises.kinds import NumericQuestion, WrittenQuestion

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
    draw=s2_q2_draw, default=S2_Q2_DEFAULT,
    answer=lambda c: reduction(c["r"], c["d"], c["k"]), decimals=1, unit="%",
    wrong=(
        Wrong(lambda c: s2_q2_wrong(c)[0],
              "A와 B를 모두 세었나요? LoRA는 A(r×in)와 B(out×r) 두 행렬을 학습하므로 r·(in+out)개입니다."),
        Wrong(lambda c: s2_q2_wrong(c)[1], "그것은 남는 비율(LoRA/전체)입니다. 감소율은 100에서 그 값을 뺀 것입니다."),
        Wrong(lambda c: s2_q2_wrong(c)[2], "비율(0~1)로 적었습니다. 퍼센트(%)로 적으세요."),
        Wrong(lambda c: s2_q2_wrong(c)[3], "LoRA 파라미터를 두 배로 셌습니다: r·(in+out)에서 in과 out을 한 번씩만 "
                                            "더하세요."),
        Wrong(lambda c: s2_q2_wrong(c)[4], "그것은 '몇 배 줄었나'(전체 / LoRA)입니다. 감소율(%)로 바꿔 보세요."),
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
