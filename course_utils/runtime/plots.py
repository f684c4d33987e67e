"""Korean-capable matplotlib setup, comparison charts and figure export."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib import font_manager
from matplotlib.figure import Figure

from course_utils.runtime.paths import FIGS_DIR

KOREAN_FONT = "NanumGothic"


def korean_font_files() -> list[Path]:
    """NanumGothic TTFs shipped by koreanize-matplotlib, found without importing it (it needs distutils)."""
    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("Korean plots need the package koreanize-matplotlib (pip install koreanize-matplotlib)")
    font_dir = Path(next(iter(spec.submodule_search_locations))) / "fonts"
    files = sorted(font_dir.glob("NanumGothic*.ttf"))
    if not files:
        raise FileNotFoundError(f"no NanumGothic*.ttf in {font_dir}")
    return files


def setup_korean_font() -> str:
    """Register NanumGothic with matplotlib, make it the default family, and return its name."""
    known = {entry.fname for entry in font_manager.fontManager.ttflist}
    for path in korean_font_files():
        if str(path) not in known:
            font_manager.fontManager.addfont(str(path))
    matplotlib.rcParams["font.family"] = KOREAN_FONT
    matplotlib.rcParams["axes.unicode_minus"] = False  # NanumGothic lacks U+2212
    return KOREAN_FONT


def comparison_chart(table: pd.DataFrame, metrics: Sequence[str], label: str = "method",
                     title: str | None = None) -> Figure:
    """One bar panel per metric column of `table`, bars labelled by the `label` column."""
    missing = [c for c in [label, *metrics] if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks columns {missing}; has {list(table.columns)}")
    if not metrics:
        raise ValueError("metrics must name at least one column")
    fig = Figure(figsize=(4 * len(metrics), 3.2), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        ax.bar(table[label].astype(str), table[metric], color="#4C72B0")
        ax.set_title(metric)
        ax.tick_params(axis="x", rotation=30)
        for x, value in enumerate(table[metric]):
            ax.annotate(f"{value:,.3g}", (x, value), ha="center", va="bottom", fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def save_figure(fig: Figure, name: str, folder: Path = FIGS_DIR) -> Path:
    """Save `fig` as PNG under figs/ (PNG, not SVG: SVG embeds a date) and return the path."""
    if not name.endswith(".png"):
        raise ValueError(f"name must end with .png, got {name!r}")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    fig.savefig(path, dpi=120, metadata={"Software": None})
    return path
