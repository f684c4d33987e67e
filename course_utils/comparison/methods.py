"""The compared methods in one table: name, label, colour, 4-bit or not; with their learning rates and budgets.

Everything else (the runner, the figures, the experiments cache, the training command, notebook 05) reads the
method list, labels, colours, learning rates and per-profile budgets from here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    """One compared method: its name, display label, figure colour, and whether its base model is 4-bit NF4."""

    name: str
    label: str
    color: str
    quantized: bool = False


#: The compared methods, in display order.
METHODS = (
    Method("full", "Full FT", "#444444"),
    Method("lora", "LoRA", "#4C72B0"),
    Method("dora", "DoRA", "#55A868"),
    Method("qlora", "QLoRA", "#8172B2", quantized=True),
    Method("qdora", "QDoRA", "#C44E52", quantized=True),
    Method("vblora", "VB-LoRA", "#DD8452"),
    Method("waveft", "WaveFT", "#937860"),
)
COMPARED_METHODS = tuple(m.name for m in METHODS)
METHOD_LABELS = {m.name: m.label for m in METHODS}
COLORS = {m.name: m.color for m in METHODS}
QUANTIZED = frozenset(m.name for m in METHODS if m.quantized)

#: Learning rates per profile. Offline (and demo, which shows the offline cache): one per method, chosen on the
#: validation split by `make experiments` (course_utils.runs.selection: 3 rates x seeds 0 and 1 under the offline
#: budget, best mean validation accuracy; the cache's meta.selection has the table and a test checks these values
#: against it). Colab/full are not searched: Full FT uses the usual BERT rate and the adapter methods 10x (LoRA
#: paper, Hu et al. 2021, Table 9: RoBERTa-base LoRA lr 5e-4 vs the usual 1e-5 to 5e-5 for full fine-tuning);
#: WaveFT a tenth of the adapter rate, because peft multiplies its coefficients by `scaling` (default 25, vs LoRA's
#: alpha/r = 2): an Adam step moves ΔW by about scaling x lr per entry. The offline grid follows the same scales.
_OFFLINE_RATES = {"full": 1e-4, "lora": 3e-3, "dora": 3e-3, "qlora": 3e-3, "qdora": 3e-3, "vblora": 1e-2,
                  "waveft": 3e-4}
LEARNING_RATES = {
    "offline": dict(_OFFLINE_RATES),
    "demo": dict(_OFFLINE_RATES),
    "colab": {"full": 3e-5, "adapter": 3e-4, "quantized": 3e-4, "waveft": 3e-5},
    "full": {"full": 3e-5, "adapter": 3e-4, "quantized": 3e-4, "waveft": 3e-5},
}

#: Training budgets per profile (notebook 05, `python -m course_utils train` defaults, and the experiments cache:
#: offline/demo must equal the budget `make experiments` stored).
BUDGETS = {
    "offline": {"steps": 320, "batch_size": 8, "max_length": 32, "n_train": None, "n_test": None,
                "seeds": (0, 1, 2, 3, 4)},
    "demo": {"steps": 320, "batch_size": 8, "max_length": 32, "n_train": None, "n_test": None,
             "seeds": (0, 1, 2, 3, 4)},
    "colab": {"steps": 300, "batch_size": 32, "max_length": 128, "n_train": 20_000, "n_test": 2000, "seeds": (0, 1)},
    "full": {"steps": 1000, "batch_size": 32, "max_length": 128, "n_train": None, "n_test": None, "seeds": (0, 1, 2)},
}


def rate_group(method: str) -> str:
    """The rate group of a method (a LEARNING_RATES key of the colab and full profiles): full, waveft, quantized
    (QLoRA, QDoRA) or adapter (the rest)."""
    return method if method in ("full", "waveft") else "quantized" if method in QUANTIZED else "adapter"


__all__ = ["BUDGETS", "COLORS", "COMPARED_METHODS", "LEARNING_RATES", "METHODS", "METHOD_LABELS", "QUANTIZED", "Method",
           "rate_group"]
