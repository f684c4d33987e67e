"""ipywidgets explorers for the course notebooks (core ipywidgets only: JupyterLab, Voilà and Colab)."""

from __future__ import annotations

import html
import math

import ipywidgets as widgets
import torch
from torch import nn

from course_utils.adapters.params import adapter_size_mb, count_trainable, lora_breakdown
from course_utils.adapters.peft_rules import peft_plan
from course_utils.quant import nf4, quant_study
from course_utils.runtime import validate

__all__ = ["LoraExplorer", "lora_explorer"]


# ----------------------------------------------------------------------------------------------------
# LoRA rank / alpha explorer
# ----------------------------------------------------------------------------------------------------


def _linear_suffixes(model: nn.Module, task_type: str | None) -> list[str]:
    """Last name components of the model's Linear layers, in first-seen order, minus the classifier head."""
    skip = {"classifier", "score"} if task_type in ("SEQ_CLS", "TOKEN_CLS") else set()
    seen: dict[str, None] = {}
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            suffix = name.rsplit(".", 1)[-1]
            if suffix not in skip:
                seen.setdefault(suffix, None)
    return list(seen)


class LoraExplorer(widgets.VBox):
    """Rank/alpha sliders and target checkboxes with a live table of LoRA parameter counts.

    Child widgets are attributes so tests (and students) can drive it from Python: ``rank``, ``alpha``
    (``IntSlider``), ``targets`` (dict name -> ``Checkbox``), ``dora`` (``Checkbox``), ``table`` and ``total``
    (``HTML``). ``state`` holds the last computed numbers (``trainable``, ``total``, ``percent``, ...).

    Args:
        model (`nn.Module`): the base model (not wrapped by peft); a meta-device model works.
        task_type (`str`, *optional*): peft task type used for the counts. Defaults to ``"SEQ_CLS"``.
        r (`int`): initial rank. Defaults to 8.
        alpha (`int`): initial ``lora_alpha``. Defaults to 16.
        targets (`list[str]`, *optional*): initially checked targets. Defaults to ``["query", "value"]`` when
            present, else the first Linear name.
    """

    def __init__(
        self,
        model: nn.Module,
        task_type: str | None = "SEQ_CLS",
        r: int = 8,
        alpha: int = 16,
        targets: list[str] | None = None,
    ) -> None:
        names = _linear_suffixes(model, task_type)
        if not names:
            raise ValueError(f"model must contain nn.Linear layers to adapt; {type(model).__name__} has none")
        if targets is None:
            targets = [n for n in ("query", "value") if n in names] or names[:1]
        bad = [t for t in targets if t not in names]
        if bad:
            raise ValueError(f"targets {bad} are not Linear layer names of the model; allowed: {names}")
        self.model = model
        self.task_type = task_type
        self.base_params = sum(p.numel() for p in model.parameters())
        style = {"description_width": "initial"}
        layout = widgets.Layout(width="420px")
        self.rank = widgets.IntSlider(value=r, min=1, max=256, step=1, description="랭크 r",
                                      continuous_update=True, style=style, layout=layout)
        self.alpha = widgets.IntSlider(value=alpha, min=1, max=512, step=1, description="알파 α",
                                       continuous_update=True, style=style, layout=layout)
        self.targets = {n: widgets.Checkbox(value=n in targets, description=n, indent=False,
                                            layout=widgets.Layout(width="auto"))
                        for n in names}
        self.dora = widgets.Checkbox(value=False, description="DoRA (크기 벡터 추가)", indent=False)
        self.total = widgets.HTML()
        self.table = widgets.HTML()
        self.state: dict = {}
        for w in (self.rank, self.alpha, self.dora, *self.targets.values()):
            w.observe(self._on_change, names="value")
        super().__init__([
            widgets.HTML("<b>LoRA 파라미터 탐색기</b>"),
            self.rank,
            self.alpha,
            widgets.HBox([widgets.Label("대상 모듈 (target_modules):"), *self.targets.values(), self.dora]),
            self.total,
            self.table,
        ])
        self.update()

    def selected_targets(self) -> list[str]:
        """Names of the checked target modules."""
        return [n for n, box in self.targets.items() if box.value]

    def _on_change(self, change: dict) -> None:
        """Observer: recompute on any slider/checkbox change."""
        self.update()

    def update(self) -> None:
        """Recompute the counts and redraw ``total`` and ``table``."""
        r, alpha, targets = self.rank.value, self.alpha.value, self.selected_targets()
        method = "dora" if self.dora.value else "lora"
        if not targets:
            self.state = {"error": "no target"}
            self.total.value = "<span style='color:#b00'>target_modules를 하나 이상 선택하세요.</span>"
            self.table.value = ""
            return
        try:
            trainable, total = count_trainable(self.model, method=method, r=r, target_modules=targets,
                                               task_type=self.task_type, lora_alpha=alpha)
            rows = lora_breakdown(self.model, r, targets, task_type=self.task_type, use_dora=self.dora.value)
        except ValueError as err:  # e.g. r larger than a selected layer allows
            self.state = {"error": str(err)}
            self.total.value = f"<span style='color:#b00'>{html.escape(str(err))}</span>"
            self.table.value = ""
            return
        percent = 100 * trainable / total
        layers = peft_plan(self.model, targets, task_type=self.task_type).adapted
        not_low = sum(r >= min(t.in_features, t.out_features) for t in layers)  # r·(in+out) >= in·out there
        self.state = {
            "r": r, "alpha": alpha, "targets": targets, "method": method, "not_low_rank": not_low,
            "trainable": trainable, "total": total, "percent": percent,
            "mb_fp32": adapter_size_mb(trainable, "fp32"), "mb_bf16": adapter_size_mb(trainable, "bf16"),
            "scaling": alpha / r, "scaling_rslora": alpha / math.sqrt(r),
        }
        self.total.value = (
            f"<b>학습 파라미터: <span class='trainable'>{trainable:,}</span></b> / 전체 {total:,} "
            f"({percent:.4f}%) · 어댑터 크기 {self.state['mb_fp32']:.2f} MB (fp32), "
            f"{self.state['mb_bf16']:.2f} MB (bf16) · "
            f"α/r = {alpha / r:.3g}, α/√r = {alpha / math.sqrt(r):.3g}"
        ) + (f"<br><span style='color:#b00'>r = {r}이면 층 {not_low}개에서 r ≥ min(입력, 출력)이라 더 이상 저랭크가 "
             "아닙니다 (peft는 그래도 만들고, 위 수는 그대로 셉니다).</span>" if not_low else "")
        adapter = sum(row["LoRA params"] + row.get("DoRA magnitude", 0) for row in rows)
        self.table.value = self._table_html(rows, trainable - adapter)

    @staticmethod
    def _table_html(rows: list[dict], other: int) -> str:
        """HTML table: one row per module type plus the non-LoRA trainable parameters (classifier copy)."""
        cols = ["module", "shape (out×in)", "count", "LoRA per module", "LoRA params"]
        if rows and "DoRA magnitude" in rows[0]:
            cols.append("DoRA magnitude")
        head = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(TABLE_HEADERS[c])}</th>"
                       for c in cols)
        body = []
        for row in rows:
            cells = []
            for c in cols:
                v = row[c]
                text = f"{v:,}" if isinstance(v, int) else html.escape(str(v))
                cells.append(f"<td style='padding:2px 8px'>{text}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        note = f"<div>+ classifier 사본 등 modules_to_save의 학습 파라미터: {other:,}</div>" if other else ""
        return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{note}"


def lora_explorer(model: nn.Module, **kwargs) -> LoraExplorer:
    """Rank (1–256) and alpha (1–512) sliders with a live table of LoRA parameter counts for ``model``.

    Args:
        model (`nn.Module`): the base model.
        **kwargs: passed to :class:`LoraExplorer` (``task_type``, ``r``, ``alpha``, ``targets``).
    """
    return LoraExplorer(model, **kwargs)


# ----------------------------------------------------------------------------------------------------
# Training-memory explorer (model size, method, dtype -> stacked bar of the breakdown)
# ----------------------------------------------------------------------------------------------------

#: Korean column headers of the LoRA table (the row keys of params.lora_breakdown).
TABLE_HEADERS = {"module": "모듈", "shape (out×in)": "모양 (out×in)", "count": "개수",
                 "LoRA per module": "모듈당 LoRA", "LoRA params": "LoRA 파라미터", "DoRA magnitude": "DoRA 크기 벡터"}


class MemoryExplorer(widgets.VBox):
    """Model, method, dtype and LoRA rank controls with a stacked bar of the training-memory breakdown.

    The numbers are :func:`course_utils.memory.estimate.estimate_training_memory` (activations excluded). Child
    widgets are
    attributes so tests and students can drive it from Python: ``model`` (``Dropdown`` of
    :data:`course_utils.runtime.presets.PRESETS`), ``method`` and ``dtype`` (``ToggleButtons``), ``rank``
    (``IntSlider``),
    ``bar`` and ``total`` (``HTML``). ``state`` holds the last estimate (``parts`` in bytes, ``total_gib``, ...).
    Sizes are GiB (2³⁰ bytes), compared with what GPUs report (:data:`course_utils.memory.estimate.GPU_GIB`).

    Args:
        model (`str`): a preset name. Defaults to ``"llama-7b"``.
        method (`str`): ``"full"``, ``"lora"`` or ``"qlora"``. Defaults to ``"qlora"``.
        dtype (`str`): base-model dtype, ``"fp32"``, ``"bf16"`` or ``"fp16"``. Defaults to ``"bf16"``.
        r (`int`, *optional*): LoRA rank. Defaults to the preset's rank.
    """

    def __init__(self, model: str = "llama-7b", method: str = "qlora", dtype: str = "bf16",
                 r: int | None = None) -> None:
        from course_utils.memory.estimate import BYTES_PER_ELEMENT, MEMORY_METHODS
        from course_utils.runtime.presets import PRESETS

        if model not in PRESETS:
            raise ValueError(f"model must be one of {sorted(PRESETS)}, got {model!r}")
        if method not in MEMORY_METHODS:
            raise ValueError(f"method must be one of {list(MEMORY_METHODS)}, got {method!r}")
        if dtype not in BYTES_PER_ELEMENT:
            raise ValueError(f"dtype must be one of {sorted(BYTES_PER_ELEMENT)}, got {dtype!r}")
        r = PRESETS[model].r if r is None else r
        if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= 256:
            raise ValueError(f"r must be an int in [1, 256], got {r!r}")
        style = {"description_width": "initial"}
        self.model = widgets.Dropdown(options=[(p.label, key) for key, p in PRESETS.items()], value=model,
                                      description="모델", style=style)
        self.method = widgets.ToggleButtons(options=[("완전 FT", "full"), ("LoRA", "lora"), ("QLoRA", "qlora")],
                                            value=method, description="방법", style=style)
        self.dtype = widgets.ToggleButtons(options=list(BYTES_PER_ELEMENT), value=dtype,
                                           description="가중치 dtype", style=style)
        self.rank = widgets.IntSlider(value=r, min=1, max=256, description="LoRA r", continuous_update=True,
                                      style=style, layout=widgets.Layout(width="420px"))
        self.bar = widgets.HTML()
        self.total = widgets.HTML()
        self.state: dict = {}
        self.model.observe(self._on_model, names="value")
        for w in (self.method, self.dtype, self.rank):
            w.observe(self._on_change, names="value")
        super().__init__([
            widgets.HTML("<b>학습 메모리 계산기</b> (단위 GiB = 2<sup>30</sup> 바이트, GPU가 보고하는 단위; "
                         "활성값 제외; 어댑터·AdamW 상태 fp32)"),
            self.model, self.method, self.dtype, self.rank, self.total, self.bar,
        ])
        self.update()

    def _on_model(self, change: dict) -> None:
        """Observer: a new model resets the rank to that preset's usual rank, then redraws."""
        from course_utils.runtime.presets import PRESETS

        with self.hold_trait_notifications():
            self.rank.unobserve(self._on_change, names="value")
            self.rank.value = PRESETS[change["new"]].r
            self.rank.observe(self._on_change, names="value")
        self.update()

    def _on_change(self, change: dict) -> None:
        """Observer: recompute on any control change."""
        self.update()

    def update(self) -> None:
        """Recompute the estimate and redraw ``total`` and ``bar``."""
        from course_utils.memory.estimate import GIB, GPU_GIB, PART_COLORS, PART_LABELS, estimate_training_memory

        model, method, dtype, r = self.model.value, self.method.value, self.dtype.value, self.rank.value
        parts = estimate_training_memory(model, method, dtype, r=r)
        scale = estimate_training_memory(model, "full", "fp32")["total"]  # the widest bar of this model
        total = parts["total"]
        fits = {gpu: total <= size * GIB for gpu, size in GPU_GIB.items()}
        self.state = {"model": model, "method": method, "dtype": dtype, "r": r, "parts": parts,
                      "total_gib": total / GIB, "scale_gib": scale / GIB, "fits": fits}
        fit_text = " · ".join(f"{gpu} {size:.2f} GiB {'✓' if fits[gpu] else '✗'}" for gpu, size in GPU_GIB.items())
        self.total.value = (f"<b>합계 <span class='total'>{total / GIB:,.2f}</span> GiB</b> "
                            f"(완전 FT fp32 {scale / GIB:,.1f} GiB 대비 {100 * total / scale:.1f}%) · "
                            f"GPU별 (텐서만, 활성값은 따로): {fit_text}")
        segments, legend = [], []
        for part, nbytes in parts.items():
            if part == "total" or nbytes == 0:
                continue
            width = 100 * nbytes / scale
            label = PART_LABELS[part]
            segments.append(
                f"<div class='segment' data-part='{part}' data-bytes='{nbytes}' "
                f"title='{html.escape(label)}: {nbytes / GIB:,.3f} GiB' "
                f"style='width:{width:.4f}%;background:{PART_COLORS[part]};height:100%'></div>")
            legend.append(f"<span style='color:{PART_COLORS[part]}'>■</span> {html.escape(label)} "
                          f"{nbytes / GIB:,.2f} GiB")
        self.bar.value = (
            "<div class='memory-bar' style='display:flex;width:640px;height:26px;border:1px solid #888'>"
            + "".join(segments) + "</div><div style='font-size:90%'>" + " &nbsp; ".join(legend) + "</div>")


def memory_explorer(**kwargs) -> MemoryExplorer:
    """Model preset, method (full FT / LoRA / QLoRA), dtype and rank → training-memory breakdown, live.

    Args:
        **kwargs: passed to :class:`MemoryExplorer` (``model``, ``method``, ``dtype``, ``r``).
    """
    return MemoryExplorer(**kwargs)


__all__ += ["MemoryExplorer", "memory_explorer"]


# ----------------------------------------------------------------------------------------------------
# NF4 blocksize explorer (blocksize, double quant -> bits per parameter and error)
# ----------------------------------------------------------------------------------------------------


class BlocksizeExplorer(widgets.VBox):
    """Blocksize dropdown and double-quant checkbox with a live readout of NF4 bits/param and error.

    Child widgets are attributes so tests can drive it from Python: ``blocksize`` (``Dropdown``),
    ``double_quant`` (``Checkbox``), ``readout`` and ``table`` (``HTML``). ``state`` holds the last numbers.

    Args:
        x (`torch.Tensor`, *optional*): weights to measure the error on. Defaults to 65,536 N(0, 1) values.
        blocksize (`int`): initial blocksize, one of ``nf4.ALLOWED_BLOCKSIZES``. Defaults to 64.
        double_quant (`bool`): initial double-quant setting. Defaults to True.
    """

    def __init__(self, x: torch.Tensor | None = None, blocksize: int = 64, double_quant: bool = True) -> None:
        validate.int_choice(blocksize, nf4.ALLOWED_BLOCKSIZES, "blocksize")
        if x is None:
            x = torch.randn(65536, generator=torch.Generator().manual_seed(0))
        self.x = validate.float_tensor(x).detach()
        self._mse: dict[tuple[int, bool], float] = {}
        self.blocksize = widgets.Dropdown(options=list(nf4.ALLOWED_BLOCKSIZES), value=blocksize,
                                          description="블록 크기")
        self.double_quant = widgets.Checkbox(value=double_quant, description="이중 양자화 (DQ)", indent=False)
        self.readout = widgets.HTML()
        self.table = widgets.HTML()
        self.state: dict = {}
        for w in (self.blocksize, self.double_quant):
            w.observe(self._on_change, names="value")
        super().__init__([widgets.HTML("<b>NF4 블록 크기 탐색기</b>"),
                          widgets.HBox([self.blocksize, self.double_quant]), self.readout, self.table])
        self.update()

    def _on_change(self, change: dict) -> None:
        """Observer: recompute on any change."""
        self.update()

    def mse(self, blocksize: int, double_quant: bool) -> float:
        """MSE of the NF4 (+DQ) round trip of ``x`` at this blocksize (cached)."""
        key = (blocksize, double_quant)
        if key not in self._mse:
            self._mse[key] = quant_study.quantization_mse(self.x, "nf4+dq" if double_quant else "nf4", blocksize)
        return self._mse[key]

    def update(self) -> None:
        """Recompute bits/param and error; redraw ``readout`` and ``table``."""
        bs, dq = self.blocksize.value, bool(self.double_quant.value)
        bits = nf4.bits_per_parameter(bs, dq)
        self.state = {"blocksize": bs, "double_quant": dq, "bits": bits, "overhead": bits - 4,
                      "mse": self.mse(bs, dq)}
        self.readout.value = (f"<b>블록 크기 {bs}{' + DQ' if dq else ''}: {bits:.6g} bits/param</b> "
                              f"(4비트 코드 + 스케일 {bits - 4:.6g}비트) · MSE {self.state['mse']:.4g}")
        rows = []
        for b in nf4.ALLOWED_BLOCKSIZES:
            mark = " style='font-weight:bold'" if b == bs else ""
            rows.append(f"<tr{mark}><td>{b}</td><td>{nf4.bits_per_parameter(b, dq):.6g}</td>"
                        f"<td>{self.mse(b, dq):.4g}</td></tr>")
        head = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(c)}</th>"
                       for c in ("블록 크기", "파라미터당 비트", "MSE"))
        self.table.value = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def blocksize_explorer(x: torch.Tensor | None = None, **kwargs) -> BlocksizeExplorer:
    """A blocksize dropdown (32 … 4096) and DQ checkbox showing NF4 bits/param and MSE on `x` live.

    Args:
        x (`torch.Tensor`, *optional*): weights to measure the error on.
        **kwargs: passed to :class:`BlocksizeExplorer` (``blocksize``, ``double_quant``).
    """
    return BlocksizeExplorer(x, **kwargs)


__all__ += ["BlocksizeExplorer", "blocksize_explorer"]
