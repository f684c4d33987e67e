"""Checkpoint questions of lecture §7 (choosing a method; 05_method_comparison).

Content: registered with the engine when imported; :mod:`course_utils.exercises.catalog` imports every
section in lecture order.
"""

from __future__ import annotations

from course_utils.exercises.computed import (
    GPU_24,
    gib_note,
    methods_that_fit,
)
from course_utils.exercises.engine import register
from course_utils.exercises.kinds import SetQuestion, WrittenQuestion

register(SetQuestion(
    id="s7_q1", notebook="05_method_comparison",
    prompt=("특정 프로젝트에서 PEFT 방법을 선택할 때 고려해야 할 주요 요소들은 무엇인가? 그중 메모리를 계산해 "
            "봅시다: LLaMA-7B(bf16 기본 모델, r=64, 모든 Linear, 활성값 제외)를 \"24 GB\" GPU(A10G: nvidia-smi가 "
            "보고하는 용량 23,028 MiB = 22.49 GiB) 한 장에서 학습할 때 들어가는 방법을 "
            "모두 고르세요 (\"full\", \"lora\", \"qlora\"). GiB로 비교하세요."),
    hint_text='course_utils.memory.estimate.estimate_training_memory("llama-7b", method, "bf16")["total"] / GIB '
              '를 세 방법에 '
              '대해 구해 GPU_GIB["A10G"]와 비교하세요.',
    explanation=("메모리(아래 계산), 데이터 양과 작업의 난이도, 학습 시간과 예산, 배포 방식(병합, 여러 어댑터), "
                 "라이브러리·하드웨어 지원이 주요 요소입니다. 활성값은 배치·시퀀스 길이에 따라 더해지므로 여유를 "
                 "남겨야 합니다."),
    options={"full": "완전 파인튜닝 (모든 파라미터와 그 AdamW 상태)", "lora": "bf16 기본 모델 + LoRA",
             "qlora": "NF4 기본 모델 + LoRA"},
    answer=lambda _: methods_that_fit("llama-7b", GPU_24),
    why={method: gib_note("llama-7b", method, GPU_24) for method in ("full", "lora", "qlora")},
))
register(WrittenQuestion(
    id="s7_q2", notebook="05_method_comparison",
    prompt="PEFT 기법의 발전이 대형 언어모델의 민주화에 어떤 영향을 미칠 것으로 예상하는가?",
    hint_text="누가 어떤 하드웨어로 파인튜닝할 수 있게 되었는지(QLoRA: 48GB 한 장에 65B), 저장·배포 비용(어댑터 "
              "크기)을 생각하세요.",
    explanation=("QLoRA는 65B 모델을 48GB GPU 한 장에서 파인튜닝하게 했고, 어댑터는 원래 모델보다 수천 배 작아 "
                 "작업별로 저장·공유하기 쉽습니다. 그래서 작은 연구실·기업·개인도 자기 데이터로 큰 모델을 적응시킬 수 "
                 "있습니다. 다만 기본 모델의 라이선스, 추론 비용, 평가와 안전성 검증의 부담은 그대로 남습니다."),
))
register(WrittenQuestion(
    id="s7_q3", notebook="05_method_comparison",
    prompt="미래에 PEFT 분야에서 가장 주목할 만한 발전 방향은 무엇이라고 생각하는가?",
    hint_text="파라미터를 더 줄이는 방향(VB-LoRA, WaveFT), 양자화와의 결합, 여러 어댑터의 조합·서빙을 떠올리고, "
              "근거를 하나 드세요.",
    explanation=("예: 파라미터 공유·주파수 영역 방법(VB-LoRA, WaveFT)처럼 더 적은 파라미터로 같은 성능을 내는 방향, "
                 "더 낮은 비트의 양자화와의 결합, 여러 어댑터를 한 서버에서 바꿔 끼우는 서빙. 어떤 답이든 논문이나 "
                 "측정 같은 근거와 함께 쓰는 것이 중요합니다."),
))
