"""DoRA from scratch: ``DoRALinear`` equal to peft's ``LoraConfig(use_dora=True)`` layer, and the paper's ΔM/ΔD.

DoRA (Liu et al., arXiv 2402.09353, Eq. 2 and 5) writes a weight as magnitude times direction,
``W = m · V / ‖V‖_c``, with **one magnitude per output feature**. In PyTorch's ``nn.Linear`` layout
(out_features, in_features) that is the norm of each *row*: ``m = W.norm(dim=1)``, shape ``(out,)``.
Training keeps ``V = W0`` frozen, learns the direction through LoRA and learns ``m`` directly::

    W' = m · (W0 + s·B A) / ‖W0 + s·B A‖_row          (s = alpha / r)
    y  = b + (m / ‖W0 + s·B A‖_row) ⊙ (W0 x + s·B A x)

The norm is treated as a constant (detached from the gradient graph, paper §4.3), so it is computed under
``torch.no_grad()``. At initialisation ``m = ‖W0‖_row`` and ``B = 0``, so the layer equals the base layer.

``LectureDoRALayer`` is the lecture's wrong version (erratum #1 of the facts sheet), kept only to show the
error next to the correct layer.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from .lora import LoRALinear
from .params import _check_alpha, _check_rank

__all__ = [
    "NORM_EPS",
    "DoRALinear",
    "LectureDoRALayer",
    "effective_weight",
    "figure",
    "layer_weights",
    "magnitude_direction_change",
    "md_correlations",
    "track_magnitude_direction",
]

#: Floor for the row norm ‖W0 + s·BA‖: an all-zero row would otherwise give m / 0 = NaN
#: (peft 0.21.2 does; issue #2049, PR #3237). Rows with a norm above the floor are not affected.
NORM_EPS = 1e-12


class DoRALinear(LoRALinear):
    """DoRA on a frozen ``nn.Linear``: ``y = b + (m / ‖W0 + s·BA‖_row) ⊙ (W0 x + s·B A x)``, the norm detached.

    Built on :class:`~course_utils.lora.LoRALinear` (same ``lora_A``, ``lora_B``, ``scaling``, checks and init),
    plus a trainable ``magnitude`` vector of shape ``(out_features,)`` initialised to the row norms of W0.
    The forward pass reuses the one base matmul ``W0 x`` and the LoRA branch; the row norm costs one
    ``(out, in)`` matrix under ``no_grad``. With dropout in training mode it follows peft exactly
    (the base output on ``x``, the rescaling on ``dropout(x)``).

    Args:
        base (`nn.Linear`): the layer to adapt; its parameters are frozen in place (not copied).
        r (`int`): rank, 1 <= r <= min(in_features, out_features).
        alpha (`float`): ``lora_alpha`` > 0; the update is scaled by ``alpha / r`` (or ``alpha / sqrt(r)``).
        dropout (`float`): dropout probability on the adapter's input, in [0, 1). Defaults to 0.0.
        use_rslora (`bool`): rsLoRA scaling ``alpha / sqrt(r)``. Defaults to `False`.
    """

    def __init__(
        self, base: nn.Linear, r: int, alpha: float, dropout: float = 0.0, use_rslora: bool = False
    ) -> None:
        super().__init__(base, r, alpha, dropout=dropout, use_rslora=use_rslora)
        # m = ‖W0‖_row (B = 0 at init, so this is ‖W0 + s·BA‖_row): the layer starts equal to the base layer
        self.magnitude = nn.Parameter(self.weight_norm().to(base.weight.dtype))
        self._merge_cache: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    @torch.no_grad()
    def weight_norm(self) -> torch.Tensor:
        """‖W0 + s·B A‖ of each output row, shape (out,), fp32 or wider, without gradient (paper §4.3)."""
        weight, a, b = self.base_layer.weight, self.lora_A.weight, self.lora_B.weight
        dtype = torch.promote_types(weight.dtype, torch.float32)
        combined = torch.addmm(weight.to(dtype), b.to(dtype), a.to(dtype), alpha=self.scaling)
        return torch.linalg.vector_norm(combined, dim=1)

    def magnitude_scale(self) -> torch.Tensor:
        """``m / ‖W0 + s·BA‖_row`` (shape (out,)); the norm is floored at ``NORM_EPS``, so zero rows give no NaN."""
        return self.magnitude / self.weight_norm().clamp_min(NORM_EPS).to(self.magnitude.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``b + scale ⊙ (W0 x + s·B A x)`` with ``scale = m / ‖W0 + s·BA‖_row`` (only the base path once merged)."""
        if self.merged:
            return self.base_layer(x)
        result_dtype = x.dtype
        weight, bias = self.base_layer.weight, self.base_layer.bias
        x = x.to(self.lora_A.weight.dtype)
        scale = self.magnitude_scale()
        if isinstance(self.lora_dropout, nn.Identity) or not self.training:
            flat = x.reshape(-1, self.in_features)
            h = self.lora_A(flat) * self.scaling  # (N, r): the scaling costs nothing on this small tensor
            # W0 x + s·B A x: one base matmul, the LoRA term accumulated into it in place (no extra pass)
            combined = torch.mm(flat, weight.t()).addmm_(h, self.lora_B.weight.t())
            out = combined * scale if bias is None else torch.addcmul(bias, combined, scale)
            out = out.view(*x.shape[:-1], self.out_features)
        else:  # as peft: base output on x, the DoRA correction on dropout(x) (nbasyl/DoRA issue #2)
            dropped = self.lora_dropout(x)
            lora = self.lora_B(self.lora_A(dropped))
            out = self.base_layer(x) + (scale - 1) * F.linear(dropped, weight) + scale * self.scaling * lora
        return out.to(result_dtype)

    @torch.no_grad()
    def merge(self) -> None:
        """Replace W0 by ``W' = m · (W0 + ΔW) / ‖W0 + ΔW‖_row`` so inference costs one matmul."""
        if self.merged:
            warnings.warn("DoRALinear is already merged; nothing to do.", stacklevel=2)
            return
        weight = self.base_layer.weight
        scale = self.magnitude_scale().detach().clone()
        dead = (scale == 0).nonzero().flatten()  # rows that cannot be divided back out: keep their W0
        self._merge_cache = (scale, dead, weight[dead].clone())
        merged = (weight + self.delta_weight()) * scale.to(weight.dtype)[:, None]
        weight.data.copy_(merged)
        self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """Restore W0 = W' / scale − ΔW with the scale cached at merge time (up to rounding)."""
        if not self.merged or self._merge_cache is None:
            warnings.warn("DoRALinear is not merged; nothing to do.", stacklevel=2)
            return
        scale, dead, saved = self._merge_cache
        weight = self.base_layer.weight
        safe = torch.where(scale == 0, torch.ones_like(scale), scale).to(weight.dtype)
        restored = weight / safe[:, None] - self.delta_weight().to(weight.dtype)
        restored[dead] = saved
        weight.data.copy_(restored)
        self._merge_cache = None
        self.merged = False

    def effective_weight(self) -> torch.Tensor:
        """The (out, in) weight this layer applies now: ``m · (W0 + ΔW) / ‖W0 + ΔW‖_row`` (detached)."""
        with torch.no_grad():
            weight = self.base_layer.weight
            if self.merged:
                return weight.detach().clone()
            return (weight + self.delta_weight()) * self.magnitude_scale().to(weight.dtype)[:, None]

    @classmethod
    def from_peft(cls, peft_layer: nn.Module, adapter_name: str = "default") -> DoRALinear:
        """A ``DoRALinear`` with the same W0, b, A, B, m, scaling and dropout as a peft DoRA layer.

        The base layer is deep-copied, so merging one does not change the other.

        Args:
            peft_layer (`peft.tuners.lora.Linear`): an unmerged peft layer made with ``use_dora=True``.
            adapter_name (`str`): which adapter to copy. Defaults to ``"default"``.
        """
        magnitudes = getattr(peft_layer, "lora_magnitude_vector", None)
        if magnitudes is None or adapter_name not in magnitudes:
            raise ValueError(f"peft_layer must be a peft LoRA Linear layer with use_dora=True for adapter "
                             f"{adapter_name!r} (no lora_magnitude_vector[{adapter_name!r}])")
        layer = cls._copy_config_from_peft(peft_layer, adapter_name)
        with torch.no_grad():
            layer.lora_A.weight.copy_(peft_layer.lora_A[adapter_name].weight)
            layer.lora_B.weight.copy_(peft_layer.lora_B[adapter_name].weight)
            layer.magnitude.copy_(magnitudes[adapter_name].weight)
        return layer


class LectureDoRALayer(nn.Module):
    """ERRATUM (lecture §3, facts errata #1): ``(base + lora) * magnitude``. Wrong; kept only to show the error.

    What is wrong: the magnitude multiplies the output instead of ``m / ‖W0 + s·BA‖_row``, so the direction is
    never normalised; the text's ``m = ‖W0‖_F`` is one scalar (not one norm per output row) and scales
    every output, bias included, by ‖W0‖_F at initialisation. The lecture's code initialises ``magnitude`` to
    ones instead, which hides the error at step 0 but is still not DoRA once ``B ≠ 0``.
    Use :class:`DoRALinear` for real work.

    Args:
        base_layer (`nn.Linear`): the layer to wrap (frozen here, unlike the lecture's code).
        rank (`int`): LoRA rank, 1 <= rank <= min(in_features, out_features). Defaults to 8.
        alpha (`float`): LoRA alpha > 0; the branch is scaled by ``alpha / rank``. Defaults to 32.
        magnitude_init (`str`): ``"frobenius"`` — the lecture's formula (§3.1–3.2): one scalar ``‖W0‖_F``;
            ``"ones"`` — the lecture's code (§3.5): ``torch.ones(out_features)``. Defaults to ``"frobenius"``.
    """

    def __init__(self, base_layer: nn.Linear, rank: int = 8, alpha: float = 32,
                 magnitude_init: str = "frobenius") -> None:
        super().__init__()
        if not isinstance(base_layer, nn.Linear):
            raise TypeError(f"base_layer must be an nn.Linear (allowed: nn.Linear), "
                            f"got {type(base_layer).__name__}")
        _check_rank(rank, base_layer.in_features, base_layer.out_features)
        self.alpha = _check_alpha(alpha, "alpha")
        if magnitude_init not in ("frobenius", "ones"):
            raise ValueError(f"magnitude_init must be 'frobenius' or 'ones', got {magnitude_init!r}")
        self.base_layer = base_layer.requires_grad_(False)
        self.rank = rank
        factory = {"device": base_layer.weight.device, "dtype": base_layer.weight.dtype}
        self.lora_A = nn.Linear(base_layer.in_features, rank, bias=False, **factory)
        self.lora_B = nn.Linear(rank, base_layer.out_features, bias=False, **factory)
        if magnitude_init == "frobenius":  # "m = ‖W0‖_F (스칼라 크기)"
            init = torch.linalg.matrix_norm(base_layer.weight.detach())
        else:  # the lecture's code: nn.Parameter(torch.ones(base_layer.out_features))
            init = torch.ones(base_layer.out_features, **factory)
        self.magnitude = nn.Parameter(init)
        nn.init.kaiming_uniform_(self.lora_A.weight)  # as the lecture writes it (a=0, not peft's a=sqrt(5))
        nn.init.zeros_(self.lora_B.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The lecture's forward: ``(base_layer(x) + B(A(x)) * alpha / rank) * magnitude``."""
        base_output = self.base_layer(x)
        lora_output = self.lora_B(self.lora_A(x)) * (self.alpha / self.rank)
        return (base_output + lora_output) * self.magnitude


# ----------------------------------------------------------------------------------------------------
# The paper's magnitude / direction analysis (§3.2, Eq. 3–4, Figure 2)
# ----------------------------------------------------------------------------------------------------


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
        if isinstance(module, DoRALinear):
            return module.effective_weight()
        if isinstance(module, LoRALinear):
            weight = module.base_layer.weight
            return weight.detach().clone() if module.merged else weight + module.delta_weight()
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
) -> pd.DataFrame:
    """Train ``model`` (AdamW, constant lr) and record (ΔM, ΔD) of each ``target`` layer at evenly spaced checkpoints.

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

    Returns:
        `pd.DataFrame`: columns ``method, checkpoint, step, layer, delta_m, delta_d, loss``.
    """
    from tqdm.auto import tqdm

    for name, value, low in (("steps", steps, 1), ("n_checkpoints", n_checkpoints, 1),
                             ("batch_size", batch_size, 1), ("max_length", max_length, 8)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if n_checkpoints > steps:
        raise ValueError(f"n_checkpoints must be <= steps (allowed: 1..{steps}), got {n_checkpoints}")
    if not (isinstance(learning_rate, (int, float)) and learning_rate > 0 and math.isfinite(learning_rate)):
        raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate!r}")
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
    order: list[int] = []
    rows: list[dict] = []
    was_training = model.training
    model.train()
    try:
        for step in tqdm(range(1, steps + 1), desc=method, disable=not progress):
            if len(order) < batch_size:
                order += torch.randperm(len(texts), generator=generator).tolist()
            batch, order = order[:batch_size], order[batch_size:]
            encoded = tokenizer([texts[i] for i in batch], padding=True, truncation=True,
                                max_length=max_length, return_tensors="pt").to(device)
            loss = model(**encoded, labels=torch.tensor([labels[i] for i in batch], device=device)).loss
            loss.backward()
            optimizer.step()
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


# ----------------------------------------------------------------------------------------------------
# Figure for figs/
# ----------------------------------------------------------------------------------------------------


def figure() -> Figure:
    """The DoRA diagram for figs/: W0 → magnitude m (one per output row) × direction (W0 + sBA)/‖·‖_row."""
    from matplotlib.patches import FancyArrowPatch, Rectangle

    fig = Figure(figsize=(11, 5.0), layout="constrained")
    ax = fig.subplots()
    ax.set_xlim(0, 20.2)
    ax.set_ylim(-1.5, 7.4)
    ax.set_aspect("equal")
    ax.axis("off")
    frozen, trainable, derived = "#B0B7C3", "#F28E2B", "#4C72B0"

    def box(x: float, y: float, w: float, h: float, color: str, text: str, sub: str) -> None:
        ax.add_patch(Rectangle((x, y), w, h, facecolor=color, edgecolor="black", lw=1.2, alpha=0.85))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=12, fontweight="bold")
        ax.text(x + w / 2, y - 0.35, sub, ha="center", va="top", fontsize=8.5)

    def arrow(x0: float, y0: float, x1: float, y1: float) -> None:
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=14, lw=1.3))

    def label(x: float, y: float, text: str, size: float = 16) -> None:
        ax.text(x, y, text, ha="center", va="center", fontsize=size)

    # pretrained weight, split into magnitude and direction
    box(0.2, 1.5, 2.6, 3.6, frozen, "$W_0$", "사전학습 가중치 (고정)\n(out, in)")
    arrow(3.0, 3.3, 3.9, 3.3)
    box(4.1, 1.5, 0.6, 3.6, trainable, "$m$", "크기 m (학습)\n(out,), 초기값 ‖W0‖_row")
    label(5.3, 3.3, "⊙")
    ax.add_patch(Rectangle((5.9, -0.5), 9.6, 6.9, facecolor="none", edgecolor="#555555", lw=1.0, ls="--"))
    ax.text(10.7, 6.15, "방향 (행마다 단위 벡터)", ha="center", va="center", fontsize=9.5, color="#333333")
    box(6.2, 1.5, 2.6, 3.6, frozen, "$V$", "V = W0 (고정)\n(out, in)")
    label(9.35, 3.3, "+ s·", size=14)
    box(10.0, 1.5, 0.5, 3.6, trainable, "$B$", "B (학습)\n(out, r), 0으로 초기화")
    box(10.7, 4.45, 2.6, 0.65, trainable, "$A$", "")
    ax.text(12.0, 4.2, "A (학습)  (r, in)", ha="center", va="top", fontsize=8.5)
    ax.text(14.2, 3.3, "÷ ‖V + sBA‖_row", ha="center", va="center", fontsize=9.5)
    ax.text(10.7, -0.2, "노름은 출력 특성(행)마다 하나, 그래디언트에서 분리 (detach, 논문 §4.3)", ha="center",
            va="center", fontsize=8.5, color="#333333")
    arrow(15.7, 3.3, 16.6, 3.3)
    box(16.8, 1.5, 3.2, 3.6, derived, "$W'$", "W' = m ⊙ (W0 + sBA) / ‖W0 + sBA‖_row\n(out, in)")
    title = "DoRA: 가중치 = 크기 m (출력 행마다 하나) × 단위 방향.  초기에는 B = 0, m = ‖W0‖_row 이므로 W' = W0"
    ax.text(10.1, 7.0, title, ha="center", fontsize=11, fontweight="bold")
    ax.text(8.0, -1.1, "s = α/r,  ⊙: 행마다 곱하기.  y = b + (m / ‖W0 + sBA‖_row) ⊙ (W0 x + s·BAx)", ha="center",
            fontsize=9.5)
    handles = [Rectangle((0, 0), 1, 1, facecolor=c, edgecolor="black") for c in (frozen, trainable, derived)]
    ax.legend(handles, ["고정 (frozen)", "학습 (trainable)", "합성 결과"], loc="lower right",
              fontsize=8.5, frameon=False, ncol=1, bbox_to_anchor=(1.0, 0.0))
    return fig
