"""`make gpu-check` (course_utils.runs.gpu_check): one skip line without CUDA; its checks run on CPU where they can."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from course_utils.runs import gpu_check


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU skip line")
def test_without_cuda_it_skips_with_one_line():
    result = subprocess.run([sys.executable, "-m", "course_utils", "gpu-check"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["gpu-check 건너뜀: CUDA GPU가 없습니다."]


def test_nf4_check_passes_against_bitsandbytes_on_cpu():
    result = gpu_check.nf4_matches_bnb("cpu", n_full=64 * 40, tail=37)
    assert result.ok, result
    assert "전체 블록 일치" in result.detail and "다른 바이트 0개" in result.detail  # CPU divides in both


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_mixed_precision_step_trains_the_adapters_on_cpu(dtype):
    result = gpu_check.mixed_precision_step(dtype, "cpu", small=True)
    assert result.ok, result


def test_a_failing_check_is_reported_not_raised(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "FakeGPU")

    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(gpu_check, "CHECKS", (broken, lambda: gpu_check.Result("ok", True, "fine")))
    assert gpu_check.main([]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == ["[FAIL] broken: RuntimeError: boom", "[OK] ok: fine", "실패 1개: broken"]


def test_causal_lm_stand_in_is_a_4bit_llama_with_lora_on_every_linear_layer(tmp_path):
    config = gpu_check.causal_lm_config(small=True)
    model = gpu_check.causal_qlora_model(config, "cpu", str(tmp_path))
    assert type(model.base_model.model).__name__ == "LlamaForCausalLM"
    layer = model.base_model.model.model.layers[0]
    for linear in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.mlp.down_proj):
        assert type(linear.base_layer.weight).__name__ == "Params4bit" and linear.r["default"] == gpu_check.CAUSAL_RANK
    assert type(model.base_model.model.lm_head).__name__ == "Linear"  # the head: not 4-bit, no adapter
    full = gpu_check.causal_lm_config()
    assert (full.vocab_size, full.hidden_size, full.num_hidden_layers) == (128_256, 1024, 8)
    estimate = gpu_check.causal_estimate(full)  # on the meta device: no memory, milliseconds
    assert min(estimate[k] for k in ("weights", "weights_4bit", "adapters", "gradients", "optimizer_states")) > 0
    # the untied embedding and head (fp32, out of 4-bit) are most of it: activations are small beside them
    assert 2 * 128_256 * 1024 * 4 < estimate["total"] < 1.2 * 2**30


def test_causal_lm_estimate_equals_the_tensors_of_one_step_on_cpu(tmp_path):
    """What the CUDA check compares within 15% holds to the byte on bitsandbytes' CPU path (activations aside)."""
    from course_utils.memory.inventory import check_estimate, measure_training_memory

    config = gpu_check.causal_lm_config(small=True)
    model = gpu_check.causal_qlora_model(config, "cpu", str(tmp_path))
    measured = measure_training_memory(model, gpu_check.causal_batch(config, "cpu"))
    estimate = gpu_check.causal_estimate(config)
    assert measured["weights_4bit"] > 0 and measured["adapters"] > 0
    check_estimate(estimate, measured, "cpu")
