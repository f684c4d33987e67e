"""Every command of `python -m course_utils` is quiet: --help prints only help, bad input is one `error:` line on
stderr and exit code 2, and no library noise reaches stderr (bitsandbytes logs a line while it is imported on CPUs
with AVX512-BF16; the package filters it before any library is loaded)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.__main__ import COMMANDS

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COURSE_PROFILE": "offline"}
    return subprocess.run([sys.executable, "-m", "course_utils", *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env=env)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_prints_only_help(command):
    done = run(command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr
    assert "usage:" in done.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_bad_input_is_one_error_line_and_exit_2(command):
    done = run(command, "--no-such-option")
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0], done.stderr  # (a missing required argument may be named first)
    assert done.stdout == ""


def test_the_top_level_command_lists_every_command_and_refuses_an_unknown_one():
    listed = run("--help")
    assert listed.returncode == 0 and all(name in listed.stdout for name in COMMANDS)
    unknown = run("no-such-command")
    assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1
    assert "error:" in unknown.stderr and "no-such-command" in unknown.stderr
