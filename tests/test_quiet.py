"""course_utils.runtime.quiet: the library noise a notebook shows is gone, and real warnings still show.

Each case runs in a fresh interpreter (warning filters, loggers and import-time messages are process state):
once without :func:`silence_library_noise` (the noise is really there, so the test can fail) and once with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent('''
    import logging, sys, tempfile, warnings
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    folder = tempfile.mkdtemp()
    torch.manual_seed(0)
    BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)).save_pretrained(folder)
    if sys.argv[1] == "quiet":
        from course_utils.runtime.quiet import silence_library_noise
        silence_library_noise()
    else:  # `import course_utils` attaches the log filters at once: take them off to see the libraries' own noise
        from course_utils.runtime.quiet import NOISY_LOG_MESSAGES
        for name in NOISY_LOG_MESSAGES:
            logging.getLogger(name).filters.clear()
    print("=== start", file=sys.stderr, flush=True)
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from course_utils.runtime.models import load_classifier_4bit

    model = prepare_model_for_kbit_training(load_classifier_4bit(folder))  # gradient checkpointing on (default)
    model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=4, target_modules=["query", "value"]))
    model.train()
    model(input_ids=torch.tensor([[2, 5, 3]]), labels=torch.tensor([1])).loss.backward()
    # what bitsandbytes logs on import on a CPU with AVX512-BF16 (this CI CPU may lack it, so it is replayed)
    bnb = logging.getLogger("bitsandbytes.backends.cpu.ops")
    bnb.warning("Failed to load CPU gemm_4bit_forward from kernels-community: %s. Please make sure you already "
                "`pip install kernels` and the kernels >= 0.11.1", "No module named 'kernels'")
    bnb.warning("another bitsandbytes message")            # a different message from the same logger stays
    # what bitsandbytes 0.50 logs when a Linear4bit without quant state runs (notebook 04's 4-bit classifier)
    logging.getLogger("bitsandbytes.nn.modules").warning(
        "FP4 quantization state not initialized. Please call .cuda() or .to(device) on the LinearFP4 layer first.")
    logging.getLogger("bitsandbytes.nn.modules").warning("another bitsandbytes layer message")
    warnings.warn("a user warning stays visible", UserWarning)
    warnings.warn("a user future warning stays visible", FutureWarning)
''')
NOISE = ("FutureWarning: `gradient_checkpointing_enable` is deprecated",
         "FutureWarning: `is_gradient_checkpointing` is deprecated",
         "kernels-community", "`use_cache=True` is incompatible", "use_reentrant", "Loading weights",
         "FP4 quantization state not initialized")
KEPT = ("another bitsandbytes message", "another bitsandbytes layer message", "a user warning stays visible",
        "a user future warning stays visible")


def _stderr_after_start(mode: str) -> str:
    """stderr of SCRIPT from the '=== start' line on (the model saving before it is test setup)."""
    env = {key: value for key, value in os.environ.items()  # CI settings that would hide the noise themselves
           if key not in ("HF_HUB_DISABLE_PROGRESS_BARS", "TQDM_DISABLE", "TRANSFORMERS_VERBOSITY", "PYTHONWARNINGS")}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=300,
                          env=env, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr.split("=== start", 1)[1]


@pytest.fixture(scope="module")
def outputs() -> dict[str, str]:
    return {mode: _stderr_after_start(mode) for mode in ("noisy", "quiet")}


def _expected_noise() -> list[str]:
    """The noise this installation really prints (some of it only exists in some library versions)."""
    from transformers import PreTrainedModel

    expected = [text for text in NOISE if text != "use_reentrant"]  # torch only warns here on some versions
    if not hasattr(PreTrainedModel, "activation_checkpointing_enable"):  # the rename came with the deprecations
        expected = [text for text in expected if "gradient_checkpointing" not in text]
    return expected


def test_the_noise_is_there_without_the_filter(outputs):
    noisy = outputs["noisy"]
    expected = _expected_noise()
    for text in expected:
        assert text in noisy, f"{text!r} no longer appears: update quiet.py and this test"
    if any("deprecated" in text for text in expected):
        assert "site-packages" in noisy  # the FutureWarnings print the machine's paths


def test_silence_library_noise_removes_it_and_keeps_real_warnings(outputs):
    quiet = outputs["quiet"]
    for text in NOISE:
        assert text not in quiet, f"{text!r} still shown:\n{quiet}"
    assert "site-packages" not in quiet
    for text in KEPT:
        assert text in quiet, f"{text!r} was hidden:\n{quiet}"


def test_importing_the_package_filters_the_import_time_line_before_bitsandbytes_loads():
    # bitsandbytes logs its kernels-community line while it is imported (on CPUs with AVX512-BF16): a command that
    # imports course_utils first must not print it. The replayed record stands in for CPUs without the flag.
    script = ("import logging, course_utils, bitsandbytes\n"
              "logging.getLogger('bitsandbytes.backends.cpu.ops').warning("
              "'Failed to load CPU gemm_4bit_forward from kernels-community: replayed')\n"
              "logging.getLogger('bitsandbytes.backends.cpu.ops').warning('another bitsandbytes message')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.strip().splitlines() == ["another bitsandbytes message"]


def test_silence_library_noise_is_idempotent():
    import logging

    from course_utils.runtime.quiet import silence_library_noise

    silence_library_noise()
    silence_library_noise()
    bnb = logging.getLogger("bitsandbytes.backends.cpu.ops")
    assert len(bnb.filters) == 1
    assert all(len(h.filters) == 1 for h in logging.getLogger("transformers").handlers)
