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

#: Learning rates per profile. Full FT uses the usual BERT rate; the adapter methods ~10x (LoRA paper, Hu et al.
#: 2021, Table 9: RoBERTa-base LoRA lr 5e-4 vs the usual 1e-5 to 5e-5 for full fine-tuning). The offline budget is
#: short (320 steps x batch 8), so all rates there are higher (demo shares them: it shows the offline cache). Offline
#: Full FT gets 1e-4: at 3e-4 it stayed near chance (< 0.55) in 3 of 5 seeds of an 80-step run (see "superseded").
#: Offline QLoRA/QDoRA ("quantized") get 2e-3, the largest rate tried (3e-3, 2e-3, 1e-3; 5 seeds each) at which no
#: seed collapsed (experiments.stable_rate): at the adapter rate 3e-3 both ended on seed 4 at accuracy 0.5, eval loss
#: ln 2 (the tried rates are kept under "superseded"). On a GPU there is no such evidence: they share the adapter rate.
#: VB-LoRA shares the LoRA rate. WaveFT gets a tenth of it: peft multiplies its coefficients by `scaling`
#: (default 25, vs LoRA's alpha/r = 2): an Adam step moves ΔW by about scaling x lr per entry.
#: Measured offline (24 steps, 2 seeds): at 5e-3 WaveFT stayed at chance (eval loss 0.693), at 5e-4 it learned.
LEARNING_RATES = {
    "offline": {"full": 1e-4, "adapter": 3e-3, "quantized": 2e-3, "waveft": 3e-4},
    "demo": {"full": 1e-4, "adapter": 3e-3, "quantized": 2e-3, "waveft": 3e-4},
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
    """The LEARNING_RATES key of a method: full, waveft, quantized (QLoRA, QDoRA) or adapter (the rest)."""
    return method if method in ("full", "waveft") else "quantized" if method in QUANTIZED else "adapter"


__all__ = ["BUDGETS", "COLORS", "COMPARED_METHODS", "LEARNING_RATES", "METHODS", "METHOD_LABELS", "QUANTIZED", "Method",
           "rate_group"]
