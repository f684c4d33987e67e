"""Running a course command in a fresh process, alone or under `accelerate launch` with 2 CPU processes (gloo).

Shared by tests/test_train.py and tests/test_sft.py (imported like archs.py: `from launch import ...`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {"COURSE_PROFILE": "offline", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
       "GLOO_SOCKET_IFNAME": "lo", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1", "PYTHONUNBUFFERED": "1"}
# --multi_gpu on a machine without a GPU: N CPU processes, DDP over gloo (`--cpu` alone would start only one).
ACCELERATE_TWO_CPU = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                      "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                      "--main_process_ip", "127.0.0.1", "--main_process_port", "0"]


def clean_env() -> dict[str, str]:
    """This environment without a surrounding launch's variables, plus the offline settings of ENV."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "WORLD_SIZE", "RANK", "LOCAL_"))}
    return env | ENV


def run_command(command: list[str], timeout: int = 600) -> subprocess.CompletedProcess:
    """`command` in the repository root with :func:`clean_env`; stdout and stderr captured as text."""
    return subprocess.run(command, cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=timeout)
