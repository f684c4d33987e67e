"""Profile detection, hub-reachability timeouts, dtype choice and seeding."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest
import torch

from course_utils.runtime import env


@pytest.fixture()
def online(monkeypatch):
    """Pretend HF_HUB_OFFLINE is unset, as on a student's machine."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("COURSE_PROFILE", raising=False)


@pytest.fixture()
def blackhole_url():
    """A loopback TCP port that accepts connections and never answers (a hanging hub)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield f"http://127.0.0.1:{server.getsockname()[1]}/"
    server.close()


@pytest.fixture()
def answering_url():
    """A loopback HTTP server that answers every request with 200."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_hanging_hub_is_decided_unreachable_within_5_seconds(online, blackhole_url):
    start = time.perf_counter()
    assert env.hub_reachable(blackhole_url) is False
    assert time.perf_counter() - start <= 5.0


def test_hanging_dns_is_decided_within_5_seconds(online, monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: time.sleep(30))
    start = time.perf_counter()
    assert env.hub_reachable("https://hub.invalid/") is False
    assert time.perf_counter() - start <= 5.0


@pytest.fixture()
def colab_gpu(monkeypatch):
    """Pretend to be a Colab GPU runtime without bf16 (a T4)."""
    monkeypatch.setattr(env, "in_colab", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: (7, 5))


def test_colab_with_hanging_hub_falls_back_to_offline_within_5_seconds(online, colab_gpu, blackhole_url, capsys):
    start = time.perf_counter()
    profile = env.detect_profile(hub_url=blackhole_url)
    assert time.perf_counter() - start <= 5.0
    assert profile.name == "offline"
    assert capsys.readouterr().out.strip() == env.HUB_UNREACHABLE_MESSAGE


def test_colab_with_reachable_hub_gets_klue_on_nsmc(online, colab_gpu, answering_url):
    assert env.hub_reachable(answering_url) is True
    profile = env.detect_profile(hub_url=answering_url)
    assert (profile.name, profile.model_id, profile.data_source) == ("colab", "klue/bert-base", "nsmc")
    assert profile.hub_reachable and (profile.device, profile.dtype) == ("cuda", torch.float16)


def test_colab_cpu_runtime_warns_in_korean_and_takes_the_minutes_budget(online, monkeypatch, answering_url, capsys):
    monkeypatch.setattr(env, "in_colab", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(env, "hub_reachable", lambda *a, **k: pytest.fail("a CPU runtime must not wait for the hub"))
    profile = env.detect_profile(hub_url=answering_url)
    assert (profile.name, profile.device, profile.data_source) == ("offline", "cpu", "bundled-en")
    out = capsys.readouterr().out.strip()
    assert out == env.COLAB_CPU_MESSAGE
    assert "런타임 → 런타임 유형 변경 → T4 GPU" in out and "몇 분" in out


def test_refused_port_is_unreachable_quickly(online):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    start = time.perf_counter()
    assert env.hub_reachable(f"http://127.0.0.1:{port}/") is False
    assert time.perf_counter() - start < 2.0


def test_hf_hub_offline_means_unreachable_without_probing(monkeypatch, answering_url):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert env.hub_reachable(answering_url) is False


def test_cpu_machine_without_override_is_offline(online, monkeypatch):
    monkeypatch.setattr(env, "in_colab", lambda: False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    profile = env.detect_profile()
    assert profile.name == "offline"
    assert (profile.device, profile.dtype, profile.data_source) == ("cpu", torch.float32, "bundled-en")


def test_course_profile_variable_overrides(monkeypatch, blackhole_url):
    monkeypatch.setenv("COURSE_PROFILE", "Full")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    profile = env.detect_profile(hub_url=blackhole_url)
    assert profile.name == "full" and profile.model_id == "klue/bert-base" and profile.n_train is None


def test_argument_overrides_variable(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "colab")
    assert env.detect_profile("offline").name == "offline"


@pytest.mark.parametrize("bad", ["klue", "gpu", ""])
def test_unknown_profile_names_the_allowed_ones(monkeypatch, bad):
    monkeypatch.setenv("COURSE_PROFILE", bad or " ")
    with pytest.raises(ValueError, match=", ".join(env.PROFILES)):
        env.detect_profile()
    with pytest.raises(ValueError, match="profile must be one of"):
        env.make_profile(bad)


def test_compute_dtype_per_device(monkeypatch):
    assert env.compute_dtype("cpu") == torch.float32
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: (8, 0))  # an A100
    assert env.compute_dtype("cuda") == torch.bfloat16
    # a T4 (7.5): torch.cuda.is_bf16_supported() says True there (emulation), the hardware computes fp16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a, **k: (7, 5))
    assert env.compute_dtype("cuda:0") == torch.float16
    assert not env.gpu_computes_bf16()
    with pytest.raises(ValueError, match="device"):
        env.compute_dtype("tpu")


def test_describe_is_one_korean_line_with_profile_model_data_device():
    line = env.make_profile("offline").describe()
    assert "\n" not in line
    for part in ("프로필 offline", "모델 ", "데이터 bundled-en (학습 전체, 검증 96, 테스트 전체)", "장치 cpu",
                 "연산 정밀도 float32"):
        assert part in line, line
    colab = env.make_profile("colab", device="cpu").describe()
    assert "(학습 20,000, 검증 2,000, 테스트 5,000)" in colab and "모델 klue/bert-base" in colab


def test_setup_prints_the_line_and_seeds(capsys):
    profile = env.setup("offline", seed=7)
    first = torch.rand(3)
    env.seed_everything(7)
    assert torch.equal(first, torch.rand(3))
    assert capsys.readouterr().out.strip().endswith(profile.describe())


def test_seed_rejects_negative():
    with pytest.raises(ValueError, match="seed"):
        env.seed_everything(-1)


def test_with_sizes_validates():
    profile = env.make_profile("offline")
    assert env.with_sizes(profile, n_train=100).n_train == 100
    with pytest.raises(ValueError, match="n_train"):
        env.with_sizes(profile, n_train=0)
    with pytest.raises(ValueError, match="accepts"):
        env.with_sizes(profile, epochs=3)
