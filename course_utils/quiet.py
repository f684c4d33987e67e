"""Keep library noise out of what students see (warnings, log lines, per-file progress bars)."""

from __future__ import annotations

import warnings


def silence_library_noise() -> None:
    """Filter the library warnings and messages a student should never see (idempotent)."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(transformers|peft|accelerate)\b")
