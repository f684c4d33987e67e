"""Notebook extras: checkpoint questions beyond the lecture's 18, with per-student variants (the default variant
is the lecture's model size). Content: registered with the engine when imported.
"""

from __future__ import annotations

from course_utils.exercises.engine import Wrong, register
from course_utils.exercises.kinds import NumericQuestion
from course_utils.exercises.variants import pick


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
