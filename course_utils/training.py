"""Train and evaluate with the real `transformers.Trainer`, returning one result record."""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from datasets import DatasetDict
from transformers import PreTrainedModel, PreTrainedTokenizerBase, Trainer, TrainingArguments

from course_utils.models import tokenize


@dataclass
class TrainResult:
    """One training run: sizes, cost and accuracy."""

    method: str
    trainable_params: int
    total_params: int
    train_seconds: float
    samples_per_second: float
    steps: int
    peak_memory_mb: float
    peak_memory_kind: str
    accuracy: float
    eval_loss: float
    eval_split: str

    def as_dict(self) -> dict:
        """The record as a plain dict (for tables and JSON)."""
        return asdict(self)


def compute_metrics(eval_pred) -> dict[str, float]:
    """Accuracy from (logits, labels): without this the Trainer reports no eval_accuracy."""
    logits, labels = eval_pred
    return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters; peft models count 4-bit weights unpacked, as peft reports."""
    if hasattr(model, "get_nb_trainable_parameters"):
        trainable, total = model.get_nb_trainable_parameters()
        return int(trainable), int(total)
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


def process_peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024


def _mixed_precision(device: str) -> dict[str, bool]:
    """Trainer flags: bf16 where supported, fp16 on other CUDA GPUs, none on CPU."""
    if not device.startswith("cuda"):
        return {}
    return {"bf16": True} if torch.cuda.is_bf16_supported() else {"fp16": True}


def train_and_evaluate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    data: DatasetDict,
    *,
    method: str,
    learning_rate: float,
    max_steps: int = 100,
    batch_size: int = 16,
    max_length: int = 64,
    seed: int = 42,
    eval_split: str = "test",
    weight_decay: float = 0.0,
    warmup_steps: int = 0,
    output_dir: str | None = None,
) -> TrainResult:
    """Train `model` for `max_steps` on data['train'] and return accuracy on data[eval_split] plus costs.

    Args:
        data: splits with columns `document` and `label` (raw text; tokenized here).
        method: a label for the record, e.g. "full", "lora", "qlora".
        learning_rate: peak learning rate (LoRA-family rates are ~10x those of full fine-tuning).
        max_steps: optimizer steps (the budget; equal across methods for fair comparisons).
    """
    if learning_rate <= 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
    if not isinstance(max_steps, int) or max_steps <= 0:
        raise ValueError(f"max_steps must be a positive int, got {max_steps!r}")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    for split in ("train", eval_split):
        if split not in data:
            raise ValueError(f"data must have a {split!r} split; has {list(data)}")
    device = next(model.parameters()).device.type
    encoded = tokenize(DatasetDict({"train": data["train"], eval_split: data[eval_split]}), tokenizer, max_length)
    args = TrainingArguments(
        output_dir=output_dir or tempfile.mkdtemp(prefix="course-train-"),
        learning_rate=learning_rate,
        max_steps=max_steps,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size * 2,
        weight_decay=weight_decay,
        warmup_steps=warmup_steps,
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="no",
        report_to=[],
        seed=seed,
        data_seed=seed,
        use_cpu=device == "cpu",
        dataloader_num_workers=0,
        **_mixed_precision(device),
    )
    trainer = Trainer(model=model, args=args, train_dataset=encoded["train"],
                      eval_dataset=encoded[eval_split], processing_class=tokenizer,
                      compute_metrics=compute_metrics)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    train_output = trainer.train()
    train_seconds = time.perf_counter() - start
    metrics = trainer.evaluate()
    if device == "cuda":
        peak, kind = torch.cuda.max_memory_allocated() / 1024**2, "cuda max allocated"
    else:
        peak, kind = process_peak_rss_mb(), "process peak RSS"
    trainable, total = count_parameters(model)
    return TrainResult(
        method=method, trainable_params=trainable, total_params=total,
        train_seconds=round(train_seconds, 2),
        samples_per_second=round(float(train_output.metrics.get("train_samples_per_second", 0.0)), 2),
        steps=int(train_output.global_step), peak_memory_mb=round(peak, 1), peak_memory_kind=kind,
        accuracy=float(metrics["eval_accuracy"]), eval_loss=float(metrics["eval_loss"]), eval_split=eval_split,
    )


def evaluate_accuracy(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, data: DatasetDict,
                      split: str = "test", max_length: int = 64, batch_size: int = 32) -> float:
    """Accuracy of `model` on data[split] without training (e.g. the untrained head: about chance)."""
    if split not in data:
        raise ValueError(f"data must have a {split!r} split; has {list(data)}")
    encoded = tokenize(data[split], tokenizer, max_length)
    args = TrainingArguments(output_dir=tempfile.mkdtemp(prefix="course-eval-"), report_to=[],
                             per_device_eval_batch_size=batch_size,
                             use_cpu=next(model.parameters()).device.type == "cpu")
    trainer = Trainer(model=model, args=args, eval_dataset=encoded, processing_class=tokenizer,
                      compute_metrics=compute_metrics)
    return float(trainer.evaluate()["eval_accuracy"])
