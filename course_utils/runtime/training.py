"""Train and evaluate with the real `transformers.Trainer`, returning one result record."""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from datasets import DatasetDict
from tqdm.auto import tqdm
from transformers import (
    DataCollatorWithPadding,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PrinterCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

from course_utils.runtime.data import quiet_datasets
from course_utils.runtime.env import gpu_computes_bf16
from course_utils.runtime.io import write_json
from course_utils.runtime.models import tokenize

#: The column ExampleRecorder takes out of each training batch.
EXAMPLE_ID = "example_id"


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
    world_size: int = 1  # processes that trained together (accelerate launch / DDP); 1 in a notebook

    def as_dict(self) -> dict:
        """The record as a plain dict (for tables and JSON)."""
        return asdict(self)


def compute_metrics(eval_pred) -> dict[str, float]:
    """Accuracy from (logits, labels): without this the Trainer reports no eval_accuracy."""
    logits, labels = eval_pred
    return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}


def measure_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters of a built model; peft models count 4-bit weights unpacked, as peft reports.

    A measurement of the model in hand, unlike :func:`course_utils.adapters.params.count_trainable`, which computes the
    same numbers from a formula over the shapes.
    """
    if hasattr(model, "get_nb_trainable_parameters"):
        trainable, total = model.get_nb_trainable_parameters()
        return int(trainable), int(total)
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)


class ExampleRecorder(TrainerCallback):
    """Data collator + TrainerCallback: the example ids each training step of this process used.

    Pass it as both ``data_collator`` and one of the ``callbacks`` of :func:`train_and_evaluate`. The collator takes
    the ``example_id`` column out of every training batch (eval data has none) and pads the rest as the Trainer's
    default collator does; at the end of training it writes the first ``global_step`` batches (the dataloader
    fetches one batch ahead) to `path` as JSON.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, path: str | Path, process_index: int = 0) -> None:
        self.pad = DataCollatorWithPadding(tokenizer)
        self.path, self.process_index = Path(path), process_index
        self.batches: list[list[int]] = []

    def __call__(self, features: list[dict]) -> dict:
        """Record and drop the example ids of a training batch, then pad it."""
        if features and EXAMPLE_ID in features[0]:
            self.batches.append([int(feature.pop(EXAMPLE_ID)) for feature in features])
        return self.pad(features)

    def on_train_end(self, args, state, control, **kwargs) -> None:
        """Write {process_index, world_size, steps, batches}."""
        write_json(self.path, {"process_index": self.process_index, "world_size": int(args.world_size),
                                      "steps": state.global_step, "batches": self.batches[:state.global_step]})


class StepProgress(TrainerCallback):
    """One progress bar over a training run's optimizer steps (main process only), instead of the library's."""

    def __init__(self, desc: str = "학습") -> None:
        self.desc, self.bar = desc, None

    def on_train_begin(self, args, state, control, **kwargs) -> None:
        """Open the bar at step 0 of `state.max_steps`."""
        if state.is_local_process_zero:
            self.bar = tqdm(total=state.max_steps or args.max_steps, desc=self.desc, unit="step")

    def on_step_end(self, args, state, control, **kwargs) -> None:
        """Advance the bar by one optimizer step."""
        if self.bar is not None:
            self.bar.update(1)

    def on_train_end(self, args, state, control, **kwargs) -> None:
        """Close the bar."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def process_peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024


def mixed_precision(device: str) -> dict[str, bool]:
    """Trainer flags: bf16 on GPUs that compute in it (A100, L4, H100), fp16 on older ones (T4), neither on CPU.
    Both are always given: trl's SFTConfig turns bf16 on when fp16 is unset."""
    if not device.startswith("cuda"):
        return {"bf16": False, "fp16": False}
    return {"bf16": True, "fp16": False} if gpu_computes_bf16() else {"bf16": False, "fp16": True}


def build_trainer(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, train_dataset, eval_dataset, *,
                  learning_rate: float, max_steps: int, batch_size: int, seed: int = 42, weight_decay: float = 0.0,
                  warmup_steps: int = 0, output_dir: str | None = None, callbacks: Sequence[TrainerCallback] = (),
                  data_collator: Callable | None = None) -> Trainer:
    """The course's `Trainer`: today's argument names, accuracy from `compute_metrics`, one progress bar."""
    device = next(model.parameters()).device.type
    args = TrainingArguments(
        output_dir=output_dir or tempfile.mkdtemp(prefix="course-train-"),
        learning_rate=learning_rate,
        max_steps=max_steps,                  # 예산은 step 수로: 비교하는 방법마다 같은 횟수
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=batch_size * 2,
        weight_decay=weight_decay,
        warmup_steps=warmup_steps,
        eval_strategy="no",                   # 옛 이름 evaluation_strategy는 transformers 4.51에서 삭제
        save_strategy="no",                   # 중간 체크포인트를 쓰지 않습니다
        logging_strategy="no",                # 손실 기록 표를 만들지 않습니다 (짧은 학습에서는 빈 표)
        disable_tqdm=True,                    # 라이브러리의 진행 표시 대신 StepProgress 막대 하나
        report_to=[],
        seed=seed,
        data_seed=seed,
        use_cpu=device == "cpu",              # 옛 이름 no_cuda는 삭제
        dataloader_num_workers=0,
        remove_unused_columns=data_collator is None,
        # 켜 두면 프로세스 N개일 때 손실에 N을 곱합니다. BERT 분류 손실은 배치 평균이므로
        # 그래디언트가 N배가 됩니다 (transformers 5.x trainer.py, compute_loss).
        average_tokens_across_devices=False,
        **mixed_precision(device),           # GPU: bf16 지원이면 bf16, 아니면 fp16 (CPU는 fp32)
    )
    trainer = Trainer(
        model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
        processing_class=tokenizer,           # 옛 이름 tokenizer=는 transformers 5에서 삭제
        compute_metrics=compute_metrics,      # 없으면 evaluate()에 eval_accuracy가 없습니다
        data_collator=data_collator,
        callbacks=[StepProgress(), *callbacks],
    )
    trainer.remove_callback(PrinterCallback)  # disable_tqdm이 대신 넣는 로그 dict 출력기
    return trainer


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
    callbacks: Sequence[TrainerCallback] = (),
    data_collator: Callable | None = None,
    save_dir: str | Path | None = None,
) -> TrainResult:
    """Train `model` for `max_steps` on data['train'] and return accuracy on data[eval_split] plus costs.

    The same call runs in a notebook and, unchanged, in every process of ``accelerate launch``: the Trainer then
    shards each batch across processes (DDP) and gathers the predictions for the accuracy.

    Args:
        data: splits with columns `document` and `label` (raw text; tokenized here).
        method: a label for the record, e.g. "full", "lora", "qlora".
        learning_rate: peak learning rate (LoRA-family rates are ~10x those of full fine-tuning).
        max_steps: optimizer steps (the budget; equal across methods for fair comparisons).
        batch_size: examples per step *per process* (the Trainer's ``per_device_train_batch_size``).
        callbacks: extra ``TrainerCallback`` objects (e.g. one that records what each process trained on).
        data_collator: replaces the default padding collator; it then receives every column of the tokenized
            data (``remove_unused_columns=False``), so it can take bookkeeping columns such as example ids out.
        save_dir: after evaluation, ``Trainer.save_model(save_dir)``: the adapter (peft) or the whole model, with
            the tokenizer. Call it in every process: under DDP only the main process writes, and under FSDP /
            DeepSpeed ZeRO-3 the Trainer first gathers the sharded weights.
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
    with quiet_datasets():
        encoded = tokenize(DatasetDict({"train": data["train"], eval_split: data[eval_split]}), tokenizer,
                           max_length)
    # Counted before training: FSDP (use_orig_params=False) leaves the original module's parameters as flat views.
    trainable, total = measure_parameters(model)
    trainer: Trainer = build_trainer(model, tokenizer, encoded["train"], encoded[eval_split],
                                      learning_rate=learning_rate, max_steps=max_steps, batch_size=batch_size,
                                      seed=seed, weight_decay=weight_decay, warmup_steps=warmup_steps,
                                      output_dir=output_dir, callbacks=callbacks, data_collator=data_collator)
    args = trainer.args
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
    if save_dir is not None:
        trainer.save_model(str(save_dir))
    return TrainResult(
        method=method, trainable_params=trainable, total_params=total,
        train_seconds=round(train_seconds, 2),
        samples_per_second=round(float(train_output.metrics.get("train_samples_per_second", 0.0)), 2),
        steps=int(train_output.global_step), peak_memory_mb=round(peak, 1), peak_memory_kind=kind,
        accuracy=float(metrics["eval_accuracy"]), eval_loss=float(metrics["eval_loss"]), eval_split=eval_split,
        world_size=int(args.world_size),
    )


def evaluate_accuracy(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, data: DatasetDict,
                      split: str = "test", max_length: int = 64, batch_size: int = 32) -> float:
    """Accuracy of `model` on data[split] without training (e.g. the untrained head: about chance)."""
    if split not in data:
        raise ValueError(f"data must have a {split!r} split; has {list(data)}")
    with quiet_datasets():
        encoded = tokenize(data[split], tokenizer, max_length)
    args = TrainingArguments(output_dir=tempfile.mkdtemp(prefix="course-eval-"), report_to=[],
                             per_device_eval_batch_size=batch_size, disable_tqdm=True,
                             use_cpu=next(model.parameters()).device.type == "cpu")
    trainer = Trainer(model=model, args=args, eval_dataset=encoded, processing_class=tokenizer,
                      compute_metrics=compute_metrics)
    trainer.remove_callback(PrinterCallback)
    return float(trainer.evaluate()["eval_accuracy"])
