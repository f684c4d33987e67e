"""Command-line training: the notebooks' ``train_and_evaluate``, in one process or many (``accelerate launch``).

    python -m course_utils.runs.train --method lora --out build/lora
    accelerate launch --num_processes 2 -m course_utils.runs.train --method qlora --out build/qlora

The same script runs unchanged under ``accelerate launch``: the ``transformers.Trainer`` inside
:func:`course_utils.runtime.training.train_and_evaluate` shards every batch across the processes (DDP) and gathers the
predictions for the accuracy. ``--batch-size`` is the *global* batch (all processes together), so a run on 1 or on
N processes takes the same optimizer steps over the same examples. Only the main process writes ``--out``:
``metrics.json`` (written last, atomically) and the adapter (``adapter/``; the whole model for ``--method full``).
Methods are built by :func:`course_utils.comparison.run.build_model`, exactly as in notebook 05.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from course_utils.comparison.methods import BUDGETS, COMPARED_METHODS
from course_utils.runs.command import (
    METRICS_FILE,
    UsageError,
    check_model,
    check_out,
    finish,
    int_at_least,
    log,
    move_into_place,
    positive_float,
    run_command,
)
from course_utils.runtime.cli import CommandParser
from course_utils.runtime.env import datasets_offline, hub_offline, world_size
from course_utils.runtime.io import versions
from course_utils.runtime.training import EXAMPLE_ID, ExampleRecorder
from course_utils.runtime.validate import choice

#: Per-profile defaults: the budgets of notebook 05 (course_utils.comparison.methods.BUDGETS).
DATA_SOURCES = ("bundled-en", "nsmc")


def compared_methods() -> tuple[str, ...]:
    """The methods notebook 05 compares."""
    return COMPARED_METHODS


def build_parser() -> argparse.ArgumentParser:
    """The command line; profile-dependent defaults are None here and filled in by :func:`resolve`."""
    parser = CommandParser(prog="python -m course_utils.runs.train", description=__doc__.split("\n\n")[0],
                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--method", required=True, help=f"one of {', '.join(compared_methods())}")
    parser.add_argument("--model", help="hub id or local folder (default: the profile's model)")
    parser.add_argument("--data", help="bundled-en, nsmc, or a TSV path: a file (split 80/20) or a folder with "
                        "train.tsv and test.tsv, each id<TAB>document<TAB>label (default: the profile's data)")
    parser.add_argument("--profile", choices=tuple(BUDGETS),
                        help="budget and defaults (default: $COURSE_PROFILE, else detected)")
    parser.add_argument("--steps", type=int_at_least(1), help="optimizer steps (default: the profile's)")
    parser.add_argument("--seed", type=int_at_least(0), default=0, help="seed of model head, data order, dropout")
    parser.add_argument("--r", type=int_at_least(1), default=8, help="adapter rank (LoRA family; WaveFT budget)")
    parser.add_argument("--batch-size", type=int_at_least(1),
                        help="GLOBAL batch: examples per step over all processes (default: the profile's)")
    parser.add_argument("--max-length", type=int_at_least(8), help="tokens per review (default: the profile's)")
    parser.add_argument("--n-train", type=int_at_least(1), help="training examples (default: the profile's)")
    parser.add_argument("--n-test", type=int_at_least(1), help="test examples (default: the profile's)")
    parser.add_argument("--learning-rate", type=positive_float, help="default: the course's rate for the method")
    parser.add_argument("--no-dropout", action="store_true",
                        help="set every dropout to 0 (then 1 and N processes give the same model up to rounding)")
    parser.add_argument("--out", required=True, help="output folder: metrics.json and the adapter")
    parser.add_argument("--record-examples", metavar="DIR",
                        help="each process writes the training example ids it got, per step, to "
                             "DIR/examples-rank<N>.json (to check the data sharding)")
    return parser


@dataclass(frozen=True)
class Plan:
    """A validated run: everything decided before any model is loaded or anything is written."""

    method: str
    model: str
    data: str
    profile: str
    steps: int
    seed: int
    r: int
    batch_size: int  # global: all processes together
    per_device_batch_size: int
    world_size: int
    max_length: int
    n_train: int | None  # None: the whole split
    n_test: int | None
    learning_rate: float | None  # None: the course's rate for the method (compare.default_specs)
    no_dropout: bool
    out: Path
    record_examples: Path | None


def _check_data(data: str) -> str:
    """bundled-en, nsmc (needs the network), or an NSMC-format TSV file / folder, validated line by line."""
    from course_utils.runtime.data import DataFormatError, validate_tsv

    if data in DATA_SOURCES:
        if data == "nsmc" and (hub_offline() or datasets_offline()):
            raise UsageError("--data nsmc needs the network (HF_HUB_OFFLINE/HF_DATASETS_OFFLINE is set); "
                             "use bundled-en or a TSV path")
        return data
    path = Path(data).expanduser()
    files = [path / "train.tsv", path / "test.tsv"] if path.is_dir() else [path]
    try:
        for file in files:
            validate_tsv(file)
    except (FileNotFoundError, DataFormatError) as err:
        raise UsageError(f"--data: {err} (allowed: {', '.join(DATA_SOURCES)} or a TSV file/folder)") from None
    return str(path.resolve())


def world_size_from_env() -> int:
    """Processes of this launch: WORLD_SIZE as accelerate launch / torchrun set it, else 1."""
    return world_size()


def resolve(args: argparse.Namespace) -> Plan:
    """Check every argument and fill the profile's defaults; raise UsageError before anything is written."""
    try:
        choice(args.method, compared_methods(), "--method")
    except ValueError as err:
        raise UsageError(str(err)) from None
    from course_utils.runtime.env import detect_profile, make_profile

    profile = make_profile(args.profile, device="cpu") if args.profile else detect_profile()
    budget = BUDGETS[profile.name]
    out = check_out(args.out)
    world = world_size_from_env()
    batch = args.batch_size or budget["batch_size"]
    if batch % world:
        raise UsageError(f"--batch-size {batch} must be divisible by the number of processes ({world})")
    return Plan(
        method=args.method, model=check_model(args.model or profile.model_id),
        data=_check_data(args.data or profile.data_source), profile=profile.name,
        steps=args.steps or budget["steps"], seed=args.seed, r=args.r, batch_size=batch,
        per_device_batch_size=batch // world, world_size=world,
        max_length=args.max_length or budget["max_length"],
        n_train=args.n_train or budget["n_train"], n_test=args.n_test or budget["n_test"],
        learning_rate=args.learning_rate, no_dropout=args.no_dropout, out=out,
        record_examples=Path(args.record_examples) if args.record_examples else None,
    )


def load_data(plan: Plan, seed: int):
    """train/test DatasetDict as notebook 05 builds it (load_course_data), or from the TSV path."""
    from dataclasses import replace

    from datasets import DatasetDict

    from course_utils.runtime.data import drop_empty, load_course_data, read_tsv_splits, subsample
    from course_utils.runtime.env import make_profile, with_sizes

    if plan.data in DATA_SOURCES:
        profile = replace(with_sizes(make_profile(plan.profile, device="cpu"), n_train=plan.n_train,
                                     n_test=plan.n_test), data_source=plan.data)
        data = load_course_data(profile, seed=seed)
        return DatasetDict({"train": data["train"], "test": data["test"]})
    path = Path(plan.data)
    if path.is_dir():
        data = drop_empty(read_tsv_splits({"train": path / "train.tsv", "test": path / "test.tsv"}))
    else:
        whole = drop_empty(read_tsv_splits({"train": path}))["train"]
        data = whole.train_test_split(test_size=0.2, seed=seed, stratify_by_column="label")
    return DatasetDict({"train": subsample(data["train"], plan.n_train, seed),
                        "test": subsample(data["test"], plan.n_test, seed)})


def build_sharded_4bit(spec, model_id: str, dtype, seed: int):
    """QLoRA/QDoRA for FSDP or DeepSpeed ZeRO-3: 4-bit codes stored in `dtype` (``bnb_4bit_quant_storage``).

    FSDP flattens a unit's tensors into one of a single float dtype, so the packed NF4 codes are stored as `dtype`,
    the dtype of every other weight (peft's guide "Use PEFT QLoRA and FSDP"; bitsandbytes' "FSDP-QLoRA"). No
    ``device_map`` (the engine places the shards) and no fp32 upcast (``prepare_model_for_kbit_training``).
    """
    from peft import get_peft_model

    from course_utils.comparison.run import peft_config
    from course_utils.runtime.bnb_cpu import use_portable_path
    from course_utils.runtime.env import seed_everything
    from course_utils.runtime.models import load_classifier, nf4_config

    seed_everything(seed)
    quantization = nf4_config(dtype)
    quantization.bnb_4bit_quant_storage = dtype
    base = load_classifier(model_id, dtype=dtype, quantization_config=quantization)
    use_portable_path(base)  # the same CPU path as load_classifier_4bit (course_utils.runtime.bnb_cpu)
    return get_peft_model(base, peft_config(spec))


def _log(message: str, main: bool = True) -> None:
    """Progress on stderr (main process only), so stdout carries just the result line."""
    log("course_utils.runs.train", message, main)


def run(plan: Plan, started: float | None = None) -> dict:
    """Build the method's model, train and evaluate it (every process), write the results (main process).

    ``seconds`` in the record: wall time of the main process from `started` (default: now) to the results.
    """
    started = time.perf_counter() if started is None else started
    import torch
    from accelerate import PartialState
    from transformers import AutoConfig
    from transformers.utils import logging as hf_logging

    from course_utils.comparison.run import build_model, default_specs
    from course_utils.runtime.env import compute_dtype
    from course_utils.runtime.models import load_tokenizer
    from course_utils.runtime.training import train_and_evaluate

    # Joins the process group accelerate launch set up: NCCL on GPUs; gloo on a machine without one (`--multi_gpu`
    # there starts N CPU processes, while `--cpu` alone starts one unless MPI is configured).
    state = PartialState(cpu=not torch.cuda.is_available())
    main = state.is_main_process
    if state.num_processes != plan.world_size:
        raise RuntimeError(f"WORLD_SIZE={plan.world_size} but accelerate sees {state.num_processes} processes")
    hf_logging.set_verbosity_error()
    device = "cpu" if state.device.type == "cpu" else str(state.device)  # MULTI_CPU reports cpu:0
    dtype = compute_dtype(device)
    hidden = AutoConfig.from_pretrained(plan.model).hidden_size
    spec = default_specs(plan.profile, hidden, r=plan.r, methods=[plan.method])[0]
    if plan.learning_rate is not None:
        spec = type(spec)(spec.method, plan.learning_rate, spec.options)
    sharded = state.distributed_type.value in ("FSDP", "DEEPSPEED")
    _log(f"{spec.label} on {plan.model} | {state.num_processes} process(es), {state.distributed_type.value}, "
         f"{device} | {plan.steps} steps x global batch {plan.batch_size}", main)
    with state.main_process_first():  # the main process fills the datasets cache, the others read it
        data = load_data(plan, plan.seed)
        tokenizer = load_tokenizer(plan.model)
    tokenizer.truncation_side = "left"  # keep the end of a long review, as notebook 05 does
    if spec.quantized and sharded:
        storage = dtype if dtype == torch.bfloat16 else torch.float32
        model = build_sharded_4bit(spec, plan.model, storage, plan.seed)
    else:
        model = build_model(spec, plan.model, device, dtype, plan.seed)
        placed = next(model.parameters()).device
        if placed != torch.device(device) and not (placed.type == "cuda" and device == "cuda"):
            raise RuntimeError(f"the model was placed on {placed}, this process needs {device}")
    if plan.no_dropout:  # every dropout of BERT and of the peft adapters is an nn.Dropout module
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
    _log(f"data: train={len(data['train'])}, test={len(data['test'])}; learning rate {spec.learning_rate:g}", main)
    extra: dict = {}
    if plan.record_examples is not None:
        data["train"] = data["train"].add_column(EXAMPLE_ID, list(range(len(data["train"]))))
        recorder = ExampleRecorder(tokenizer, plan.record_examples / f"examples-rank{state.process_index}.json",
                                   state.process_index)
        extra = {"data_collator": recorder, "callbacks": [recorder]}
    staging = plan.out / ".adapter.partial"  # the same path in every process; only the main process writes it
    with tempfile.TemporaryDirectory(prefix="course-train-") as scratch, contextlib.redirect_stdout(sys.stderr):
        result = train_and_evaluate(
            model, tokenizer, data, method=plan.method, learning_rate=spec.learning_rate, max_steps=plan.steps,
            batch_size=plan.per_device_batch_size, max_length=plan.max_length, seed=plan.seed,
            eval_split="test", output_dir=scratch, save_dir=staging, **extra)
    saved = plan.out / ("model" if plan.method == "full" else "adapter")
    metrics = {
        "method": plan.method, "label": spec.label, "model": plan.model, "data": plan.data, "profile": plan.profile,
        **{k: v for k, v in result.as_dict().items() if k not in ("method", "peak_memory_mb")},
        "seconds": None, "distributed_type": state.distributed_type.value, "device": device,
        "global_batch_size": plan.batch_size, "per_device_batch_size": plan.per_device_batch_size,
        "max_length": plan.max_length, "n_train": len(data["train"]), "n_test": len(data["test"]),
        "seed": plan.seed, "r": plan.r, "learning_rate": spec.learning_rate, "options": spec.options,
        "dropout": "off" if plan.no_dropout else "as configured",
        "peak_memory_mb_main_process": result.peak_memory_mb, "saved": saved.name,
        "written_by_process": state.process_index, "versions": versions()}
    if main:
        move_into_place(staging, saved)
    return finish(state, metrics, plan.out, started,
                  f"accuracy {result.accuracy:.3f}, eval loss {result.eval_loss:.4f} -> {plan.out}", _log)


def main(argv: list[str] | None = None) -> int:
    """Parse, validate (exit 2 with one line on bad input, nothing written), train; print the metrics path."""
    return run_command(argv, build_parser, resolve, run, lambda plan, metrics: {
        "metrics": str(plan.out / METRICS_FILE), "accuracy": metrics["accuracy"],
        "world_size": metrics["world_size"], "seconds": metrics["seconds"]})

if __name__ == "__main__":
    sys.exit(main())
