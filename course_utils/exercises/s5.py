"""Checkpoint questions of lecture §5 (the methods compared; 05_method_comparison).

Content: registered with the engine when imported; :mod:`course_utils.exercises.catalog` imports every
section in lecture order.
"""

from __future__ import annotations

from course_utils.exercises.engine import register
from course_utils.exercises.kinds import SetQuestion, WrittenQuestion

register(WrittenQuestion(
    id="s5_q1", notebook="05_method_comparison",
    prompt="특정 작업에 대해 LoRA와 DoRA 중 어떻게 선택하겠는가?",
    hint_text="랭크가 작을 때의 정확도 차이(DoRA 논문 Table 15), 스텝당 시간, 추론 때의 병합, 라이브러리 지원을 따져 "
              "보세요.",
    explanation=("기본은 LoRA(가장 빠르고 널리 지원됨)로 시작하고, 같은 예산에서 정확도가 모자라거나 랭크를 아주 작게 "
                 "써야 할 때 DoRA를 같은 조건에서 비교해 봅니다. DoRA는 층마다 출력 특성 수만큼의 파라미터를 더하고 "
                 "매 스텝 노름을 다시 계산해 학습이 느리지만, 병합하면 추론 비용은 LoRA와 같습니다. 결정은 검증 "
                 "세트의 측정으로 합니다."),
))
register(SetQuestion(
    id="s5_q2", notebook="05_method_comparison",
    prompt="QLoRA를 구현할 때 주요 고려사항은 무엇인가? 지금 라이브러리(transformers 5, peft, bitsandbytes)에서 해야 "
           "하는 것을 모두 고르세요. 채점하는 것은 빠뜨리면 오류가 나거나 조용히 다른 설정이 되는 필수 항목과 "
           "하면 안 되는 항목이고, 항목마다 부분 점수를 줍니다. 권장 항목인 compute_dtype과 kbit_prep은 골라도 "
           "빼도 점수가 같습니다.",
    hint_text="BitsAndBytesConfig의 기본값(fp4, 이중 양자화 없음), 분류 헤드를 4비트로 만들 때의 오류, fp16 학습 "
              "파라미터의 GradScaler 오류를 떠올리세요.",
    explanation=("NF4와 이중 양자화를 명시하고(기본값은 FP4·DQ 없음), 분류 헤드는 4비트에서 "
                 "빼고(llm_int8_skip_modules=[\"classifier\"]), "
                 "계산 dtype을 GPU에 맞추고(T4는 fp16, Ampere 이상은 bf16), prepare_model_for_kbit_training으로 "
                 "준비합니다. "
                 "어댑터는 16/32비트로 학습하며 4비트로 만들지 않습니다."),
    options={"nf4": 'bnb_4bit_quant_type="nf4"를 명시',
             "double_quant": "bnb_4bit_use_double_quant=True를 명시",
             "skip_classifier": '분류 헤드를 4비트에서 제외: llm_int8_skip_modules=["classifier"]',
             "compute_dtype": "bnb_4bit_compute_dtype을 GPU에 맞게 고름",
             "kbit_prep": "prepare_model_for_kbit_training으로 모델 준비",
             "adapters_4bit": "LoRA 어댑터도 4비트로 학습",
             "fp16_adapters": "학습하는 LoRA 파라미터를 fp16으로 두고 fp16=True로 학습",
             "merge_each_step": "매 스텝 어댑터를 4비트 가중치에 병합"},
    why={"nf4": "BitsAndBytesConfig의 기본값은 fp4입니다.",
         "double_quant": "기본값은 꺼져 있습니다 (켜면 absmax가 0.5 → 0.127비트/파라미터).",
         "skip_classifier": ("빼지 않으면 get_peft_model이 'only Tensors of floating point dtype can require "
                             "gradients' 오류를 냅니다."),
         "compute_dtype": "권장: 기본값 fp32로도 학습은 되지만 느립니다 (T4는 fp16, Ampere 이상은 bf16).",
         "kbit_prep": "권장: 그래디언트 체크포인팅을 켜고 4비트가 아닌 층의 정밀도를 올립니다 (없어도 학습은 됩니다).",
         "adapters_4bit": "어댑터는 16/32비트로 학습합니다. 4비트인 것은 얼린 기본 모델뿐입니다.",
         "fp16_adapters": ("GPU에서 'Attempting to unscale FP16 gradients' 오류가 납니다. LoRA 파라미터는 "
                           "fp32로 두세요."),
         "merge_each_step": "병합은 학습이 끝난 뒤, 기본 모델을 16비트로 복원해서 합니다."},
    answer=frozenset({"nf4", "double_quant", "skip_classifier"}),
    optional=frozenset({"compute_dtype", "kbit_prep"}), partial=True,
    wrong_examples=(frozenset({"nf4", "double_quant"}),
                    frozenset({"nf4", "double_quant", "skip_classifier", "adapters_4bit"})),
))
register(SetQuestion(
    id="s5_q3", notebook="05_method_comparison",
    prompt="PEFT 방법들을 공정하게 비교하는 실험을 어떻게 설계하겠는가? 공정한 비교에 필요한 것을 모두 고르세요.",
    hint_text="방법만 다르고 나머지는 같아야 합니다. 하지만 '같은 학습률'이 공정한지는 LoRA 논문의 학습률을 떠올려 "
              "보세요. 테스트 세트는 언제 봐야 할까요?",
    explanation=("같은 데이터 분할, 같은 학습 예산(스텝·배치), 같은 시드들로 여러 번 반복해 평균과 편차를 보고, "
                 "학습률은 방법마다 같은 탐색 예산으로 따로 고릅니다(LoRA는 완전 FT보다 약 10배 큰 학습률을 씁니다). "
                 "선택은 검증 세트로 하고 테스트 세트는 마지막에 한 번만 봅니다. 정확도와 함께 학습 파라미터 "
                 "수·메모리·시간을 기록합니다."),
    options={"same_data": "모든 방법에 같은 학습/검증/테스트 분할",
             "same_budget": "같은 학습 스텝 수와 배치 크기",
             "several_seeds": "같은 시드들로 여러 번 반복해 평균과 편차 보고",
             "tuned_lr": "방법마다 같은 탐색 예산으로 학습률을 따로 고름",
             "report_cost": "학습 파라미터 수, 메모리, 시간도 함께 기록",
             "same_lr": "모든 방법에 같은 학습률을 강제",
             "select_on_test": "테스트 세트로 체크포인트와 하이퍼파라미터 선택",
             "single_run": "한 번 실행한 정확도 차이로 결론"},
    why={"same_data": "데이터가 다르면 차이가 방법이 아니라 데이터에서 옵니다.",
         "same_budget": "예산이 다르면 더 오래 학습한 쪽이 이깁니다.",
         "several_seeds": "한 번의 차이는 시드 잡음보다 작을 수 있습니다.",
         "tuned_lr": "방법마다 좋은 학습률이 다릅니다 (LoRA는 완전 파인튜닝보다 약 10배 큰 학습률).",
         "report_cost": "정확도만으로는 효율을 비교할 수 없습니다.",
         "same_lr": "불공정합니다: 한 방법에 맞춘 학습률이 다른 방법에는 나쁠 수 있습니다.",
         "select_on_test": "테스트 정보가 새어 나갑니다. 선택은 검증 세트로 하세요.",
         "single_run": "시드 잡음보다 작은 차이일 수 있습니다. 여러 시드로 반복하세요."},
    answer=frozenset({"same_data", "same_budget", "several_seeds", "tuned_lr", "report_cost"}),
    wrong_examples=(frozenset({"same_data", "same_budget", "same_lr"}),
                    frozenset({"same_data", "same_budget", "several_seeds", "tuned_lr", "report_cost",
                               "select_on_test"})),
))
