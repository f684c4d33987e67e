"""Figures of notebook 05's cached comparison: learning curves and paired differences against LoRA.

Large type throughout (they are shown on a projector); every number label sits clear of its error bar.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from course_utils.comparison.methods import COLORS, COMPARED_METHODS, METHOD_LABELS, QUANTIZED


def validation_runs(runs: Sequence[dict]) -> list[dict]:
    """The runs that carry a validation curve (the learning-rate selection's), shaped for :func:`curve_table`:
    their validation points as the curve, the last one as the final accuracy."""
    shaped = []
    for run in runs:
        if "validation_curve" in run:
            *points, last = run["validation_curve"]
            shaped.append({"method": run["method"], "seed": run["seed"], "steps": last["step"], "curve": points,
                           "accuracy": last["accuracy"], "p_positive": last["p_positive"]})
    return shaped


def curve_table(runs: Sequence[dict]) -> pd.DataFrame:
    """Long table (method, seed, step, accuracy, p_positive): each run's curve plus its final evaluation."""
    rows = []
    for run in runs:
        if "curve" not in run:
            raise ValueError(f"run {run.get('method')}/{run.get('seed')} has no 'curve'; rerun make experiments")
        for point in run["curve"]:
            rows.append({"method": run["method"], "seed": run["seed"], **point})
        rows.append({"method": run["method"], "seed": run["seed"], "step": run["steps"],
                     "accuracy": run["accuracy"], "p_positive": run.get("p_positive", float("nan"))})
    return pd.DataFrame(rows)


def converged_at(curves: pd.DataFrame, tolerance: float = 0.02) -> pd.DataFrame:
    """Per method: the first step whose seed-mean accuracy is within `tolerance` of the final seed-mean."""
    if not 0 < tolerance < 1:
        raise ValueError(f"tolerance must be in (0, 1), got {tolerance!r}")
    mean = curves.groupby(["method", "step"])["accuracy"].mean().unstack("step")
    rows = []
    for method in [m for m in COMPARED_METHODS if m in mean.index]:
        line = mean.loc[method].dropna()
        final = float(line.iloc[-1])
        first = next(int(step) for step, value in line.items() if value >= final - tolerance)
        rows.append({"method": method, "label": METHOD_LABELS[method], "final_accuracy": final,
                     "within_tolerance_from_step": first, "last_step": int(line.index[-1])})
    return pd.DataFrame(rows)


def curves_figure(curves: pd.DataFrame, title: str | None = None, split: str = "테스트"):
    """Two panels: seed-mean accuracy on `split` by step (band: min-max over seeds), and the share predicted
    positive."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 5), layout="constrained")
    acc_ax, pos_ax = fig.subplots(1, 2)
    for method in [m for m in COMPARED_METHODS if m in set(curves["method"])]:
        part = curves[curves["method"] == method].groupby("step")
        style = {"color": COLORS[method], "lw": 2.2, "ls": "--" if method in QUANTIZED else "-",
                 "label": METHOD_LABELS[method], "marker": "o"}
        acc_ax.plot(part["accuracy"].mean().index, part["accuracy"].mean(), **style)
        acc_ax.fill_between(part["accuracy"].min().index, part["accuracy"].min(), part["accuracy"].max(),
                            color=COLORS[method], alpha=0.12)
        pos_ax.plot(part["p_positive"].mean().index, part["p_positive"].mean(), **style)
    acc_ax.axhline(0.5, color="k", ls=":", lw=1.2)
    acc_ax.set(xlabel="스텝", ylabel=f"{split} 정확도 (시드 평균, 띠: 최소–최대)", ylim=(0.4, 1.0))
    pos_ax.axhline(0.5, color="k", ls=":", lw=1.2)
    pos_ax.set(xlabel="스텝", ylabel="긍정으로 예측한 비율 (시드 평균)", ylim=(0, 1))
    for ax in (acc_ax, pos_ax):
        ax.xaxis.label.set_size(13)
        ax.yaxis.label.set_size(13)
        ax.tick_params(labelsize=12)
        ax.grid(alpha=0.3)
    acc_ax.legend(fontsize=11, ncol=2, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=14)
    return fig


def paired_figure(diffs: pd.DataFrame, baseline: str = "lora", title: str | None = None):
    """Each method's accuracy minus the baseline's on the same seeds: mean and 95% interval; 0 marked."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.6), layout="constrained")
    ax = fig.subplots()
    ys = list(range(len(diffs)))[::-1]
    for y, row in zip(ys, diffs.itertuples()):
        color = COLORS[row.method] if row.real else "#999999"
        ax.errorbar(row.difference, y, xerr=[[row.difference - row.ci_low], [row.ci_high - row.difference]],
                    fmt="o", color=color, capsize=5, lw=2, ms=8)
        ax.annotate(f"{row.difference:+.3f}", (row.ci_high, y), xytext=(8, 0), textcoords="offset points",
                    va="center", fontsize=12)
    ax.axvline(0, color="k", lw=1.2)
    ax.set_yticks(ys, [METHOD_LABELS[m] for m in diffs["method"]], fontsize=13)
    ax.set_xlabel(f"정확도 차이 ({METHOD_LABELS[baseline]} 대비, 같은 시드, 95% 구간)", fontsize=13)
    ax.tick_params(axis="x", labelsize=12)
    low, high = ax.get_xlim()
    ax.set_xlim(low, high + 0.35 * (high - low))
    ax.grid(alpha=0.3, axis="x")
    if title:
        ax.set_title(title, fontsize=14)
    return fig


__all__ = ["COLORS", "converged_at", "curve_table", "curves_figure", "paired_figure", "validation_runs"]
