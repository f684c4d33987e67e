"""The one notebook executor: a notebook's cells run in a fresh ``python3`` kernel, in a folder, with an environment.

Used by ``python -m course_utils run`` (:mod:`course_utils.publish.runner`), by the stored-result commands
(:mod:`course_utils.runs.stored`, :mod:`course_utils.runs.preset_answers`) and inside the grading sandbox
(:mod:`course_utils.grading.sandbox`, with its bounded client). nbclient is imported when a notebook runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def execute(nb: Any, folder: str | Path, *, timeout: int | None = None, env: Mapping[str, str] | None = None,
            client_class: type | None = None, kernel_options: Mapping[str, Any] | None = None,
            **client_options: Any) -> Any:
    """Execute `nb` (an nbformat node, changed in place) with `folder` as the kernel's working folder.

    Args:
        timeout: seconds per cell (None: no limit).
        env: variables set in the kernel's environment (on top of this process's); this process's is untouched.
        client_class: a NotebookClient subclass (default NotebookClient).
        kernel_options: passed on to the kernel's start (e.g. ``stdout=subprocess.DEVNULL``).
        client_options: passed on to the client (e.g. ``allow_errors=True``).

    Returns the client (its ``km`` and state remain readable); execution errors propagate.
    """
    from nbclient import NotebookClient

    client = (client_class or NotebookClient)(nb, timeout=timeout, kernel_name="python3",
                                              resources={"metadata": {"path": str(folder)}}, **client_options)
    start = dict(kernel_options or {})
    if env:
        start["env"] = {**os.environ, **env}
    client.execute(**start)
    return client
