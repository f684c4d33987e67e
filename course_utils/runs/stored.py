"""Stored results of a notebook's long training run, so the instructor's demo profile can show them at once.

The offline profile trains for real and compares its result with the store: a different configuration (steps,
parameter counts) raises, an accuracy a few reviews off is shown (it depends on the CPU and thread count) and
raises only under the test suite's strict checks (`course_utils.runtime.env.strict_checks`); the demo profile shows the
stored result, labelled with how and when it was made; colab/full never use the store.

    make stored-runs     # = python -m course_utils stored-runs notebooks/00_*.ipynb notebooks/04_*.ipynb (offline)
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

from course_utils.runtime.cli import CommandParser
from course_utils.runtime.env import PROFILE_ENV, WRITE_STORED_ENV, Profile, writing_stored
from course_utils.runtime.execute import execute
from course_utils.runtime.io import versions, write_json
from course_utils.runtime.paths import RESULTS_DIR
from course_utils.runtime.training import TrainResult

STORE_PATH = RESULTS_DIR / "notebook_runs.json"
WRITE_ENV = WRITE_STORED_ENV  # set by `make stored-runs`: the offline run replaces the stored result
#: Largest |live - stored| accuracy the strict checks accept: 3 of the 240 test reviews (float rounding differs
#: between CPUs and thread counts; measured spread in docs).
TOLERANCE = 3 / 240
#: Fields that must match exactly between a live run and its stored result.
EXACT = ("steps", "trainable_params", "total_params", "eval_split")


def load_store(path: str | Path = STORE_PATH) -> dict:
    """{name: {"result": TrainResult fields, "made": provenance}}; empty when the file does not exist."""
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def provenance(profile: Profile) -> dict:
    """How a stored result was made: profile, date, commit, library versions."""
    from course_utils.runs.experiments import git_commit

    return {"profile": profile.name, "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": git_commit(), "versions": versions(), "command": "make stored-runs"}


def compare(name: str, live: TrainResult, stored: dict, tolerance: float = TOLERANCE, strict: bool = True) -> float:
    """|live - stored| accuracy; raises naming `name` and `make stored-runs` when the configuration differs, or
    (with `strict`) when the accuracy is more than `tolerance` off."""
    wrong = {k: (getattr(live, k), stored[k]) for k in EXACT if getattr(live, k) != stored[k]}
    gap = abs(live.accuracy - stored["accuracy"])
    if wrong or (strict and gap > tolerance):
        raise AssertionError(f"stored run {name!r} no longer matches the code (live, stored): {wrong or ''} "
                             f"accuracy {live.accuracy:.4f} vs {stored['accuracy']:.4f} (tolerance {tolerance:.4f}); "
                             "run `make stored-runs` and commit results/notebook_runs.json")
    return gap


def stored_run(name: str, profile: Profile, train: Callable[[], TrainResult],
               path: str | Path = STORE_PATH) -> TrainResult:
    """demo: the stored result of `name`; offline: train, then check against (or, with $COURSE_WRITE_STORED, write)
    the store; colab/full: train."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if profile.name == "demo":
        store = load_store(path)
        if name not in store:
            raise FileNotFoundError(f"{Path(path).name}에 '{name}'의 저장된 결과가 없습니다. "
                                    "make stored-runs를 실행하거나 COURSE_PROFILE=offline으로 직접 학습하세요.")
        made = store[name]["made"]
        print(f"데모 프로필: 학습하지 않고 저장된 결과를 보여 줍니다 ({made['profile']} 프로필로 {made['date']}에 "
              f"{made['command']}로 만듦, 커밋 {made['commit'][:10]}). 직접 학습하려면 COURSE_PROFILE=offline.")
        return TrainResult(**store[name]["result"])
    live = train()
    if profile.name != "offline":
        return live
    store = load_store(path)  # read after training: other runs may have written meanwhile
    if writing_stored():
        write_json(path, {**store, name: {"result": live.as_dict(), "made": provenance(profile)}})
    elif name in store:
        from course_utils.runtime.env import strict_checks

        gap = compare(name, live, store[name]["result"], strict=strict_checks())
        if gap > 0:
            print(f"미리 학습해 둔 같은 설정의 결과와 정확도가 {gap:.3f} 다릅니다. CPU 종류와 스레드 수에 따라 "
                  "부동소수점 덧셈 순서가 달라져 경계에 있던 예측 몇 개가 바뀔 수 있습니다.")
    return live


def main(argv: list[str] | None = None) -> int:
    """CLI: run notebooks in the offline profile with $COURSE_WRITE_STORED=1, which rewrites their stored runs."""
    import nbformat

    parser = CommandParser(prog="python -m course_utils stored-runs", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    env = {PROFILE_ENV: "offline", WRITE_ENV: "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    for notebook in args.notebooks:
        execute(nbformat.read(notebook, as_version=4), notebook.parent, timeout=1800, env=env)
        print(f"ran {notebook.name}")
    for name, entry in load_store().items():
        print(f"{name}: accuracy {entry['result']['accuracy']:.4f}, {entry['result']['steps']} steps, "
              f"{entry['made']['date']}")
    return 0


ADAPTERS_DIR = RESULTS_DIR / "adapters"


def stored_adapter(name: str, profile: Profile, model, train: Callable[[], object],
                   folder: str | Path = ADAPTERS_DIR) -> object | None:
    """Notebook 06's adapters. demo: load the stored weights of `name` into `model`'s active adapter instead of
    training (returns None); offline: train (with $COURSE_WRITE_STORED, then save the adapter as `name`);
    colab/full: train. Returns what `train` returned."""
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"name must be a non-empty folder name, got {name!r}")
    path = Path(folder) / name
    if profile.name == "demo":
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        weights = path / "adapter_model.safetensors"
        if not weights.is_file():
            raise FileNotFoundError(f"저장된 어댑터 '{name}'이 없습니다. make stored-runs를 실행하거나 "
                                    "COURSE_PROFILE=offline으로 직접 학습하세요.")
        set_peft_model_state_dict(model, load_file(weights), adapter_name=model.active_adapter)
        print("데모 프로필: 학습하지 않고 오프라인 프로필로 미리 학습해 둔 어댑터를 불러왔습니다. "
              "직접 학습하려면 COURSE_PROFILE=offline.")
        return None
    result = train()
    if profile.name == "offline" and writing_stored():
        _save_adapter(model, path)
    return result


def _save_adapter(model, path: Path) -> None:
    """The adapter's weights and config, with the base model named relative to the repository (no machine path)."""
    from course_utils.runtime.paths import ROOT

    model.save_pretrained(path)
    (path / "README.md").unlink(missing_ok=True)  # peft's empty model-card template
    config_path = path / "adapter_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    base = Path(config.get("base_model_name_or_path") or "")
    if base.is_absolute() and base.is_relative_to(ROOT):
        config["base_model_name_or_path"] = base.relative_to(ROOT).as_posix()
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
