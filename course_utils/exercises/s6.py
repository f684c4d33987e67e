"""Checkpoint questions of lecture §6 (QLoRA in practice; 04_qlora_training).

Content: registered with the engine when imported; :mod:`course_utils.exercises.catalog` imports every
section in lecture order.
"""

from __future__ import annotations

from course_utils.exercises.computed import (
    measured,
)
from course_utils.exercises.engine import Wrong, register
from course_utils.exercises.kinds import NumericQuestion, WrittenQuestion

register(NumericQuestion(
    id="s6_q1", notebook="04_qlora_training", context=("measured",),
    prompt=("QLoRA의 훈련 시간은 LoRA와 어떻게 다른가? 이 노트북 3절에서 잰 QLoRA/LoRA 스텝당 시간 비를 적으세요 "
            "(소수 둘째 자리까지). 무엇을 쟀는지, 그리고 GPU에서는 왜 값이 다른지는 이어지는 서술 문제에 적습니다."),
    hint_text=("3절의 측정값으로 QLoRA 스텝 시간을 LoRA 스텝 시간으로 나누세요. 어디에서 재었는지(CPU/GPU)도 "
               "확인하세요."),
    explanation=("CPU에서는 4비트 가중치를 복원하는 계산이 전체 계산에 비해 작아 비가 1에 가깝습니다. GPU에서는 "
                 "행렬곱이 매우 빨라, 순전파·역전파마다 4비트 가중치를 fp로 복원(dequantize)하는 비용과 "
                 "prepare_model_for_kbit_training이 켜는 그래디언트 체크포인팅의 재계산이 두드러져 QLoRA가 "
                 "느려집니다. 메모리를 아끼는 대신 시간을 씁니다."),
    answer=measured, abs_tol=0.05, decimals=2, unit="배",
    wrong=(Wrong(lambda c: 1 / measured(c), "거꾸로 나눴습니다: QLoRA 시간 / LoRA 시간입니다."),
           Wrong(lambda c: 100 * measured(c), "퍼센트(%)로 적었습니다. 비(배수)로 적으세요."),
           Wrong(lambda c: measured(c) - 1, "늘어난 몫(비 − 1)을 적었습니다. 비 자체를 적으세요.")),
))
register(NumericQuestion(
    id="s6_q2", notebook="04_qlora_training", context=("measured",),
    prompt="메모리 사용량 측면에서 QLoRA의 장점은 무엇인가? 3절에서 잰 QLoRA 메모리 / LoRA 메모리 비율을 적으세요.",
    hint_text="measured['QLoRA']['total'] / measured['LoRA']['total'] 입니다. 1보다 작아야 합니다.",
    explanation=("기본 모델의 Linear 가중치가 약 4.127비트(NF4+이중 양자화)가 되어 고정된 가중치가 줄어듭니다. "
                 "어댑터·그래디언트·옵티마이저 상태는 그대로이므로, 절약은 가중치가 메모리의 대부분인 큰 모델에서 "
                 "가장 큽니다."),
    answer=measured, abs_tol=0.01,
    wrong=(Wrong(lambda c: 1 / measured(c), "거꾸로 나눴습니다: QLoRA / LoRA 입니다 (1보다 작습니다)."),
           Wrong(lambda c: 1 - measured(c), "그것은 절약된 비율(1 − QLoRA/LoRA)입니다. 비율 자체를 적으세요.")),
))
register(WrittenQuestion(
    id="s6_q3", notebook="04_qlora_training",
    prompt="실제 프로덕션 환경에서 LoRA와 QLoRA 중 어떤 것을 선택하겠는가?",
    hint_text="학습 GPU에 16비트 기본 모델이 들어가는지, 스텝 시간, 배포 때의 병합(merge), 4비트 커널 지원을 따져 "
              "보세요.",
    explanation=("학습 GPU에 16비트 기본 모델이 들어가면 LoRA: 더 빠르고, 4비트 커널이 필요 없고, 병합해서 추론 "
                 "오버헤드 없이 배포합니다. 모델이 GPU에 들어가지 않거나 더 큰 모델을 같은 GPU로 학습해야 하면 QLoRA: "
                 "정확도는 16비트와 비슷하다고 보고되지만 스텝이 느리고, 병합하려면 기본 모델을 16비트로 복원해야 "
                 "합니다. 어느 쪽이든 배포하는 것은 작은 어댑터입니다."),
))
