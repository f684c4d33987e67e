"""Stored answers for the LLaMA presets, so the instructor's demo profile shows 7B-65B memory tables at once.

Estimating a preset builds a meta-device LLaMA and asks peft and transformers which layers they adapt and quantize
(:mod:`course_utils.peft_rules`): exact, but several seconds per table. In the demo profile the functions decorated
with :func:`remembered` return the answer stored in ``results/preset_answers.json`` when it was made with the same
transformers, peft, bitsandbytes and torch versions (else they compute it live). Every other profile computes live;
``tests/test_preset_answers.py`` recomputes every stored answer and requires it to be equal.

    make stored-runs    # also runs notebooks 04 and 05 in the demo profile with $COURSE_WRITE_PRESETS=1
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import inspect
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANSWERS_PATH = ROOT / "results" / "preset_answers.json"
WRITE_ENV = "COURSE_WRITE_PRESETS"  # set by `make stored-runs`: the demo run computes live and stores the answer
#: The libraries whose rules the answers come from: a different version means the answers are recomputed.
LIBRARIES = ("torch", "transformers", "peft", "bitsandbytes")
_REGISTRY: dict[str, Callable] = {}
_loaded: dict[Path, dict] = {}


def library_versions() -> dict[str, str]:
    """Installed versions of :data:`LIBRARIES` (read from package metadata, nothing imported)."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def call_key(function: Callable, arguments: dict) -> str:
    """Key of a call given by its arguments by name (the first one a preset name), and of that preset's definition."""
    from course_utils.presets import PRESETS

    preset = next(iter(arguments.values()))
    definition = repr(dataclasses.astuple(PRESETS[preset])) if preset in PRESETS else "unknown preset"
    text = json.dumps([_name(function), arguments, definition], sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _name(function: Callable) -> str:
    """'course_utils.memory.estimate_training_memory'."""
    return f"{function.__module__}.{function.__qualname__}"


def load_answers(path: str | Path | None = None) -> dict:
    """{key: {"function", "arguments", "value"}} stored under the installed library versions, else empty."""
    path = Path(path or ANSWERS_PATH)
    if path not in _loaded:
        payload = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        same = payload.get("meta", {}).get("versions") == library_versions()
        _loaded[path] = payload.get("answers", {}) if same else {}
    return _loaded[path]


def store_answer(key: str, entry: dict, path: str | Path | None = None) -> None:
    """Add one answer to the file (read again first, so parallel notebooks keep each other's answers)."""
    from course_utils.experiments import git_commit, write_cache

    path = Path(path or ANSWERS_PATH)
    _loaded.pop(path, None)
    answers = {**load_answers(path), key: entry}
    meta = {"versions": library_versions(), "commit": git_commit(), "command": "make stored-runs"}
    write_cache({"meta": meta, "answers": dict(sorted(answers.items()))}, path)
    _loaded[path] = answers


def remembered(function: Callable) -> Callable:
    """Decorator: in the demo profile, a call whose first argument is a preset name returns the stored answer."""
    signature = inspect.signature(function)

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if os.environ.get("COURSE_PROFILE") != "demo":  # every other profile: straight through, nothing bound
            return function(*args, **kwargs)
        try:
            arguments = signature.bind(*args, **kwargs).arguments  # by name: f("x", "lora") = f("x", method="lora")
        except TypeError:
            return function(*args, **kwargs)  # the function's own error
        if not isinstance(next(iter(arguments.values()), None), str):
            return function(*args, **kwargs)
        key = call_key(function, dict(arguments))
        if os.environ.get(WRITE_ENV) != "1":
            hit = load_answers().get(key)
            return copy.deepcopy(hit["value"]) if hit is not None else function(*args, **kwargs)
        value = function(*args, **kwargs)
        store_answer(key, {"function": _name(function), "arguments": dict(arguments), "value": value})
        return value

    _REGISTRY[_name(function)] = function
    return wrapper


def recompute(entry: dict) -> object:
    """The live answer of a stored entry (for the drift test): the undecorated function called again."""
    if entry["function"] not in _REGISTRY:
        raise KeyError(f"no remembered function named {entry['function']!r}")
    return _REGISTRY[entry["function"]](**entry["arguments"])


def main(argv: list[str] | None = None) -> int:
    """CLI: run notebooks in the demo profile with $COURSE_WRITE_PRESETS=1, storing every preset answer they ask for."""
    import argparse

    import nbformat
    from nbclient import NotebookClient

    parser = argparse.ArgumentParser(prog="python -m course_utils.preset_answers", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="+")
    args = parser.parse_args(argv)
    ANSWERS_PATH.unlink(missing_ok=True)  # start fresh: only what the notebooks ask for now
    os.environ.update({"COURSE_PROFILE": "demo", WRITE_ENV: "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    for notebook in map(Path, args.notebooks):
        nb = nbformat.read(notebook, as_version=4)
        NotebookClient(nb, timeout=1800, kernel_name="python3",
                       resources={"metadata": {"path": str(notebook.parent)}}).execute()
        print(f"ran {notebook.name}")
    _loaded.clear()
    print(f"{len(load_answers())} answers in {ANSWERS_PATH.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
