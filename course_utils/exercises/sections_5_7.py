"""Checkpoint questions of sections 5–7, the notebook extras, and the written "why" parts of six questions.

Content only, registered with the engine; :mod:`course_utils.exercises.catalog` imports it after
:mod:`course_utils.exercises.sections_2_4`, so the registry keeps lecture order.
"""

from __future__ import annotations

from course_utils.exercises.engine import Wrong, checkpoint, register
from course_utils.exercises.kinds import NumericQuestion, SetQuestion, WrittenQuestion
from course_utils.exercises.sections_2_4 import GPU_24, gib_note, measured, methods_that_fit
from course_utils.exercises.variants import pick

# ------------------------------------------------------------------------------------------------------------
# §5–§7
# ------------------------------------------------------------------------------------------------------------

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
           "하는 것을 모두 고르세요. 항목마다 부분 점수를 줍니다. 권장하지만 필수는 아닌 항목은 골라도 빼도 "
           "됩니다.",
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
register(SetQuestion(
    id="s7_q1", notebook="05_method_comparison",
    prompt=("특정 프로젝트에서 PEFT 방법을 선택할 때 고려해야 할 주요 요소들은 무엇인가? 그중 메모리를 계산해 "
            "봅시다: LLaMA-7B(bf16 기본 모델, "
            "r=64, 모든 Linear, 활성값 제외)를 24GB GPU(보고되는 용량 24 GiB) 한 장에서 학습할 때 들어가는 방법을 "
            "모두 고르세요 (\"full\", \"lora\", \"qlora\"). GiB로 비교하세요."),
    hint_text='course_utils.memory.estimate.estimate_training_memory("llama-7b", method, "bf16")["total"] / GIB '
              '를 세 방법에 '
              '대해 구해 GPU_GIB["A10G/L4"]와 비교하세요.',
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

# ------------------------------------------------------------------------------------------------------------
# Notebook extras, with per-student variants (the default variant is the lecture's model size)
# ------------------------------------------------------------------------------------------------------------


def full_ft_gb(size: float, part: str = "total", weight_dtype: str = "fp32") -> float:
    """memory.full_finetune_bytes(size·10⁹ parameters, weight_dtype)[part] in GB (10^9 bytes)."""
    from course_utils.memory.estimate import GB, full_finetune_bytes

    return full_finetune_bytes(int(size * 10**9), weight_dtype)[part] / GB


def dq_saving_gb(size: float, column: str = "DQ saves GB") -> float:
    """A value of nf4.memory_table() for a size·10⁹-parameter model (GB = 10^9 bytes)."""
    from course_utils.quant import nf4

    return float(nf4.memory_table({"m": int(size * 10**9)}).set_index("model").loc["m", column])


NB00_SIZES = (1, 3, 7, 8, 13, 14, 30, 34, 70)  # billions of parameters; 13 is the default
NB03_SIZES = (7, 13, 30, 34, 65, 70, 110)  # 65 is the default (QLoRA §3: "about 3 GB")


def _size_draw(sizes: tuple[int, ...], default: int):
    """A draw function: one model size, never the default."""
    return lambda rng: pick(rng, [{"size": s} for s in sizes], {"size": default})


register(NumericQuestion(
    id="nb00_full_ft_13b", notebook="00_peft_motivation", draw=_size_draw(NB00_SIZES, 13), default={"size": 13},
    prompt=("{size}B 모델을 fp32 가중치 + AdamW(상태 fp32)로 완전 파인튜닝할 때 가중치·그래디언트·옵티마이저 상태의 "
            "합은 몇 GB(10⁹ 바이트)인가? (활성값 제외)"),
    hint_text="파라미터마다 가중치 4바이트, 그래디언트 4바이트, AdamW 상태 두 개(1차·2차 모멘트) 8바이트입니다.",
    explanation="{size}·10⁹ × (4 + 4 + 8) 바이트입니다. 강의의 '~28GB'(7B)처럼 가중치만 세면 필요량의 1/4만 보게 "
                "됩니다.",
    answer=lambda c: full_ft_gb(c["size"]), abs_tol=0.5, unit=" GB",
    wrong=(Wrong(lambda c: full_ft_gb(c["size"], "weights"),
                 "가중치만 셌습니다 (강의의 '~28GB'와 같은 실수). 그래디언트와 AdamW 상태 두 개를 더하세요."),
           Wrong(lambda c: full_ft_gb(c["size"], "weights") + full_ft_gb(c["size"], "gradients"),
                 "AdamW의 1차·2차 모멘트(파라미터당 8바이트)를 빠뜨렸습니다."),
           Wrong(lambda c: full_ft_gb(c["size"], "total", "bf16"),
                 "가중치·그래디언트를 bf16으로 계산했거나 AdamW 상태를 하나만 셌습니다. fp32 가중치에 상태는 두 "
                 "개입니다."),
           Wrong(lambda c: full_ft_gb(c["size"]) * 10**9 / 2**30, "GiB(2³⁰ 바이트)로 계산했습니다. 이 질문의 GB는 "
                                                                  "10⁹ 바이트입니다.")),
))
register(NumericQuestion(
    id="nb03_dq_saving", notebook="03_nf4_quantization", draw=_size_draw(NB03_SIZES, 65), default={"size": 65},
    prompt="{size}B 모델의 가중치를 NF4로 저장할 때, 이중 양자화는 몇 GB(10⁹ 바이트)를 줄이나요? (소수 둘째 자리까지)",
    hint_text=("nf4.memory_table({{\"{size}B\": {size} * 10**9}})에서 'nf4 GB' − 'nf4+dq GB' 입니다. 파라미터당 "
               "0.5비트 → 약 0.127비트."),
    explanation="파라미터당 (0.5 − 0.127)비트 × {size}·10⁹ / 8 바이트입니다 (QLoRA §3: 65B에서 'about 3 GB').",
    answer=lambda c: dq_saving_gb(c["size"]), decimals=2, unit=" GB",
    wrong=(Wrong(lambda c: dq_saving_gb(c["size"]) * 8, "비트를 바이트로 바꾸었나요? 8로 나누세요."),
           Wrong(lambda c: dq_saving_gb(c["size"], "nf4+dq GB"), "그것은 NF4+DQ로 저장한 전체 크기입니다. 줄어든 "
                                                               "양(차이)을 구하세요."),
           Wrong(lambda c: dq_saving_gb(c["size"], "nf4 GB"), "그것은 NF4로 저장한 전체 크기입니다. 줄어든 양(차이)을 "
                                                             "구하세요.")),
))

# ------------------------------------------------------------------------------------------------------------
# The written "why" part of the six questions that are otherwise only a number or a set (recorded for review)
# ------------------------------------------------------------------------------------------------------------

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
}
for base, (notebook, prompt, hint) in WHY.items():
    register(WrittenQuestion(id=f"{base}_why", notebook=notebook, prompt=f"({base}에 이어서) {prompt}", hint_text=hint,
                             explanation=checkpoint(base).explanation))
