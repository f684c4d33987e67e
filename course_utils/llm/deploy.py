"""Save, reload, merge: an adapter is megabytes next to the base; a merged model needs no peft to run."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def folder_mb(path: str | Path) -> float:
    """The size of the files in `path` (recursively), in MB (10^6 bytes)."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no such folder: {path.name}")
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def merge_adapter(base_id: str, adapter_dir: str | Path, dtype: torch.dtype = torch.float32):
    """배포용 병합: 베이스를 4비트가 아닌 dtype으로 다시 불러와 어댑터를 W에 더합니다."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_id, dtype=dtype)   # 4비트 코드가 아닌 실수 가중치
    model = PeftModel.from_pretrained(base, str(adapter_dir))          # 어댑터를 얹고
    return model.merge_and_unload()                                     # W ← W + (α/r)·B·A, peft 없이 동작


def requantization_error(merged: nn.Module, blocksize: int = 64) -> dict[str, float]:
    """Why one does not merge into the 4-bit codes: quantize the merged weights to NF4 again and measure how far the
    weights move, next to how large the LoRA update itself was. Returns relative Frobenius errors (largest layer)."""
    from bitsandbytes.functional import dequantize_4bit, quantize_4bit

    worst = 0.0
    for name, module in merged.named_modules():
        if isinstance(module, nn.Linear) and "lm_head" not in name:
            w = module.weight.data.float()
            q, state = quantize_4bit(w, blocksize=blocksize, quant_type="nf4")
            back = dequantize_4bit(q, state).float()
            worst = max(worst, ((back - w).norm() / w.norm()).item())
    return {"requantized_relative_error": worst}
