"""Parameter counts for LoRA, DoRA, VB-LoRA and WaveFT, computed by formula from a model's module tree.

The counts reproduce what ``peft`` reports with ``get_nb_trainable_parameters()`` after ``get_peft_model``
with the same config, without calling peft: peft is the reference in the tests, not a dependency here.

What is replicated from peft 0.21 (``tuners_utils.check_target_module_exists``,
``utils.other._set_trainable``, ``tuners_utils._maybe_include_all_linear_layers``):

- ``target_modules`` as a list/tuple/set of names: a module matches when its full name equals an entry or ends
  with ``"." + entry`` (so ``"dense"`` also hits ``bert.pooler.dense``).
- ``target_modules`` as one string: a regular expression that must match the full module name
  (``re.fullmatch``); the string ``"all-linear"`` (any case) means every ``nn.Linear`` except the output
  embedding, or under ``SEQ_CLS`` the classification head.
- ``exclude_modules``: same rules as ``target_modules``; excluded names are never adapted.
- ``task_type="SEQ_CLS"`` or ``"TOKEN_CLS"`` adds ``modules_to_save=["classifier", "score"]``; every module
  whose name *ends with* one of these strings (a plain suffix test, as in peft) gets a trainable copy, counted
  in both trainable and total, and is never itself adapted.
- ``bias``: ``"none"``, ``"all"`` (every parameter named ``*.bias`` becomes trainable) and ``"lora_only"``
  (the biases of the adapted layers become trainable).
- DoRA (``use_dora=True`` or ``method="dora"``) adds one magnitude entry per output feature of each
  adapted layer.
- VB-LoRA (``method="vblora"``, peft ``VBLoRAConfig``): one shared vector bank of ``num_vectors`` ×
  ``vector_length`` plus, per adapted layer, logits of shape (r, in/b, h) for A and (out/b, r, h) for B.
- WaveFT (``method="waveft"``, peft ``WaveFTConfig``): ``n_frequency`` wavelet coefficients per adapted layer.

Deliberately stricter than peft: a list entry that matches no module, a target that is not ``nn.Linear``,
and ``r > min(in_features, out_features)`` all raise ``ValueError``.
Not supported: ``layers_to_transform``, ``rank_pattern``/``alpha_pattern``, Conv1D/Embedding/Conv targets,
``target_parameters``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "LoraTarget",
    "adapter_parts",
    "adapter_size_mb",
    "config_only_model",
    "count_trainable",
    "dora_magnitude_params",
    "figure",
    "find_lora_targets",
    "format_peft_line",
    "full_params_for_shape",
    "klue_bert_base_config",
    "lora_breakdown",
    "lora_params_for_shape",
    "modules_to_save_for",
    "reduction_percent",
    "scaling_factors",
    "vblora_stored_params",
]

#: peft's ``classifier_module_names`` for ``PeftModelForSequenceClassification`` / ``...TokenClassification``.
CLASSIFIER_MODULE_NAMES: tuple[str, ...] = ("classifier", "score")
#: peft's ``SEQ_CLS_HEAD_NAMES`` (the first attribute found is the head that all-linear leaves out).
SEQ_CLS_HEAD_NAMES: tuple[str, ...] = ("score", "classifier")
#: Task types for which peft adds ``CLASSIFIER_MODULE_NAMES`` to ``modules_to_save``.
_CLASSIFIER_TASKS = frozenset({"SEQ_CLS", "TOKEN_CLS"})
#: Task types accepted by :func:`count_trainable` (peft ``TaskType`` values).
_KNOWN_TASKS = frozenset(
    {"SEQ_CLS", "TOKEN_CLS", "CAUSAL_LM", "SEQ_2_SEQ_LM", "QUESTION_ANS", "FEATURE_EXTRACTION"}
)
_METHODS = ("lora", "dora", "vblora", "waveft")
_BIAS_OPTIONS = ("none", "all", "lora_only")
#: Keyword arguments of ``LoraConfig`` that :func:`count_trainable` understands.
_LORA_KWARGS = frozenset(
    {"lora_alpha", "lora_dropout", "use_rslora", "use_dora", "bias", "modules_to_save", "exclude_modules"}
)
_SHARED_KWARGS = frozenset({"modules_to_save", "exclude_modules", "bias"})
#: Keyword arguments of ``VBLoRAConfig`` / ``WaveFTConfig`` that :func:`count_trainable` understands.
_METHOD_KWARGS: dict[str, frozenset[str]] = {
    "lora": _LORA_KWARGS,
    "dora": _LORA_KWARGS,
    "vblora": _SHARED_KWARGS | {"num_vectors", "vector_length", "topk", "vblora_dropout", "save_only_topk_weights"},
    "waveft": _SHARED_KWARGS | {"n_frequency", "scaling", "wavelet_family", "random_loc_seed"},
}
#: peft 0.21 defaults (``VBLoRAConfig``: h=256, b=256, k=2; ``WaveFTConfig``: n_frequency=2592).
VBLORA_DEFAULTS = {"num_vectors": 256, "vector_length": 256, "topk": 2}
WAVEFT_DEFAULTS = {"n_frequency": 2592}


# ----------------------------------------------------------------------------------------------------
# Pure per-shape helpers
# ----------------------------------------------------------------------------------------------------


def _check_positive_int(value: object, name: str) -> int:
    """Return ``value`` if it is a positive int, else raise a ValueError/TypeError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a positive integer (1, 2, 3, ...), got {value!r}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer (allowed: {name} >= 1), got {value}")
    return value


def _check_rank(r: object, in_features: int, out_features: int, where: str = "") -> int:
    """Validate a LoRA rank for one (in, out) shape: 1 <= r <= min(in, out)."""
    limit = min(in_features, out_features)
    if isinstance(r, bool) or not isinstance(r, int):
        raise TypeError(f"r must be an integer in 1..{limit}{where}, got {r!r}")
    if not 1 <= r <= limit:
        raise ValueError(
            f"r must satisfy 1 <= r <= min(in_features, out_features) = {limit}{where}, got r={r}"
        )
    return r


def _check_alpha(alpha: object, name: str = "lora_alpha") -> float:
    """Validate a LoRA alpha: a real number > 0."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise TypeError(f"{name} must be a number > 0, got {alpha!r}")
    if not (alpha > 0 and math.isfinite(alpha)):
        raise ValueError(f"{name} must be a finite number > 0 (allowed: {name} > 0), got {alpha}")
    return float(alpha)


def lora_params_for_shape(in_features: int, out_features: int, r: int) -> int:
    """Number of LoRA parameters for one Linear layer: A (r, in) plus B (out, r) = r * (in + out).

    Args:
        in_features (`int`): input size of the adapted layer.
        out_features (`int`): output size of the adapted layer.
        r (`int`): LoRA rank, 1 <= r <= min(in_features, out_features).
    """
    _check_positive_int(in_features, "in_features")
    _check_positive_int(out_features, "out_features")
    _check_rank(r, in_features, out_features)
    return r * (in_features + out_features)


def full_params_for_shape(in_features: int, out_features: int, bias: bool = False) -> int:
    """Number of parameters that full fine-tuning trains in one Linear layer: in * out (+ out with bias).

    Args:
        in_features (`int`): input size of the layer.
        out_features (`int`): output size of the layer.
        bias (`bool`): whether to count the bias vector too. Defaults to `False` (the weight matrix only).
    """
    _check_positive_int(in_features, "in_features")
    _check_positive_int(out_features, "out_features")
    return in_features * out_features + (out_features if bias else 0)


def dora_magnitude_params(out_features: int) -> int:
    """Number of DoRA magnitude parameters for one Linear layer: one per output feature (peft, facts §2)."""
    return _check_positive_int(out_features, "out_features")


def reduction_percent(full: int, reduced: int) -> float:
    """Percentage of parameters saved: 100 * (1 - reduced / full).

    Args:
        full (`int`): parameter count of the full update (e.g. ``full_params_for_shape``), > 0.
        reduced (`int`): parameter count of the low-rank update, >= 0.
    """
    if full <= 0:
        raise ValueError(f"full must be > 0, got {full}")
    if reduced < 0:
        raise ValueError(f"reduced must be >= 0, got {reduced}")
    return 100.0 * (1.0 - reduced / full)


def scaling_factors(r: int, alpha: float) -> dict[str, float]:
    """LoRA scaling for plain LoRA (alpha / r) and rsLoRA (alpha / sqrt(r)).

    Args:
        r (`int`): LoRA rank, >= 1.
        alpha (`float`): ``lora_alpha``, > 0.
    """
    _check_positive_int(r, "r")
    alpha = _check_alpha(alpha, "alpha")
    return {"lora": alpha / r, "rslora": alpha / math.sqrt(r)}


def adapter_size_mb(n_params: int, dtype: torch.dtype | str = torch.float32) -> float:
    """Size in MB (10**6 bytes) of ``n_params`` stored in ``dtype`` (tensor data only, no file headers).

    Args:
        n_params (`int`): number of stored parameters, >= 0.
        dtype (`torch.dtype` or `str`): storage dtype, e.g. ``torch.float32``, ``"bf16"``, ``"fp16"``.
    """
    aliases = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16,
               "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}
    if isinstance(dtype, str):
        if dtype.lower() not in aliases:
            raise ValueError(f"dtype must be one of {sorted(aliases)} or a torch.dtype, got {dtype!r}")
        dtype = aliases[dtype.lower()]
    if n_params < 0:
        raise ValueError(f"n_params must be >= 0, got {n_params}")
    return n_params * torch.empty((), dtype=dtype).element_size() / 1e6


def format_peft_line(trainable: int, total: int) -> str:
    """The line peft 0.21's ``print_trainable_parameters()`` prints, e.g.
    ``trainable params: 1,340,930 || all params: 111,959,812 || trainable%: 1.1977``.

    Args:
        trainable (`int`): number of trainable parameters.
        total (`int`): number of all parameters, > 0.
    """
    if total <= 0:
        raise ValueError(f"total must be > 0, got {total}")
    percent = 100 * trainable / total
    return f"trainable params: {trainable:,d} || all params: {total:,d} || trainable%: {percent:.4f}"


# ----------------------------------------------------------------------------------------------------
# klue/bert-base shaped models from the config alone
# ----------------------------------------------------------------------------------------------------


def klue_bert_base_config(num_labels: int = 2):
    """The klue/bert-base ``BertConfig`` (facts §5: vocab 32000, hidden 768, 12 layers, 12 heads, ffn 3072).

    Args:
        num_labels (`int`): size of the classification head. Defaults to 2 (NSMC: negative/positive).
    """
    from transformers import BertConfig

    return BertConfig(
        vocab_size=32000,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=512,
        type_vocab_size=2,
        initializer_range=0.02,
        layer_norm_eps=1e-12,
        pad_token_id=0,
        num_labels=num_labels,
    )


def config_only_model(config=None, device: str | torch.device = "meta") -> nn.Module:
    """A random ``BertForSequenceClassification`` built from ``config`` alone (no download).

    On the ``"meta"`` device no memory is allocated and nothing is initialised, so a klue-size model costs
    milliseconds; ``numel()`` (and hence every count here, and peft's) works on meta tensors.

    Args:
        config (`BertConfig`, *optional*): defaults to :func:`klue_bert_base_config`.
        device (`str` or `torch.device`): ``"meta"`` (default; counts only) or ``"cpu"`` (random weights).
    """
    from transformers import BertForSequenceClassification

    config = klue_bert_base_config() if config is None else config
    with torch.device(device):
        return BertForSequenceClassification(config)


# ----------------------------------------------------------------------------------------------------
# Target matching (peft rules)
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoraTarget:
    """One adapted Linear layer: its full name and shape."""

    name: str
    in_features: int
    out_features: int
    has_bias: bool


def modules_to_save_for(task_type: str | None, modules_to_save: Iterable[str] | None = None) -> list[str]:
    """The ``modules_to_save`` peft ends up with: the user's list plus ``classifier``/``score`` under SEQ_CLS.

    Args:
        task_type (`str`, *optional*): peft ``TaskType`` value such as ``"SEQ_CLS"``, or ``None``.
        modules_to_save (`list[str]`, *optional*): extra modules to train fully and save.
    """
    result = list(modules_to_save) if modules_to_save is not None else []
    if task_type is not None and str(getattr(task_type, "value", task_type)) in _CLASSIFIER_TASKS:
        result.extend(CLASSIFIER_MODULE_NAMES)
    return result


def _name_matches_list(name: str, entries: Iterable[str]) -> bool:
    """peft's list rule: the name equals an entry or ends with '.' + entry."""
    return any(name == e or name.endswith("." + e) for e in entries)


def _is_saved_module_name(name: str, modules_to_save: Sequence[str]) -> bool:
    """peft's guard: names inside a modules_to_save module are never adapted."""
    return any(re.match(rf"(^|.*\.){m}($|\..*)", name) for m in modules_to_save)


def _all_linear_names(model: nn.Module, task_type: str | None) -> set[str]:
    """peft's ``all-linear`` shorthand: every nn.Linear except the output embedding / the SEQ_CLS head."""
    names = {n for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    exclude: set[str] = set()
    get_out = getattr(model, "get_output_embeddings", None)
    out_emb = get_out() if callable(get_out) else None
    if out_emb is not None:
        exclude |= {n for n, m in model.named_modules() if m is out_emb}
    elif task_type == "SEQ_CLS":
        for head in SEQ_CLS_HEAD_NAMES:
            module = getattr(model, head, None)
            if module is not None:
                exclude |= {n for n, m in model.named_modules() if m is module}
                break
    return names - exclude


def find_lora_targets(
    model: nn.Module,
    target_modules: Sequence[str] | str,
    task_type: str | None = None,
    modules_to_save: Sequence[str] | None = None,
    exclude_modules: Sequence[str] | str | None = None,
) -> list[tuple[str, nn.Linear]]:
    """The ``(name, module)`` pairs peft would wrap with LoRA, in ``named_modules()`` order.

    Args:
        model (`nn.Module`): the base model (not yet wrapped by peft).
        target_modules (`list[str]` or `str`): names (suffix rule), a regex (full match) or ``"all-linear"``.
        task_type (`str`, *optional*): peft task type; ``"SEQ_CLS"``/``"TOKEN_CLS"`` protect the classifier.
        modules_to_save (`list[str]`, *optional*): extra fully trained modules; they are never adapted.
        exclude_modules (`list[str]` or `str`, *optional*): never adapted (same rules as ``target_modules``).

    Raises:
        ValueError: nothing matches, a list entry matches no module, or a matched module is not ``nn.Linear``.
    """
    task_type = None if task_type is None else str(getattr(task_type, "value", task_type))
    saved = modules_to_save_for(task_type, modules_to_save)
    named = list(model.named_modules())

    if isinstance(target_modules, str):
        if target_modules.lower() == "all-linear":
            linear_names = _all_linear_names(model, task_type)
            if not linear_names:
                raise ValueError("target_modules='all-linear' found no nn.Linear layer in the model")

            def matches(name: str) -> bool:
                return name in linear_names
        else:
            pattern = target_modules

            def matches(name: str) -> bool:
                return re.fullmatch(pattern, name) is not None
    else:
        entries = list(target_modules)
        if not entries or not all(isinstance(e, str) and e for e in entries):
            raise ValueError(
                f"target_modules must be a non-empty list of module names, got {target_modules!r}"
            )
        module_names = [n for n, _ in named if n]
        unmatched = [e for e in entries if not _name_matches_list_any(e, module_names)]
        if unmatched:
            suffixes = sorted({n.rsplit(".", 1)[-1] for n, m in named if isinstance(m, nn.Linear)})
            raise ValueError(
                f"target_modules entries {unmatched} match no module in {type(model).__name__}; "
                f"allowed: names of its Linear layers, e.g. {suffixes}"
            )

        def matches(name: str) -> bool:
            return _name_matches_list(name, entries)

    def excluded(name: str) -> bool:
        if exclude_modules is None:
            return False
        if isinstance(exclude_modules, str):
            return re.fullmatch(exclude_modules, name) is not None
        return _name_matches_list(name, exclude_modules)

    targets: list[tuple[str, nn.Linear]] = []
    for name, module in named:
        if not name or excluded(name) or (saved and _is_saved_module_name(name, saved)):
            continue
        if not matches(name):
            continue
        if not isinstance(module, nn.Linear):
            raise ValueError(  # noqa: TRY004 -- a bad target_modules *value*, as peft raises it
                f"target_modules={target_modules!r} matches {name!r}, a {type(module).__name__}; "
                "allowed: nn.Linear layers only"
            )
        targets.append((name, module))
    if not targets:
        raise ValueError(
            f"target_modules={target_modules!r} matches no adaptable nn.Linear layer "
            f"in {type(model).__name__}"
        )
    return targets


def _name_matches_list_any(entry: str, names: Iterable[str]) -> bool:
    """Whether one list entry matches at least one module name."""
    return any(n == entry or n.endswith("." + entry) for n in names)


def _lora_target(name: str, module: nn.Linear, r: int) -> LoraTarget:
    """Describe one matched Linear and validate the rank against its shape."""
    _check_rank(r, module.in_features, module.out_features, where=f" for module {name!r}")
    return LoraTarget(name, module.in_features, module.out_features, module.bias is not None)


def _saved_modules(model: nn.Module, modules_to_save: Sequence[str]) -> list[tuple[str, nn.Module]]:
    """Modules peft wraps in ``ModulesToSaveWrapper`` (plain suffix test, outermost match only)."""
    found: list[tuple[str, nn.Module]] = []
    for name, module in model.named_modules():
        if not name or not any(name.endswith(m) for m in modules_to_save):
            continue
        if any(name.startswith(prev + ".") for prev, _ in found):
            continue
        found.append((name, module))
    return found


def _unique_numel(params: Iterable[nn.Parameter]) -> int:
    """Sum of numel over parameters, each distinct tensor once (like ``named_parameters()``)."""
    seen: set[int] = set()
    total = 0
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


# ----------------------------------------------------------------------------------------------------
# Per-model counts
# ----------------------------------------------------------------------------------------------------


def _validate_common(method: str, r: int, task_type: str | None, kwargs: dict) -> str | None:
    """Check the method, rank, task type and keyword names; return the task type as a plain string."""
    if method not in _METHODS:
        raise ValueError(f"method must be one of {list(_METHODS)}, got {method!r}")
    allowed = _METHOD_KWARGS[method]
    unknown = set(kwargs) - allowed
    if unknown:
        raise TypeError(f"count_trainable(method={method!r}) got unexpected keyword arguments {sorted(unknown)}; "
                        f"allowed: {sorted(allowed)}")
    if method != "waveft":
        _check_positive_int(r, "r")
    task = None if task_type is None else str(getattr(task_type, "value", task_type))
    if task is not None and task not in _KNOWN_TASKS:
        raise ValueError(f"task_type must be None or one of {sorted(_KNOWN_TASKS)}, got {task_type!r}")
    bias = kwargs.get("bias", "none")
    allowed_bias = _BIAS_OPTIONS if method in ("lora", "dora") else ("none",)
    if bias not in allowed_bias:
        raise ValueError(f"bias must be one of {list(allowed_bias)} for method={method!r}, got {bias!r}")
    return task


def _lora_parts(targets: list[LoraTarget], r: int, use_dora: bool) -> dict[str, int]:
    """LoRA A/B (r·(in+out) per layer) and, for DoRA, one magnitude per output feature."""
    parts = {"lora_A": sum(r * t.in_features for t in targets), "lora_B": sum(r * t.out_features for t in targets)}
    if use_dora:
        parts["dora_magnitude"] = sum(t.out_features for t in targets)
    return parts


def _vblora_parts(targets: list[LoraTarget], r: int, num_vectors: int, vector_length: int,
                  topk: int) -> dict[str, int]:
    """VB-LoRA: the shared bank (h × b) plus logits (r · in/b · h) for A and (out/b · r · h) for B per layer."""
    h = _check_positive_int(num_vectors, "num_vectors")
    b = _check_positive_int(vector_length, "vector_length")
    _check_positive_int(topk, "topk")
    if topk > h:
        raise ValueError(f"topk must be in 1..num_vectors={h}, got {topk}")
    for t in targets:
        for side, size in (("in_features", t.in_features), ("out_features", t.out_features)):
            if size % b:
                raise ValueError(f"vector_length={b} must divide every adapted layer's in/out features; "
                                 f"{t.name!r} has {side}={size} (allowed: divisors of {size})")
    return {"vector_bank": h * b,
            "logits_A": sum(r * (t.in_features // b) * h for t in targets),
            "logits_B": sum((t.out_features // b) * r * h for t in targets)}


def _waveft_parts(targets: list[LoraTarget], n_frequency: int) -> dict[str, int]:
    """WaveFT: `n_frequency` trainable wavelet coefficients per adapted layer (n_frequency <= in·out)."""
    _check_positive_int(n_frequency, "n_frequency")
    for t in targets:
        if n_frequency > t.in_features * t.out_features:
            raise ValueError(f"n_frequency must be <= in_features·out_features = "
                             f"{t.in_features * t.out_features} for {t.name!r}, got {n_frequency}")
    return {"waveft_spectrum": n_frequency * len(targets)}


def adapter_parts(
    model: nn.Module,
    method: str = "lora",
    r: int = 8,
    target_modules: Sequence[str] | str = ("query", "value"),
    task_type: str | None = "SEQ_CLS",
    **kwargs,
) -> dict[str, int]:
    """Where the trainable parameters go after ``get_peft_model``: one entry per kind, summing to the count.

    Keys: ``lora_A``/``lora_B`` (+ ``dora_magnitude``) for LoRA/DoRA; ``vector_bank``, ``logits_A``,
    ``logits_B`` for VB-LoRA; ``waveft_spectrum`` for WaveFT; then ``modules_to_save`` (trainable head copies)
    and ``bias`` (base biases made trainable by ``bias="all"``/``"lora_only"``; counted in trainable only).
    Arguments as in :func:`count_trainable`.
    """
    task = _validate_common(method, r, task_type, kwargs)
    found = find_lora_targets(model, target_modules, task, kwargs.get("modules_to_save"),
                              kwargs.get("exclude_modules"))
    if method in ("lora", "dora"):
        _check_alpha(kwargs.get("lora_alpha", 8), "lora_alpha")
        dropout = kwargs.get("lora_dropout", 0.0)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {dropout}")
        targets = [_lora_target(n, m, r) for n, m in found]
        parts = _lora_parts(targets, r, method == "dora" or bool(kwargs.get("use_dora", False)))
    else:
        targets = [LoraTarget(n, m.in_features, m.out_features, m.bias is not None) for n, m in found]
        if method == "vblora":
            opts = {k: kwargs.get(k, v) for k, v in VBLORA_DEFAULTS.items()}
            parts = _vblora_parts(targets, r, **opts)
        else:
            parts = _waveft_parts(targets, kwargs.get("n_frequency", WAVEFT_DEFAULTS["n_frequency"]))

    saved_names = modules_to_save_for(task, kwargs.get("modules_to_save"))
    saved = _saved_modules(model, saved_names) if saved_names else []
    parts["modules_to_save"] = sum(_unique_numel(m.parameters()) for _, m in saved)
    bias = kwargs.get("bias", "none")
    parts["bias"] = 0
    if bias == "all":
        # every "*.bias" becomes trainable, except frozen originals of modules_to_save (copies counted above)
        saved_prefixes = tuple(n + "." for n, _ in saved)
        parts["bias"] = sum(
            p.numel() for pname, p in model.named_parameters()
            if (pname == "bias" or pname.endswith(".bias")) and not pname.startswith(saved_prefixes)
        )
    elif bias == "lora_only":
        parts["bias"] = sum(t.out_features for t in targets if t.has_bias)
    return parts


def count_trainable(
    model: nn.Module,
    method: str = "lora",
    r: int = 8,
    target_modules: Sequence[str] | str = ("query", "value"),
    task_type: str | None = "SEQ_CLS",
    **kwargs,
) -> tuple[int, int]:
    """``(trainable, total)`` as peft's ``get_nb_trainable_parameters()`` reports after ``get_peft_model``.

    ``total`` = base parameters + adapter parameters + the trainable copies of ``modules_to_save``
    (under SEQ_CLS the classifier). Nothing in ``model`` is modified; meta-device models work.

    Args:
        model (`nn.Module`): the base model, e.g. from :func:`config_only_model`.
        method (`str`): ``"lora"``, ``"dora"`` (same as ``use_dora=True``), ``"vblora"`` or ``"waveft"``.
        r (`int`): rank; LoRA/DoRA: 1 <= r <= min(in, out) of every adapted layer; VB-LoRA: r >= 1 (peft's
            default is 4, pass it); ignored by WaveFT.
        target_modules (`list[str]` or `str`): see :func:`find_lora_targets`. Defaults to peft's BERT default
            ``("query", "value")``.
        task_type (`str`, *optional*): peft task type. Defaults to ``"SEQ_CLS"``.
        **kwargs: config options. LoRA/DoRA (``LoraConfig``): ``lora_alpha`` (> 0; no effect on counts),
            ``lora_dropout``, ``use_rslora``, ``use_dora``, ``bias`` (``"none"``, ``"all"``, ``"lora_only"``).
            VB-LoRA (``VBLoRAConfig``): ``num_vectors`` (h, default 256), ``vector_length`` (b, default 256; must
            divide every adapted layer's in/out features), ``topk`` (default 2). WaveFT (``WaveFTConfig``):
            ``n_frequency`` (default 2592; <= in·out of every adapted layer). All: ``modules_to_save``,
            ``exclude_modules``; ``bias`` must be ``"none"`` for VB-LoRA and WaveFT.

    Raises:
        ValueError: bad ``method``, ``r``, ``lora_alpha``, ``bias``, ``task_type``, ``target_modules``,
            ``vector_length`` (not a divisor), ``topk`` or ``n_frequency``.
        TypeError: a keyword argument the method does not have.
    """
    parts = adapter_parts(model, method, r, target_modules, task_type, **kwargs)
    trainable = sum(parts.values())
    # made-trainable biases are base parameters: they count in trainable but are already in the base total
    return trainable, _unique_numel(model.parameters()) + trainable - parts["bias"]


def vblora_stored_params(shapes: Iterable[tuple[int, int]], r: int, num_vectors: int, vector_length: int,
                         topk: int = 2, index_bytes: int = 1) -> float:
    """VB-LoRA's stored parameters after training, in float32 equivalents (paper §3.4: hb + 3LMr·d/b).

    Only the bank (h·b), and per sub-vector of length b the top-k indices and k-1 weights, are kept; the logits
    are dropped. A and B of a layer with shape (in, out) hold r·(in+out)/b sub-vectors. With k=2 and uint8
    indices (``index_bytes=1``: 4 indices = one float32) a d×d layer gives 3·r·d/b, the paper's formula.

    Args:
        shapes: ``(in_features, out_features)`` of every adapted layer.
        r, num_vectors, vector_length, topk: VB-LoRA's r, h, b and k.
        index_bytes: bytes per stored index (1 for uint8 as in the paper; peft saves int16 = 2).
    """
    for value, name in ((r, "r"), (num_vectors, "num_vectors"), (vector_length, "vector_length"),
                        (topk, "topk"), (index_bytes, "index_bytes")):
        _check_positive_int(value, name)
    if topk > num_vectors:
        raise ValueError(f"topk must be in 1..num_vectors={num_vectors}, got {topk}")
    shapes = list(shapes)
    if not shapes:
        raise ValueError("shapes must list at least one (in_features, out_features) pair")
    sub_vectors = 0
    for d_in, d_out in shapes:
        if d_in % vector_length or d_out % vector_length:
            raise ValueError(f"vector_length={vector_length} must divide in/out features; got shape {(d_in, d_out)}")
        sub_vectors += r * (d_in + d_out) // vector_length
    return num_vectors * vector_length + sub_vectors * ((topk - 1) + topk * index_bytes / 4)


def lora_breakdown(
    model: nn.Module,
    r: int,
    target_modules: Sequence[str] | str,
    task_type: str | None = "SEQ_CLS",
    use_dora: bool = False,
) -> list[dict]:
    """Per module type rows: where the LoRA (and DoRA) parameters go.

    A module type is the module name with its layer index replaced by ``*``
    (``bert.encoder.layer.*.attention.self.query``); each row gives the count of such modules, their shape,
    the parameters per module and in total.

    Args:
        model (`nn.Module`): the base model.
        r (`int`): LoRA rank.
        target_modules (`list[str]` or `str`): see :func:`find_lora_targets`.
        task_type (`str`, *optional*): peft task type. Defaults to ``"SEQ_CLS"``.
        use_dora (`bool`): add the DoRA magnitude column. Defaults to `False`.
    """
    _check_positive_int(r, "r")
    targets = [_lora_target(n, m, r) for n, m in find_lora_targets(model, target_modules, task_type)]
    rows: dict[str, dict] = {}
    for t in targets:
        key = re.sub(r"\.\d+\.", ".*.", t.name)
        per = lora_params_for_shape(t.in_features, t.out_features, r)
        mag = t.out_features if use_dora else 0
        row = rows.setdefault(key, {
            "module": key, "shape (out×in)": f"{t.out_features}×{t.in_features}", "count": 0,
            "full W per module": t.in_features * t.out_features, "LoRA per module": per,
            "LoRA params": 0,
        })
        if row["shape (out×in)"] != f"{t.out_features}×{t.in_features}":
            row["shape (out×in)"] = "mixed"
        row["count"] += 1
        row["LoRA params"] += per
        if use_dora:
            row["DoRA magnitude"] = row.get("DoRA magnitude", 0) + mag
    return list(rows.values())


# ----------------------------------------------------------------------------------------------------
# Figure (registered in course_utils.figs)
# ----------------------------------------------------------------------------------------------------


def figure(r: int = 8, target_modules: Sequence[str] = ("query", "key", "value", "dense")):
    """Two panels: LoRA vs full parameters of one 768×768 layer by rank, and where klue/bert-base's LoRA goes.

    Args:
        r (`int`): rank for the right panel. Defaults to 8 (the lecture's setting).
        target_modules (`list[str]`): targets for the right panel. Defaults to the lecture's q/k/v/dense.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=(1, 1.3))
    ranks = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    full = full_params_for_shape(768, 768)
    left.plot(ranks, [lora_params_for_shape(768, 768, k) for k in ranks], "o-", label="LoRA: r×(768+768)")
    left.axhline(full, color="k", ls="--", lw=1, label=f"완전 파인튜닝: 768×768 = {full:,}")
    lora8 = lora_params_for_shape(768, 768, 8)
    left.annotate(f"r=8: {lora8:,}\n({reduction_percent(full, lora8):.2f}% 감소)", (8, lora8),
                  textcoords="offset points", xytext=(8, -28), fontsize=8)
    left.set_xscale("log", base=2)
    left.set_yscale("log")
    left.set_xticks(ranks, [str(k) for k in ranks])
    left.set_xlabel("랭크 r")
    left.set_ylabel("학습 파라미터 수")
    left.set_title("768×768 층 하나")
    left.legend(fontsize=8, loc="lower right")

    model = config_only_model(klue_bert_base_config())
    rows = lora_breakdown(model, r, list(target_modules))
    trainable, total = count_trainable(model, r=r, target_modules=list(target_modules))
    labels = [row["module"].replace("bert.encoder.layer.*.", "").replace("bert.", "") for row in rows]
    values = [row["LoRA params"] for row in rows]
    labels.append("classifier 사본")
    values.append(trainable - sum(values))
    bars = right.barh(labels[::-1], values[::-1], color="#4C72B0")
    right.bar_label(bars, labels=[f"{v:,}" for v in values[::-1]], fontsize=8, padding=2)
    right.set_xlim(0, max(values) * 1.3)
    right.set_xlabel("학습 파라미터 수")
    right.set_title(f"klue/bert-base, r={r}, {'/'.join(target_modules)}: 합계 {trainable:,}", fontsize=10)
    fig.suptitle(f"LoRA 파라미터 수 (klue/bert-base 전체 {total:,} 중 {100 * trainable / total:.4f}%)")
    return fig
