"""The written "why" part of the eight questions that are otherwise only a number or a set (recorded for review).

Content: registered with the engine when imported, after the questions they follow up (each copies its
explanation).
"""

from __future__ import annotations

from course_utils.exercises import s3, s4, s6, s7, s8  # noqa: F401  (the questions followed up, registered first)
from course_utils.exercises.engine import checkpoint, register
from course_utils.exercises.kinds import WrittenQuestion

WHY = {
    "s3_q1": ("02_dora_decomposition", "DoRA의 ΔW 랭크가 LoRA보다 훨씬 큰 까닭을 한두 문장으로 설명하세요.",
              "DoRA의 변화량에 W0 자체가 행마다 다른 배율로 섞이는지 생각해 보세요."),
    "s4_q1": ("03_nf4_quantization", "같은 4비트인데 NF4의 오차가 INT4보다 작은 까닭을 한두 문장으로 설명하세요.",
              "정규분포에서 값이 몰린 곳과 16개 양자화 값이 놓인 곳을 비교하세요."),
    "s4_q3": ("04_qlora_training", "그 프리셋에서 QLoRA가 LoRA와 달리 들어가는 까닭을 메모리 항목으로 설명하세요.",
              "메모리 표에서 두 방법의 차이가 어느 항목에서 나는지 보세요."),
    "s6_q1": ("04_qlora_training", "이 비율은 무엇을 잰 것이며, GPU에서는 QLoRA가 LoRA보다 느려지는 까닭은 "
                                   "무엇인가요?",
              "4비트 가중치가 순전파·역전파 때마다 무엇을 해야 하는지, 그 비용이 CPU와 GPU에서 얼마나 큰 몫인지 "
              "생각하세요."),
    "s6_q2": ("04_qlora_training", "메모리가 그만큼 줄어드는 까닭과, 줄지 않는 항목은 무엇인지 설명하세요.",
              "기본 모델의 가중치, 어댑터, 그래디언트, 옵티마이저 상태를 나누어 보세요."),
    "s7_q1": ("05_method_comparison", "고른 방법이 들어가고 나머지가 들어가지 않는 까닭을 메모리 항목으로 설명하세요.",
              "완전 파인튜닝에서 옵티마이저 상태가 차지하는 몫을 떠올리세요."),
    "s8_q1": ("06_causal_lm_qlora", "프롬프트 토큰의 레이블을 -100으로 가려 손실에서 빼는 까닭은 무엇인가요? 빼지 "
                                    "않으면 모델이 무엇을 배우게 되나요?",
              "모델이 학습 뒤에 해야 할 일(명령어를 받아 응답하기)과, 모든 예제에 되풀이되는 템플릿 토큰을 비교해 "
              "보세요."),
    "s8_q3": ("06_causal_lm_qlora", "그 설정은 T4(보고되는 용량 15 GiB)에 들어가나요? 가장 큰 두 항목을 들어 "
                                    "설명하고, 들어가지 않는다면 무엇을 줄이겠는지 적으세요.",
              "계산기가 돌려주는 항목별 바이트를 보고, 배치·시퀀스 길이에 따라 변하는 항목과 변하지 않는 항목을 "
              "나누어 보세요."),
}
for base, (notebook, prompt, hint) in WHY.items():
    register(WrittenQuestion(id=f"{base}_why", notebook=notebook, prompt=f"({base}에 이어서) {prompt}", hint_text=hint,
                             explanation=checkpoint(base).explanation))
