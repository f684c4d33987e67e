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


def merge_adapter(base_id: str, adapter_dir: str | Path, dtype: torch.dtype = torch.float32, device: str = "cpu"):
    """배포용 병합: 베이스를 4비트가 아닌 dtype으로 다시 불러와 어댑터를 W에 더합니다."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(base_id, dtype=dtype,   # 4비트 코드가 아닌 실수 가중치
                                                device_map={"": device})
    model = PeftModel.from_pretrained(base, str(adapter_dir))          # 어댑터를 얹고
    return model.merge_and_unload()                                     # W ← W + (α/r)·B·A, peft 없이 동작


def update_vs_requantization(base: nn.Module, merged: nn.Module, blocksize: int = 64):
    """Per Linear layer: how large the merged LoRA update is, next to the error of quantizing the merged weight to NF4
    again (both relative to the weight's Frobenius norm). An update smaller than that error is lost in re-quantizing.
    """
    import pandas as pd
    from bitsandbytes.functional import dequantize_4bit, quantize_4bit

    base_weights = {name: m.weight for name, m in base.named_modules() if isinstance(m, nn.Linear)}
    rows = []
    for name, module in merged.named_modules():
        if isinstance(module, nn.Linear) and name in base_weights and "lm_head" not in name:
            w = module.weight.data.float()
            q, state = quantize_4bit(w, blocksize=blocksize, quant_type="nf4")
            rows.append({"layer": name,
                         "update": ((w - base_weights[name].data.float()).norm() / w.norm()).item(),
                         "nf4_error": ((dequantize_4bit(q, state).float() - w).norm() / w.norm()).item()})
    if not rows:
        raise ValueError("no Linear layer is shared by base and merged: are they the same architecture?")
    return pd.DataFrame(rows).set_index("layer").rename(columns={
        "update": "LoRA 업데이트 ‖ΔW‖/‖W‖", "nf4_error": "NF4 재양자화 오차 ‖Q(W)−W‖/‖W‖"})
