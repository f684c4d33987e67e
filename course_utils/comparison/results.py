"""The comparison's results: records → one summary row per method → files under ``build/`` → a text table.

:func:`course_utils.comparison.run.run_comparison` returns one record per (method, seed). Here :func:`summarize`
aggregates them over seeds (mean ± spread), :func:`write_results` stores records and summary as CSV + JSON in
:func:`results_dir` (``$COURSE_BUILD_DIR`` under ``make run``), and :func:`read_results` / :func:`format_table`
give them back, e.g. for the terminal summary of ``python -m course_utils run``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from course_utils.comparison.methods import COMPARED_METHODS
from course_utils.runtime.env import build_dir
from course_utils.runtime.io import write_json
from course_utils.runtime.paths import ROOT

RESULTS_STEM = "05_method_comparison"


def summarize(records: Sequence[dict]) -> pd.DataFrame:
    """One row per method (COMPARED_METHODS order): sizes, memory, s/step, accuracy mean, std, min, max, 95% t-CI."""
    if not records:
        raise ValueError("records must not be empty")
    frame = pd.DataFrame(list(records))
    missing = {"method", "accuracy", "seconds_per_step", "trainable_params"} - set(frame.columns)
    if missing:
        raise ValueError(f"records lack fields {sorted(missing)}")
    grouped = frame.groupby("method", sort=False)
    table = pd.DataFrame({
        "label": grouped["label"].first(),
        "learning_rate": grouped["learning_rate"].first(),
        "trainable_params": grouped["trainable_params"].first(),
        "adapter_params": grouped["adapter_params"].first(),
        "adapter_mb": grouped["adapter_bytes"].first() / 1e6,
        "tensor_memory_mib": grouped["tensor_memory_mib"].mean(),
        "cuda_peak_mib": grouped["cuda_peak_mib"].mean(),
        "seconds_per_step": grouped["seconds_per_step"].mean(),
        "accuracy_mean": grouped["accuracy"].mean(),
        "accuracy_std": grouped["accuracy"].std(ddof=1),
        "accuracy_min": grouped["accuracy"].min(),
        "accuracy_max": grouped["accuracy"].max(),
        "n_seeds": grouped["seed"].nunique(),
    })
    intervals = {m: t_interval(part) if len(part) >= 2 else (math.nan,) * 3
                 for m, part in grouped["accuracy"]}
    table["accuracy_ci_low"] = [intervals[m][1] for m in table.index]
    table["accuracy_ci_high"] = [intervals[m][2] for m in table.index]
    order = [m for m in COMPARED_METHODS if m in table.index]
    return table.loc[order].reset_index()


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the Student-t interval of the mean (n-1 degrees of freedom); needs n >= 2."""
    from scipy import stats

    x = np.asarray(list(values), dtype=float)
    if x.size < 2:
        raise ValueError(f"values must hold at least 2 numbers for an interval, got {x.size}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    mean = float(x.mean())
    half = float(stats.t.ppf((1 + level) / 2, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return mean, mean - half, mean + half


def method_stats(runs: Sequence[dict], level: float = 0.95) -> pd.DataFrame:
    """One row per method (COMPARED_METHODS order): seeds, accuracy mean and its t-interval, P(positive)."""
    frame = pd.DataFrame(list(runs))
    rows = []
    for method in [m for m in COMPARED_METHODS if m in set(frame["method"])]:
        part = frame[frame["method"] == method]
        mean, low, high = t_interval(part["accuracy"], level)
        rows.append({"method": method, "label": part["label"].iloc[0], "n_seeds": int(part["seed"].nunique()),
                     "accuracy_mean": mean, "ci_low": low, "ci_high": high,
                     "accuracy_min": float(part["accuracy"].min()), "accuracy_max": float(part["accuracy"].max())})
    return pd.DataFrame(rows)


def paired_differences(runs: Sequence[dict], baseline: str = "lora", level: float = 0.95) -> pd.DataFrame:
    """Each method minus `baseline` on the same seeds: mean difference, t-interval, and whether 0 lies outside."""
    frame = pd.DataFrame(list(runs)).pivot_table(index="seed", columns="method", values="accuracy")
    if baseline not in frame.columns:
        raise ValueError(f"baseline {baseline!r} is not among the methods {sorted(frame.columns)}")
    rows = []
    for method in [m for m in COMPARED_METHODS if m in frame.columns and m != baseline]:
        diff = (frame[method] - frame[baseline]).dropna()
        mean, low, high = t_interval(diff, level)
        rows.append({"method": method, "n_pairs": int(diff.size), "difference": mean, "ci_low": low,
                     "ci_high": high, "real": bool(low > 0 or high < 0)})
    return pd.DataFrame(rows)


def format_stats(stats: pd.DataFrame) -> str:
    """method_stats as text lines: label, n, mean [low, high]."""
    return "\n".join(f"{r.label:8} n={r.n_seeds} accuracy {r.accuracy_mean:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"
                     for r in stats.itertuples())


def results_dir() -> Path:
    """Where results go: $COURSE_BUILD_DIR (set by `make run`), else the repository's build/, else ./build."""
    if build_dir():
        return Path(build_dir())
    return ROOT / "build" if (ROOT / "pyproject.toml").is_file() else Path.cwd() / "build"


def write_results(records: Sequence[dict], meta: dict, folder: str | Path | None = None) -> dict[str, Path]:
    """Write the per-run records (CSV), the summary (CSV) and everything with `meta` (JSON); return the paths."""
    folder = Path(folder) if folder is not None else results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    summary = summarize(records)
    paths = {"records_csv": folder / f"{RESULTS_STEM}_runs.csv", "summary_csv": folder / f"{RESULTS_STEM}.csv",
             "json": results_path(folder)}
    pd.DataFrame(list(records)).to_csv(paths["records_csv"], index=False)
    summary.to_csv(paths["summary_csv"], index=False)
    payload = {"meta": meta, "records": list(records),
               "summary": json.loads(summary.to_json(orient="records"))}
    write_json(paths["json"], payload)
    return paths


def read_results(path: str | Path) -> dict:
    """The JSON written by :func:`write_results` (meta, records, summary)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no comparison results at {path}; run notebooks/05_method_comparison.ipynb")
    payload = json.loads(path.read_text(encoding="utf-8"))
    missing = {"meta", "records", "summary"} - set(payload)
    if missing:
        raise ValueError(f"{path} lacks keys {sorted(missing)}")
    return payload


def results_path(folder: str | Path | None = None) -> Path:
    """The JSON results file in `folder` (default :func:`results_dir`)."""
    return (Path(folder) if folder is not None else results_dir()) / f"{RESULTS_STEM}.json"


def format_table(summary: Sequence[dict]) -> str:
    """The summary rows as a fixed-width text table (for `make run`'s terminal summary)."""
    if not summary:
        raise ValueError("summary must hold at least one row")
    head = (f"{'method':8} {'trainable':>10} {'adapter MB':>10} {'memory MiB':>10} {'s/step':>7} "
            f"{'accuracy (mean ± std, min-max)':>32}")
    lines = [head, "-" * len(head)]
    for row in summary:
        std = row.get("accuracy_std")
        spread = "n/a" if std is None or (isinstance(std, float) and math.isnan(std)) else f"{std:.3f}"
        accuracy = (f"{row['accuracy_mean']:.3f} ± {spread}, {row['accuracy_min']:.3f}-{row['accuracy_max']:.3f}"
                    f" (n={row['n_seeds']})")
        lines.append(f"{row['label']:8} {row['trainable_params']:>10,} {row['adapter_mb']:>10.3f} "
                     f"{row['tensor_memory_mib']:>10.1f} {row['seconds_per_step']:>7.3f} {accuracy:>32}")
    return "\n".join(lines)


__all__ = ["RESULTS_STEM", "format_stats", "format_table", "method_stats", "paired_differences", "read_results",
           "results_dir", "results_path", "summarize", "t_interval", "write_results"]
