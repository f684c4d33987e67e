"""Measured training memory: the bytes of the real tensors a (peft / 4-bit) model and its optimizer hold.

:func:`inventory_bytes` counts parameters, buffers, the quant-state tensors bitsandbytes hangs on each
``Params4bit``, ``.grad``s and optimizer state, each storage once; :func:`measure_training_memory` does one real
optimizer step first. It is the measured side that :func:`course_utils.memory.estimate.estimate_training_memory` must
equal.
"""

from __future__ import annotations

import torch
from torch import nn

from course_utils.memory.estimate import OPTIMIZERS, PARTS, with_total
from course_utils.runtime import validate

__all__ = ["CUDA_TOLERANCE", "check_estimate", "inventory_bytes", "make_optimizer", "measure_training_memory",
           "train_one_step"]

#: On CUDA the estimate is checked to this share of the measured total (as ``make gpu-check`` does), not to the
#: byte: bitsandbytes' CUDA path was not run when the byte-exact rules were written (they hold on its CPU path).
CUDA_TOLERANCE = 0.15


def _quant_state_tensors(state: object) -> list[torch.Tensor]:
    """All tensors inside a bitsandbytes QuantState (absmax, code, offset, and the nested state2)."""
    if state is None:
        return []
    tensors = []
    for value in vars(state).values():
        if isinstance(value, torch.Tensor):
            tensors.append(value)
        elif type(value).__name__ == "QuantState":
            tensors += _quant_state_tensors(value)
    return tensors


def _is_adapter(name: str) -> bool:
    """peft adapter tensors: LoRA, DoRA, VB-LoRA (``lora_``), WaveFT (``waveft_``), head copies (modules_to_save)."""
    return "lora_" in name or "waveft_" in name or ".modules_to_save." in name


def inventory_bytes(model: nn.Module, optimizer: torch.optim.Optimizer | None = None) -> dict[str, int]:
    """Bytes of the real tensors a model (and optimizer) hold now, each storage counted once.

    ``weights``: parameters and buffers in a float/int dtype; ``weights_4bit``: ``Params4bit`` codes and their
    quant-state tensors; ``adapters``: peft's ``lora_*`` and ``modules_to_save`` parameters; ``gradients``: every
    ``.grad``; ``optimizer_states``: every tensor in ``optimizer.state``. Same keys as
    :func:`estimate_training_memory`.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    seen: set[int] = set()
    parts = dict.fromkeys(PARTS, 0)

    def add(part: str, tensor: torch.Tensor) -> None:
        if tensor.device.type == "meta":
            raise ValueError("inventory_bytes needs real tensors; the model is on the meta device")
        storage = tensor.untyped_storage()
        if storage.nbytes() == 0 or storage.data_ptr() in seen:
            return
        seen.add(storage.data_ptr())
        parts[part] += storage.nbytes()

    for name, p in model.named_parameters():
        if type(p).__name__ == "Params4bit":
            add("weights_4bit", p)
            for t in _quant_state_tensors(getattr(p, "quant_state", None)):
                add("weights_4bit", t)
        else:
            add("adapters" if _is_adapter(name) else "weights", p)
    for _name, b in model.named_buffers():
        add("weights", b)
    for p in model.parameters():
        if p.grad is not None:
            add("gradients", p.grad)
    if optimizer is not None:
        for state in optimizer.state.values():
            for value in state.values():
                if isinstance(value, torch.Tensor):
                    add("optimizer_states", value)
    return with_total(parts)


def make_optimizer(model: nn.Module, optimizer: str = "adamw", lr: float = 0.0) -> torch.optim.Optimizer:
    """The torch optimizer `optimizer` names, over the model's trainable parameters."""
    validate.choice(optimizer, OPTIMIZERS, "optimizer")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters (requires_grad=True)")
    if optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr)
    return torch.optim.SGD(params, lr=lr, momentum=0.9 if optimizer == "sgd_momentum" else 0.0)


def train_one_step(model: nn.Module, batch: dict[str, torch.Tensor], optimizer: str = "adamw",
                   lr: float = 0.0) -> torch.optim.Optimizer:
    """One forward/backward/optimizer step on `batch` (with labels); returns the optimizer, grads left in place.

    ``lr=0`` allocates exactly the tensors of a real step without changing the weights.
    """
    opt = make_optimizer(model, optimizer, lr)
    model.train()
    loss = model(**batch).loss
    loss.backward()
    opt.step()
    return opt


def measure_training_memory(model: nn.Module, batch: dict[str, torch.Tensor],
                            optimizer: str = "adamw") -> dict[str, int]:
    """:func:`inventory_bytes` after one optimizer step (lr=0: weights unchanged); grads are cleared afterwards."""
    opt = train_one_step(model, batch, optimizer, lr=0.0)
    try:
        return inventory_bytes(model, opt)
    finally:
        opt.zero_grad(set_to_none=True)
        opt.state.clear()




def check_estimate(estimate: dict[str, int], measured: dict[str, int], device: str,
                   tolerance: float = CUDA_TOLERANCE) -> str:
    """Estimate vs measured bytes, device-aware; returns a one-line Korean verdict, raises AssertionError if off.

    On CPU every part must be equal to the byte (bitsandbytes' CPU path is the reference); on CUDA the totals must
    agree within `tolerance` (a share of the measured total) and the per-part differences are reported, not asserted.
    """
    missing = [k for k in (*PARTS, "total") if k not in estimate or k not in measured]
    if missing:
        raise ValueError(f"estimate and measured must both have the keys {[*PARTS, 'total']}; missing {missing}")
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance must be in [0, 1), got {tolerance!r}")
    diff = {k: measured[k] - estimate[k] for k in (*PARTS, "total") if measured[k] != estimate[k]}
    if device == "cpu":  # CPU: bitsandbytes의 CPU 경로가 기준이므로 1바이트도 달라선 안 됨
        assert not diff, f"estimate differs from the measurement on CPU (measured - estimate, bytes): {diff}"
        return "추정 = 측정: 모든 항목이 바이트 단위로 같습니다 (CPU)."
    # CUDA: 합계가 허용 범위 안인지만 확인하고, 항목별 차이는 보여 준다 (노트북이 멈추지 않게)
    share = abs(measured["total"] - estimate["total"]) / max(measured["total"], 1)
    assert share <= tolerance, (f"estimate off by {share:.1%} of the measured total on {device} "
                                f"(allowed {tolerance:.0%})")
    detail = ", ".join(f"{k} {v:+,} B" for k, v in diff.items()) or "차이 없음"
    return f"추정 vs 측정 ({device}): 합계 차이 {share:.2%} (허용 {tolerance:.0%}) · 항목별 측정−추정: {detail}"
