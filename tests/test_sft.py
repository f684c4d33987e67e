"""python -m course_utils sft (course_utils.runs.sft): bad input, the task data, and a QLoRA SFT run of the course's
tiny Korean LLaMA under `accelerate launch` with 2 CPU processes (gloo)."""

from __future__ import annotations

import json
import sys
import time

import pytest
from launch import ACCELERATE_TWO_CPU, ENV, ROOT, run_command

from course_utils.runs import sft

# 40 steps x global batch 16 (8 per process): measured on the 2-core CPU, 1 process, format 0.0 -> 1.0.
SMALL = ["--task", "aspect", "--steps", "40", "--seed", "0"]


@pytest.fixture
def offline(monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


# ----------------------------------------------------------------------------------------------------
# Bad input: one line on stderr, exit code 2, nothing written
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra, message", [
    (["--task", "summary"], "--task 'summary': not in ko_instructions.jsonl (tasks there: aspect, sentiment)"),
    (["--task", "aspect", "--steps", "0"], "argument --steps: must be an integer >= 1, got 0"),
    (["--task", "aspect", "--steps", "ten"], "argument --steps: must be an integer, got 'ten'"),
    (["--task", "aspect", "--lr", "-1"], "argument --lr: must be a number > 0"),
    (["--task", "aspect", "--rank", "0"], "argument --rank: must be an integer >= 1, got 0"),
    (["--task", "aspect", "--model", "/no/such/model"], "--model /no/such/model: no such folder"),
    (["--task", "aspect", "--model", "data"], "--model data: folder has no config.json"),
    (["--task", "aspect", "--data", "/no/such.jsonl"], "--data /no/such.jsonl: no such file"),
    (["--task", "aspect", "--max-length", "16"], "--max-length 16: the longest aspect train row has"),
    (["--out", "README.md", "--task", "aspect"], "--out README.md: exists and is not a folder"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, offline, monkeypatch, extra, message):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        sft.main(["--out", str(out), *extra])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.count("\n") == 1 and err.startswith("python -m course_utils.runs.sft: error: ") and message in err, err
    assert not out.exists()


def test_global_batch_must_split_evenly_over_the_processes(tmp_path, capsys, offline, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(SystemExit) as exit_info:
        sft.main(["--task", "aspect", "--batch-size", "16", "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2
    assert "--batch-size 16 must be divisible by the number of processes (3)" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("line, message", [
    ('{"split": "train", "task": "t", "instruction": "", "input": "x", "output": "y"}', "line 1: 'instruction'"),
    ('{"split": "train", "task": "t", "instruction": "i", "input": "x"}', "line 1: 'output' 필드가 없습니다"),
    ('["not", "an", "object"]', "line 1: not a JSON object"),
    ("{broken", "line 1: not JSON"),
    ('{"split": "test", "task": "t", "instruction": "i", "input": "x", "output": "y"}', "no train rows"),
])
def test_a_bad_data_file_names_its_line(tmp_path, line, message):
    path = tmp_path / "rows.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(sft.UsageError, match="rows.jsonl") as info:
        sft.task_splits(sft.read_rows(path), "t", path.name)
    assert message in str(info.value), info.value


def test_the_bundled_tasks_and_their_recipes(offline, tmp_path):
    rows = sft.read_rows(sft.INSTRUCTIONS)
    for task, outputs in (("aspect", 8), ("sentiment", 2)):
        splits = sft.task_splits(rows, task, "bundled")
        assert (len(splits["train"]), len(splits["test"])) == (1200, 120)
        assert len(sft.answers_of(splits["train"])) == outputs
    plan = sft.resolve(sft.build_parser().parse_args(["--task", "sentiment", "--out", str(tmp_path / "o")]))
    assert (plan.steps, plan.lr, plan.rank, plan.batch_size, plan.max_length) == (150, 2e-3, 8, 16, 128)
    assert plan.model == str(sft.INSTRUCTIONS.parents[1] / "course_utils" / "llm" / "ko_tiny_llama")
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------------------------------
# A QLoRA SFT run on 2 CPU processes (accelerate launch --multi_gpu, DDP over gloo)
# ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    out = tmp_path_factory.mktemp("sft") / "two"
    started = time.perf_counter()
    run = run_command([*ACCELERATE_TWO_CPU, "-m", "course_utils.runs.sft", *SMALL, "--out", str(out)])
    return out, run, time.perf_counter() - started


def test_two_processes_train_and_only_the_main_process_writes(two_processes):
    out, run, seconds = two_processes
    assert run.returncode == 0, run.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["world_size"] == 2 and metrics["distributed_type"] == "MULTI_CPU"
    assert metrics["written_by_process"] == 0
    assert metrics["global_batch_size"] == 16 and metrics["per_device_batch_size"] == 8
    assert (metrics["task"], metrics["steps"], metrics["rank"]) == ("aspect", 40, 16)
    assert metrics["after"]["format"] > metrics["before"]["format"], (metrics["before"], metrics["after"])
    assert 0 < metrics["trainable_params"] < metrics["total_params"]
    assert 0 < metrics["adapter_mb"] < 5 and metrics["seconds"] < seconds
    assert {"torch", "transformers", "peft", "trl", "accelerate", "bitsandbytes"} <= set(metrics["versions"])
    assert sorted(p.name for p in out.iterdir()) == ["adapter", "metrics.json"]
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    results = [line for line in run.stdout.splitlines() if line.startswith("{\"metrics\"")]
    assert len(results) == 1 and json.loads(results[0])["world_size"] == 2  # printed once, by the main process


def test_the_saved_adapter_reloads_onto_the_base(two_processes):
    from peft import PeftModel

    from course_utils.llm.models import TINY_MODEL_DIR, load_causal_lm

    out, run, _ = two_processes
    assert run.returncode == 0, run.stderr[-3000:]
    model = PeftModel.from_pretrained(load_causal_lm(str(TINY_MODEL_DIR), four_bit=False), str(out / "adapter"))
    config = model.peft_config["default"]
    assert (config.r, config.lora_alpha, config.task_type) == (16, 32, "CAUSAL_LM")


def test_the_module_command_exits_2_with_one_line(tmp_path):
    run = run_command([sys.executable, "-m", "course_utils.runs.sft", "--task", "nope", "--out", str(tmp_path)])
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip().splitlines() == [
        "python -m course_utils.runs.sft: error: --task 'nope': not in ko_instructions.jsonl "
        "(tasks there: aspect, sentiment)"]
