"""Answers and context values as plain JSON for a checkpoint record (part of the engine; imports no content)."""

from __future__ import annotations

import hashlib
import math
from typing import Any

MAX_RECORDED_CHARS = 2000  # a written answer longer than this is cut in the record


def _to_number(answer: object) -> float | None:
    """`answer` as a finite float (ints, floats, numpy/torch scalars), or None if it is not a number."""
    if isinstance(answer, (bool, str, bytes)):
        return None
    try:
        value = float(answer)  # type: ignore[arg-type]
    except (TypeError, ValueError, RuntimeError):
        return None
    return value if math.isfinite(value) else None


def jsonable(answer: object) -> Any:
    """The answer as plain JSON (sets sorted, tuples as lists, scalars as numbers, long text cut)."""
    if answer is None or isinstance(answer, (bool, int)):
        return answer
    if isinstance(answer, str):
        return answer[:MAX_RECORDED_CHARS]
    if isinstance(answer, float):
        return answer if math.isfinite(answer) else repr(answer)
    if isinstance(answer, (set, frozenset)):
        return sorted((jsonable(a) for a in answer), key=repr)
    if isinstance(answer, (list, tuple)):
        return [jsonable(a) for a in list(answer)[:100]]
    number = _to_number(answer)
    if number is not None:
        return int(number) if number.is_integer() and "int" in type(answer).__name__.lower() else number
    return repr(answer)[:MAX_RECORDED_CHARS]


def fingerprint(value: object) -> Any:
    """A context value for the record: numbers and tuples as JSON, a tensor or array as its sha256, shape and dtype."""
    if hasattr(value, "shape") and hasattr(value, "dtype") and getattr(value, "ndim", 0) > 0:
        array = value.detach().cpu().contiguous().numpy() if hasattr(value, "detach") else value
        data = bytes(memoryview(array.tobytes()))
        return {"sha256": hashlib.sha256(data).hexdigest(), "shape": list(array.shape), "dtype": str(array.dtype)}
    return jsonable(value)
