"""Stored preset answers (course_utils.runs.preset_answers): demo reads them, every other profile computes live,
and every committed answer equals the live computation."""

from __future__ import annotations

import json

import pytest

from course_utils.memory import estimate as memory
from course_utils.runs import preset_answers
from course_utils.runs.preset_answers import load_answers, recompute
from course_utils.runtime import answers as seam
from course_utils.runtime.answers import servable

CALLS: list[str] = []


@servable
def toy(preset: str, factor: int = 1) -> dict:
    """A cheap remembered function: counts its live calls."""
    CALLS.append(preset)
    return {"n": len(preset) * factor}


@pytest.fixture()
def answers(tmp_path, monkeypatch):
    """A fresh answers file in tmp_path, the demo profile, no write mode; the live-call log emptied."""
    path = tmp_path / "answers.json"
    monkeypatch.setattr(preset_answers, "ANSWERS_PATH", path)
    monkeypatch.setenv("COURSE_PROFILE", "demo")
    monkeypatch.delenv(preset_answers.WRITE_ENV, raising=False)
    preset_answers._loaded.clear()
    preset_answers.install()  # what runs.session.setup does in the demo profile
    CALLS.clear()
    yield path
    seam.uninstall()
    preset_answers._loaded.clear()


def write_mode(monkeypatch, on: bool) -> None:
    """Switch $COURSE_WRITE_PRESETS and forget what was read."""
    if on:
        monkeypatch.setenv(preset_answers.WRITE_ENV, "1")
    else:
        monkeypatch.delenv(preset_answers.WRITE_ENV, raising=False)
    preset_answers._loaded.clear()


def test_write_then_demo_reads_without_computing(answers, monkeypatch):
    write_mode(monkeypatch, True)
    assert toy("llama-7b", factor=2) == {"n": 16}
    stored = json.loads(answers.read_text(encoding="utf-8"))
    assert stored["meta"]["versions"] == preset_answers.library_versions()
    (entry,) = stored["answers"].values()
    assert entry["arguments"] == {"preset": "llama-7b", "factor": 2} and entry["value"] == {"n": 16}
    write_mode(monkeypatch, False)
    CALLS.clear()
    assert toy("llama-7b", factor=2) == {"n": 16}
    assert CALLS == []  # answered from the file
    assert toy("llama-7b", 2) == {"n": 16} and toy(preset="llama-7b", factor=2) == {"n": 16}  # same call by name
    assert CALLS == []
    assert toy("llama-7b", factor=3) == {"n": 24} and CALLS == ["llama-7b"]  # other arguments: a miss, computed


def test_answer_is_a_copy(answers, monkeypatch):
    write_mode(monkeypatch, True)
    toy("llama-13b")
    write_mode(monkeypatch, False)
    first = toy("llama-13b")
    first["n"] = -1
    assert toy("llama-13b") == {"n": 9}


@pytest.mark.parametrize("profile", ["offline", "colab", "full"])
def test_other_profiles_ignore_the_file(answers, monkeypatch, profile):
    write_mode(monkeypatch, True)
    toy("llama-33b")
    write_mode(monkeypatch, False)
    key = next(iter(json.loads(answers.read_text(encoding="utf-8"))["answers"]))
    payload = json.loads(answers.read_text(encoding="utf-8"))
    payload["answers"][key]["value"] = {"n": 999}  # a wrong stored answer: only demo would show it
    answers.write_text(json.dumps(payload), encoding="utf-8")
    preset_answers._loaded.clear()
    assert toy("llama-33b") == {"n": 999}
    monkeypatch.setenv("COURSE_PROFILE", profile)
    assert toy("llama-33b") == {"n": 9}


def test_other_library_versions_are_ignored(answers, monkeypatch):
    write_mode(monkeypatch, True)
    toy("llama-65b")
    write_mode(monkeypatch, False)
    payload = json.loads(answers.read_text(encoding="utf-8"))
    payload["meta"]["versions"] = {**payload["meta"]["versions"], "peft": "0.0.1"}
    answers.write_text(json.dumps(payload), encoding="utf-8")
    preset_answers._loaded.clear()
    CALLS.clear()
    assert load_answers() == {}
    assert toy("llama-65b") == {"n": 9} and CALLS == ["llama-65b"]


def test_key_covers_the_preset_definition(monkeypatch):
    from dataclasses import replace

    from course_utils.runtime import presets

    before = preset_answers.call_key(toy, {"preset": "llama-7b"})
    assert preset_answers.call_key(toy, {"preset": "llama-7b"}) == before
    assert preset_answers.call_key(toy, {"preset": "llama-13b"}) != before
    assert preset_answers.call_key(toy, {"preset": "llama-7b", "factor": 2}) != before
    changed = {**presets.PRESETS, "llama-7b": replace(presets.PRESETS["llama-7b"], r=16)}
    monkeypatch.setattr(presets, "PRESETS", changed)
    assert preset_answers.call_key(toy, {"preset": "llama-7b"}) != before  # a changed preset: not from the file


def test_keyword_and_wrong_calls_behave_as_the_function(answers, monkeypatch):
    """The decorated functions accept every way of calling them and fail as before."""
    live = memory.estimate_training_memory("klue/bert-base", "lora")
    assert memory.estimate_training_memory(model_or_sizes="klue/bert-base", method="lora") == live
    with pytest.raises(TypeError, match="model_or_sizes"):
        memory.estimate_training_memory(method="lora")
    with pytest.raises(TypeError):
        toy()
    assert memory.checkpointed_activation_bytes(model="klue/bert-base", seq_len=128) > 0


def test_demo_estimate_skips_the_model(answers, monkeypatch):
    """A stored memory estimate is returned without building the meta LLaMA (that is where the time goes)."""
    write_mode(monkeypatch, True)
    live = memory.estimate_training_memory("klue/bert-base", "qlora", "bf16")
    write_mode(monkeypatch, False)

    def no_model(*args, **kwargs):
        raise AssertionError("the demo profile must not build the model for a stored answer")

    monkeypatch.setattr(memory, "preset_model", no_model)
    assert memory.estimate_training_memory("klue/bert-base", "qlora", "bf16") == live
    with pytest.raises(AssertionError, match="must not build"):
        memory.estimate_training_memory("klue/bert-base", "lora", "bf16")  # not stored: computed live


def test_errors_are_not_stored(answers, monkeypatch):
    write_mode(monkeypatch, True)
    with pytest.raises(ValueError, match="method"):
        memory.estimate_training_memory("llama-7b", "adapter")
    assert not answers.exists()


def test_committed_answers_equal_the_live_computation():
    """Every committed answer, recomputed by the real function, is equal (only under the versions it was made with;
    with other versions the file is ignored and demo computes live)."""
    preset_answers._loaded.clear()
    payload = json.loads(preset_answers.ANSWERS_PATH.read_text(encoding="utf-8"))
    assert payload["answers"], "results/preset_answers.json holds no answers: run `make stored-runs`"
    if payload["meta"]["versions"] != preset_answers.library_versions():
        assert load_answers() == {}
        return
    for key, entry in payload["answers"].items():
        assert preset_answers.call_key(seam.FUNCTIONS[entry["function"]], entry["arguments"]) == key
        assert recompute(entry) == entry["value"], entry


def test_committed_answers_cover_the_notebooks_tables():
    """The preset tables notebooks 04 and 05 show in demo are all stored (else demo computes them, slowly)."""
    payload = json.loads(preset_answers.ANSWERS_PATH.read_text(encoding="utf-8"))
    calls = {(e["function"].rsplit(".", 1)[1], next(iter(e["arguments"].values())))
             for e in payload["answers"].values()}
    for name in ("llama-7b", "llama-13b", "llama-33b", "llama-65b"):
        assert ("estimate_training_memory", name) in calls
    assert ("checkpointed_activation_bytes", "llama-65b") in calls


def test_session_setup_installs_the_answers_only_in_demo(monkeypatch):
    """The estimator knows no demo: runs.session.setup installs the stored answers as the answer source in demo."""
    from course_utils.runs import session

    monkeypatch.setenv("COURSE_PROFILE", "demo")
    session.setup()
    assert seam.installed() is preset_answers.answer
    monkeypatch.setenv("COURSE_PROFILE", "offline")
    session.setup()
    assert seam.installed() is None
