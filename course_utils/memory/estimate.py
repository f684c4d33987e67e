"""Training-memory arithmetic: what full fine-tuning, LoRA or QLoRA keeps in memory after one optimizer step.

:func:`estimate_training_memory` predicts, from the *unquantized* base model's shapes (a meta-device model is enough)
or from a bare parameter count: weights by dtype, NF4 codes + bitsandbytes quant-state tensors, LoRA adapters (and
the trainable head copies peft makes), gradients and optimizer states. Which layers are adapted, saved and 4-bit is
asked of peft and transformers (:mod:`course_utils.adapters.peft_rules`); the bytes are this module's arithmetic, and
``tests/test_memory.py`` checks them to the byte against :func:`course_utils.memory.inventory.inventory_bytes`.

Activations, the CUDA context and allocator caches are *not* included (they depend on batch and sequence length);
:func:`checkpointed_activation_bytes` gives a rough figure for activations with gradient checkpointing.

Units: sizes the lecture states by arithmetic ("7B × 4 bytes = 28 GB") are in GB (10⁹ bytes); every comparison with
a GPU is in GiB (2³⁰ bytes), the unit GPUs report (:data:`GPU_GIB`).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from course_utils.adapters.peft_rules import check_base_model, four_bit_module_names, peft_plan, task_type_of
from course_utils.quant import nf4
from course_utils.runtime import validate
from course_utils.runtime.answers import servable
from course_utils.runtime.presets import DEFAULT_SKIP_MODULES, PRESETS, preset_model
from course_utils.runtime.units import GB, GIB, MIB

BYTES_PER_ELEMENT = {"fp32": 4, "bf16": 2, "fp16": 2}
ADAMW_STATES = 2  # exp_avg and exp_avg_sq, one of each per trained parameter
# The course's one table of GPU sizes: the total memory `nvidia-smi` reports, in MiB (GPUs are sold as "16 GB",
# "24 GB", ... but report binary units). Sources, all public nvidia-smi outputs or listings (not measured here):
# modal-labs/modal-client PR #2797 (2025-01) lists T4 15360, A10 23028, L4 23034, A100 40GB 40960, A100 80GB 81920,
# H100 81559 MiB; nvidia-smi printouts in NVIDIA/DCGM issue #232 (A10G 23028MiB), NVIDIA/mig-parted issue #31
# (A100-SXM4-80GB 81920MiB) and NVIDIA/nccl issue #1264 (H100 80GB HBM3 81559MiB) agree. L4 and A100-40GB rest on
# the modal listing alone. A6000 49,140 MiB is the commonly reported value, not re-verified for this table.
GPU_MIB = {"T4": 15_360, "A10G": 23_028, "L4": 23_034, "A100-40G": 40_960, "A6000": 49_140, "A100-80G": 81_920,
           "H100-80G": 81_559}
GPU_GIB = {name: mib / 1024 for name, mib in GPU_MIB.items()}  # what a GPU reports, in GiB (2³⁰ bytes)
# Assumed GPU memory outside PyTorch's tensors (CUDA context, allocator slack) when a guide budgets a GPU.
CUDA_OVERHEAD_GIB = 0.5
# The QLoRA repository's 65B run (artidoro/qlora scripts/finetune_guanaco_65b.sh): batch 4, at most 16 + 512 tokens.
QLORA_65B_BATCH = (4, 16 + 512)

MEMORY_METHODS = ("full", "lora", "qlora")
# optimizer name -> (state tensors per trainable parameter, bytes of the per-tensor `step` counter)
OPTIMIZERS = {
    "adamw": (2, 4),         # torch.optim.AdamW: exp_avg, exp_avg_sq (+ a float32 scalar `step` tensor)
    "sgd": (0, 0),           # torch.optim.SGD(momentum=0): no state at all
    "sgd_momentum": (1, 0),  # torch.optim.SGD(momentum>0): one momentum buffer
}
STATE_DTYPES = (*BYTES_PER_ELEMENT, "param")  # "param": the state has the dtype of its parameter (torch's rule)
PARTS = ("weights", "weights_4bit", "adapters", "gradients", "optimizer_states")
PART_LABELS = {"weights": "가중치 (fp)", "weights_4bit": "가중치 NF4+DQ", "adapters": "어댑터",
               "gradients": "그래디언트", "optimizer_states": "옵티마이저 상태"}
PART_COLORS = {"weights": "#4C72B0", "weights_4bit": "#8172B2", "adapters": "#55A868", "gradients": "#DD8452",
               "optimizer_states": "#C44E52"}
# bitsandbytes keeps two code tables per 4-bit weight (NF4: 16 fp32 values; DQ's dynamic map: 256 fp32 values)
# and, with double quantization, a float32 scalar offset. nf4.storage_bytes leaves these constants out.
NF4_CODE_BYTES = 16 * 4
DQ_CODE_BYTES = 256 * 4
DQ_OFFSET_BYTES = 4


def full_finetune_bytes(n_params: int, weight_dtype: str = "fp32", state_dtype: str = "fp32") -> dict[str, int]:
    """Bytes of weights, gradients (same dtype) and AdamW states for full fine-tuning, activations excluded."""
    validate.positive_int(n_params, "n_params")
    weight = BYTES_PER_ELEMENT[validate.choice(weight_dtype, BYTES_PER_ELEMENT, "weight_dtype")]
    state = BYTES_PER_ELEMENT[validate.choice(state_dtype, BYTES_PER_ELEMENT, "state_dtype")]
    parts = {
        "weights": n_params * weight,
        "gradients": n_params * weight,
        "optimizer_states": n_params * ADAMW_STATES * state,
    }
    parts["total"] = sum(parts.values())
    return parts


def nf4_weight_bytes(n: int, blocksize: int = 64, double_quant: bool = True) -> int:
    """Bytes bitsandbytes stores for one 4-bit NF4 weight of `n` elements (one ``Params4bit``).

    The packed codes and absmax (``nf4.storage_bytes``) plus the per-tensor constants: the 16-value NF4 code
    table (fp32) and, with double quantization, the 256-value dynamic map and the fp32 offset.
    """
    parts = nf4.storage_bytes(n, blocksize, double_quant=double_quant)
    constants = NF4_CODE_BYTES + (DQ_CODE_BYTES + DQ_OFFSET_BYTES if double_quant else 0)
    return parts["total"] + constants


def with_total(parts: dict[str, int]) -> dict[str, int]:
    """All parts in a fixed order plus their total."""
    out = {key: int(parts.get(key, 0)) for key in PARTS}
    out["total"] = sum(out.values())
    return out


def _state_bytes(param_bytes_per_element: int, state_dtype: str) -> int:
    """Bytes per element of one optimizer state tensor for a parameter of the given element size."""
    return param_bytes_per_element if state_dtype == "param" else BYTES_PER_ELEMENT[state_dtype]


def _estimate_from_count(n: int, method: str, weight_dtype: str, optimizer: str, adapter_params: int | None,
                         adapter_dtype: str, state_dtype: str, blocksize: int, double_quant: bool) -> dict[str, int]:
    """Back-of-envelope version for a bare parameter count: every weight counted as one big Linear weight."""
    n = validate.positive_int(n, "model_or_sizes")
    n_states, _step = OPTIMIZERS[optimizer]
    w = BYTES_PER_ELEMENT[weight_dtype]
    if method == "full":
        return with_total({"weights": n * w, "gradients": n * w,
                        "optimizer_states": n * n_states * _state_bytes(w, state_dtype)})
    if adapter_params is None:
        raise ValueError("adapter_params must be given (a non-negative int) when model_or_sizes is a parameter "
                         f"count and method is {method!r}")
    a = validate.positive_int(adapter_params, "adapter_params", allow_zero=True)
    aw = BYTES_PER_ELEMENT[adapter_dtype]
    parts = {"adapters": a * aw, "gradients": a * aw, "optimizer_states": a * n_states * _state_bytes(aw, state_dtype)}
    if method == "lora":
        parts["weights"] = n * w
    else:
        parts["weights_4bit"] = nf4_weight_bytes(n, blocksize, double_quant)
    return with_total(parts)


@servable
def estimate_training_memory(
    model_or_sizes: nn.Module | str | int,
    method: str = "lora",
    weight_dtype: str = "fp32",
    optimizer: str = "adamw",
    *,
    r: int | None = None,
    target_modules: str | Sequence[str] | None = None,
    task_type: str | None = "auto",
    modules_to_save: Sequence[str] | None = None,
    skip_modules: Sequence[str] | None = None,
    adapter_dtype: str = "fp32",
    state_dtype: str = "fp32",
    double_quant: bool = True,
    blocksize: int = 64,
    kbit_upcast: bool = True,
    adapter_params: int | None = None,
) -> dict[str, int]:
    """Bytes held after one optimizer step of full fine-tuning, LoRA or QLoRA (activations excluded).

    Returns a dict with ``weights`` (base-model tensors in a float dtype, plus buffers in their own dtype),
    ``weights_4bit`` (NF4 codes and bitsandbytes quant-state tensors), ``adapters`` (LoRA A/B and the trainable
    copies peft makes of ``modules_to_save``, e.g. the classifier), ``gradients``, ``optimizer_states`` and ``total``.

    Args:
        model_or_sizes: the unquantized base model (a meta-device model is enough), a preset name from
            :data:`course_utils.runtime.presets.PRESETS`, or a bare parameter count (then all weights count as Linear
            weights and LoRA/QLoRA need ``adapter_params``).
        method: ``"full"`` (all parameters trained), ``"lora"`` (frozen base in `weight_dtype` + adapters) or
            ``"qlora"`` (the base's 4-bit layers in NF4, the rest in `weight_dtype` + adapters).
        weight_dtype: dtype of the base model's float weights: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        optimizer: ``"adamw"`` (2 states per parameter + a 4-byte step per tensor, as ``torch.optim.AdamW``),
            ``"sgd"`` or ``"sgd_momentum"``.
        r: LoRA rank (default: the preset's, else 8). target_modules: as in peft — names, a regex or
            ``"all-linear"`` (default: the preset's, else ``"all-linear"``).
        task_type: peft task type; ``"auto"`` (default) reads it from the model class (``...ForSequenceClassification``
            → SEQ_CLS, whose head peft trains as a full copy).
        modules_to_save: extra modules trained as a full copy (a list of names), besides the task's head.
        skip_modules: layers kept out of 4-bit, as ``llm_int8_skip_modules`` (default: the preset's; for a BERT
            classifier the course's ``("classifier", "bert.pooler")``; else transformers' own defaults).
        adapter_dtype: dtype of LoRA A/B (peft keeps them in fp32 by default).
        state_dtype: dtype of optimizer states: a dtype name, or ``"param"`` for the parameter's own dtype
            (what ``torch.optim.AdamW`` does). Default fp32, the usual mixed-precision accounting.
        double_quant, blocksize: the NF4 settings (course default: NF4 + double quant, blocksize 64).
        kbit_upcast: QLoRA only; ``prepare_model_for_kbit_training`` casts fp16/bf16 non-4-bit weights to fp32.
        adapter_params: adapter size when `model_or_sizes` is a bare count.
    """
    validate.choice(method, MEMORY_METHODS, "method")
    validate.choice(weight_dtype, BYTES_PER_ELEMENT, "weight_dtype")
    validate.choice(optimizer, OPTIMIZERS, "optimizer")
    validate.choice(adapter_dtype, BYTES_PER_ELEMENT, "adapter_dtype")
    validate.choice(state_dtype, STATE_DTYPES, "state_dtype")
    validate.int_choice(blocksize, nf4.ALLOWED_BLOCKSIZES, "blocksize")
    if r is not None:
        validate.positive_int(r, "r")
    preset = None
    if isinstance(model_or_sizes, str):
        preset = PRESETS[validate.choice(model_or_sizes, PRESETS, "model_or_sizes")]
        model_or_sizes = preset_model(model_or_sizes)
    if isinstance(model_or_sizes, (int, float)):
        return _estimate_from_count(model_or_sizes, method, weight_dtype, optimizer, adapter_params, adapter_dtype,
                                    state_dtype, blocksize, double_quant)
    if not isinstance(model_or_sizes, nn.Module):
        raise TypeError("model_or_sizes must be an nn.Module, a preset name "
                        f"({sorted(PRESETS)}) or a positive int; got {type(model_or_sizes).__name__}")
    model = check_base_model(model_or_sizes)
    _check_fp32_modules(model, method, weight_dtype, kbit_upcast)
    task = task_type_of(model) if task_type == "auto" else task_type
    r = r if r is not None else preset.r if preset else 8
    if target_modules is None:
        target_modules = preset.target_modules if preset else "all-linear"
    if skip_modules is None and method == "qlora":  # else transformers' defaults (tied/output embeddings, last)
        is_bert_classifier = task == "SEQ_CLS" and getattr(getattr(model, "config", None), "model_type", "") == "bert"
        skip_modules = preset.skip_modules if preset else DEFAULT_SKIP_MODULES if is_bert_classifier else None
    return _estimate_from_model(model, method, weight_dtype, optimizer, r, target_modules, task, modules_to_save,
                                skip_modules, adapter_dtype, state_dtype, double_quant, blocksize, kbit_upcast)


def _check_fp32_modules(model: nn.Module, method: str, weight_dtype: str, kbit_upcast: bool) -> None:
    """Refuse a 16-bit estimate for a model that transformers may keep partly in fp32 (not modelled here).

    Which dtypes ``_keep_in_fp32_modules`` applies to changed between transformers releases (5.0: bf16 too; later:
    fp16 only), so the estimate says so instead of guessing. QLoRA with ``kbit_upcast`` casts them to fp32 anyway.
    """
    kept = set(getattr(model, "_keep_in_fp32_modules", None) or ()) | set(
        getattr(model, "_keep_in_fp32_modules_strict", None) or ())
    if kept and weight_dtype != "fp32" and not (method == "qlora" and kbit_upcast):
        raise ValueError(f"weight_dtype={weight_dtype!r}: {type(model).__name__} keeps {sorted(kept)} in fp32 when "
                         "loaded in a 16-bit dtype (how depends on the transformers version), which this estimate "
                         "does not model; use weight_dtype='fp32'")


def _estimate_from_model(model: nn.Module, method: str, weight_dtype: str, optimizer: str, r: int,
                         target_modules: str | Sequence[str], task_type: str | None,
                         modules_to_save: Sequence[str] | None, skip_modules: Sequence[str] | None,
                         adapter_dtype: str, state_dtype: str, double_quant: bool, blocksize: int,
                         kbit_upcast: bool) -> dict[str, int]:
    """The estimate walked over the model's tensors, each distinct tensor once (tied weights once)."""
    n_states, step_bytes = OPTIMIZERS[optimizer]
    w = BYTES_PER_ELEMENT[weight_dtype]
    parts = dict.fromkeys(PARTS, 0)

    def train(numel: int, elem: int) -> None:  # gradient + optimizer state for one trainable tensor
        parts["gradients"] += numel * elem
        parts["optimizer_states"] += numel * n_states * _state_bytes(elem, state_dtype) + step_bytes

    for buffer in model.buffers():  # position ids, rotary inv_freq (fp32 whatever the weights' dtype), ...
        parts["weights"] += buffer.numel() * buffer.element_size()

    if method == "full":
        for p in model.parameters():  # tied parameters once
            elem = w if p.is_floating_point() else p.element_size()
            parts["weights"] += p.numel() * elem
            train(p.numel(), elem)
        return with_total(parts)

    quantized = set(four_bit_module_names(model, skip_modules)) if method == "qlora" else set()
    if method == "qlora" and not quantized:
        raise ValueError(f"model has no layer left to quantize to 4-bit (skip_modules={skip_modules!r})")
    plan = peft_plan(model, target_modules, task_type=task_type, modules_to_save=modules_to_save)
    for name in plan.saved:
        inside = sorted(q for q in quantized if q == name or q.startswith(name + "."))
        if inside:
            raise ValueError(f"{name!r} is trained as a full copy (modules_to_save) but {inside[0]!r} would be "
                             f"4-bit: add {name!r} to skip_modules")
    # prepare_model_for_kbit_training casts every fp16/bf16 non-4-bit parameter to fp32
    frozen_elem = 4 if method == "qlora" and kbit_upcast else w
    seen: set[int] = set()
    for name, module in model.named_modules():
        for pname, p in module.named_parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            if name in quantized and pname == "weight":
                parts["weights_4bit"] += nf4_weight_bytes(p.numel(), blocksize, double_quant)
            elif name in quantized:  # Linear4bit.forward casts its bias back to the compute dtype (= weight_dtype)
                parts["weights"] += p.numel() * w
            else:
                parts["weights"] += p.numel() * (frozen_elem if p.is_floating_point() else p.element_size())

    aw = BYTES_PER_ELEMENT[adapter_dtype]
    for layer in plan.adapted:
        for numel in (r * layer.in_features, layer.out_features * r):  # lora_A (r, in), lora_B (out, r)
            parts["adapters"] += numel * aw
            train(numel, aw)
    modules = dict(model.named_modules())
    copied: set[int] = set()
    for name in plan.saved:  # peft's trainable copy of each saved module, in that module's dtype
        for p in modules[name].parameters():
            if id(p) not in copied:
                copied.add(id(p))
                elem = frozen_elem if p.is_floating_point() else p.element_size()
                parts["adapters"] += p.numel() * elem
                train(p.numel(), elem)
    return with_total(parts)


BREAKDOWN = {  # key -> (bar label, estimate_training_memory keyword arguments besides model and weight dtype)
    "full": ("완전 FT\n(bf16)", {"method": "full"}),
    "lora": ("LoRA\n(bf16 기본 모델)", {"method": "lora"}),
    "qlora": ("QLoRA\n(이 강의 기본값)", {"method": "qlora"}),
    "qlora_repo": ("QLoRA\n(QLoRA 저장소 설정)", {"method": "qlora", "adapter_dtype": "bf16", "kbit_upcast": False}),
}


def breakdown_rows(model: str = "llama-7b") -> dict[str, tuple[str, dict[str, int]]]:
    """key -> (label, estimate) for full FT, LoRA and QLoRA (course defaults and the QLoRA repository's bf16
    recipe) of a preset, all with bf16 base weights and fp32 AdamW states."""
    return {key: (label, estimate_training_memory(model, weight_dtype="bf16", **kwargs))
            for key, (label, kwargs) in BREAKDOWN.items()}


@servable
def checkpointed_activation_bytes(model: nn.Module | str, batch_size: int = 1, seq_len: int = 512) -> int:
    """Rough activation bytes of one training step with gradient checkpointing and 16-bit activations.

    Each layer's input is kept (layers·b·s·h·2 bytes); backward recomputes one layer at a time, which holds
    s·b·h·(34 + 5·a·s/h) bytes (Korthikanti et al. 2022, arXiv 2205.05198, §4.1, eq. 1); a model with an LM head
    adds its logits b·s·V three times (bf16, the fp32 copy the loss makes, its fp32 gradient: 10 bytes each).
    """
    model = preset_model(model) if isinstance(model, str) else model
    b = validate.positive_int(batch_size, "batch_size")
    s = validate.positive_int(seq_len, "seq_len")
    config = getattr(model, "config", None)
    if config is None:
        raise TypeError(f"model must be a transformers model (with .config), got {type(model).__name__}")
    h, layers, heads = config.hidden_size, config.num_hidden_layers, config.num_attention_heads
    kept = layers * b * s * h * 2
    one_layer = s * b * h * 34 + 5 * heads * s * s * b
    logits = b * s * config.vocab_size * 10 if model.get_output_embeddings() is not None else 0
    return kept + one_layer + logits


def lecture_claims() -> dict[str, float]:
    """The numbers behind the lecture's memory claims (activations excluded unless named).

    Keys end in their unit: ``_gb`` (10⁹ bytes, the lecture's arithmetic) or ``_gib`` (2³⁰ bytes, for GPU fits).

    * "7B ≈ 28 GB / 40 GB+": ``full_fp32_weights_7b_gb`` (7×10⁹ fp32 weights), ``full_fp32_total_7b_gb`` and
      ``full_bf16_total_7b_gb`` (plus gradients and fp32 AdamW states).
    * "65B on one 48 GB GPU" (QLoRA abstract): LLaMA-65B QLoRA, r=64 on all linear layers, against the A6000's
      ``a6000_gib``. ``qlora_65b_gib``: this course's defaults (fp32 adapters, ``prepare_model_for_kbit_training``
      upcasts the bf16 embeddings/head to fp32); ``qlora_65b_repo_recipe_gib``: the QLoRA repository's ``--bf16``
      recipe (artidoro/qlora ``qlora.py``: LoRA layers, embeddings and lm_head in bf16; paged 32-bit AdamW keeps
      fp32 states); ``activations_65b_gib``: :func:`checkpointed_activation_bytes` at the repository's 65B batch
      (:data:`QLORA_65B_BATCH`).
    * "~75% less memory": ``reduction_weight_bits`` = 1 − 4.127/16 (NF4+DQ vs 16-bit weight storage);
      ``reduction_vs_lora_bf16`` and ``reduction_vs_full_bf16``: LLaMA-7B QLoRA training total vs LoRA on a bf16
      base and vs full bf16 fine-tuning.
    """
    n7 = 7 * 10**9
    q65 = estimate_training_memory("llama-65b", "qlora", "bf16")
    q65_repo = estimate_training_memory("llama-65b", weight_dtype="bf16", **BREAKDOWN["qlora_repo"][1])
    rows = {key: est for key, (_, est) in breakdown_rows("llama-7b").items()}
    return {
        "full_fp32_weights_7b_gb": estimate_training_memory(n7, "full", "fp32")["weights"] / GB,
        "full_fp32_total_7b_gb": estimate_training_memory(n7, "full", "fp32")["total"] / GB,
        "full_bf16_total_7b_gb": estimate_training_memory(n7, "full", "bf16")["total"] / GB,
        "qlora_65b_gib": q65["total"] / GIB,
        "qlora_65b_weights_4bit_gib": q65["weights_4bit"] / GIB,
        "qlora_65b_repo_recipe_gib": q65_repo["total"] / GIB,
        "activations_65b_gib": checkpointed_activation_bytes("llama-65b", *QLORA_65B_BATCH) / GIB,
        "a6000_gib": GPU_GIB["A6000"],
        "reduction_weight_bits": 1 - nf4.bits_per_parameter(64, double_quant=True) / 16,
        "reduction_vs_lora_bf16": 1 - rows["qlora"]["total"] / rows["lora"]["total"],
        "reduction_vs_full_bf16": 1 - rows["qlora"]["total"] / rows["full"]["total"],
    }


def gb(nbytes: int) -> float:
    """Bytes in GB (10^9), for tables."""
    if nbytes < 0:
        raise ValueError(f"nbytes must be >= 0, got {nbytes!r}")
    return nbytes / GB


def gib(nbytes: int) -> float:
    """Bytes in GiB (2^30), the unit GPU memory is compared in."""
    if nbytes < 0:
        raise ValueError(f"nbytes must be >= 0, got {nbytes!r}")
    return nbytes / GIB


def mib(nbytes: int) -> float:
    """Bytes in MiB (2^20), for small models."""
    if nbytes < 0:
        raise ValueError(f"nbytes must be >= 0, got {nbytes!r}")
    return nbytes / MIB


__all__ = [
    "ADAMW_STATES", "BREAKDOWN", "BYTES_PER_ELEMENT", "CUDA_OVERHEAD_GIB", "GB", "GIB", "GPU_GIB", "GPU_MIB",
    "MEMORY_METHODS",
    "OPTIMIZERS", "PARTS", "PART_LABELS", "QLORA_65B_BATCH", "breakdown_rows", "checkpointed_activation_bytes",
    "estimate_training_memory", "with_total", "full_finetune_bytes", "gb", "gib", "lecture_claims", "mib",
    "nf4_weight_bytes",
]
