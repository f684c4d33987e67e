"""Parameter counts for LoRA, DoRA, VB-LoRA and WaveFT: peft's rules decide *which* layers, the formulas *how many*.

Which layers ``get_peft_model`` adapts and which modules it trains as full copies is asked of peft itself
(:mod:`course_utils.adapters.peft_rules`, on a meta-device copy): the suffix/regex/``"all-linear"`` matching, the task
head, GPT-2's Conv1D and every refusal are peft's own. The counts are the lesson's formulas — LoRA ``r·(in+out)``
per layer, DoRA one magnitude per output feature, VB-LoRA's bank and logits, WaveFT's coefficients — and the tests
check them against ``get_nb_trainable_parameters()`` on several architectures.
A rank above a layer's ``min(in_features, out_features)`` is no longer low rank, but peft builds it, so it is
counted (only :class:`course_utils.lora.LoRALinear`, the lesson's own layer, refuses it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import torch
from torch import nn

from course_utils.adapters.peft_rules import AdaptedLayer, PeftPlan, peft_plan
from course_utils.runtime import validate
from course_utils.runtime.presets import preset_model

__all__ = [
    "COUNTED_METHODS", "VBLORA_DEFAULTS", "WAVEFT_DEFAULTS", "adapter_parts", "adapter_size_mb", "count_trainable",
    "dora_magnitude_params", "format_peft_line", "full_params_for_shape", "lora_breakdown",
    "lora_param_counts_figure", "lora_params_for_shape", "reduction_percent", "scaling_factors",
    "vblora_stored_params",
]

#: Methods :func:`count_trainable` counts (peft ``LoraConfig`` with/without DoRA, ``VBLoRAConfig``, ``WaveFTConfig``).
COUNTED_METHODS = ("lora", "dora", "vblora", "waveft")
_BIAS_OPTIONS = ("none", "all", "lora_only")
_LORA_KWARGS = frozenset(
    {"lora_alpha", "lora_dropout", "use_rslora", "use_dora", "bias", "modules_to_save", "exclude_modules"})
_SHARED_KWARGS = frozenset({"modules_to_save", "exclude_modules", "bias"})
_METHOD_KWARGS: dict[str, frozenset[str]] = {
    "lora": _LORA_KWARGS,
    "dora": _LORA_KWARGS,
    "vblora": _SHARED_KWARGS | {"num_vectors", "vector_length", "topk", "vblora_dropout", "save_only_topk_weights"},
    "waveft": _SHARED_KWARGS | {"n_frequency", "scaling", "wavelet_family", "random_loc_seed"},
}
#: Layer types whose adapter size the formulas below give (others raise instead of giving a partial count).
_LAYER_TYPES = {"lora": ("Linear", "Conv1D", "Embedding"), "dora": ("Linear", "Conv1D", "Embedding"),
                "vblora": ("Linear",), "waveft": ("Linear",)}
#: peft 0.21 defaults (``VBLoRAConfig``: h=256, b=256, k=2; ``WaveFTConfig``: n_frequency=2592).
VBLORA_DEFAULTS = {"num_vectors": 256, "vector_length": 256, "topk": 2}
WAVEFT_DEFAULTS = {"n_frequency": 2592}


# ----------------------------------------------------------------------------------------------------
# Per-shape formulas (the lesson)
# ----------------------------------------------------------------------------------------------------


def lora_params_for_shape(in_features: int, out_features: int, r: int) -> int:
    """Number of LoRA parameters for one layer: A (r, in) plus B (out, r) = r * (in + out).

    Args:
        in_features (`int`): input size of the adapted layer.
        out_features (`int`): output size of the adapted layer.
        r (`int`): LoRA rank, >= 1 (above min(in_features, out_features) it is no longer low rank, but peft
            builds it all the same).
    """
    validate.positive_int(in_features, "in_features")
    validate.positive_int(out_features, "out_features")
    validate.positive_int(r, "r")
    return r * (in_features + out_features)


def full_params_for_shape(in_features: int, out_features: int, bias: bool = False) -> int:
    """Number of parameters that full fine-tuning trains in one Linear layer: in * out (+ out with bias).

    Args:
        in_features (`int`): input size of the layer.
        out_features (`int`): output size of the layer.
        bias (`bool`): whether to count the bias vector too. Defaults to `False` (the weight matrix only).
    """
    validate.positive_int(in_features, "in_features")
    validate.positive_int(out_features, "out_features")
    return in_features * out_features + (out_features if bias else 0)


def dora_magnitude_params(out_features: int) -> int:
    """Number of DoRA magnitude parameters for one layer: one per output feature (peft ``lora_magnitude_vector``)."""
    return validate.positive_int(out_features, "out_features")


def reduction_percent(full: int, reduced: int) -> float:
    """Percentage of parameters saved: 100 * (1 - reduced / full).

    Args:
        full (`int`): parameter count of the full update (e.g. ``full_params_for_shape``), > 0.
        reduced (`int`): parameter count of the low-rank update, >= 0.
    """
    validate.positive_int(full, "full")
    validate.positive_int(reduced, "reduced", allow_zero=True)
    return 100.0 * (1.0 - reduced / full)


def scaling_factors(r: int, alpha: float) -> dict[str, float]:
    """LoRA scaling for plain LoRA (alpha / r) and rsLoRA (alpha / sqrt(r)).

    Args:
        r (`int`): LoRA rank, >= 1.
        alpha (`float`): ``lora_alpha``, > 0.
    """
    validate.positive_int(r, "r")
    alpha = validate.positive_number(alpha, "alpha")
    return {"lora": alpha / r, "rslora": alpha / r**0.5}


def adapter_size_mb(n_params: int, dtype: torch.dtype | str = torch.float32) -> float:
    """Size in MB (10**6 bytes) of ``n_params`` stored in ``dtype`` (tensor data only, no file headers).

    Args:
        n_params (`int`): number of stored parameters, >= 0.
        dtype (`torch.dtype` or `str`): storage dtype, e.g. ``torch.float32``, ``"bf16"``, ``"fp16"``.
    """
    aliases = {"fp32": torch.float32, "float32": torch.float32, "bf16": torch.bfloat16,
               "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16}
    if isinstance(dtype, str):
        dtype = aliases[validate.choice(dtype.lower(), sorted(aliases), "dtype")]
    validate.positive_int(n_params, "n_params", allow_zero=True)
    return n_params * torch.empty((), dtype=dtype).element_size() / 1e6


def format_peft_line(trainable: int, total: int) -> str:
    """The line peft 0.21's ``print_trainable_parameters()`` prints, e.g.
    ``trainable params: 1,340,930 || all params: 111,959,812 || trainable%: 1.1977``.

    Args:
        trainable (`int`): number of trainable parameters.
        total (`int`): number of all parameters, > 0.
    """
    validate.positive_int(total, "total")
    percent = 100 * trainable / total
    return f"trainable params: {trainable:,d} || all params: {total:,d} || trainable%: {percent:.4f}"


# ----------------------------------------------------------------------------------------------------
# Per-model counts
# ----------------------------------------------------------------------------------------------------


def _unique_numel(params: Iterable[nn.Parameter]) -> int:
    """Sum of numel over parameters, each distinct tensor once (tied weights once, like ``named_parameters()``)."""
    seen: dict[int, int] = {}
    for p in params:
        seen.setdefault(id(p), p.numel())
    return sum(seen.values())


def _plan(model: nn.Module, method: str, r: int, target_modules: Sequence[str] | str, task_type: str | None,
          kwargs: dict) -> PeftPlan:
    """Validate the arguments, then ask peft which layers it adapts and which modules it saves."""
    validate.choice(method, COUNTED_METHODS, "method")
    unknown = set(kwargs) - _METHOD_KWARGS[method]
    if unknown:
        raise TypeError(f"count_trainable(method={method!r}) got unexpected keyword arguments {sorted(unknown)}; "
                        f"allowed: {sorted(_METHOD_KWARGS[method])}")
    if method != "waveft":
        validate.positive_int(r, "r")
    validate.choice(kwargs.get("bias", "none"), _BIAS_OPTIONS if method in ("lora", "dora") else ("none",), "bias")
    if method in ("lora", "dora"):
        validate.positive_number(kwargs.get("lora_alpha", 8), "lora_alpha")
        validate.probability(kwargs.get("lora_dropout", 0.0), "lora_dropout")
    plan = peft_plan(model, target_modules, task_type=task_type, modules_to_save=kwargs.get("modules_to_save"),
                     exclude_modules=kwargs.get("exclude_modules"), bias=kwargs.get("bias", "none"))
    allowed = _LAYER_TYPES[method]
    other = [layer for layer in plan.adapted if layer.layer_type not in allowed]
    if other:
        raise ValueError(f"count_trainable(method={method!r}) has no formula for {other[0].layer_type} layers such as "
                         f"{other[0].name!r} (allowed layer types: {list(allowed)}); choose other target_modules")
    return plan


def _lora_parts(layers: Sequence[AdaptedLayer], r: int, use_dora: bool) -> dict[str, int]:
    """LoRA A/B (r·(in+out) per layer) and, for DoRA, one magnitude per output feature (any r >= 1, as peft)."""
    parts = {"lora_A": sum(r * t.in_features for t in layers), "lora_B": sum(r * t.out_features for t in layers)}
    if use_dora:
        parts["dora_magnitude"] = sum(t.out_features for t in layers)
    return parts


def _vblora_parts(layers: Sequence[AdaptedLayer], r: int, num_vectors: int, vector_length: int,
                  topk: int) -> dict[str, int]:
    """VB-LoRA: the shared bank (h × b) plus logits (r · in/b · h) for A and (out/b · r · h) for B per layer."""
    h = validate.positive_int(num_vectors, "num_vectors")
    b = validate.positive_int(vector_length, "vector_length")
    validate.positive_int(topk, "topk")
    if topk > h:
        raise ValueError(f"topk must be in 1..num_vectors={h}, got {topk}")
    for t in layers:
        for side, size in (("in_features", t.in_features), ("out_features", t.out_features)):
            if size % b:
                raise ValueError(f"vector_length={b} must divide every adapted layer's in/out features; "
                                 f"{t.name!r} has {side}={size} (allowed: divisors of {size})")
    return {"vector_bank": h * b,
            "logits_A": sum(r * (t.in_features // b) * h for t in layers),
            "logits_B": sum((t.out_features // b) * r * h for t in layers)}


def _waveft_parts(layers: Sequence[AdaptedLayer], n_frequency: int) -> dict[str, int]:
    """WaveFT: `n_frequency` trainable wavelet coefficients per adapted layer (n_frequency <= in·out)."""
    validate.positive_int(n_frequency, "n_frequency")
    for t in layers:
        if n_frequency > t.in_features * t.out_features:
            raise ValueError(f"n_frequency must be <= in_features·out_features = "
                             f"{t.in_features * t.out_features} for {t.name!r}, got {n_frequency}")
    return {"waveft_spectrum": n_frequency * len(layers)}


def adapter_parts(model: nn.Module, method: str = "lora", r: int = 8,
                  target_modules: Sequence[str] | str = ("query", "value"), task_type: str | None = "SEQ_CLS",
                  **kwargs) -> dict[str, int]:
    """Where the trainable parameters go after ``get_peft_model``: one entry per kind, summing to the count.

    Keys: ``lora_A``/``lora_B`` (+ ``dora_magnitude``) for LoRA/DoRA; ``vector_bank``, ``logits_A``,
    ``logits_B`` for VB-LoRA; ``waveft_spectrum`` for WaveFT; then ``modules_to_save`` (trainable head copies)
    and ``bias`` (base biases made trainable by ``bias="all"``/``"lora_only"``; counted in trainable only).
    Arguments as in :func:`count_trainable`.
    """
    plan = _plan(model, method, r, target_modules, task_type, kwargs)
    layers = plan.adapted
    if method in ("lora", "dora"):
        parts = _lora_parts(layers, r, method == "dora" or bool(kwargs.get("use_dora", False)))
    elif method == "vblora":
        parts = _vblora_parts(layers, r, **{k: kwargs.get(k, v) for k, v in VBLORA_DEFAULTS.items()})
    else:
        parts = _waveft_parts(layers, kwargs.get("n_frequency", WAVEFT_DEFAULTS["n_frequency"]))
    modules = dict(model.named_modules())
    parts["modules_to_save"] = _unique_numel(p for name in plan.saved for p in modules[name].parameters())
    parts["bias"] = plan.trainable_base  # which biases bias="all"/"lora_only" frees is peft's rule: asked of peft
    return parts


def count_trainable(model: nn.Module, method: str = "lora", r: int = 8,
                    target_modules: Sequence[str] | str = ("query", "value"), task_type: str | None = "SEQ_CLS",
                    **kwargs) -> tuple[int, int]:
    """``(trainable, total)`` as peft's ``get_nb_trainable_parameters()`` reports after ``get_peft_model``.

    ``total`` = base parameters + adapter parameters + the trainable copies of ``modules_to_save``
    (under SEQ_CLS the classifier). Nothing in ``model`` is modified; meta-device models work.

    Args:
        model (`nn.Module`): the base model, e.g. from :func:`course_utils.runtime.presets.config_only_model`.
        method (`str`): ``"lora"``, ``"dora"`` (same as ``use_dora=True``), ``"vblora"`` or ``"waveft"``.
        r (`int`): rank, >= 1 (as peft, also above a layer's min(in, out)); VB-LoRA: peft's default is 4, pass
            it; ignored by WaveFT.
        target_modules (`list[str]` or `str`): as in peft: names (suffix rule), a regex (full match) or
            ``"all-linear"``. Defaults to peft's BERT default ``("query", "value")``.
        task_type (`str`, *optional*): peft task type. Defaults to ``"SEQ_CLS"``.
        **kwargs: config options. LoRA/DoRA (``LoraConfig``): ``lora_alpha`` (> 0; no effect on counts),
            ``lora_dropout``, ``use_rslora``, ``use_dora``, ``bias`` (``"none"``, ``"all"``, ``"lora_only"``).
            VB-LoRA (``VBLoRAConfig``): ``num_vectors`` (h, default 256), ``vector_length`` (b, default 256; must
            divide every adapted layer's in/out features), ``topk`` (default 2). WaveFT (``WaveFTConfig``):
            ``n_frequency`` (default 2592; <= in·out of every adapted layer). All: ``modules_to_save`` (a list),
            ``exclude_modules``; ``bias`` must be ``"none"`` for VB-LoRA and WaveFT.

    Raises:
        ValueError: bad ``method``, ``r``, ``lora_alpha``, ``bias``, ``task_type``, ``vector_length``, ``topk`` or
            ``n_frequency``, or a configuration peft itself refuses (e.g. targets that match nothing).
        TypeError: a keyword argument the method does not have, or a string where a list of names is expected.
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
        validate.positive_int(value, name)
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


def lora_breakdown(model: nn.Module, r: int, target_modules: Sequence[str] | str, task_type: str | None = "SEQ_CLS",
                   use_dora: bool = False) -> list[dict]:
    """Per module type rows: where the LoRA (and DoRA) parameters go.

    A module type is the module name with its layer index replaced by ``*``
    (``bert.encoder.layer.*.attention.self.query``); each row gives the count of such modules, their shape,
    the parameters per module and in total.

    Args:
        model (`nn.Module`): the base model.
        r (`int`): LoRA rank.
        target_modules (`list[str]` or `str`): as in :func:`count_trainable`.
        task_type (`str`, *optional*): peft task type. Defaults to ``"SEQ_CLS"``.
        use_dora (`bool`): add the DoRA magnitude column. Defaults to `False`.
    """
    validate.positive_int(r, "r")
    rows: dict[str, dict] = {}
    for t in peft_plan(model, target_modules, task_type=task_type).adapted:
        key = re.sub(r"\.\d+\.", ".*.", t.name)
        shape = f"{t.out_features}×{t.in_features}"
        per = lora_params_for_shape(t.in_features, t.out_features, r)
        row = rows.setdefault(key, {"module": key, "shape (out×in)": shape, "count": 0,
                                    "full W per module": t.in_features * t.out_features, "LoRA per module": per,
                                    "LoRA params": 0})
        if row["shape (out×in)"] != shape:
            row["shape (out×in)"] = "mixed"
        row["count"] += 1
        row["LoRA params"] += per
        if use_dora:
            row["DoRA magnitude"] = row.get("DoRA magnitude", 0) + t.out_features
    return list(rows.values())


# ----------------------------------------------------------------------------------------------------
# Figure (registered in course_utils.publish.figures)
# ----------------------------------------------------------------------------------------------------


def lora_param_counts_figure(r: int = 8, target_modules: Sequence[str] = ("query", "key", "value", "dense")):
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

    model = preset_model("klue/bert-base")
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
