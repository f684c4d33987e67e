"""Which modules peft adapts and saves, and which layers transformers turns into 4-bit: asked of the libraries.

Instead of re-implementing peft's target matching (list suffixes, regex, ``"all-linear"``, the task head, the
``modules_to_save`` guards, GPT-2's Conv1D) and transformers' 4-bit skip rules (tied and output embeddings,
``_keep_in_fp32_modules``), this module applies the real libraries to a *meta-device copy* of the model and reads
the answer back. That is exact for every architecture the libraries support, costs no memory and downloads nothing.
``params`` (counts) and ``memory`` (estimates) both use it; the lesson formulas (``r·(in+out)``) stay theirs.
"""

from __future__ import annotations

import copy
import warnings
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from course_utils.runtime import validate

#: peft ``TaskType`` values accepted here.
TASK_TYPES = ("SEQ_CLS", "TOKEN_CLS", "CAUSAL_LM", "SEQ_2_SEQ_LM", "QUESTION_ANS", "FEATURE_EXTRACTION")
_CACHE: dict[tuple, tuple[weakref.ref, object]] = {}
_CACHE_SIZE = 32


@dataclass(frozen=True)
class AdaptedLayer:
    """One layer peft wraps with an adapter: its name in the base model and its shape."""

    name: str
    in_features: int
    out_features: int
    has_bias: bool
    layer_type: str  # the peft layer kind it counts as: "Linear", "Conv1D", "Embedding" (else the class name)


@dataclass(frozen=True)
class PeftPlan:
    """What ``get_peft_model`` does to a model: the adapted layers and the modules it trains as full copies."""

    adapted: tuple[AdaptedLayer, ...]
    saved: tuple[str, ...]
    trainable_base: int = 0  # base parameters peft's `bias` option makes trainable (outside the saved modules)


def meta_copy(model: nn.Module) -> nn.Module:
    """A deep copy of `model` whose parameters and buffers live on the meta device (tied weights stay tied)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    memo: dict[int, torch.Tensor] = {}
    for tensor in [*model.parameters(), *model.buffers()]:
        if id(tensor) not in memo:
            meta = torch.empty_like(tensor, device="meta")
            memo[id(tensor)] = nn.Parameter(meta, tensor.requires_grad) if isinstance(tensor, nn.Parameter) else meta
    return copy.deepcopy(model, memo)


def task_type_of(model: nn.Module) -> str | None:
    """The peft task type a transformers model class implies (``...ForSequenceClassification`` → SEQ_CLS), else None."""
    name = type(model).__name__
    for suffix, task in (("ForSequenceClassification", "SEQ_CLS"), ("ForTokenClassification", "TOKEN_CLS"),
                         ("ForCausalLM", "CAUSAL_LM"), ("LMHeadModel", "CAUSAL_LM"),
                         ("ForConditionalGeneration", "SEQ_2_SEQ_LM"), ("ForQuestionAnswering", "QUESTION_ANS")):
        if name.endswith(suffix):
            return task
    return None


def check_base_model(model: object) -> nn.Module:
    """`model` if it is a plain base model: an nn.Module without peft adapters or 4-bit layers."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module (e.g. a meta-device copy of the base model), "
                        f"got {type(model).__name__}")
    for module in model.modules():
        kind = type(module).__name__
        if kind in ("Linear4bit", "Linear8bitLt") or hasattr(module, "base_layer"):
            raise ValueError(f"model must be the unquantized base model without adapters; it contains a {kind} "
                             "(pass the model before get_peft_model / 4-bit loading, a meta-device copy is enough)")
    return model


def _cached(key: tuple, model: nn.Module, compute):
    """Memoize `compute()` for meta-device models (their structure can't change under us); others are recomputed."""
    if any(p.device.type != "meta" for p in model.parameters()):
        return compute()
    full_key = (id(model), *key)
    hit = _CACHE.get(full_key)
    if hit is not None and hit[0]() is model:
        return hit[1]
    value = compute()
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[full_key] = (weakref.ref(model), value)
    return value


def _as_key(value: object) -> object:
    """A hashable form of a target/exclude argument (str stays str: peft reads it as a regex)."""
    return value if value is None or isinstance(value, str) else tuple(value)


def peft_plan(model: nn.Module, target_modules: str | Sequence[str], *, task_type: str | None = None,
              modules_to_save: Sequence[str] | None = None,
              exclude_modules: str | Sequence[str] | None = None, bias: str = "none") -> PeftPlan:
    """Ask peft which layers ``get_peft_model`` adapts and which modules it saves, on a meta-device copy.

    Args:
        model (`nn.Module`): the base model (unchanged; a meta-device model is enough).
        target_modules (`str` or `list[str]`): as in ``LoraConfig``: names (suffix rule), a regex, ``"all-linear"``.
        task_type (`str`, *optional*): a peft ``TaskType`` value; SEQ_CLS/TOKEN_CLS add the head to the saved modules.
        modules_to_save (`list[str]`, *optional*): extra modules trained as a full copy. A bare string is an error.
        exclude_modules (`str` or `list[str]`, *optional*): never adapted (same rules as ``target_modules``).
        bias (`str`): ``LoraConfig.bias``: ``"none"``, ``"all"`` or ``"lora_only"`` (which biases become trainable
            is peft's rule too: it changed between peft versions).

    Raises:
        ValueError: peft refuses the configuration (nothing matches, a head both adapted and saved, …).
    """
    check_base_model(model)
    saved_names = validate.name_list(modules_to_save, "modules_to_save")
    if task_type is not None:
        task_type = str(getattr(task_type, "value", task_type))
        validate.choice(task_type, TASK_TYPES + (None,), "task_type")
    if not isinstance(target_modules, str):
        target_modules = validate.name_list(target_modules, "target_modules")
        if not target_modules:
            raise ValueError("target_modules must name at least one module, got an empty list")
    validate.choice(bias, ("none", "all", "lora_only"), "bias")
    key = ("peft", _as_key(target_modules), task_type, saved_names, _as_key(exclude_modules), bias)
    return _cached(key, model, lambda: _ask_peft(model, target_modules, task_type, saved_names, exclude_modules,
                                                 bias))


def _ask_peft(model: nn.Module, target_modules, task_type, modules_to_save, exclude_modules, bias) -> PeftPlan:
    """Run ``get_peft_model`` on a meta copy and read the wrapped layers back."""
    import peft
    from peft import LoraConfig, get_peft_model
    from peft.tuners.tuners_utils import BaseTunerLayer
    from peft.utils.other import ModulesToSaveWrapper

    config = LoraConfig(r=1, target_modules=target_modules, task_type=task_type, exclude_modules=exclude_modules,
                        modules_to_save=list(modules_to_save) if modules_to_save else None, bias=bias)
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")  # e.g. "fan_in_fan_out set to True" for Conv1D: peft fixes it itself
        try:
            wrapped = get_peft_model(meta_copy(model), config, low_cpu_mem_usage=True).base_model.model
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            shown = target_modules if isinstance(target_modules, str) else list(target_modules)
            raise ValueError(f"peft {peft.__version__} refuses target_modules={shown!r}, "
                             f"task_type={task_type!r}, modules_to_save={modules_to_save!r} for "
                             f"{type(model).__name__}: {error}") from error
    adapted, saved = [], []
    for name, module in wrapped.named_modules():
        if isinstance(module, ModulesToSaveWrapper):
            saved.append(name)
        elif isinstance(module, BaseTunerLayer):
            base = module.get_base_layer()
            adapted.append(AdaptedLayer(name, module.in_features, module.out_features,
                                        getattr(base, "bias", None) is not None, layer_kind(base)))
    inside_saved = tuple(name + "." for name in saved)
    trainable_base = sum(p.numel() for name, p in wrapped.named_parameters()
                         if p.requires_grad and "lora_" not in name and not name.startswith(inside_saved))
    return PeftPlan(tuple(adapted), tuple(saved), trainable_base)


def layer_kind(layer: nn.Module) -> str:
    """The layer kind peft dispatches on, by ``isinstance`` as peft does: a subclass of ``nn.Linear`` (Falcon's
    ``FalconLinear``) is a "Linear"; transformers' ``Conv1D`` (GPT-2) a "Conv1D"; anything else its class name."""
    from transformers.pytorch_utils import Conv1D

    for kind, base in (("Conv1D", Conv1D), ("Embedding", nn.Embedding), ("Linear", nn.Linear)):
        if isinstance(layer, base):
            return kind
    return type(layer).__name__


def lora_target_names(model: nn.Module, target_modules: str | Sequence[str], *, task_type: str | None = None,
                      modules_to_save: Sequence[str] | None = None,
                      exclude_modules: str | Sequence[str] | None = None) -> list[str]:
    """Names of the layers peft would wrap with LoRA, in ``named_modules()`` order (see :func:`peft_plan`)."""
    plan = peft_plan(model, target_modules, task_type=task_type, modules_to_save=modules_to_save,
                     exclude_modules=exclude_modules)
    return [layer.name for layer in plan.adapted]


def four_bit_module_names(model: nn.Module, skip_modules: Sequence[str] | None = None) -> tuple[str, ...]:
    """Names of the layers bitsandbytes 4-bit loading turns into ``Linear4bit``, asked of transformers.

    transformers keeps out of 4-bit the modules in ``llm_int8_skip_modules`` (`skip_modules`; when None, its own
    defaults: tied and output embeddings and the last module) and the model's ``_keep_in_fp32_modules``; Conv1D
    layers (GPT-2) are converted like nn.Linear.

    Args:
        model (`nn.Module`): the unquantized base model (a meta-device copy is enough).
        skip_modules (`list[str]`, *optional*): as ``BitsAndBytesConfig(llm_int8_skip_modules=...)``; for a plain
            nn.Module (not a transformers model) None means nothing is skipped.
    """
    check_base_model(model)
    skip = validate.name_list(skip_modules, "skip_modules")
    return _cached(("4bit", skip), model, lambda: _ask_transformers(model, skip))


def _ask_transformers(model: nn.Module, skip: tuple[str, ...] | None) -> tuple[str, ...]:
    """Run transformers' own bitsandbytes replacement on a meta copy and list the Linear4bit modules."""
    from transformers import BitsAndBytesConfig
    from transformers.integrations.bitsandbytes import replace_with_bnb_linear
    from transformers.quantizers.quantizer_bnb_4bit import Bnb4BitHfQuantizer

    if skip is None and not hasattr(model, "all_tied_weights_keys"):
        skip = ()  # a plain nn.Module has no transformers metadata: nothing is skipped by default
    clone = meta_copy(model)
    not_converted = Bnb4BitHfQuantizer.get_modules_to_not_convert(
        clone, list(skip) if skip is not None else None, getattr(clone, "_keep_in_fp32_modules", None))
    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        replace_with_bnb_linear(clone, modules_to_not_convert=not_converted, quantization_config=config)
    return tuple(name for name, module in clone.named_modules() if type(module).__name__ == "Linear4bit")
