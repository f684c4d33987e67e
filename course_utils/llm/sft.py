"""Instruction tuning with trl's SFTTrainer: prompt-completion rows, loss on the completion only, one progress bar."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence

import torch
from datasets import Dataset
from transformers import PreTrainedModel, PrinterCallback

from course_utils.llm.prompts import to_prompt_completion
from course_utils.runtime.data import quiet_datasets
from course_utils.runtime.training import StepProgress, mixed_precision


def sft_dataset(rows: Sequence[Mapping]) -> Dataset:
    """trl's prompt-completion dataset; every row is checked first (a bad row is an error naming its field)."""
    if isinstance(rows, (str, Mapping)):
        raise TypeError(f"rows must be a list of rows, not a single {type(rows).__name__}")
    return Dataset.from_list([to_prompt_completion(row) for row in rows])


def add_lora(model: PreTrainedModel, rank: int, seed: int = 42, gradient_checkpointing: bool = False):
    """QLoRA adapters: ``prepare_model_for_kbit_training``, then LoRA r=`rank`, alpha 2r, on every linear layer
    (``all-linear`` leaves out the LM head)."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from course_utils.runtime.env import seed_everything

    seed_everything(seed)
    model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    config = LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear", task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def keep_adapter_fp32(model: PreTrainedModel) -> int:
    """trl (>= 0.26) casts a 4-bit model's trainable weights to bf16; fp16 training on a T4 then fails and a CPU
    computes in fp32 anyway. Put them back in fp32 (peft's advice); returns how many tensors were cast."""
    cast = 0
    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()
            cast += 1
    return cast


def build_sft_trainer(model: PreTrainedModel, tokenizer, train_rows: Sequence[Mapping], *, learning_rate: float,
                      max_steps: int, batch_size: int, max_length: int, seed: int = 42, warmup_steps: int = 0,
                      gradient_checkpointing: bool = False, output_dir: str | None = None, callbacks=()):
    """trl's SFTTrainer on an already LoRA-wrapped model: completion-only loss, no packing, no logs, one bar."""
    from trl import SFTConfig, SFTTrainer

    device = next(model.parameters()).device.type
    args = SFTConfig(
        output_dir=output_dir or tempfile.mkdtemp(prefix="course-sft-"),
        learning_rate=learning_rate, max_steps=max_steps, per_device_train_batch_size=batch_size,
        warmup_steps=warmup_steps, lr_scheduler_type="linear", seed=seed, data_seed=seed,
        max_length=max_length,                # 옛 이름 max_seq_length는 삭제
        completion_only_loss=True,            # 프롬프트 토큰은 손실에서 빠집니다
        packing=False,                        # T4에는 FlashAttention이 없습니다
        gradient_checkpointing=gradient_checkpointing,
        save_strategy="no", logging_strategy="no", report_to=[], disable_tqdm=True,
        use_cpu=device == "cpu", dataloader_num_workers=0,
        **mixed_precision(device),
    )
    with quiet_datasets():                    # trl의 토큰화 단계별 진행 막대는 숨깁니다
        trainer = SFTTrainer(model=model, args=args, train_dataset=sft_dataset(train_rows),
                             processing_class=tokenizer, callbacks=[StepProgress("SFT 학습"), *callbacks])
    trainer.remove_callback(PrinterCallback)
    keep_adapter_fp32(trainer.model)
    return trainer


def trl_labels(example: Mapping) -> list[int]:
    """The labels trl trains one prepared example on: its ``labels`` column (trl >= 1.x) or, in older trl (0.29),
    ``input_ids`` with -100 where ``completion_mask`` is 0."""
    if "labels" in example:
        return list(example["labels"])
    if "completion_mask" in example:
        return [t if m else -100 for t, m in zip(example["input_ids"], example["completion_mask"])]
    raise KeyError("the prepared example has neither 'labels' nor 'completion_mask' (a trl version we do not know)")
