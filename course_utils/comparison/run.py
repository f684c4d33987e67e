"""A fair comparison of fine-tuning methods: same data, seeds, step budget, tokenisation and evaluation.

Seven methods, all built with ``peft`` / ``bitsandbytes`` and trained by the shared
:func:`course_utils.runtime.training.train_and_evaluate` (the real ``transformers.Trainer``):
full fine-tuning, LoRA, DoRA, QLoRA (NF4 + double quant), QDoRA (DoRA on the 4-bit base), VB-LoRA and WaveFT.
Every run gives one record (method × seed): trainable parameters, adapter bytes on disk (``save_pretrained``),
training memory (the tensor inventory after one optimizer step; on CUDA also ``max_memory_allocated``),
seconds per step and test accuracy. :mod:`course_utils.comparison.results` aggregates the records over seeds and stores
them under ``build/``; :func:`star_table` and :func:`comparison_figure` show that summary.
"""

from __future__ import annotations

import gc
import math
import tempfile
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from datasets import DatasetDict
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from course_utils.comparison.methods import COMPARED_METHODS, LEARNING_RATES, METHOD_LABELS, QUANTIZED, rate_group
from course_utils.memory.inventory import measure_training_memory
from course_utils.runtime.env import seed_everything
from course_utils.runtime.models import load_classifier, load_classifier_4bit
from course_utils.runtime.training import train_and_evaluate
from course_utils.runtime.units import MIB

#: Adapted layers (every adapter method) and the heads trained in full (modules_to_save).
TARGET_MODULES = ("query", "value")
HEADS = ("classifier", "pooler")
MiB = MIB


@dataclass(frozen=True)
class MethodSpec:
    """One method of the comparison: its name, learning rate and peft options."""

    method: str
    learning_rate: float
    options: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in COMPARED_METHODS:
            raise ValueError(f"method must be one of {list(COMPARED_METHODS)}, got {self.method!r}")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be a number > 0, got {self.learning_rate!r}")

    @property
    def label(self) -> str:
        """Display name, e.g. 'QLoRA'."""
        return METHOD_LABELS[self.method]

    @property
    def quantized(self) -> bool:
        """Whether the base model is loaded in 4-bit NF4."""
        return self.method in QUANTIZED


def vector_length_for(hidden_size: int, candidates: Sequence[int] = (256, 128, 64, 32, 16, 8)) -> int:
    """VB-LoRA's b: the largest candidate dividing `hidden_size` (peft needs b | in and b | out of every layer)."""
    if not isinstance(hidden_size, int) or hidden_size <= 0:
        raise ValueError(f"hidden_size must be a positive int, got {hidden_size!r}")
    for b in candidates:
        if hidden_size % b == 0:
            return b
    raise ValueError(f"no vector_length in {list(candidates)} divides hidden_size={hidden_size}")


def default_specs(profile_name: str, hidden_size: int, r: int = 8,
                  methods: Sequence[str] = COMPARED_METHODS) -> list[MethodSpec]:
    """The course's settings for each method on a model of width `hidden_size` (targets: query, value).

    LoRA/DoRA/QLoRA/QDoRA: r, alpha = 2r. VB-LoRA: r=4, h=256 bank vectors, b from :func:`vector_length_for`,
    top-k=2 (the paper's k and r). WaveFT: as many coefficients per layer as LoRA has (2·r·hidden for a square
    query/value layer), so both spend the same parameter budget per adapted layer.
    """
    if profile_name not in LEARNING_RATES:
        raise ValueError(f"profile_name must be one of {sorted(LEARNING_RATES)}, got {profile_name!r}")
    unknown = [m for m in methods if m not in COMPARED_METHODS]
    if unknown:
        raise ValueError(f"methods must be drawn from {list(COMPARED_METHODS)}; unknown {unknown}")
    rates = LEARNING_RATES[profile_name]
    lora = {"r": r, "lora_alpha": 2 * r, "lora_dropout": 0.05}
    options = {
        "full": {},
        "lora": lora, "qlora": lora,
        "dora": {**lora, "use_dora": True}, "qdora": {**lora, "use_dora": True},
        "vblora": {"r": 4, "num_vectors": 256, "vector_length": vector_length_for(hidden_size), "topk": 2},
        "waveft": {"n_frequency": 2 * r * hidden_size},
    }
    return [MethodSpec(m, rates[m] if m in rates else rates[rate_group(m)], dict(options[m])) for m in methods]


def peft_config(spec: MethodSpec, target_modules: Sequence[str] = TARGET_MODULES,
                heads: Sequence[str] = HEADS):
    """The peft config of `spec` (None for full fine-tuning): SEQ_CLS, same targets and heads for all."""
    from peft import LoraConfig, VBLoRAConfig, WaveFTConfig

    common = {"task_type": "SEQ_CLS", "target_modules": list(target_modules), "modules_to_save": list(heads)}
    if spec.method == "full":
        return None
    if spec.method == "vblora":
        return VBLoRAConfig(**common, **spec.options)
    if spec.method == "waveft":
        return WaveFTConfig(**common, **spec.options)
    return LoraConfig(**common, **spec.options)


def build_model(spec: MethodSpec, model_id: str, device: str = "cpu", dtype: torch.dtype = torch.float32,
                seed: int = 42, target_modules: Sequence[str] = TARGET_MODULES,
                heads: Sequence[str] = HEADS) -> PreTrainedModel:
    """The model `spec` trains: fp32 base (+ peft adapter), or the NF4+DQ base + adapter for QLoRA/QDoRA.

    Seeded before loading, so the fresh classifier head is the same for every method of one seed.
    Gradient checkpointing stays off for every method: it trades time for activation memory and would make the
    4-bit runs slower for a reason that is not the method.
    """
    from peft import get_peft_model, prepare_model_for_kbit_training

    seed_everything(seed)
    if spec.quantized:
        base = load_classifier_4bit(model_id, device=device, compute_dtype=dtype)
        base = prepare_model_for_kbit_training(base, use_gradient_checkpointing=False)
    else:
        base = load_classifier(model_id, dtype=torch.float32).to(device)
    config = peft_config(spec, target_modules, heads)
    return base if config is None else get_peft_model(base, config)


def saved_bytes(model: PreTrainedModel) -> int:
    """Bytes on disk of ``model.save_pretrained`` (a peft model saves only its adapter and head copies)."""
    with tempfile.TemporaryDirectory(prefix="course-save-") as folder:
        model.save_pretrained(folder)
        return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def adapter_only_params(model: PreTrainedModel) -> int:
    """Trainable parameters outside the fully trained head copies (modules_to_save); all of them for full FT."""
    return sum(p.numel() for n, p in model.named_parameters()
               if p.requires_grad and ".modules_to_save." not in n)


def memory_batch(tokenizer: PreTrainedTokenizerBase, data: DatasetDict, batch_size: int, max_length: int,
                 device: str) -> dict[str, torch.Tensor]:
    """The first `batch_size` training rows, padded to `max_length`, with labels: the memory-probe batch."""
    rows = data["train"].select(range(min(batch_size, len(data["train"]))))
    batch = tokenizer(list(rows["document"]), truncation=True, max_length=max_length, padding="max_length",
                      return_tensors="pt").to(device)
    batch["labels"] = torch.tensor(list(rows["label"]), device=device)
    return batch


def _free(device: str) -> None:
    """Drop unreferenced tensors; on CUDA also return cached blocks, so the next peak starts clean."""
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def run_one(spec: MethodSpec, model_id: str, tokenizer: PreTrainedTokenizerBase, data: DatasetDict, *,
            seed: int, steps: int, batch_size: int, max_length: int, device: str = "cpu",
            dtype: torch.dtype = torch.float32, eval_split: str = "test", known: dict | None = None,
            callbacks: Sequence = (), target_modules: Sequence[str] = TARGET_MODULES) -> dict:
    """Build, measure, train and evaluate one method for one seed; return its record (a flat dict).

    `known` may carry ``adapter_bytes`` and ``tensor_memory_mib`` from another seed of the same method: both
    depend only on the method's shapes, so they are measured once (saving a write and a probe step per seed).
    `callbacks` go to the Trainer (e.g. :class:`course_utils.runs.experiments.LearningCurve`); `target_modules` to
    :func:`build_model` (the comparison keeps query and value for every method).
    """
    known = known or {}
    model = build_model(spec, model_id, device, dtype, seed, target_modules=target_modules)
    if "tensor_memory_mib" in known:
        tensor_mib = known["tensor_memory_mib"]
    else:
        batch = memory_batch(tokenizer, data, batch_size, max_length, device)
        tensor_mib = measure_training_memory(model, batch)["total"] / MiB
    result = train_and_evaluate(model, tokenizer, data, method=spec.method, learning_rate=spec.learning_rate,
                                max_steps=steps, batch_size=batch_size, max_length=max_length, seed=seed,
                                eval_split=eval_split, callbacks=callbacks)
    on_cuda = result.peak_memory_kind.startswith("cuda")
    record = {
        "method": spec.method, "label": spec.label, "seed": seed, "learning_rate": spec.learning_rate,
        "steps": result.steps, "trainable_params": result.trainable_params, "total_params": result.total_params,
        "adapter_params": adapter_only_params(model),
        "adapter_bytes": known["adapter_bytes"] if "adapter_bytes" in known else saved_bytes(model),
        "tensor_memory_mib": tensor_mib,
        "cuda_peak_mib": result.peak_memory_mb if on_cuda else math.nan,
        "seconds_per_step": result.train_seconds / max(result.steps, 1),
        "accuracy": result.accuracy, "eval_loss": result.eval_loss,
    }
    del model
    _free(device)
    return record


def run_comparison(specs: Sequence[MethodSpec], model_id: str, tokenizer: PreTrainedTokenizerBase,
                   data: DatasetDict, *, seeds: Sequence[int], steps: int, batch_size: int, max_length: int,
                   device: str = "cpu", dtype: torch.dtype = torch.float32, eval_split: str = "test",
                   progress: Callable[[Iterable], Iterable] | None = None,
                   callbacks: Callable[[], Sequence] | None = None) -> list[dict]:
    """Every spec × every seed under one budget; size on disk and tensor memory are measured once per method.

    `callbacks`, if given, makes fresh Trainer callbacks for each run; a callback with a ``record()`` method
    adds that dict to the run's record (the learning curve).
    """
    specs = list(specs)
    seeds = list(seeds)
    if not specs:
        raise ValueError("specs must hold at least one MethodSpec")
    if not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise ValueError(f"seeds must be a non-empty list of non-negative ints, got {seeds!r}")
    if len({s.method for s in specs}) != len(specs):
        raise ValueError("specs must name each method once")
    if progress is None:
        from tqdm.auto import tqdm

        progress = lambda runs: tqdm(runs, desc="runs")  # noqa: E731
    runs = [(spec, seed) for spec in specs for seed in seeds]
    records: list[dict] = []
    known: dict[str, dict] = {}
    with _one_progress_bar():
        for spec, seed in progress(runs):
            extra = list(callbacks()) if callbacks is not None else []
            record = run_one(spec, model_id, tokenizer, data, seed=seed, steps=steps, batch_size=batch_size,
                             max_length=max_length, device=device, dtype=dtype, eval_split=eval_split,
                             known=known.get(spec.method), callbacks=extra)
            for callback in extra:
                record.update(callback.record() if hasattr(callback, "record") else {})
            known.setdefault(spec.method, {k: record[k] for k in ("adapter_bytes", "tensor_memory_mib")})
            records.append(record)
    return records


@contextmanager
def _one_progress_bar():
    """Silence the per-run weight-loading and tokenising bars (the Trainer keeps its own) during a comparison."""
    import datasets
    from transformers.utils import logging as hf_logging

    hf_bars, datasets_bars = hf_logging.is_progress_bar_enabled(), datasets.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if hf_bars:
            hf_logging.enable_progress_bar()
        if datasets_bars:
            datasets.enable_progress_bars()


#: Summary columns shown as stars: (column, Korean heading, lower is better, log scale). Training speed is not one of
#: them: the offline summary's seconds/step are CPU timings of runs made two at a time (noisy, and their ratios are
#: not the GPU's), so stars from them would rank QLoRA fastest and DoRA faster than LoRA, the opposite of a GPU.
STAR_COLUMNS = (
    ("adapter_params", "파라미터 효율", True, True),
    ("tensor_memory_mib", "메모리 절약", True, True),
    ("accuracy_mean", "정확도", False, False),
)


def stars(values: Sequence[float], lower_is_better: bool = True, log: bool = False) -> list[int]:
    """1-5 stars by position between the worst (1) and the best (5) value, linearly or on a log scale."""
    if log and any(v <= 0 for v in values):
        raise ValueError("log-scale stars need values > 0")
    vals = [math.log10(v) if log else float(v) for v in values]
    best, worst = (min(vals), max(vals)) if lower_is_better else (max(vals), min(vals))
    if best == worst:
        return [5] * len(vals)
    return [1 + round(4 * (worst - v) / (worst - best)) for v in vals]


def star_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The lecture's §7.2 star table, rebuilt from measurements: one row per method, stars per measured column
    (parameters, memory, accuracy; no speed column, see :data:`STAR_COLUMNS`)."""
    table = {"method": list(summary["label"])}
    for column, heading, lower, log in STAR_COLUMNS:
        table[heading] = ["★" * n for n in stars(list(summary[column]), lower, log)]
    return pd.DataFrame(table)


def _short_number(value: float) -> str:
    """22.7M, 222k, 0.323: bar labels that fit."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:.3g}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:.3g}k"
    return f"{value:.3g}"


def accuracy_errors(summary: pd.DataFrame) -> list[float]:
    """Half-widths of the 95% t-intervals (the std where no interval exists, 0 for a single seed)."""
    if {"accuracy_ci_low", "accuracy_ci_high"} <= set(summary.columns):
        half = (summary["accuracy_ci_high"] - summary["accuracy_ci_low"]) / 2
        return [float(v) for v in half.fillna(0.0)]
    return [float(v) for v in summary["accuracy_std"].fillna(0.0)]


def comparison_figure(summary: pd.DataFrame, title: str | None = None):
    """Five panels: trainable and stored size (log), memory, seconds/step, accuracy with its 95% interval.

    Every value label sits above its bar's error bar, so no label is crossed by one.
    """
    from matplotlib.figure import Figure

    panels = [("trainable_params", "학습 파라미터 수 (log)", True), ("adapter_mb", "저장 크기 MB (log)", True),
              ("tensor_memory_mib", "학습 메모리 MiB\n(가중치+그래디언트+AdamW)", False),
              ("seconds_per_step", "초/스텝", False), ("accuracy_mean", "정확도 (평균, 95% 구간)", False)]
    fig = Figure(figsize=(18, 4.4), layout="constrained")
    labels = list(summary["label"])
    colors = ["#8C8C8C" if m == "full" else "#8172B2" if m in QUANTIZED else "#4C72B0" for m in summary["method"]]
    for ax, (column, heading, log) in zip(fig.subplots(1, len(panels)), panels):
        values = list(summary[column])
        errors = accuracy_errors(summary) if column == "accuracy_mean" else [0.0] * len(values)
        ax.bar(labels, values, yerr=errors if column == "accuracy_mean" else None, color=colors, capsize=4)
        if log:
            ax.set_yscale("log")
        for x, (value, error) in enumerate(zip(values, errors)):
            ax.annotate(_short_number(value), (x, value + error), xytext=(0, 3), textcoords="offset points",
                        ha="center", va="bottom", fontsize=10)
        if column == "accuracy_mean":
            ax.axhline(0.5, color="k", ls="--", lw=1)
            ax.set_ylim(0, 1.1)
        else:
            ax.margins(y=0.25 if not log else 0.0)
            if log:
                low, high = ax.get_ylim()
                ax.set_ylim(low, high * 4)
        ax.set_title(heading, fontsize=12)
        ax.tick_params(axis="x", rotation=45, labelsize=11)
    if title:
        fig.suptitle(title, fontsize=13)
    return fig


def spec_table(specs: Sequence[MethodSpec]) -> pd.DataFrame:
    """The settings of each method as a table (method, learning rate, options)."""
    return pd.DataFrame([{"method": s.label, "learning_rate": s.learning_rate,
                          "options": ", ".join(f"{k}={v}" for k, v in s.options.items()) or "(all weights)"}
                         for s in specs])


__all__ = [
    "COMPARED_METHODS", "HEADS", "LEARNING_RATES", "METHOD_LABELS", "MethodSpec", "QUANTIZED", "TARGET_MODULES",
    "accuracy_errors", "adapter_only_params", "build_model", "comparison_figure", "default_specs", "memory_batch",
    "peft_config", "rate_group", "run_comparison", "run_one", "saved_bytes", "spec_table", "star_table", "stars",
    "vector_length_for",
]
