"""Keep library noise out of what students see (warnings, log lines, per-file progress bars).

Each filter names one source and one message or category; nothing else is hidden, so a real warning (from the
student's code or a library) still shows. Where each message comes from (bitsandbytes 0.50, transformers 5,
peft 0.21, torch 2.13):

* ``bitsandbytes.backends.cpu.ops`` logs "Failed to load CPU gemm_4bit_forward from kernels-community" when
  bitsandbytes is imported on a CPU with AVX512-BF16 and the optional ``kernels`` package is missing (it falls
  back to its own kernel).
* transformers' ``modeling_utils`` raises FutureWarnings (``gradient_checkpointing_enable`` /
  ``is_gradient_checkpointing`` renamed) when peft's ``prepare_model_for_kbit_training`` / ``get_peft_model``
  call the old names; the warning text starts with the build machine's file path.
* transformers logs "`use_cache=True` is incompatible with gradient checkpointing" on the first checkpointed
  forward (``utils/generic.py``), also for encoders that have no cache.
* torch warns "the use_reentrant parameter should be passed explicitly" for the checkpointing transformers turns on.
* transformers draws a "Loading weights" / "Writing model shards" bar per ``from_pretrained`` / ``save_pretrained``.
* ``bitsandbytes.nn.modules`` logs "FP4 quantization state not initialized. Please call .cuda() ..." when a
  ``Linear4bit`` whose weight lost its quant state runs (``fix_4bit_weight_quant_state_from_module``): notebook 04's
  deliberately 4-bit classifier. It names FP4 for an NF4 layer and advice that does not apply on CPU; the notebook
  shows the real failure (the error) in its table.
"""

from __future__ import annotations

import logging
import warnings

__all__ = ["NOISY_LOG_MESSAGES", "drop_known_log_lines", "silence_library_noise"]

#: logger name -> starts of the messages dropped from it (and from loggers below it).
NOISY_LOG_MESSAGES = {
    "bitsandbytes.backends.cpu.ops": ("Failed to load CPU gemm_4bit_forward from kernels-community",),
    "bitsandbytes.nn.modules": ("FP4 quantization state not initialized",),
    "transformers": ("`use_cache=True` is incompatible with gradient checkpointing",),
}
FUTURE_WARNING_MODULES = r"(transformers|peft|accelerate)\b"
TORCH_CHECKPOINT_MESSAGE = r"torch\.utils\.checkpoint: the use_reentrant parameter should be passed explicitly"


class _DropMessages(logging.Filter):
    """A logging filter that drops records whose message starts with one of `prefixes`."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefixes)


def _add_filter(target: logging.Logger | logging.Handler, prefixes: tuple[str, ...]) -> None:
    """Attach one _DropMessages filter to a logger or handler (once)."""
    if not any(isinstance(f, _DropMessages) for f in target.filters):
        target.addFilter(_DropMessages(prefixes))


def drop_known_log_lines() -> None:
    """Attach the log filters of NOISY_LOG_MESSAGES (idempotent; imports nothing, so it can run first).

    ``course_utils/__init__.py`` calls it: bitsandbytes logs its kernels-community line while it is *imported*, so
    a command (``python -m course_utils train``) must have the filter before any library is loaded.
    """
    for name, prefixes in NOISY_LOG_MESSAGES.items():
        _add_filter(logging.getLogger(name), prefixes)  # records logged on this logger itself


def silence_library_noise() -> None:
    """Filter the library warnings and messages a student should never see (idempotent)."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=FUTURE_WARNING_MODULES)
    warnings.filterwarnings("ignore", message=TORCH_CHECKPOINT_MESSAGE, category=UserWarning)
    drop_known_log_lines()
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.get_logger("transformers")  # makes transformers attach its stderr handler now
    for handler in logging.getLogger("transformers").handlers:  # records of its child loggers end here
        _add_filter(handler, NOISY_LOG_MESSAGES["transformers"])
