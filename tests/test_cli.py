"""The one command: `python -m course_utils <command>` (also `peft-course`), each command with --help, bad input as
one `error:` line on stderr and exit code 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from course_utils.__main__ import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = ("run", "grade", "release", "slides", "bundle", "train", "sft", "experiments", "stored-runs", "gpu-check",
            "colab")


def course(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COURSE_PROFILE": "offline", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "course_utils", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=300)


def test_help_lists_every_command():
    run = course("--help")
    assert run.returncode == 0, run.stderr
    assert set(REQUIRED) <= set(COMMANDS)
    for name in COMMANDS:
        assert f"    {name}" in run.stdout, name


def test_the_readme_names_the_required_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sentence = readme[readme.index("명령은 `run`"):].split("이고")[0]
    assert set(REQUIRED) <= set(re.findall(r"`([\w-]+)`", sentence)), sentence


def test_the_console_script_is_the_same_command():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts == {"peft-course": "course_utils.__main__:main"}


def in_process(capsys, *args: str) -> tuple[int, str, str]:
    """main(args) in this process: (exit code, stdout, stderr)."""
    try:
        code = main(list(args))
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help_and_rejects_bad_input(command, capsys):
    code, out, err = in_process(capsys, command, "--help")
    assert code == 0, err
    assert out.startswith("usage: python -m course_utils"), out
    code, out, err = in_process(capsys, command, "--no-such-option")
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "error:" in err, err


def test_an_unknown_command_is_one_error_line():
    run = course("nope")
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip().splitlines() == [
        f"python -m course_utils: error: unknown command 'nope'; choose from {', '.join(COMMANDS)}"]


def test_no_command_prints_the_help_and_exits_2():
    run = course()
    assert run.returncode == 2 and "commands:" in run.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_fresh_process_prints_no_library_noise(command):
    # bitsandbytes logs a line while it is imported on CPUs with AVX512-BF16: the package filters it before any
    # library loads, so a command's stderr holds its own words only, on every machine
    helped = course(command, "--help")
    assert helped.returncode == 0 and helped.stderr == "", helped.stderr
    bad = course(command, "--no-such-option")
    assert bad.returncode == 2 and bad.stdout == ""
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0], bad.stderr


@pytest.mark.parametrize("args, message", [
    (["--task", "summary"], "--task 'summary': not in ko_instructions.jsonl"),
    (["--task", "aspect", "--steps", "0"], "argument --steps: must be an integer >= 1, got 0"),
    (["--task", "aspect", "--model", "/no/such/model"], "--model /no/such/model: no such folder"),
    (["--task", "aspect", "--max-length", "16"], "--max-length 16: the longest aspect train row has"),
])
def test_sft_bad_values_in_a_fresh_process_are_one_line_and_write_nothing(tmp_path, args, message):
    # the last two load the tokenizer (transformers) before refusing: still no library line on stderr
    out = tmp_path / "out"
    bad = course("sft", *args, "--out", str(out))
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()] and message in bad.stderr, bad.stderr
    assert bad.stderr.startswith("python -m course_utils.runs.sft: error: ")
    assert not out.exists()
