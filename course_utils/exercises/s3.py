"""Checkpoint questions of lecture §3 (DoRA; 02_dora_decomposition).

Content: registered with the engine when imported; :mod:`course_utils.exercises.catalog` imports every
section in lecture order.
"""

from __future__ import annotations

from course_utils.exercises.computed import (
    ranks_ok,
)
from course_utils.exercises.engine import Wrong, register
from course_utils.exercises.kinds import TupleQuestion, WrittenQuestion

register(TupleQuestion(
    id="s3_q1", notebook="02_dora_decomposition", context=("measured",), optional_context=("r",),
    prompt=("DoRA의 가중치 분해는 LoRA의 저차원 근사와 어떻게 다른가? 층 0 query의 ΔW 랭크를 직접 재서 (LoRA, DoRA) "
            "튜플로 적으세요 (실행마다 값은 조금 다를 수 있습니다)."),
    hint_text="effective_weight(layer) − layer.get_base_layer().weight 의 torch.linalg.matrix_rank를 두 모델에 대해 "
              "구하세요.",
    explanation=("LoRA의 ΔW = sBA는 랭크가 r 이하입니다. DoRA는 W' − W0 = diag(m/‖W0+sBA‖ − 1)·W0 + diag(m/‖·‖)·sBA "
                 "라서 행마다 다른 배율이 W0 전체에 곱해지고, 변화량의 랭크가 r에 묶이지 않습니다. 추가 파라미터는 "
                 "층마다 출력 특성 수뿐입니다."),
    answer=lambda c: tuple(int(v) for v in c["measured"]), labels=("LoRA 랭크", "DoRA 랭크"), accept=ranks_ok,
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
