"""Stored notebook runs (course_utils.runs.stored): demo shows them, offline trains and checks them, colab ignores
them."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from course_utils.runs import stored
from course_utils.runtime.env import make_profile
from course_utils.runtime.training import TrainResult

ROOT = Path(__file__).resolve().parent.parent
RESULT = TrainResult(method="lora", trainable_params=100, total_params=1000, train_seconds=2.0,
                     samples_per_second=8.0, steps=30, peak_memory_mb=1.0, peak_memory_kind="rss",
                     accuracy=0.75, eval_loss=0.5, eval_split="test")


@pytest.fixture()
def store(tmp_path, monkeypatch) -> Path:
    """A store holding RESULT under 'run'."""
    monkeypatch.delenv(stored.WRITE_ENV, raising=False)
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"run": {"result": RESULT.as_dict(), "made": {
        "profile": "offline", "date": "2026-11-29 12:00 UTC", "commit": "abcdef0123456789", "versions": {},
        "command": "make stored-runs"}}}), encoding="utf-8")
    return path


def profile(name: str):
    """The named profile on CPU."""
    return make_profile(name, device="cpu")


def never():
    """A train callback the demo profile must not call."""
    raise AssertionError("demo must not train")


def test_demo_shows_the_stored_result_without_training(store, capsys):
    shown = stored.stored_run("run", profile("demo"), never, path=store)
    assert shown == RESULT
    line = capsys.readouterr().out
    assert "저장된 결과" in line and "2026-11-29 12:00 UTC" in line and "abcdef0123" in line and "offline" in line


def test_demo_without_a_stored_result_says_what_to_do(store):
    with pytest.raises(FileNotFoundError, match="make stored-runs"):
        stored.stored_run("missing", profile("demo"), never, path=store)


def test_offline_trains_and_accepts_a_result_within_tolerance(store):
    close = replace(RESULT, accuracy=RESULT.accuracy + 2 / 240, train_seconds=9.0)
    assert stored.stored_run("run", profile("offline"), lambda: close, path=store) is close


@pytest.mark.parametrize("change", [{"accuracy": 0.75 + 4 / 240}, {"steps": 31}, {"trainable_params": 101}])
def test_offline_fails_under_strict_checks_when_the_code_drifted_from_the_store(store, change, monkeypatch):
    monkeypatch.setenv("COURSE_STRICT_CHECKS", "1")
    with pytest.raises(AssertionError, match="make stored-runs"):
        stored.stored_run("run", profile("offline"), lambda: replace(RESULT, **change), path=store)


@pytest.mark.parametrize("change", [{"steps": 31}, {"trainable_params": 101}])
def test_a_student_run_still_fails_when_the_configuration_differs(store, change, monkeypatch):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)
    with pytest.raises(AssertionError, match="no longer matches"):
        stored.stored_run("run", profile("offline"), lambda: replace(RESULT, **change), path=store)


def test_a_student_run_shows_an_accuracy_drift_instead_of_raising(store, monkeypatch, capsys):
    monkeypatch.delenv("COURSE_STRICT_CHECKS", raising=False)
    far = replace(RESULT, accuracy=0.75 + 4 / 240)
    assert stored.stored_run("run", profile("offline"), lambda: far, path=store) is far
    assert "0.017 다릅니다" in capsys.readouterr().out
    same = replace(RESULT, train_seconds=9.0)
    assert stored.stored_run("run", profile("offline"), lambda: same, path=store) is same
    assert capsys.readouterr().out == ""  # nothing to explain when the numbers agree


def test_offline_writes_the_store_when_asked(store, monkeypatch):
    monkeypatch.setenv(stored.WRITE_ENV, "1")
    new = replace(RESULT, accuracy=0.9)
    stored.stored_run("run", profile("offline"), lambda: new, path=store)
    stored.stored_run("other", profile("offline"), lambda: new, path=store)
    saved = stored.load_store(store)
    assert saved["run"]["result"]["accuracy"] == 0.9 and set(saved) == {"run", "other"}
    assert saved["other"]["made"]["profile"] == "offline" and saved["other"]["made"]["versions"]["torch"]


def test_gpu_profiles_train_and_leave_the_store_alone(store, monkeypatch):
    monkeypatch.setenv(stored.WRITE_ENV, "1")
    colab = replace(profile("offline"), name="colab")
    far = replace(RESULT, accuracy=0.1)
    assert stored.stored_run("run", colab, lambda: far, path=store) is far       # no check, no write
    assert stored.load_store(store)["run"]["result"]["accuracy"] == 0.75


def test_bad_name_is_named():
    with pytest.raises(ValueError, match="name must be"):
        stored.stored_run("", profile("demo"), never)


def test_the_committed_store_holds_every_run_the_notebooks_ask_for():
    names = set()
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        text = notebook.read_text(encoding="utf-8")
        names |= set(re.findall(r'stored_run\(\\"([^"\\]+)\\"', text))
        names |= {f"04_{m}" for m in ("lora", "qlora")} if 'stored_run(f\\"04_{name.lower()}\\"' in text else set()
    assert names == {"00_first_lora", "04_lora", "04_qlora"}
    store = stored.load_store()
    assert set(store) == names
    assert store["00_first_lora"]["result"]["steps"] == 100 and store["00_first_lora"]["result"]["accuracy"] > 0.7
    assert store["04_lora"]["result"]["steps"] == store["04_qlora"]["result"]["steps"] == 30
    assert all(entry["made"]["profile"] == "offline" for entry in store.values())


# --- notebook 06: stored adapters -------------------------------------------------------------------------------------

def _tiny_lora(seed: int = 0):
    import torch
    from peft import LoraConfig, get_peft_model

    from course_utils.llm.models import TINY_MODEL_DIR, load_causal_lm

    torch.manual_seed(seed)
    return get_peft_model(load_causal_lm(str(TINY_MODEL_DIR)),
                          LoraConfig(task_type="CAUSAL_LM", r=2, target_modules=["q_proj"], init_lora_weights=False))


def test_a_stored_adapter_is_written_offline_and_loaded_by_the_demo(tmp_path, monkeypatch, capsys):
    import torch

    trained, fresh = _tiny_lora(seed=1), _tiny_lora(seed=2)
    monkeypatch.setenv(stored.WRITE_ENV, "1")
    calls = []
    assert stored.stored_adapter("06_probe", profile("offline"), trained, lambda: calls.append(1) or "out",
                                 folder=tmp_path) == "out" and calls == [1]
    config = json.loads((tmp_path / "06_probe" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "course_utils/llm/ko_tiny_llama"  # no machine path
    assert not (tmp_path / "06_probe" / "README.md").exists()

    def lora(model):
        return {n: p for n, p in model.named_parameters() if "lora_" in n}

    assert not all(torch.equal(a, b) for a, b in zip(lora(trained).values(), lora(fresh).values()))
    assert stored.stored_adapter("06_probe", profile("demo"), fresh, lambda: 1 / 0, folder=tmp_path) is None
    assert all(torch.equal(a, b) for a, b in zip(lora(trained).values(), lora(fresh).values()))
    assert "미리 학습해 둔 어댑터" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="make stored-runs"):
        stored.stored_adapter("06_missing", profile("demo"), fresh, lambda: None, folder=tmp_path)
    with pytest.raises(ValueError, match="folder name"):
        stored.stored_adapter("a/b", profile("demo"), fresh, lambda: None, folder=tmp_path)


def test_the_committed_adapters_load_into_notebook_06s_models():
    from course_utils.llm.models import TINY_MODEL_DIR, load_causal_lm
    from course_utils.llm.sft import add_lora

    for name, rank in (("06_aspect", 16), ("06_sentiment", 8)):
        model = add_lora(load_causal_lm(str(TINY_MODEL_DIR)), rank)
        assert stored.stored_adapter(name, profile("demo"), model, lambda: 1 / 0) is None
