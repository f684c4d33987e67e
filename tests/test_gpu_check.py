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
    assert gpu_check.main() == 1
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == ["[FAIL] broken: RuntimeError: boom", "[OK] ok: fine", "실패 1개: broken"]
