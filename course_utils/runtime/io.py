"""JSON files and library versions: the one JSON writer of the course and the one reader of installed versions."""

from __future__ import annotations

import json
import os
import platform
import tempfile
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

#: The libraries recorded with a stored result (train metrics, the experiments cache, stored notebook runs).
VERSIONED = ("torch", "transformers", "peft", "accelerate", "bitsandbytes", "datasets", "course-utils")


def write_json(path: str | Path, payload: dict) -> Path:
    """Write `payload` as JSON (indent 1, UTF-8, NaN as null, numpy scalars as numbers) atomically: to a temp file
    beside `path`, then os.replace, so readers see the old file or the whole new one. A value JSON cannot hold raises
    TypeError before any file is touched."""
    path = Path(path)
    text = json.dumps(payload, indent=1, ensure_ascii=False, default=_plain).replace("NaN", "null")
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temp, 0o644)  # mkstemp creates 0600; results are meant to be read
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def _plain(value: object) -> object:
    """JSON for numpy/torch scalars (their number) and dtypes or paths (their name); anything else is an error."""
    module = type(value).__module__.split(".")[0]
    if module in ("numpy", "torch"):
        return value.item() if hasattr(value, "item") and getattr(value, "ndim", 0) == 0 else str(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def library_versions(names: Iterable[str] = VERSIONED) -> dict[str, str]:
    """Installed versions of `names` (read from package metadata, nothing imported); 'not installed' if absent."""
    found = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def versions() -> dict[str, str]:
    """Python and the :data:`VERSIONED` library versions, for the record of a run."""
    return {"python": platform.python_version(), **library_versions(VERSIONED)}
