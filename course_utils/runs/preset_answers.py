"""Stored answers for the LLaMA presets, so the instructor's demo profile shows 7B-65B memory tables at once.

Estimating a preset builds a meta-device LLaMA and asks peft and transformers which layers they adapt and quantize
(:mod:`course_utils.adapters.peft_rules`): exact, but several seconds per table. The estimator only marks itself
:func:`~course_utils.runtime.answers.servable`; this module is the answer source that
:func:`course_utils.runs.session.setup` installs in the demo profile: a call whose first argument is a preset name
returns the answer stored in ``results/preset_answers.json`` when it was made with the same transformers, peft,
bitsandbytes and torch versions (else it computes live). Every other profile computes live;
``tests/test_preset_answers.py`` recomputes every stored answer and requires it to be equal.

    make stored-runs    # also runs notebooks 04 and 05 in the demo profile with $COURSE_WRITE_PRESETS=1
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import inspect
import json
from collections.abc import Callable
from pathlib import Path

from course_utils.runtime import answers as seam
from course_utils.runtime import io, presets
from course_utils.runtime.cli import CommandParser
from course_utils.runtime.env import PROFILE_ENV, WRITE_PRESETS_ENV, profile_override, writing_presets
from course_utils.runtime.execute import execute
from course_utils.runtime.io import write_json
from course_utils.runtime.paths import RESULTS_DIR, ROOT

ANSWERS_PATH = RESULTS_DIR / "preset_answers.json"
WRITE_ENV = WRITE_PRESETS_ENV  # set by `make stored-runs`: the demo run computes live and stores the answer
#: The libraries whose rules the answers come from: a different version means the answers are recomputed.
LIBRARIES = ("torch", "transformers", "peft", "bitsandbytes")
_loaded: dict[Path, dict] = {}


def library_versions() -> dict[str, str]:
    """Installed versions of :data:`LIBRARIES`."""
    return io.library_versions(LIBRARIES)


def call_key(function: Callable, arguments: dict) -> str:
    """Key of a call given by its arguments by name (the first one a preset name), and of that preset's definition."""
    preset = next(iter(arguments.values()))
    definition = repr(dataclasses.astuple(presets.PRESETS[preset])) if preset in presets.PRESETS else "unknown preset"
    text = json.dumps([_name(function), arguments, definition], sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


_name = seam.qualified_name


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
    from course_utils.runs.experiments import git_commit

    path = Path(path or ANSWERS_PATH)
    _loaded.pop(path, None)
    answers = {**load_answers(path), key: entry}
    meta = {"versions": library_versions(), "commit": git_commit(), "command": "make stored-runs"}
    write_json(path, {"meta": meta, "answers": dict(sorted(answers.items()))})
    _loaded[path] = answers


def answer(function: Callable, args: tuple, kwargs: dict) -> object:
    """The answer source: in the demo profile, a call whose first argument is a preset name returns the stored answer
    (with $COURSE_WRITE_PRESETS=1 it computes and stores it); any other call, or profile, computes live."""
    if profile_override() != "demo":  # every other profile: straight through, nothing bound
        return function(*args, **kwargs)
    try:
        arguments = inspect.signature(function).bind(*args, **kwargs).arguments  # f("x", "lora") = f("x", method=..)
    except TypeError:
        return function(*args, **kwargs)  # the function's own error
    if not isinstance(next(iter(arguments.values()), None), str):
        return function(*args, **kwargs)
    key = call_key(function, dict(arguments))
    if not writing_presets():
        hit = load_answers().get(key)
        return copy.deepcopy(hit["value"]) if hit is not None else function(*args, **kwargs)
    value = function(*args, **kwargs)
    store_answer(key, {"function": _name(function), "arguments": dict(arguments), "value": value})
    return value


def install() -> None:
    """Serve every servable call from :func:`answer` (what the demo profile's notebook setup does)."""
    seam.install(answer)


def recompute(entry: dict) -> object:
    """The live answer of a stored entry (for the drift test): the undecorated function called again."""
    if entry["function"] not in seam.FUNCTIONS:
        raise KeyError(f"no servable function named {entry['function']!r}")
    return seam.FUNCTIONS[entry["function"]](**entry["arguments"])


def main(argv: list[str] | None = None) -> int:
    """CLI: run notebooks in the demo profile with $COURSE_WRITE_PRESETS=1, storing every preset answer they ask for."""
    import nbformat

    parser = CommandParser(prog="python -m course_utils preset-answers", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    ANSWERS_PATH.unlink(missing_ok=True)  # start fresh: only what the notebooks ask for now
    env = {PROFILE_ENV: "demo", WRITE_ENV: "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    for notebook in args.notebooks:
        execute(nbformat.read(notebook, as_version=4), notebook.parent, timeout=1800, env=env)
        print(f"ran {notebook.name}")
    _loaded.clear()
    print(f"{len(load_answers())} answers in {ANSWERS_PATH.relative_to(ROOT)}")
    return 0
