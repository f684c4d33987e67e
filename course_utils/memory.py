"""Training-memory arithmetic and measurement: weights (fp32/bf16/fp16/NF4+DQ), adapters, gradients, optimizer states.

Two sides that must agree to the byte (``tests/test_memory.py``):

* :func:`estimate_training_memory` predicts, from the *unquantized* base model's shapes (a meta-device model is
  enough) or from a bare parameter count, what full fine-tuning, LoRA or QLoRA keeps in memory after one
  optimizer step: weights by dtype, NF4 codes + bitsandbytes quant-state tensors, LoRA adapters (and the
  trainable classifier copy), gradients and optimizer states.
* :func:`inventory_bytes` measures the real tensors of a (peft / 4-bit) model and its optimizer: parameters,
  buffers, the quant-state tensors bitsandbytes hangs on each ``Params4bit``, ``.grad``s and optimizer state,
  each storage counted once.

Activations, the CUDA context and allocator caches are *not* included (they depend on batch and sequence length).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import nn

from course_utils import nf4
from course_utils.models import DEFAULT_SKIP_MODULES

BYTES_PER_ELEMENT = {"fp32": 4, "bf16": 2, "fp16": 2}
TORCH_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
ADAMW_STATES = 2  # exp_avg and exp_avg_sq, one of each per trained parameter
GB = 10**9  # decimal gigabytes, as in the lecture's "28 GB"

METHODS = ("full", "lora", "qlora")
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
# bitsandbytes keeps two code tables per 4-bit weight (NF4: 16 fp32 values; DQ's dynamic map: 256 fp32 values)
# and, with double quantization, a float32 scalar offset. nf4.storage_bytes leaves these constants out.
NF4_CODE_BYTES = 16 * 4
DQ_CODE_BYTES = 256 * 4
DQ_OFFSET_BYTES = 4


def _dtype_bytes(dtype: str, argument: str) -> int:
    """Bytes per element of a named dtype, or a ValueError naming `argument`."""
    if dtype not in BYTES_PER_ELEMENT:
        raise ValueError(f"{argument} must be one of {sorted(BYTES_PER_ELEMENT)}, got {dtype!r}")
    return BYTES_PER_ELEMENT[dtype]


def full_finetune_bytes(n_params: int, weight_dtype: str = "fp32", state_dtype: str = "fp32") -> dict[str, int]:
    """Bytes of weights, gradients (same dtype) and AdamW states for full fine-tuning, activations excluded."""
    if not isinstance(n_params, int) or n_params <= 0:
        raise ValueError(f"n_params must be a positive int, got {n_params!r}")
    weight = _dtype_bytes(weight_dtype, "weight_dtype")
    state = _dtype_bytes(state_dtype, "state_dtype")
    parts = {
        "weights": n_params * weight,
        "gradients": n_params * weight,
        "optimizer_states": n_params * ADAMW_STATES * state,
    }
    parts["total"] = sum(parts.values())
    return parts


# ----------------------------------------------------------------------------------------------------
# NF4 storage exactly as bitsandbytes keeps it
# ----------------------------------------------------------------------------------------------------


def nf4_weight_bytes(n: int, blocksize: int = 64, double_quant: bool = True) -> int:
    """Bytes bitsandbytes stores for one 4-bit NF4 weight of `n` elements (one ``Params4bit``).

    The packed codes and absmax (``nf4.storage_bytes``) plus the per-tensor constants: the 16-value NF4 code
    table (fp32) and, with double quantization, the 256-value dynamic map and the fp32 offset.
    """
    parts = nf4.storage_bytes(n, blocksize, double_quant=double_quant)
    constants = NF4_CODE_BYTES + (DQ_CODE_BYTES + DQ_OFFSET_BYTES if double_quant else 0)
    return parts["total"] + constants


# ----------------------------------------------------------------------------------------------------
# Which modules LoRA wraps and which Linear layers become 4-bit (the rules of peft and transformers)
# ----------------------------------------------------------------------------------------------------


def _name_matches(name: str, patterns: Sequence[str]) -> bool:
    """peft's rule for a list: the full name equals a pattern or ends with '.' + pattern."""
    return any(name == p or name.endswith("." + p) for p in patterns)


def _lora_targets(model: nn.Module, target_modules: str | Sequence[str], modules_to_save: Sequence[str]) -> list[str]:
    """Names of the nn.Linear modules peft would wrap with LoRA.

    ``"all-linear"``: every Linear except the output embedding (causal LM) or the classification head (as peft);
    another string: a regex that must match the full name; a list: exact names or name suffixes.
    """
    linears = [name for name, module in model.named_modules() if isinstance(module, nn.Linear)]
    if isinstance(target_modules, str):
        if target_modules.lower() == "all-linear":
            exclude = set()
            out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
            if out is not None:
                exclude |= {name for name, module in model.named_modules() if module is out}
            else:
                exclude |= {name for name in linears if _name_matches(name, modules_to_save)}
            return [name for name in linears if name not in exclude]
        return [name for name in linears if re.fullmatch(target_modules, name)]
    return [name for name in linears if _name_matches(name, list(target_modules))]


def _converts_to_4bit(name: str, skip_modules: Sequence[str]) -> bool:
    """transformers' rule (``should_convert_module``): a skip entry matches from the start, as regex, or as suffix."""
    from transformers.quantizers.quantizers_utils import should_convert_module

    return should_convert_module(name, list(skip_modules))


def quantizable_linears(model: nn.Module, skip_modules: Sequence[str] = DEFAULT_SKIP_MODULES) -> list[str]:
    """Names of the nn.Linear modules that bitsandbytes 4-bit loading turns into ``Linear4bit``."""
    return [name for name, module in model.named_modules()
            if type(module) is nn.Linear and _converts_to_4bit(name, skip_modules)]


# ----------------------------------------------------------------------------------------------------
# Model presets for sizes nobody can load on a laptop (meta-device models: shapes only, no memory)
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preset:
    """A model config plus the LoRA/QLoRA settings usually used with it."""

    label: str
    kind: str  # "bert" or "llama"
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    target_modules: str | tuple[str, ...]
    skip_modules: tuple[str, ...]
    r: int


# klue/bert-base: facts §5 (config.json). LLaMA: dim/heads/layers from the LLaMA paper (Touvron et al. 2023,
# Table 2), FFN size = 2/3·4·dim rounded up to a multiple of 256 (Meta's reference code), vocab 32000.
# QLoRA's recipe: LoRA r=64 on all linear layers (QLoRA §4 "LoRA on all linear transformer block layers").
PRESETS: dict[str, Preset] = {
    "klue/bert-base": Preset("klue/bert-base (110M)", "bert", 768, 12, 12, 3072, 32000,
                             ("query", "key", "value", "dense"), DEFAULT_SKIP_MODULES, 8),
    "llama-7b": Preset("LLaMA-7B", "llama", 4096, 32, 32, 11008, 32000, "all-linear", ("lm_head",), 64),
    "llama-13b": Preset("LLaMA-13B", "llama", 5120, 40, 40, 13824, 32000, "all-linear", ("lm_head",), 64),
    "llama-33b": Preset("LLaMA-33B", "llama", 6656, 60, 52, 17920, 32000, "all-linear", ("lm_head",), 64),
    "llama-65b": Preset("LLaMA-65B", "llama", 8192, 80, 64, 22016, 32000, "all-linear", ("lm_head",), 64),
}


def llama_ffn_size(dim: int, multiple_of: int = 256) -> int:
    """LLaMA's FFN width: 2/3 of 4·dim, rounded up to a multiple of `multiple_of`."""
    hidden = int(2 * 4 * dim / 3)
    return multiple_of * -(-hidden // multiple_of)


@lru_cache(maxsize=16)
def preset_model(name: str) -> nn.Module:
    """The preset's model built on the meta device (exact shapes and module names, no memory)."""
    if name not in PRESETS:
        raise ValueError(f"model must be one of {sorted(PRESETS)}, got {name!r}")
    p = PRESETS[name]
    with torch.device("meta"):
        if p.kind == "bert":
            from transformers import BertConfig, BertForSequenceClassification

            return BertForSequenceClassification(BertConfig(
                vocab_size=p.vocab, hidden_size=p.hidden, num_hidden_layers=p.layers, num_attention_heads=p.heads,
                intermediate_size=p.intermediate, num_labels=2))
        from transformers import LlamaConfig, LlamaForCausalLM

        return LlamaForCausalLM(LlamaConfig(
            vocab_size=p.vocab, hidden_size=p.hidden, num_hidden_layers=p.layers, num_attention_heads=p.heads,
            num_key_value_heads=p.heads, intermediate_size=p.intermediate))


# ----------------------------------------------------------------------------------------------------
# The estimator
# ----------------------------------------------------------------------------------------------------


def _check_choice(value: object, allowed: Iterable[str], argument: str) -> str:
    """`value` if it is one of `allowed`, else a ValueError naming the argument and the allowed values."""
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{argument} must be one of {list(allowed)}, got {value!r}")
    return value  # type: ignore[return-value]


def _check_positive_int(value: object, argument: str, allow_zero: bool = False) -> int:
    """`value` if it is a positive (or non-negative) int, else a ValueError naming the argument."""
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        kind = "a non-negative int" if allow_zero else "a positive int"
        raise ValueError(f"{argument} must be {kind}, got {value!r}")
    return value


def _finish(parts: dict[str, int]) -> dict[str, int]:
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
    n = _check_positive_int(n, "model_or_sizes")
    n_states, _step = OPTIMIZERS[optimizer]
    w = BYTES_PER_ELEMENT[weight_dtype]
    if method == "full":
        return _finish({"weights": n * w, "gradients": n * w,
                        "optimizer_states": n * n_states * _state_bytes(w, state_dtype)})
    if adapter_params is None:
        raise ValueError("adapter_params must be given (a non-negative int) when model_or_sizes is a parameter "
                         f"count and method is {method!r}")
    a = _check_positive_int(adapter_params, "adapter_params", allow_zero=True)
    aw = BYTES_PER_ELEMENT[adapter_dtype]
    parts = {"adapters": a * aw, "gradients": a * aw, "optimizer_states": a * n_states * _state_bytes(aw, state_dtype)}
    if method == "lora":
        parts["weights"] = n * w
    else:
        parts["weights_4bit"] = nf4_weight_bytes(n, blocksize, double_quant)
    return _finish(parts)


def estimate_training_memory(
    model_or_sizes: nn.Module | str | int,
    method: str = "lora",
    weight_dtype: str = "fp32",
    optimizer: str = "adamw",
    *,
    r: int | None = None,
    target_modules: str | Sequence[str] | None = None,
    modules_to_save: Sequence[str] = ("classifier", "score"),
    skip_modules: Sequence[str] | None = None,
    adapter_dtype: str = "fp32",
    state_dtype: str = "fp32",
    double_quant: bool = True,
    blocksize: int = 64,
    kbit_upcast: bool = True,
    adapter_params: int | None = None,
) -> dict[str, int]:
    """Bytes held after one optimizer step of full fine-tuning, LoRA or QLoRA (activations excluded).

    Returns a dict with ``weights`` (base-model tensors in a float dtype, plus buffers), ``weights_4bit`` (NF4
    codes and bitsandbytes quant-state tensors), ``adapters`` (LoRA A/B and the trainable copy of the classifier
    that ``task_type="SEQ_CLS"`` adds), ``gradients``, ``optimizer_states`` and ``total``.

    Args:
        model_or_sizes: the unquantized base model (a meta-device model is enough), a preset name from
            :data:`PRESETS`, or a bare parameter count (then all weights count as Linear weights and LoRA/QLoRA
            need ``adapter_params``).
        method: ``"full"`` (all parameters trained), ``"lora"`` (frozen base in `weight_dtype` + adapters) or
            ``"qlora"`` (the base's Linear layers in NF4, the rest in `weight_dtype` + adapters).
        weight_dtype: dtype of the base model's float tensors: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        optimizer: ``"adamw"`` (2 states per parameter + a 4-byte step per tensor, as ``torch.optim.AdamW``),
            ``"sgd"`` or ``"sgd_momentum"``.
        r: LoRA rank (default: the preset's, else 8). target_modules: names/suffixes, a regex, or
            ``"all-linear"`` (default: the preset's, else ``"all-linear"``), matched like peft.
        modules_to_save: heads trained as a full copy (peft's SEQ_CLS default ``("classifier", "score")``).
        skip_modules: Linear layers kept out of 4-bit (default: the preset's, else the course's
            ``DEFAULT_SKIP_MODULES``), matched like transformers.
        adapter_dtype: dtype of LoRA A/B (peft keeps them in fp32 by default).
        state_dtype: dtype of optimizer states: a dtype name, or ``"param"`` for the parameter's own dtype
            (what ``torch.optim.AdamW`` does). Default fp32, the usual mixed-precision accounting.
        double_quant, blocksize: the NF4 settings (course default: NF4 + double quant, blocksize 64).
        kbit_upcast: QLoRA only; ``prepare_model_for_kbit_training`` casts fp16/bf16 non-4-bit weights to fp32.
        adapter_params: adapter size when `model_or_sizes` is a bare count.
    """
    _check_choice(method, METHODS, "method")
    _check_choice(weight_dtype, BYTES_PER_ELEMENT, "weight_dtype")
    _check_choice(optimizer, OPTIMIZERS, "optimizer")
    _check_choice(adapter_dtype, BYTES_PER_ELEMENT, "adapter_dtype")
    _check_choice(state_dtype, STATE_DTYPES, "state_dtype")
    if isinstance(blocksize, bool) or blocksize not in nf4.ALLOWED_BLOCKSIZES:
        raise ValueError(f"blocksize must be one of {list(nf4.ALLOWED_BLOCKSIZES)}, got {blocksize!r}")
    if r is not None:
        _check_positive_int(r, "r")
    preset = None
    if isinstance(model_or_sizes, str):
        _check_choice(model_or_sizes, PRESETS, "model_or_sizes")
        preset = PRESETS[model_or_sizes]
        model_or_sizes = preset_model(model_or_sizes)
    if isinstance(model_or_sizes, (int, float)) and not isinstance(model_or_sizes, nn.Module):
        return _estimate_from_count(model_or_sizes, method, weight_dtype, optimizer, adapter_params, adapter_dtype,
                                    state_dtype, blocksize, double_quant)
    if not isinstance(model_or_sizes, nn.Module):
        raise ValueError("model_or_sizes must be an nn.Module, a preset name "
                         f"({sorted(PRESETS)}) or a positive int; got {type(model_or_sizes).__name__}")
    model = model_or_sizes
    if any(type(m).__name__ in ("Linear4bit", "Params4bit") or hasattr(m, "base_layer") for m in model.modules()):
        raise ValueError("model_or_sizes must be the unquantized base model without adapters "
                         "(a meta-device copy is enough): its shapes are what the estimate needs")
    r = r if r is not None else preset.r if preset else 8
    target_modules = target_modules if target_modules is not None else (
        preset.target_modules if preset else "all-linear")
    skip_modules = skip_modules if skip_modules is not None else (
        preset.skip_modules if preset else DEFAULT_SKIP_MODULES)
    return _estimate_from_model(model, method, weight_dtype, optimizer, r, target_modules, modules_to_save,
                                skip_modules, adapter_dtype, state_dtype, double_quant, blocksize, kbit_upcast)


def _estimate_from_model(model: nn.Module, method: str, weight_dtype: str, optimizer: str, r: int,
                         target_modules: str | Sequence[str], modules_to_save: Sequence[str],
                         skip_modules: Sequence[str], adapter_dtype: str, state_dtype: str, double_quant: bool,
                         blocksize: int, kbit_upcast: bool) -> dict[str, int]:
    """The estimate walked over the model's modules (each parameter tensor once)."""
    n_states, step_bytes = OPTIMIZERS[optimizer]
    w = BYTES_PER_ELEMENT[weight_dtype]
    parts = dict.fromkeys(PARTS, 0)

    def train(numel: int, elem: int) -> None:  # gradient + optimizer state for one trainable tensor
        parts["gradients"] += numel * elem
        parts["optimizer_states"] += numel * n_states * _state_bytes(elem, state_dtype) + step_bytes

    for buffer in model.buffers():  # position ids etc.: kept as they are
        parts["weights"] += buffer.numel() * (w if buffer.is_floating_point() else buffer.element_size())

    if method == "full":
        for p in model.parameters():  # tied parameters once
            elem = w if p.is_floating_point() else p.element_size()
            parts["weights"] += p.numel() * elem
            train(p.numel(), elem)
        return _finish(parts)

    quantized = set(quantizable_linears(model, skip_modules)) if method == "qlora" else set()
    if method == "qlora" and not quantized:
        raise ValueError(f"model has no nn.Linear layers left to quantize to 4-bit (skip_modules={list(skip_modules)})")
    # prepare_model_for_kbit_training casts every fp16/bf16 non-4-bit parameter to fp32
    frozen_elem = 4 if method == "qlora" and kbit_upcast else w
    for name, module in model.named_modules():
        for pname, p in module.named_parameters(recurse=False):
            if name in quantized and pname == "weight":
                parts["weights_4bit"] += nf4_weight_bytes(p.numel(), blocksize, double_quant)
            elif name in quantized:  # Linear4bit.forward casts its bias back to the compute dtype (= weight_dtype)
                parts["weights"] += p.numel() * w
            else:
                parts["weights"] += p.numel() * (frozen_elem if p.is_floating_point() else p.element_size())

    targets = _lora_targets(model, target_modules, modules_to_save)
    if not targets:
        raise ValueError(f"target_modules={target_modules!r} matches no nn.Linear layer of the model")
    aw = BYTES_PER_ELEMENT[adapter_dtype]
    modules = dict(model.named_modules())
    for name in targets:
        linear = modules[name]
        for numel in (r * linear.in_features, linear.out_features * r):  # lora_A (r, in), lora_B (out, r)
            parts["adapters"] += numel * aw
            train(numel, aw)
    for name, module in modules.items():
        if _name_matches(name, modules_to_save) and name not in targets:
            for p in module.parameters():  # the trainable copy of the head, in the head's dtype
                elem = frozen_elem if p.is_floating_point() else p.element_size()
                parts["adapters"] += p.numel() * elem
                train(p.numel(), elem)
    return _finish(parts)


# ----------------------------------------------------------------------------------------------------
# Measurement: the tensor inventory
# ----------------------------------------------------------------------------------------------------


def _quant_state_tensors(state: object) -> list[torch.Tensor]:
    """All tensors inside a bitsandbytes QuantState (absmax, code, offset, and the nested state2)."""
    if state is None:
        return []
    tensors = []
    for value in vars(state).values():
        if isinstance(value, torch.Tensor):
            tensors.append(value)
        elif type(value).__name__ == "QuantState":
            tensors += _quant_state_tensors(value)
    return tensors


def _is_adapter(name: str) -> bool:
    """peft adapter tensors: LoRA, DoRA, VB-LoRA (``lora_``), WaveFT (``waveft_``), head copies (modules_to_save)."""
    return "lora_" in name or "waveft_" in name or ".modules_to_save." in name


def inventory_bytes(model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict[str, int]:
    """Bytes of the real tensors a model (and optimizer) hold now, each storage counted once.

    ``weights``: parameters and buffers in a float/int dtype; ``weights_4bit``: ``Params4bit`` codes and their
    quant-state tensors; ``adapters``: peft's ``lora_*`` and ``modules_to_save`` parameters; ``gradients``: every
    ``.grad``; ``optimizer_states``: every tensor in ``optimizer.state``. Same keys as
    :func:`estimate_training_memory`.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    seen: set[int] = set()
    parts = dict.fromkeys(PARTS, 0)

    def add(part: str, tensor: torch.Tensor) -> None:
        if tensor.device.type == "meta":
            raise ValueError("inventory_bytes needs real tensors; the model is on the meta device")
        storage = tensor.untyped_storage()
        if storage.nbytes() == 0 or storage.data_ptr() in seen:
            return
        seen.add(storage.data_ptr())
        parts[part] += storage.nbytes()

    for name, p in model.named_parameters():
        if type(p).__name__ == "Params4bit":
            add("weights_4bit", p)
            for t in _quant_state_tensors(getattr(p, "quant_state", None)):
                add("weights_4bit", t)
        else:
            add("adapters" if _is_adapter(name) else "weights", p)
    for _name, b in model.named_buffers():
        add("weights", b)
    for p in model.parameters():
        if p.grad is not None:
            add("gradients", p.grad)
    if optimizer is not None:
        for state in optimizer.state.values():
            for value in state.values():
                if isinstance(value, torch.Tensor):
                    add("optimizer_states", value)
    return _finish(parts)


def make_optimizer(model: nn.Module, optimizer: str = "adamw", lr: float = 0.0) -> torch.optim.Optimizer:
    """The torch optimizer `optimizer` names, over the model's trainable parameters."""
    _check_choice(optimizer, OPTIMIZERS, "optimizer")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters (requires_grad=True)")
    if optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr)
    return torch.optim.SGD(params, lr=lr, momentum=0.9 if optimizer == "sgd_momentum" else 0.0)


def train_one_step(model: nn.Module, batch: dict[str, torch.Tensor], optimizer: str = "adamw",
                   lr: float = 0.0) -> torch.optim.Optimizer:
    """One forward/backward/optimizer step on `batch` (with labels); returns the optimizer, grads left in place.

    ``lr=0`` allocates exactly the tensors of a real step without changing the weights.
    """
    opt = make_optimizer(model, optimizer, lr)
    model.train()
    loss = model(**batch).loss
    loss.backward()
    opt.step()
    return opt


def measure_training_memory(model: nn.Module, batch: dict[str, torch.Tensor],
                            optimizer: str = "adamw") -> dict[str, int]:
    """:func:`inventory_bytes` after one optimizer step (lr=0: weights unchanged); grads are cleared afterwards."""
    opt = train_one_step(model, batch, optimizer, lr=0.0)
    try:
        return inventory_bytes(model, opt)
    finally:
        opt.zero_grad(set_to_none=True)
        opt.state.clear()


def lecture_claims() -> dict[str, float]:
    """The numbers behind the lecture's memory claims (GB = 10^9 bytes, activations excluded).

    * "7B ≈ 28 GB / 40 GB+": ``full_fp32_weights_7b`` (7×10⁹ fp32 weights), ``full_fp32_total_7b`` and
      ``full_bf16_total_7b`` (plus gradients and fp32 AdamW states).
    * "65B on one 48 GB GPU": LLaMA-65B QLoRA, r=64 on all linear layers. ``qlora_65b``: this course's defaults
      (fp32 adapters, ``prepare_model_for_kbit_training`` upcasts the bf16 embeddings/head to fp32);
      ``qlora_65b_repo_recipe``: the QLoRA repository's ``--bf16`` recipe (artidoro/qlora ``qlora.py``: LoRA
      layers, embeddings and lm_head cast to bf16; paged 32-bit AdamW keeps fp32 states).
    * "~75% less memory": ``reduction_weight_bits`` = 1 − 4.127/16 (NF4+DQ vs 16-bit weight storage);
      ``reduction_vs_lora_bf16`` and ``reduction_vs_full_bf16``: LLaMA-7B QLoRA training total vs LoRA on a bf16
      base and vs full bf16 fine-tuning.
    """
    n7 = 7 * 10**9
    q65 = estimate_training_memory("llama-65b", "qlora", "bf16")
    q65_repo = estimate_training_memory("llama-65b", weight_dtype="bf16", **BREAKDOWN["qlora_repo"][1])
    rows = {key: est for key, (_, est) in breakdown_rows("llama-7b").items()}
    return {
        "full_fp32_weights_7b": estimate_training_memory(n7, "full", "fp32")["weights"] / GB,
        "full_fp32_total_7b": estimate_training_memory(n7, "full", "fp32")["total"] / GB,
        "full_bf16_total_7b": estimate_training_memory(n7, "full", "bf16")["total"] / GB,
        "qlora_65b": q65["total"] / GB,
        "qlora_65b_weights_4bit": q65["weights_4bit"] / GB,
        "qlora_65b_repo_recipe": q65_repo["total"] / GB,
        "reduction_weight_bits": 1 - nf4.bits_per_parameter(64, double_quant=True) / 16,
        "reduction_vs_lora_bf16": 1 - rows["qlora"]["total"] / rows["lora"]["total"],
        "reduction_vs_full_bf16": 1 - rows["qlora"]["total"] / rows["full"]["total"],
    }


# ----------------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------------


def figure():
    """Stacked bars: full fine-tuning memory of 7B and 65B models, fp32 vs bf16 weights (figs/)."""
    from matplotlib.figure import Figure

    labels = {"weights": "가중치", "gradients": "그래디언트", "optimizer_states": "AdamW 상태"}
    fig = Figure(figsize=(8, 3.6), layout="constrained")
    for ax, (name, n) in zip(fig.subplots(1, 2), (("7B", 7 * 10**9), ("65B", 65 * 10**9))):
        dtypes = ("fp32", "bf16")
        bottom = [0.0, 0.0]
        for part, label in labels.items():
            values = [full_finetune_bytes(n, dtype)[part] / GB for dtype in dtypes]
            ax.bar([f"가중치 {d}" for d in dtypes], values, bottom=bottom, label=label)
            bottom = [b + v for b, v in zip(bottom, values)]
        for total, x in zip(bottom, range(2)):
            ax.annotate(f"{total:,.0f} GB", (x, total), ha="center", va="bottom")
        ax.axhline(80, color="k", ls="--", lw=1)
        ax.annotate("GPU 한 장 80 GB", (-0.45, 80), ha="left", va="bottom", fontsize=8)
        ax.set_title(f"{name} 모델")
        ax.set_ylabel("GB (10^9 바이트)")
        ax.set_ylim(0, max(bottom) * 1.15)
    fig.axes[0].legend(loc="upper right", fontsize=8)
    fig.suptitle("완전 파인튜닝 메모리 (AdamW 상태 fp32, 활성값 제외)")
    return fig


PART_COLORS = {"weights": "#4C72B0", "weights_4bit": "#8172B2", "adapters": "#55A868", "gradients": "#DD8452",
               "optimizer_states": "#C44E52"}


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


def qlora_figure():
    """Stacked bars: training memory of full FT vs LoRA vs QLoRA for LLaMA-7B and LLaMA-65B (figs/)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    for ax, name in zip(fig.subplots(1, 2), ("llama-7b", "llama-65b")):
        rows = list(breakdown_rows(name).values())
        labels = [label for label, _ in rows]
        bottom = [0.0] * len(rows)
        for part in PARTS:
            values = [est[part] / GB for _, est in rows]
            if any(values):
                ax.bar(labels, values, bottom=bottom, label=PART_LABELS[part], color=PART_COLORS[part])
                bottom = [b + v for b, v in zip(bottom, values)]
        for x, total in enumerate(bottom):
            ax.annotate(f"{total:,.1f} GB", (x, total), ha="center", va="bottom", fontsize=8)
        for gpu, style in ((48, "--"), (80, ":")):
            if gpu < max(bottom) * 1.15:
                ax.axhline(gpu, color="k", ls=style, lw=1)
                ax.annotate(f"GPU {gpu} GB", (1.01, gpu), xycoords=("axes fraction", "data"), ha="left",
                            va="center", fontsize=7)
        ax.set_ylim(0, max(bottom) * 1.15)
        ax.tick_params(axis="x", labelsize=8)
        ax.set_title(f"{PRESETS[name].label} (LoRA r={PRESETS[name].r}, 모든 Linear)")
        ax.set_ylabel("GB (10^9 바이트)")
    fig.axes[1].legend(loc="upper right", fontsize=7)
    fig.suptitle("학습 메모리: 완전 FT vs LoRA vs QLoRA (AdamW 상태 fp32, 활성값 제외)")
    return fig


def gb(nbytes: int) -> float:
    """Bytes in GB (10^9), for tables."""
    if nbytes < 0:
        raise ValueError(f"nbytes must be >= 0, got {nbytes!r}")
    return nbytes / GB


def mib(nbytes: int) -> float:
    """Bytes in MiB (2^20), for small models."""
    if nbytes < 0:
        raise ValueError(f"nbytes must be >= 0, got {nbytes!r}")
    return nbytes / 2**20


__all__ = [
    "ADAMW_STATES", "BREAKDOWN", "BYTES_PER_ELEMENT", "GB", "METHODS", "OPTIMIZERS", "PARTS", "PART_LABELS", "PRESETS",
    "breakdown_rows", "estimate_training_memory", "figure", "full_finetune_bytes", "gb", "inventory_bytes",
    "lecture_claims", "llama_ffn_size", "make_optimizer", "measure_training_memory", "mib", "nf4_weight_bytes",
    "preset_model", "qlora_figure", "quantizable_linears", "train_one_step",
]
