"""The course's checkpoint questions: the lecture's 18 (three per section, §2–§7) plus notebook extras.

Content only: the question classes, `Wrong` and the registry are the engine in :mod:`course_utils.checkpoints`
(kept apart as learntools keeps ``core/problem.py`` apart from its exercise files). Answers that depend on the
package or on the notebook's run are computed by the small helpers below, never typed into a question.
"""

from __future__ import annotations

from course_utils.checkpoints import (
    ChoiceQuestion,
    Context,
    NumericQuestion,
    SetQuestion,
    Text,
    TupleQuestion,
    WrittenQuestion,
    Wrong,
    register,
)

# ------------------------------------------------------------------------------------------------------------
# Run-dependent answers: computed with the package, never typed into the question
# ------------------------------------------------------------------------------------------------------------


def _reduction(r: int, count_b: bool = True) -> float:
    """Percent of a 1024×1024 weight's parameters that LoRA with rank r saves (A only when count_b is False)."""
    from course_utils.params import full_params_for_shape, lora_params_for_shape, reduction_percent

    full = full_params_for_shape(1024, 1024)
    lora = lora_params_for_shape(1024, 1024, r) if count_b else r * 1024
    return reduction_percent(full, lora)


def _mse_ratio(context: Context, top: str = "int4", bottom: str = "nf4") -> float:
    """quantization_mse(data, top) / quantization_mse(data, bottom) for the notebook's data (blocksize 64)."""
    from course_utils.quant_study import quantization_mse

    data = context["data"]
    return quantization_mse(data, top) / quantization_mse(data, bottom)


def _dq_saving(model: str = "65B", column: str = "DQ saves GB") -> float:
    """A value of nf4.memory_table() (GB = 10^9 bytes)."""
    from course_utils import nf4

    return float(nf4.memory_table().set_index("model").loc[model, column])


def _full_ft_gb(part: str = "total", weight_dtype: str = "fp32", n_params: int = 13 * 10**9) -> float:
    """memory.full_finetune_bytes(n_params, weight_dtype)[part] in GB (10^9 bytes)."""
    from course_utils.memory import GB, full_finetune_bytes

    return full_finetune_bytes(n_params, weight_dtype)[part] / GB


LLAMA_PRESETS = ("llama-7b", "llama-13b", "llama-33b", "llama-65b")
GPU_48GB = 48.0
GPU_24GB = 24.0


def _training_gb(preset: str, method: str) -> float:
    """estimate_training_memory(preset, method, "bf16") in GB (10^9 bytes; r=64, all Linear, no activations)."""
    from course_utils.memory import GB, estimate_training_memory

    return estimate_training_memory(preset, method, "bf16")["total"] / GB


def _largest_qlora_only(gpu_gb: float = GPU_48GB) -> str:
    """The largest LLaMA preset that does not fit `gpu_gb` with LoRA but fits with QLoRA."""
    fits = [name for name in LLAMA_PRESETS if _training_gb(name, "lora") > gpu_gb >= _training_gb(name, "qlora")]
    return fits[-1]


def _methods_that_fit(preset: str = "llama-7b", gpu_gb: float = GPU_24GB) -> frozenset[str]:
    """Methods whose estimated training memory fits `gpu_gb`."""
    return frozenset(m for m in ("full", "lora", "qlora") if _training_gb(preset, m) <= gpu_gb)


def _gb_note(preset: str, method: str, gpu_gb: float) -> Text:
    """Feedback that quotes the estimator's number for (preset, method)."""
    return lambda _: (f"계산기로 {preset} {method}는 {_training_gb(preset, method):.1f} GB입니다 "
                      f"({gpu_gb:g} GB GPU와 비교하세요).")


def _measured(context: Context) -> float:
    """The notebook's measured value, passed as measured=..."""
    return float(context["measured"])


# ------------------------------------------------------------------------------------------------------------
# The questions, in lecture order; the notebook extras (nbNN_...) last
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
    prompt="랭크 r=16으로 1024×1024 가중치 행렬의 파라미터 감소율(%)을 계산하라.",
    hint_text="완전 파인튜닝은 1024·1024개, LoRA는 A(r×1024)와 B(1024×r) 두 행렬입니다. 감소율 = 100·(1 − LoRA/전체).",
    explanation="전체 1,048,576개, LoRA 16·(1024+1024) = 32,768개이므로 100·(1 − 32,768/1,048,576) = 96.875%입니다.",
    answer=lambda _: _reduction(16), abs_tol=0.01, unit="%",
    wrong=(
        Wrong(lambda _: _reduction(16, count_b=False),
              "A와 B를 모두 세었나요? LoRA는 A(r×in)와 B(out×r) 두 행렬을 학습하므로 r·(in+out)개입니다 (A만 세면 "
              "절반)."),
        Wrong(lambda _: 100 - _reduction(16),
              "그것은 남는 비율(LoRA/전체)입니다. 감소율은 100에서 그 값을 뺀 것입니다."),
        Wrong(lambda _: _reduction(16) / 100, "비율(0~1)로 적었습니다. 퍼센트(%)로 적으세요."),
        Wrong(lambda _: _reduction(32), "LoRA 파라미터를 두 배로 셌습니다: r·(in+out)에서 in과 out을 한 번씩만 "
                                        "더하세요."),
        Wrong(32, "그것은 '몇 배 줄었나'(1,048,576 / 32,768)입니다. 감소율(%)로 바꿔 보세요."),
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
    id="s3_q1", notebook="02_dora_decomposition", context=("measured",),
    prompt="DoRA의 가중치 분해는 LoRA의 저차원 근사와 어떻게 다른가? 층 0 query의 ΔW 랭크를 (LoRA, DoRA) 튜플로 "
           "적으세요.",
    hint_text="effective_weight(layer) − layer.get_base_layer().weight 의 torch.linalg.matrix_rank를 두 모델에 대해 "
              "구하세요.",
    explanation=("LoRA의 ΔW = sBA는 랭크가 r 이하입니다. DoRA는 W' − W0 = diag(m/‖W0+sBA‖ − 1)·W0 + diag(m/‖·‖)·sBA "
                 "라서 행마다 다른 배율이 W0 전체에 곱해지고, 변화량의 랭크가 r에 묶이지 않습니다. 추가 파라미터는 "
                 "층마다 출력 특성 수뿐입니다."),
    answer=lambda c: tuple(int(v) for v in c["measured"]), labels=("LoRA 랭크", "DoRA 랭크"),
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
    id="s4_q1", notebook="03_nf4_quantization", context=("data",),
    prompt=("NF4 양자화는 표준 4비트 양자화 접근법과 어떻게 다른가? 정규분포 데이터를 blocksize 64로 양자화할 때 "
            "INT4(대칭 absmax) MSE는 NF4 MSE의 몇 배인가? (소수 둘째 자리까지)"),
    hint_text=('quant_study.quantization_mse(data, "int4") / quant_study.quantization_mse(data, "nf4") 입니다. '
               '분자와 분모의 순서에 주의하세요.'),
    explanation=("INT4는 [−1, 1]을 등간격으로 나누고, NF4는 16개 값을 정규분포의 등확률 분위수에 두어 값이 몰린 0 "
                 "근처를 촘촘히 표현합니다 (0을 정확히 담도록 음수 7개·양수 8개). 그래서 같은 4비트로도 정규분포 "
                 "가중치의 오차가 작습니다. 강의의 '로그 분포'는 틀린 설명입니다."),
    answer=_mse_ratio, abs_tol=0.01, unit="배",
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
    hint_text="논문 §3이 새로 제안한 것 세 가지입니다. 그래디언트 체크포인팅과 LoRA 드롭아웃은 그 전부터 있던 "
              "기법입니다.",
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
    prompt=("표준 LoRA나 완전 파인튜닝 대신 QLoRA를 선택할 때는 언제인가? bf16 기본 모델의 LoRA로는 48GB GPU 한 장에 "
            "들어가지 않지만 QLoRA로는 들어가는 가장 큰 LLaMA 프리셋은? (r=64, 모든 Linear, 활성값 제외)"),
    hint_text='estimate_training_memory(name, method, "bf16")["total"] / GB 를 네 프리셋과 "lora", "qlora"에 대해 '
              '표로 만들어 보세요.',
    explanation=("메모리가 모델을 담기에 모자랄 때 QLoRA를 고릅니다. GPU가 충분하면 LoRA가 더 빠르고 단순합니다. "
                 "65B는 QLoRA로도 (활성값을 빼고) 48GB를 조금 넘는다는 점도 계산기로 확인하세요."),
    options=LLAMA_PRESETS, answer=lambda _: _largest_qlora_only(),
    feedback={name: _gb_note(name, "lora", GPU_48GB) for name in ("llama-7b", "llama-13b")}
    | {"llama-65b": _gb_note("llama-65b", "qlora", GPU_48GB)},
))
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
           "하는 것을 모두 고르세요.",
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
         "compute_dtype": "T4는 fp16, Ampere 이상은 bf16으로 계산합니다.",
         "kbit_prep": "그래디언트 체크포인팅을 켜고 4비트가 아닌 층의 정밀도를 올립니다.",
         "adapters_4bit": "어댑터는 16/32비트로 학습합니다. 4비트인 것은 얼린 기본 모델뿐입니다.",
         "fp16_adapters": ("GPU에서 'Attempting to unscale FP16 gradients' 오류가 납니다. LoRA 파라미터는 "
                           "fp32로 두세요."),
         "merge_each_step": "병합은 학습이 끝난 뒤, 기본 모델을 16비트로 복원해서 합니다."},
    answer=frozenset({"nf4", "double_quant", "skip_classifier", "compute_dtype", "kbit_prep"}),
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
register(NumericQuestion(
    id="s6_q1", notebook="04_qlora_training", context=("measured",),
    prompt="QLoRA의 훈련 시간이 LoRA보다 더 오래 걸리는 이유는 무엇인가? 이 노트북에서 잰 QLoRA/LoRA 스텝당 시간 비를 "
           "적으세요.",
    hint_text="3절의 측정값으로 QLoRA 시간을 LoRA 시간으로 나누세요. 그리고 4비트 가중치가 순전파·역전파 때 무엇을 "
              "해야 하는지 생각하세요.",
    explanation=("순전파·역전파마다 4비트 가중치를 fp로 복원(dequantize)하는 계산이 더해지고, "
                 "prepare_model_for_kbit_training이 켜는 그래디언트 체크포인팅이 순전파를 다시 계산합니다. 메모리를 "
                 "아끼는 대신 시간을 씁니다 (CPU 타이밍은 흔들립니다)."),
    answer=_measured, abs_tol=0.05, unit="배",
    wrong=(Wrong(lambda c: 1 / _measured(c), "거꾸로 나눴습니다: QLoRA 시간 / LoRA 시간입니다."),
           Wrong(1.0, "같은 속도라고 보았나요? 측정값을 쓰세요.")),
))
register(NumericQuestion(
    id="s6_q2", notebook="04_qlora_training", context=("measured",),
    prompt="메모리 사용량 측면에서 QLoRA의 장점은 무엇인가? 3절에서 잰 QLoRA 메모리 / LoRA 메모리 비율을 적으세요.",
    hint_text="measured['QLoRA']['total'] / measured['LoRA']['total'] 입니다. 1보다 작아야 합니다.",
    explanation=("기본 모델의 Linear 가중치가 약 4.127비트(NF4+이중 양자화)가 되어 고정된 가중치가 줄어듭니다. "
                 "어댑터·그래디언트·옵티마이저 상태는 그대로이므로, 절약은 가중치가 메모리의 대부분인 큰 모델에서 "
                 "가장 큽니다."),
    answer=_measured, abs_tol=0.01,
    wrong=(Wrong(lambda c: 1 / _measured(c), "거꾸로 나눴습니다: QLoRA / LoRA 입니다 (1보다 작습니다)."),
           Wrong(lambda c: 1 - _measured(c), "그것은 절약된 비율(1 − QLoRA/LoRA)입니다. 비율 자체를 적으세요.")),
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
register(SetQuestion(
    id="s7_q1", notebook="05_method_comparison",
    prompt=("특정 프로젝트에서 PEFT 방법을 선택할 때 고려해야 할 주요 요소들은 무엇인가? 그중 메모리를 계산해 "
            "봅시다: LLaMA-7B(bf16 기본 모델, "
            "r=64, 모든 Linear, 활성값 제외)를 24GB GPU 한 장에서 학습할 때 들어가는 방법을 모두 고르세요 (\"full\", "
            "\"lora\", \"qlora\")."),
    hint_text='course_utils.memory.estimate_training_memory("llama-7b", method, "bf16")["total"] / GB 를 세 방법에 '
              '대해 구해 24와 비교하세요.',
    explanation=("메모리(아래 계산), 데이터 양과 작업의 난이도, 학습 시간과 예산, 배포 방식(병합, 여러 어댑터), "
                 "라이브러리·하드웨어 지원이 주요 요소입니다. 활성값은 배치·시퀀스 길이에 따라 더해지므로 여유를 "
                 "남겨야 합니다."),
    options={"full": "완전 파인튜닝 (모든 파라미터와 그 AdamW 상태)", "lora": "bf16 기본 모델 + LoRA",
             "qlora": "NF4 기본 모델 + LoRA"},
    answer=lambda _: _methods_that_fit("llama-7b", GPU_24GB),
    why={method: _gb_note("llama-7b", method, GPU_24GB) for method in ("full", "lora", "qlora")},
))
register(WrittenQuestion(
    id="s7_q2", notebook="05_method_comparison",
    prompt="PEFT 기법의 발전이 대형 언어모델의 민주화에 어떤 영향을 미칠 것으로 예상하는가?",
    hint_text="누가 어떤 하드웨어로 미세조정할 수 있게 되었는지(QLoRA: 48GB 한 장에 65B), 저장·배포 비용(어댑터 "
              "크기)을 생각하세요.",
    explanation=("QLoRA는 65B 모델을 48GB GPU 한 장에서 미세조정하게 했고, 어댑터는 원래 모델보다 수천 배 작아 "
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
register(NumericQuestion(
    id="nb00_full_ft_13b", notebook="00_peft_motivation",
    prompt=("13B 모델을 fp32 가중치 + AdamW(상태 fp32)로 완전 파인튜닝할 때 가중치·그래디언트·옵티마이저 상태의 합은 "
            "몇 GB(10⁹ 바이트)인가? (활성값 제외)"),
    hint_text="파라미터마다 가중치 4바이트, 그래디언트 4바이트, AdamW 상태 두 개(1차·2차 모멘트) 8바이트입니다.",
    explanation="13·10⁹ × (4 + 4 + 8) 바이트 = 208 GB. 강의의 '~28GB'(7B)처럼 가중치만 세면 필요량의 1/4만 보게 "
                "됩니다.",
    answer=lambda _: _full_ft_gb(), abs_tol=0.5, unit=" GB",
    wrong=(Wrong(lambda _: _full_ft_gb("weights"),
                 "가중치만 셌습니다 (강의의 '~28GB'와 같은 실수). 그래디언트와 AdamW 상태 두 개를 더하세요."),
           Wrong(lambda _: _full_ft_gb("weights") + _full_ft_gb("gradients"),
                 "AdamW의 1차·2차 모멘트(파라미터당 8바이트)를 빠뜨렸습니다."),
           Wrong(lambda _: _full_ft_gb("total", "bf16"),
                 "가중치·그래디언트를 bf16으로 계산했거나 AdamW 상태를 하나만 셌습니다. fp32 가중치에 상태는 두 "
                 "개입니다."),
           Wrong(lambda _: _full_ft_gb() * 10**9 / 2**30, "GiB(2³⁰ 바이트)로 계산했습니다. 이 강의의 GB는 10⁹ "
                                                          "바이트입니다.")),
))
register(NumericQuestion(
    id="nb03_dq_saving", notebook="03_nf4_quantization",
    prompt="65B 모델의 가중치를 NF4로 저장할 때, 이중 양자화는 몇 GB(10⁹ 바이트)를 줄이나요? (소수 둘째 자리까지)",
    hint_text="nf4.memory_table()의 65B 행에서 'nf4 GB' − 'nf4+dq GB' 입니다. 파라미터당 0.5비트 → 약 0.127비트.",
    explanation="파라미터당 (0.5 − 0.127)비트 × 65·10⁹ / 8 ≈ 3.03 GB입니다 (QLoRA §3: 'about 3 GB').",
    answer=lambda _: _dq_saving(), abs_tol=0.01, unit=" GB",
    wrong=(Wrong(lambda _: _dq_saving() * 8, "비트를 바이트로 바꾸었나요? 8로 나누세요."),
           Wrong(lambda _: _dq_saving("7B"), "그것은 7B 모델의 값입니다. 65B 행을 보세요."),
           Wrong(lambda _: _dq_saving("65B", "nf4+dq GB"), "그것은 NF4+DQ로 저장한 전체 크기입니다. 줄어든 양(차이)을 "
                                                           "구하세요.")),
))


#: The lecture's 18 question ids, s2_q1 … s7_q3 (the nbNN_... extras are not among them).
LECTURE_IDS = tuple(f"s{section}_q{n}" for section in range(2, 8) for n in range(1, 4))
