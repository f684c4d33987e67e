"""A seam for stored answers: a slow, pure function marked :func:`servable` first asks the installed answer source.

Nothing is installed by default, so every call computes live. A layer above the teaching code may install a source
for a session: the demo profile's stored preset answers (:mod:`course_utils.runs.preset_answers`, installed by
:func:`course_utils.runs.session.setup`). The teaching code only marks what may be served; it knows no source.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

#: A source answers ``source(function, args, kwargs)`` for the undecorated `function` (computing it on a miss).
Source = Callable[[Callable, tuple, dict], Any]
#: Every servable function, undecorated, by :func:`qualified_name`.
FUNCTIONS: dict[str, Callable] = {}
_source: list[Source] = []


def qualified_name(function: Callable) -> str:
    """'course_utils.memory.estimate.estimate_training_memory'."""
    return f"{function.__module__}.{function.__qualname__}"


def servable(function: Callable) -> Callable:
    """Decorator: calls go to the installed source, if any, else straight to `function`."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if not _source:
            return function(*args, **kwargs)
        return _source[0](function, args, kwargs)

    FUNCTIONS[qualified_name(function)] = function
    return wrapper


def install(source: Source) -> None:
    """Serve every :func:`servable` call from `source` (replacing any installed source)."""
    if not callable(source):
        raise TypeError(f"source must be callable, got {source!r}")
    _source[:] = [source]


def uninstall() -> None:
    """Compute every call live again."""
    _source.clear()


def installed() -> Source | None:
    """The installed source, or None."""
    return _source[0] if _source else None
