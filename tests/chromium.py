"""Debian chromium for the real-browser tests: where it is and how to start it without touching the real home."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = Path(os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def launch(playwright, profile: Path, width: int, height: int):
    """A headless persistent context whose user data, HOME and XDG folders live under `profile`."""
    return playwright.chromium.launch_persistent_context(
        str(profile / "user-data"), executable_path=str(CHROMIUM), headless=True,
        viewport={"width": width, "height": height},
        env={**os.environ, "HOME": str(profile), "XDG_CONFIG_HOME": str(profile / "config"),
             "XDG_CACHE_HOME": str(profile / "cache")},
        args=ARGS)
