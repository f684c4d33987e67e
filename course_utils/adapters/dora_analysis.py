"""The DoRA paper's magnitude / direction analysis (§3.2, Eq. 3–4, Figure 2), on real peft models and ours.

``magnitude_direction_change`` is ΔM and ΔD between two weights; ``effective_weight`` reads the weight a layer
applies now (``nn.Linear``, peft LoRA / DoRA, ``LoRALinear``, ``DoRALinear``); ``track_magnitude_direction`` trains
a model and records (ΔM, ΔD) of its query layers at checkpoints; ``md_correlations`` is the number the paper quotes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn

from course_utils.adapters.dora import NORM_EPS, DoRALinear
from course_utils.adapters.lora import LoRALinear
from course_utils.runtime import validate

__all__ = [
    "effective_weight",
    "layer_weights",
    "magnitude_direction_change",
    "md_correlations",
    "md_figure",
    "track_magnitude_direction",
]


def magnitude_direction_change(w0: torch.Tensor, wt: torch.Tensor) -> tuple[float, float]:
    """(ΔM, ΔD) of paper Eq. 3–4 between two (out, in) weights, averaged over the output rows.

    ``ΔM = mean_n |‖Wt_n‖ − ‖W0_n‖|`` and ``ΔD = mean_n (1 − cos(Wt_n, W0_n))`` with ``n`` the output feature
    (a row of ``nn.Linear.weight``; a "column" in the paper's notation). The direction ``V/‖V‖`` has the
    same cosine as ``W`` itself. A row that is zero in both weights has ΔD = 0; zero in only one, ΔD = 1.
    Computed in float64.

    Args:
        w0 (`torch.Tensor`): the weight before training, shape (out, in).
        wt (`torch.Tensor`): the weight at checkpoint t, same shape.
    """
    if not (isinstance(w0, torch.Tensor) and isinstance(wt, torch.Tensor)):
        raise TypeError(f"w0 and wt must be torch.Tensor, got {type(w0).__name__} and {type(wt).__name__}")
    if w0.ndim != 2 or w0.shape != wt.shape:
        raise ValueError(f"w0 and wt must be 2-D (out, in) weights of the same shape, "
                         f"got {tuple(w0.shape)} and {tuple(wt.shape)}")
    w0, wt = w0.detach().to(torch.float64).cpu(), wt.detach().to(torch.float64).cpu()
    m0, mt = torch.linalg.vector_norm(w0, dim=1), torch.linalg.vector_norm(wt, dim=1)
    denom = m0 * mt
    cos = (w0 * wt).sum(dim=1) / torch.where(denom > 0, denom, torch.ones_like(denom))
    both_zero = (m0 == 0) & (mt == 0)
    cos = torch.where(denom > 0, cos, both_zero.to(cos.dtype))
    return float((mt - m0).abs().mean()), float((1 - cos).mean())


def effective_weight(module: nn.Module, adapter_name: str = "default") -> torch.Tensor:
    """The (out, in) weight a layer applies now, detached: what ΔM/ΔD compare against W0.

    ``nn.Linear`` → its weight (full fine-tuning); peft LoRA → ``W0 + s·BA``; peft DoRA →
    ``m · (W0 + s·BA) / ‖W0 + s·BA‖_row``; a merged peft layer → its base weight; ``LoRALinear`` and
    ``DoRALinear`` likewise.

    Args:
        module (`nn.Module`): an ``nn.Linear``, a peft ``lora.Linear`` (LoRA or DoRA), or our layers.
        adapter_name (`str`): the peft adapter to read. Defaults to ``"default"``.
    """
    with torch.no_grad():
        if isinstance(module, LoRALinear):  # ours (DoRALinear is a LoRALinear)
            weight = module.base_layer.weight.detach()
            if module.merged:
                return weight.clone()
            combined = weight + module.delta_weight()
            if isinstance(module, DoRALinear):
                combined = combined * (module.magnitude / module.weight_norm().clamp_min(NORM_EPS))[:, None]
            return combined
        if hasattr(module, "lora_A") and hasattr(module, "get_base_layer"):  # peft lora.Linear
            base = module.get_base_layer()
            if not isinstance(base, nn.Linear):
                raise ValueError(f"module must wrap an nn.Linear, got {type(base).__name__}")
            weight = base.weight.detach()
            if getattr(module, "merged", False) or adapter_name not in module.lora_A:
                return weight.clone()
            combined = weight + module.get_delta_weight(adapter_name)
            magnitudes = getattr(module, "lora_magnitude_vector", {})
            if adapter_name in magnitudes:
                norm = torch.linalg.vector_norm(combined, dim=1).clamp_min(NORM_EPS)
                combined = combined * (magnitudes[adapter_name].weight / norm)[:, None]
            return combined
        if isinstance(module, nn.Linear):
            return module.weight.detach().clone()
    raise ValueError(f"module must be an nn.Linear, a peft LoRA/DoRA layer, LoRALinear or DoRALinear; "
                     f"got {type(module).__name__}")


def layer_weights(model: nn.Module, target: str = "query", adapter_name: str = "default") -> dict[str, torch.Tensor]:
    """Effective weight (see :func:`effective_weight`) of every module named ``*.{target}``, keyed by its name.

    peft's ``base_model.model.`` prefix is removed, so full fine-tuning, LoRA and DoRA runs of the same
    model give the same keys.

    Args:
        model (`nn.Module`): a plain model or a peft model.
        target (`str`): the last part of the module names, e.g. ``"query"`` (the paper's Figure 2) or ``"value"``.
        adapter_name (`str`): the peft adapter to read. Defaults to ``"default"``.
    """
    weights: dict[str, torch.Tensor] = {}
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] != target:
            continue
        key = name.removeprefix("base_model.model.")
        weights[key] = effective_weight(module, adapter_name).float().cpu().clone()
    if not weights:
        raise ValueError(f"target={target!r} matches no module of {type(model).__name__}; "
                         f"allowed: the last part of a Linear layer's name, e.g. 'query', 'value'")
    return weights


def _md_rows(initial: Mapping[str, torch.Tensor], current: Mapping[str, torch.Tensor]) -> list[dict]:
    """One row per layer: its name, ΔM and ΔD between ``initial`` and ``current``."""
    rows = []
    for layer, w0 in initial.items():
        delta_m, delta_d = magnitude_direction_change(w0, current[layer])
        rows.append({"layer": layer, "delta_m": delta_m, "delta_d": delta_d})
    return rows


def track_magnitude_direction(
    model: nn.Module,
    tokenizer,
    data,
    *,
    method: str,
    learning_rate: float,
    steps: int = 32,
    n_checkpoints: int = 4,
    target: str = "query",
    batch_size: int = 16,
    max_length: int = 64,
    seed: int = 42,
    progress: bool = True,
    schedule: str = "constant",
) -> pd.DataFrame:
    """Train ``model`` (AdamW) and record (ΔM, ΔD) of each ``target`` layer at evenly spaced checkpoints.

    The paper's Figure 2 setting, made small: each point is one layer at one checkpoint, measured against the
    weights before training. Works for a plain model (full fine-tuning: every parameter that requires grad
    is trained) and for peft LoRA / DoRA models (the effective weights are read, see :func:`effective_weight`).

    Args:
        model (`nn.Module`): a sequence-classification model (plain or peft) taking ``input_ids`` and ``labels``.
        tokenizer: its tokenizer.
        data (`DatasetDict`): needs a ``train`` split with ``document`` and ``label``.
        method (`str`): label for the rows, e.g. ``"full"``, ``"lora"``, ``"dora"``.
        learning_rate (`float`): AdamW learning rate (> 0), constant, no weight decay.
        steps (`int`): optimizer steps in total (>= 1).
        n_checkpoints (`int`): number of evenly spaced checkpoints, 1 <= n_checkpoints <= steps; the last is
            the final step.
        target (`str`): which layers to measure (last name part). Defaults to ``"query"`` as in the paper.
        batch_size (`int`): training batch size (>= 1).
        max_length (`int`): truncation length in tokens (>= 8); batches are padded to their longest text.
        seed (`int`): seed for the batch order and dropout.
        progress (`bool`): show a ``tqdm.auto`` bar. Defaults to `True`.
        schedule (`str`): ``"constant"`` learning rate, or ``"linear"`` decay to 0 at the last step (the
            ``transformers.Trainer`` default). Defaults to ``"constant"``.

    Returns:
        `pd.DataFrame`: columns ``method, checkpoint, step, layer, delta_m, delta_d, loss``.
    """
    from tqdm.auto import tqdm

    for name, value in (("steps", steps), ("n_checkpoints", n_checkpoints), ("batch_size", batch_size),
                        ("max_length", max_length)):
        validate.positive_int(value, name)
    if max_length < 8:
        raise ValueError(f"max_length must be an integer >= 8 (allowed: max_length >= 8), got {max_length}")
    if n_checkpoints > steps:
        raise ValueError(f"n_checkpoints must be <= steps (allowed: 1..{steps}), got {n_checkpoints}")
    validate.positive_number(learning_rate, "learning_rate")
    if schedule not in ("constant", "linear"):
        raise ValueError(f"schedule must be 'constant' or 'linear', got {schedule!r}")
    if "train" not in data:
        raise ValueError(f"data must have a 'train' split; has {list(data)}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no parameter that requires grad: nothing to train")

    initial = layer_weights(model, target)
    checkpoints = {round(steps * (k + 1) / n_checkpoints): k + 1 for k in range(n_checkpoints)}
    device = next(model.parameters()).device
    texts, labels = list(data["train"]["document"]), list(data["train"]["label"])
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    decay = (lambda done: 1 - done / steps) if schedule == "linear" else (lambda done: 1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, decay)
    order: list[int] = []
    rows: list[dict] = []
    was_training = model.training
    model.train()
    try:
        for step in tqdm(range(1, steps + 1), desc=f"{method} 학습", disable=not progress):
            if len(order) < batch_size:
                order += torch.randperm(len(texts), generator=generator).tolist()
            batch, order = order[:batch_size], order[batch_size:]
            encoded = tokenizer([texts[i] for i in batch], padding=True, truncation=True,
                                max_length=max_length, return_tensors="pt").to(device)
            loss = model(**encoded, labels=torch.tensor([labels[i] for i in batch], device=device)).loss
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            if step in checkpoints:
                current = layer_weights(model, target)
                for row in _md_rows(initial, current):
                    rows.append({"method": method, "checkpoint": checkpoints[step], "step": step, **row,
                                 "loss": float(loss.detach())})
    finally:
        model.train(was_training)
    return pd.DataFrame(rows, columns=["method", "checkpoint", "step", "layer", "delta_m", "delta_d", "loss"])


def md_correlations(table: pd.DataFrame, within_checkpoint: bool = False) -> pd.Series:
    """Pearson correlation of ΔD and ΔM per method (the number the paper quotes for its Figure 2).

    By default over all points of a method (every layer at every checkpoint), as in the paper. With
    ``within_checkpoint=True``: the mean over checkpoints of the correlation across layers at one checkpoint,
    which removes the common growth of ΔM and ΔD with training time.

    Args:
        table (`pd.DataFrame`): rows from :func:`track_magnitude_direction` (method, checkpoint, delta_d, delta_m).
        within_checkpoint (`bool`): average the per-checkpoint correlations instead. Defaults to `False`.
    """
    needed = {"method", "delta_d", "delta_m"} | ({"checkpoint"} if within_checkpoint else set())
    missing = needed - set(table.columns)
    if missing:
        raise ValueError(f"table lacks columns {sorted(missing)}; has {list(table.columns)}")

    def corr(group: pd.DataFrame, what: str) -> float:
        if len(group) < 2:
            raise ValueError(f"{what} has {len(group)} point(s); a correlation needs >= 2")
        return float(np.corrcoef(group["delta_d"], group["delta_m"])[0, 1])

    result = {}
    for method, group in table.groupby("method", sort=False):
        if within_checkpoint:
            result[method] = float(np.mean([corr(g, f"method {method!r} checkpoint {c}")
                                            for c, g in group.groupby("checkpoint")]))
        else:
            result[method] = corr(group, f"method {method!r}")
    name = "mean corr(ΔD, ΔM) within a checkpoint" if within_checkpoint else "corr(ΔD, ΔM)"
    return pd.Series(result, name=name)


def md_figure(table: pd.DataFrame, paper: Mapping[str, float], names: Mapping[str, str], title: str | None = None):
    """The paper's Figure 2 for our runs: one panel per method, (ΔD, ΔM) per layer and checkpoint, a fitted line,
    and in the title our correlation next to the paper's.

    Args:
        table (`pd.DataFrame`): rows from :func:`track_magnitude_direction` (one seed).
        paper (`Mapping[str, float]`): the paper's correlation per method (its Figure 2).
        names (`Mapping[str, str]`): display name per method.
        title (`str`, *optional*): a title over the panels.
    """
    from matplotlib.figure import Figure

    corr = md_correlations(table)
    methods = [m for m in paper if m in set(table["method"])]
    fig = Figure(figsize=(13, 4.2), layout="constrained")
    for ax, method in zip(fig.subplots(1, len(methods)), methods):
        group = table[table["method"] == method]
        for checkpoint, points in group.groupby("checkpoint"):
            ax.scatter(points["delta_d"], points["delta_m"], label=f"체크포인트 {checkpoint}", s=28)
        slope, intercept = np.polyfit(group["delta_d"], group["delta_m"], 1)
        xs = np.linspace(group["delta_d"].min(), group["delta_d"].max(), 10)
        ax.plot(xs, slope * xs + intercept, "k--", lw=1)
        ax.set_title(f"{names[method]}: r = {corr[method]:+.2f} (논문 {paper[method]:+.2f})", pad=14)
        ax.set_xlabel("ΔD (방향 변화)")
        ax.set_ylabel("ΔM (크기 변화)")
        ax.ticklabel_format(style="sci", scilimits=(-2, 2))  # 작은 값은 지수로
    fig.axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
