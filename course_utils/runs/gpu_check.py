"""`make gpu-check`: what only a CUDA GPU can confirm, in one script (skips with one line elsewhere).

1. bitsandbytes' CUDA NF4 bytes and absmax equal :func:`course_utils.quant.nf4_fast.quantize_nf4` (computed on CPU) on
   full blocks; a trailing partial block may differ on rare elements (bnb 0.50's CPU kernel divides there, the CUDA
   kernel multiplies by the reciprocal, ``csrc/kernels.cu`` ``kQuantizeBlockwise``), reported, not failed.
2. :func:`course_utils.memory.estimate.estimate_training_memory` within 15% of ``torch.cuda.max_memory_allocated``
after one
   LoRA and one QLoRA step on a klue/bert-base-shaped stand-in (random weights, batch 2 x 32 tokens).
3. One fp16 step with a GradScaler (T4-class GPUs) and one bf16 step (Ampere and newer) change the adapters.
4. One ``bitsandbytes.optim.PagedAdamW`` step on the QLoRA stand-in.
5. The same memory check for notebook 06's causal LM: a LLaMA-architecture stand-in (random weights, a LLaMA-3-size
   vocabulary), loaded in NF4 by :func:`course_utils.llm.models.load_causal_lm`, LoRA on all linear layers as
   ``peft-course sft`` adds it, one AdamW step at batch 1 x 16 tokens (few tokens: the estimate leaves out
   activations, and the logits of a 128k vocabulary are large).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass

import torch

from course_utils.memory.inventory import CUDA_TOLERANCE as MEMORY_TOLERANCE  # the one copy of the 15%

LORA_TARGETS = ["query", "value"]
BATCH, SEQ_LEN = 2, 32
CAUSAL_BATCH, CAUSAL_SEQ_LEN, CAUSAL_RANK = 1, 16, 8


@dataclass(frozen=True)
class Result:
    """One line of the report."""

    name: str
    ok: bool
    detail: str


def nf4_matches_bnb(device: str = "cuda", n_full: int = 64 * 4099, tail: int = 37) -> Result:
    """bnb quantize_4bit on `device` vs quantize_nf4 on CPU: full blocks equal, partial-block differences counted."""
    import bitsandbytes.functional as F

    from course_utils.quant.nf4_fast import quantize_nf4

    x = torch.randn(n_full + tail, generator=torch.Generator().manual_seed(0)) * 0.02
    packed, state = F.quantize_4bit(x.to(device), blocksize=64, quant_type="nf4")
    theirs, absmax = packed.cpu().reshape(-1), state.absmax.cpu()
    ours, our_absmax = quantize_nf4(x, 64)
    full = n_full // 2  # bytes of the full blocks (two codes per byte)
    equal_full = torch.equal(theirs[:full], ours.reshape(-1)[:full]) and torch.equal(absmax, our_absmax)
    tail_diff = int((theirs[full:] != ours.reshape(-1)[full:]).sum())
    verdict = "일치" if equal_full else "불일치"
    return Result("NF4 = bitsandbytes", equal_full,
                  f"{device}: 전체 블록 {verdict}, 마지막 부분 블록의 다른 바이트 {tail_diff}개")


def stand_in_config(small: bool = False):
    """The klue/bert-base config (or a 2-layer, 128-wide one for quick CPU tests)."""
    from course_utils.runtime.presets import klue_bert_base_config

    config = klue_bert_base_config()
    if small:
        config.num_hidden_layers, config.num_attention_heads = 2, 2
        config.hidden_size, config.intermediate_size = 128, 512
    return config


def lora_model(config, device: str, qlora: bool, folder: str):
    """A peft LoRA classifier on the stand-in: fp32 weights, or NF4 (bitsandbytes) for `qlora`."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from course_utils.runtime.models import load_classifier, load_classifier_4bit
    from course_utils.runtime.presets import config_only_model

    config_only_model(config, device="cpu").save_pretrained(folder)  # random weights, no download
    if qlora:
        model = prepare_model_for_kbit_training(load_classifier_4bit(folder, device=device),
                                                use_gradient_checkpointing=False)
    else:
        model = load_classifier(folder).to(device)
    return get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=LORA_TARGETS, task_type="SEQ_CLS"))


def train_step(model, optimizer, device: str, dtype: torch.dtype = torch.float32) -> float:
    """One forward/backward/step on a random batch in autocast `dtype` (fp16 with a GradScaler); the loss."""
    ids = torch.randint(1, model.config.vocab_size, (BATCH, SEQ_LEN), device=device)
    labels = torch.tensor([0, 1], device=device)
    scaler = torch.amp.GradScaler(device.split(":")[0], enabled=dtype == torch.float16)
    with torch.autocast(device.split(":")[0], dtype=dtype, enabled=dtype != torch.float32):
        loss = model(input_ids=ids, labels=labels).loss
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return float(loss.detach())


def memory_within_tolerance(method: str, device: str = "cuda", small: bool = False) -> Result:
    """Estimate vs torch.cuda.max_memory_allocated after one AdamW step of LoRA or QLoRA."""
    from course_utils.memory.estimate import estimate_training_memory, mib
    from course_utils.runtime.presets import config_only_model

    config = stand_in_config(small)
    estimate = estimate_training_memory(config_only_model(config), method, "fp32", r=8,
                                        target_modules=LORA_TARGETS)["total"]
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as folder:
        model = lora_model(config, device, method == "qlora", folder)
        trainable = [p for p in model.parameters() if p.requires_grad]
        train_step(model, torch.optim.AdamW(trainable, lr=1e-4), device)
    peak = torch.cuda.max_memory_allocated()
    error = abs(peak - estimate) / peak
    return Result(f"메모리 추정 {method}", error <= MEMORY_TOLERANCE,
                  f"추정 {mib(estimate):,.1f} MiB, 측정 최대 {mib(peak):,.1f} MiB, 차이 {error:.1%} "
                  f"(허용 {MEMORY_TOLERANCE:.0%})")


def mixed_precision_step(dtype: torch.dtype, device: str = "cuda", small: bool = False) -> Result:
    """One LoRA step in autocast `dtype`: finite loss and changed adapter weights."""
    name = str(dtype).replace("torch.", "")
    if device.startswith("cuda") and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        return Result(f"{name} 학습 단계", True, "이 GPU는 bf16 미지원 (건너뜀)")
    with tempfile.TemporaryDirectory() as folder:
        model = lora_model(stand_in_config(small), device, False, folder)
        trainable = [p for p in model.parameters() if p.requires_grad]
        before = [p.detach().clone() for p in trainable]
        loss = train_step(model, torch.optim.AdamW(trainable, lr=1e-3), device, dtype)
    changed = sum(not torch.equal(a, p) for a, p in zip(before, trainable, strict=True))
    ok = bool(torch.isfinite(torch.tensor(loss))) and changed > 0
    return Result(f"{name} 학습 단계", ok, f"손실 {loss:.4f}, 바뀐 학습 텐서 {changed}/{len(trainable)}개")


def paged_adamw_step(device: str = "cuda", small: bool = False) -> Result:
    """One bitsandbytes PagedAdamW step on the QLoRA stand-in."""
    import bitsandbytes as bnb

    with tempfile.TemporaryDirectory() as folder:
        model = lora_model(stand_in_config(small), device, True, folder)
        trainable = [p for p in model.parameters() if p.requires_grad]
        before = [p.detach().clone() for p in trainable]
        loss = train_step(model, bnb.optim.PagedAdamW(trainable, lr=1e-3), device)
    changed = sum(not torch.equal(a, p) for a, p in zip(before, trainable, strict=True))
    return Result("PagedAdamW 단계", changed > 0, f"손실 {loss:.4f}, 바뀐 학습 텐서 {changed}/{len(trainable)}개")


def causal_lm_config(small: bool = False):
    """A LLaMA-architecture config (GQA, SwiGLU, untied head): hidden 1024, 8 layers, 128,256-token vocabulary (the
    embedding and the head, kept out of 4-bit, are most of the bytes), or a 2-layer, 64-wide one for CPU tests."""
    from transformers import LlamaConfig

    if small:
        return LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    return LlamaConfig(vocab_size=128_256, hidden_size=1024, intermediate_size=2816, num_hidden_layers=8,
                       num_attention_heads=16, num_key_value_heads=4, tie_word_embeddings=False)


def causal_qlora_model(config, device: str, folder: str):
    """Random weights saved to `folder` (no download), loaded in NF4 (fp32 compute) with LoRA on all linear layers,
    the way ``peft-course sft`` builds its model."""
    from transformers import AutoModelForCausalLM

    from course_utils.llm.models import load_causal_lm
    from course_utils.llm.sft import add_lora

    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config=config).save_pretrained(folder)
    return add_lora(load_causal_lm(folder, four_bit=True, device=device), CAUSAL_RANK, seed=0)


def causal_estimate(config) -> dict[str, int]:
    """estimate_training_memory for the stand-in built on the meta device: QLoRA, fp32, r=8, all-linear."""
    from transformers import AutoModelForCausalLM

    from course_utils.memory.estimate import estimate_training_memory

    with torch.device("meta"):
        meta = AutoModelForCausalLM.from_config(config=config)
    return estimate_training_memory(meta, "qlora", "fp32", r=CAUSAL_RANK, target_modules="all-linear",
                                    skip_modules=["lm_head"])


def causal_batch(config, device: str) -> dict[str, torch.Tensor]:
    """Random token ids, labels = the ids (next-token loss), CAUSAL_BATCH x CAUSAL_SEQ_LEN."""
    ids = torch.randint(1, config.vocab_size, (CAUSAL_BATCH, CAUSAL_SEQ_LEN),
                        generator=torch.Generator().manual_seed(0)).to(device)
    return {"input_ids": ids, "labels": ids.clone()}


def causal_qlora_memory(device: str = "cuda", small: bool = False) -> Result:
    """Estimate vs the CUDA peak of one AdamW step of the causal-LM QLoRA stand-in, counted from the memory in use
    before the model was built (leftovers of earlier checks do not count)."""
    import gc

    from course_utils.memory.estimate import mib
    from course_utils.memory.inventory import train_one_step

    config = causal_lm_config(small)
    estimate = causal_estimate(config)["total"]
    gc.collect()
    torch.cuda.empty_cache()
    baseline = torch.cuda.memory_allocated()
    with tempfile.TemporaryDirectory() as folder:
        model = causal_qlora_model(config, device, folder)
    torch.cuda.reset_peak_memory_stats()  # the step's peak (the model stays allocated), not the loader's
    train_one_step(model, causal_batch(config, device), lr=1e-4)
    peak = torch.cuda.max_memory_allocated() - baseline
    error = abs(peak - estimate) / peak
    return Result("메모리 추정 causal-LM qlora", error <= MEMORY_TOLERANCE,
                  f"추정 {mib(estimate):,.1f} MiB, 측정 최대 {mib(peak):,.1f} MiB, 차이 {error:.1%} "
                  f"(허용 {MEMORY_TOLERANCE:.0%}; 배치 {CAUSAL_BATCH} x {CAUSAL_SEQ_LEN} 토큰)")


CHECKS: tuple[Callable[[], Result], ...] = (
    nf4_matches_bnb,
    lambda: memory_within_tolerance("lora"),
    lambda: memory_within_tolerance("qlora"),
    lambda: mixed_precision_step(torch.float16),
    lambda: mixed_precision_step(torch.bfloat16),
    paged_adamw_step,
    causal_qlora_memory,
)


def main(argv: list[str] | None = None) -> int:
    """Run every check on the GPU and print one line each; 0 if all pass (or no CUDA GPU: skipped)."""
    from course_utils.runtime.cli import CommandParser

    CommandParser(prog="python -m course_utils gpu-check", description=main.__doc__).parse_args(argv)
    if not torch.cuda.is_available():
        print("gpu-check 건너뜀: CUDA GPU가 없습니다.")
        return 0
    from course_utils.runtime.quiet import silence_library_noise

    silence_library_noise()
    print(f"gpu-check: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    results = []
    for check in CHECKS:
        try:
            result = check()
        except Exception as err:  # noqa: BLE001 - one failing check must not hide the others
            result = Result(getattr(check, "__name__", "check"), False, f"{type(err).__name__}: {err}")
        results.append(result)
        print(f"[{'OK' if result.ok else 'FAIL'}] {result.name}: {result.detail}", flush=True)
    failed = [r.name for r in results if not r.ok]
    print(f"실패 {len(failed)}개: {', '.join(failed)}" if failed else "모든 GPU 점검 통과")
    return 1 if failed else 0
