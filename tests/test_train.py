"""python -m course_utils.runs.train: bad input, atomic results, and the same run on 1 and on 2 processes
(accelerate)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from launch import ACCELERATE_TWO_CPU, ENV
from launch import run_command as _run

from course_utils.memory.sharding import SHARDED_PARTS, per_gpu_memory, per_gpu_table, quant_state_fraction
from course_utils.runs import train
from course_utils.runtime.io import write_json

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "course_utils" / "runs" / "accelerate_configs"
# A tiny budget: 3 steps x global batch 8 on 64 reviews, 32 test reviews, 32 tokens.
TINY = ["--steps", "3", "--batch-size", "8", "--max-length", "32", "--n-train", "64", "--n-test", "32", "--seed", "0"]
# With dropout on, 1 and 2 processes differ by their dropout masks (each process draws its own: measured 2 of 32
# test reviews, eval loss 0.007 apart). The comparison runs switch dropout off; what is left is float rounding
# (measured: same accuracy, eval loss 2.4e-7 apart), so the tolerances are one test review and 1e-4.
ACCURACY_TOLERANCE = 1 / 32
EVAL_LOSS_TOLERANCE = 1e-4


# ----------------------------------------------------------------------------------------------------
# Bad input: one line on stderr, exit code 2, nothing written
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("extra, message", [
    (["--method", "prefix-tuning"], "--method must be one of"),
    (["--method", "lora", "--model", "/no/such/model"], "--model /no/such/model: no such folder"),
    (["--method", "lora", "--steps", "0"], "argument --steps: must be an integer >= 1, got 0"),
    (["--method", "lora", "--steps", "ten"], "argument --steps: must be an integer, got 'ten'"),
    (["--method", "lora", "--data", "/no/such.tsv"], "--data: data file not found"),
    (["--method", "lora", "--learning-rate", "-1"], "argument --learning-rate: must be a number > 0"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, monkeypatch, extra, message):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        train.main([*extra, "--out", str(out)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_global_batch_must_split_evenly_over_the_processes(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(SystemExit) as exit_info:
        train.main(["--method", "lora", "--batch-size", "8", "--profile", "offline", "--out", str(tmp_path / "o")])
    assert exit_info.value.code == 2
    assert "--batch-size 8 must be divisible by the number of processes (3)" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_the_module_command_exits_2_with_one_line(tmp_path):
    run = _run([sys.executable, "-m", "course_utils.runs.train", "--method", "nope", "--out", str(tmp_path / "o")])
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "python -m course_utils.runs.train: error: --method must be one of "
        "['full', 'lora', 'dora', 'qlora', 'qdora', 'vblora', 'waveft'], got 'nope'"]
    assert not (tmp_path / "o").exists()


def test_data_path_is_a_tsv_file_split_80_20_or_a_folder(tmp_path, monkeypatch):
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    sample = ROOT / "data" / "nsmc_sample.tsv"
    plan = train.resolve(train.build_parser().parse_args(
        ["--method", "lora", "--data", str(sample), "--n-test", "10", "--out", str(tmp_path / "o")]))
    data = train.load_data(plan, seed=0)
    assert plan.batch_size == plan.per_device_batch_size == 8 and plan.steps == 320  # the offline budget (notebook 05)
    assert len(data["test"]) == 10 and set(data["train"].column_names) == {"document", "label"}
    folder = tmp_path / "tsv"
    folder.mkdir()
    for name in ("train.tsv", "test.tsv"):
        (folder / name).write_bytes(sample.read_bytes())
    plan = train.resolve(train.build_parser().parse_args(
        ["--method", "lora", "--data", str(folder), "--n-train", "20", "--out", str(tmp_path / "o")]))
    assert len(train.load_data(plan, seed=0)["train"]) == 20
    (folder / "test.tsv").write_text("id\tdocument\tlabel\n1\tgood\t7\n", encoding="utf-8")
    with pytest.raises(train.UsageError, match="label must be 0 or 1"):
        train.resolve(train.build_parser().parse_args(["--method", "lora", "--data", str(folder), "--out", "o"]))
    assert not (tmp_path / "o").exists()


def test_defaults_are_notebook_05_budgets():
    """One copy: the command's defaults and notebook 05's budgets are both comparison.methods.BUDGETS."""
    from course_utils.comparison import methods
    from course_utils.runs import experiments

    notebook = json.loads((ROOT / "notebooks" / "05_method_comparison.ipynb").read_text(encoding="utf-8"))
    code = "\n".join("".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code")
    assert "from course_utils.comparison.methods import BUDGETS" in code and "BUDGETS = {" not in code
    assert train.BUDGETS is methods.BUDGETS
    assert {k: experiments.EXPERIMENT_BUDGET[k] for k in methods.BUDGETS["offline"]} == methods.BUDGETS["offline"]


# ----------------------------------------------------------------------------------------------------
# Atomic results
# ----------------------------------------------------------------------------------------------------


def test_an_interrupted_write_leaves_the_old_metrics_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    write_json(target, {"accuracy": 0.5})
    with pytest.raises(TypeError):  # not JSON: fails before any file is touched
        write_json(target, {"accuracy": object()})

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_json(target, {"accuracy": 0.9})
    assert json.loads(target.read_text()) == {"accuracy": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


# ----------------------------------------------------------------------------------------------------
# The same QLoRA run on 1 process and on 2 (accelerate launch, DDP over gloo on the CPU)
# ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One QLoRA run in a single process and the same run under `accelerate launch` with 2 CPU processes."""
    base = tmp_path_factory.mktemp("train")
    args = ["-m", "course_utils.runs.train", "--method", "qlora", "--no-dropout", *TINY]
    single = _run([sys.executable, *args, "--out", str(base / "one"), "--record-examples", str(base / "one-ex")])
    double = _run([*ACCELERATE_TWO_CPU, *args, "--out", str(base / "two"), "--record-examples", str(base / "two-ex")])
    return base, single, double


def _metrics(base: Path, name: str) -> dict:
    return json.loads((base / name / "metrics.json").read_text())


def _examples(base: Path, name: str, rank: int) -> dict:
    return json.loads((base / f"{name}-ex" / f"examples-rank{rank}.json").read_text())


def test_single_process_qlora_on_cpu_writes_metrics_and_adapter(runs):
    base, single, _ = runs
    assert single.returncode == 0, single.stderr[-3000:]
    metrics = _metrics(base, "one")
    assert metrics["method"] == "qlora" and metrics["world_size"] == 1 and metrics["steps"] == 3
    assert 0 <= metrics["accuracy"] <= 1 and metrics["eval_loss"] > 0
    assert 0 < metrics["trainable_params"] < metrics["total_params"]
    assert {"torch", "transformers", "peft", "accelerate", "bitsandbytes"} <= set(metrics["versions"])
    assert (base / "one" / "adapter" / "adapter_config.json").is_file()
    assert json.loads(single.stdout.strip().splitlines()[-1])["world_size"] == 1  # stdout: the result line only


def test_two_processes_complete_and_only_the_main_process_writes(runs):
    base, _, double = runs
    assert double.returncode == 0, double.stderr[-3000:]
    metrics = _metrics(base, "two")
    assert metrics["world_size"] == 2 and metrics["distributed_type"] == "MULTI_CPU"
    assert metrics["written_by_process"] == 0
    assert metrics["global_batch_size"] == 8 and metrics["per_device_batch_size"] == 4
    assert sorted(p.name for p in (base / "two").iterdir()) == ["adapter", "metrics.json"]
    assert (base / "two" / "adapter" / "adapter_model.safetensors").is_file()
    assert len([line for line in double.stdout.splitlines() if line.startswith("{\"metrics\"")]) == 1


def test_each_rank_sees_a_disjoint_shard_of_the_same_global_batches(runs):
    base, _, _ = runs
    rank0, rank1 = _examples(base, "two", 0), _examples(base, "two", 1)
    one = _examples(base, "one", 0)
    assert rank0["world_size"] == rank1["world_size"] == 2 and rank0["steps"] == rank1["steps"] == 3
    seen0 = [i for batch in rank0["batches"] for i in batch]
    seen1 = [i for batch in rank1["batches"] for i in batch]
    assert len(seen0) == len(seen1) == 3 * 4 and not set(seen0) & set(seen1)
    # Step k of the 2-process run trains on exactly the 8 examples of step k of the 1-process run.
    for step, (a, b, both) in enumerate(zip(rank0["batches"], rank1["batches"], one["batches"])):
        assert sorted(a + b) == sorted(both), step


def test_one_and_two_processes_agree(runs):
    """Exactly equal: parameter counts, steps, the examples of every step. Within tolerance: accuracy, eval loss."""
    base, _, _ = runs
    one, two = _metrics(base, "one"), _metrics(base, "two")
    for key in ("trainable_params", "total_params", "steps", "global_batch_size", "n_train", "n_test"):
        assert one[key] == two[key], key
    assert abs(one["accuracy"] - two["accuracy"]) <= ACCURACY_TOLERANCE
    assert abs(one["eval_loss"] - two["eval_loss"]) <= EVAL_LOSS_TOLERANCE


# ----------------------------------------------------------------------------------------------------
# Multi-GPU configs (checked to load, not run: no GPU here) and the 4-bit loader they need
# ----------------------------------------------------------------------------------------------------


def test_accelerate_configs_load_with_accelerates_own_classes():
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    kinds = {"ddp.yaml": "MULTI_GPU", "fsdp_qlora.yaml": "FSDP", "deepspeed_zero3_qlora.yaml": "DEEPSPEED"}
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == sorted(kinds)
    for name, kind in kinds.items():
        assert load_config_from_file(str(CONFIGS / name)).distributed_type.value == kind
    parser = launch_command_parser()
    fsdp, _, _ = _validate_launch_command(parser.parse_args(["--config_file", str(CONFIGS / "fsdp_qlora.yaml"),
                                                             "-m", "course_utils.runs.train"]))
    env = prepare_multi_gpu_env(fsdp)
    assert env["ACCELERATE_USE_FSDP"] == "true" and env["FSDP_SHARDING_STRATEGY"] == "FULL_SHARD"
    assert env["FSDP_USE_ORIG_PARAMS"] == "false" and env["FSDP_CPU_RAM_EFFICIENT_LOADING"] == "true"
    zero, _, _ = _validate_launch_command(parser.parse_args(
        ["--config_file", str(CONFIGS / "deepspeed_zero3_qlora.yaml"), "-m", "course_utils.runs.train"]))
    assert zero.use_deepspeed and int(zero.zero_stage) == 3 and zero.zero3_init_flag


def test_sharded_qlora_loader_stores_codes_in_bf16_and_keeps_the_head(tiny_klue_dir):
    import torch

    from course_utils.comparison.run import default_specs

    spec = default_specs("offline", 32, r=4, methods=["qlora"])[0]
    model = train.build_sharded_4bit(spec, str(tiny_klue_dir), torch.bfloat16, seed=0)
    query = model.base_model.model.bert.encoder.layer[0].attention.self.query.base_layer
    assert type(query.weight).__name__ == "Params4bit" and query.weight.dtype == torch.bfloat16
    assert query.weight.numel() == 32 * 32 // 4  # four 4-bit codes per bf16 element
    assert model.base_model.model.classifier.original_module.weight.dtype == torch.bfloat16
    assert model(input_ids=torch.tensor([[2, 5, 6, 3]])).logits.shape == (1, 2)


# ----------------------------------------------------------------------------------------------------
# Memory per GPU
# ----------------------------------------------------------------------------------------------------

PARTS = {"weights": 1000, "weights_4bit": 4127, "adapters": 10, "gradients": 10, "optimizer_states": 20,
         "total": 5167}


def test_ddp_replicates_everything_and_adds_gradient_buckets():
    assert per_gpu_memory(PARTS, 1, "ddp")["total"] == PARTS["total"]  # one process: no DDP wrapper
    eight = per_gpu_memory(PARTS, 8, "ddp")
    assert {k: eight[k] for k in SHARDED_PARTS["zero3"]} == {k: PARTS[k] for k in SHARDED_PARTS["zero3"]}
    assert eight["comm_buckets"] == 10 and eight["total"] == PARTS["total"] + 10
    assert per_gpu_memory(PARTS, 8, "ddp", bucket_view=True)["total"] == PARTS["total"]


def test_zero_stages_and_fsdp_shard_what_the_docs_say():
    z1, z2 = per_gpu_memory(PARTS, 2, "zero1"), per_gpu_memory(PARTS, 2, "zero2")
    assert (z1["optimizer_states"], z1["gradients"], z1["weights"]) == (10, 10, 1000)
    assert (z2["optimizer_states"], z2["gradients"], z2["weights"]) == (10, 5, 1000)
    fsdp = per_gpu_memory(PARTS, 4, "fsdp")
    assert fsdp == per_gpu_memory(PARTS, 4, "zero3")
    assert (fsdp["weights"], fsdp["adapters"], fsdp["gradients"]) == (250, 3, 3)  # shards round up
    state = round(4127 * quant_state_fraction())
    assert fsdp["weights_4bit"] == -(-(4127 - state) // 4) + state  # the quantization state stays whole
    assert 0.03 < quant_state_fraction() < 0.032  # 0.127 of 4.127 bits at blocksize 64 with double quant
    assert per_gpu_memory(PARTS, 4, "fsdp", quant_storage="uint8")["weights_4bit"] == 4127


def test_per_gpu_memory_rejects_bad_arguments():
    with pytest.raises(ValueError, match="strategy must be one of"):
        per_gpu_memory(PARTS, 2, "tensor-parallel")
    with pytest.raises((TypeError, ValueError), match="world_size"):
        per_gpu_memory(PARTS, 0, "ddp")
    with pytest.raises(ValueError, match="missing \\['adapters'\\]"):
        per_gpu_memory({k: v for k, v in PARTS.items() if k != "adapters"}, 2)


def test_per_gpu_table_for_llama_7b():
    table = per_gpu_table("llama-7b", world_sizes=(1, 8))
    # DDP divides nothing; from 2 GPUs on it adds its gradient buckets (full FT: as large as the bf16 gradients,
    # 13.48e9 bytes); the table is in GiB.
    assert table.loc["full / DDP", "8 GPU"] == pytest.approx(table.loc["full / DDP", "1 GPU"] + 13.48e9 / 2**30,
                                                             rel=1e-3)
    assert table.loc["full / FSDP", "8 GPU"] == pytest.approx(table.loc["full / FSDP", "1 GPU"] / 8, rel=1e-6)
    assert table.loc["qlora / FSDP", "8 GPU"] < table.loc["qlora / DDP", "8 GPU"] / 4
