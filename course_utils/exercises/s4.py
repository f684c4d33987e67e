"""Checkpoint questions of lecture §4 (NF4 and QLoRA; notebooks 03 and 04).

Content: registered with the engine when imported; :mod:`course_utils.exercises.catalog` imports every
section in lecture order.
"""

from __future__ import annotations

from course_utils.exercises.computed import (
    GPU_48,
    LLAMA_PRESETS,
    gauss_data,
    gib_note,
    largest_qlora_only,
    mse_ratio,
)
from course_utils.exercises.engine import Wrong, register
from course_utils.exercises.kinds import ChoiceQuestion, NumericQuestion, SetQuestion

register(NumericQuestion(
    id="s4_q1", notebook="03_nf4_quantization", context=("data",), rebuild=gauss_data,
    prompt=("NF4 양자화는 표준 4비트 양자화 접근법과 어떻게 다른가? 정규분포 데이터를 blocksize 64로 양자화할 때 "
            "INT4(대칭 absmax) MSE는 NF4 MSE의 몇 배인가? (소수 둘째 자리까지) 쓸 함수: "
            "quant_study.quantization_mse(x, fmt=\"nf4\", blocksize=64) -> float — x는 양자화할 텐서(노트북의 gauss), "
            "fmt는 \"nf4\", \"fp4\", \"int4\" 중 하나이고, 돌려주는 값은 x와 4비트 왕복값의 평균 제곱 오차입니다."),
    hint_text=('quant_study.quantization_mse(data, "int4") / quant_study.quantization_mse(data, "nf4") 입니다. '
               '분자와 분모의 순서에 주의하세요.'),
    explanation=("INT4는 [−1, 1]을 등간격으로 나누고, NF4는 16개 값을 정규분포의 등확률 분위수에 두어 값이 몰린 0 "
                 "근처를 촘촘히 표현합니다 (0을 정확히 담도록 음수 7개·양수 8개). 그래서 같은 4비트로도 정규분포 "
                 "가중치의 오차가 작습니다. 강의의 '로그 분포'는 틀린 설명입니다."),
    answer=mse_ratio, decimals=2, unit="배",
    wrong=(
        Wrong(lambda c: mse_ratio(c, "nf4", "int4"), "거꾸로 나눴습니다: INT4 MSE를 NF4 MSE로 나누세요 (답은 1보다 "
                                                      "큽니다)."),
        Wrong(lambda c: mse_ratio(c, "fp4", "nf4"), "그것은 FP4와 NF4의 비입니다. INT4(\"int4\")를 쓰세요."),
        Wrong(1.0, "같은 4비트라도 오차는 같지 않습니다: 실제로 계산해 보세요."),
    ),
))
register(SetQuestion(
    id="s4_q2", notebook="04_qlora_training",
    prompt=("QLoRA가 효과적으로 작동하게 하는 핵심 기술적 혁신 세 가지, 즉 QLoRA 논문(초록, §3)이 새로 제안한 것을 "
            "고르세요. 보기의 영어 이름이나 한국어 이름(NF4, 이중 양자화, 페이지드 옵티마이저, 그래디언트 체크포인팅, "
            "LoRA 드롭아웃) 어느 쪽으로 적어도 됩니다 (대소문자 · 띄어쓰기 무관)."),
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
    aliases={"NormalFloat4": "NF4", "4비트 NormalFloat": "NF4", "이중 양자화": "double quantization",
             "double quant": "double quantization", "페이지드 옵티마이저": "paged optimizers",
             "paged optimizer": "paged optimizers", "페이징 옵티마이저": "paged optimizers",
             "그래디언트 체크포인팅": "gradient checkpointing", "LoRA 드롭아웃": "LoRA dropout"},
    answer=frozenset({"NF4", "double quantization", "paged optimizers"}),
    wrong_examples=(frozenset({"NF4", "double quantization", "gradient checkpointing"}), frozenset({"NF4"}),
                    frozenset({"NF4", "이중 양자화", "그래디언트 체크포인팅"})),
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
