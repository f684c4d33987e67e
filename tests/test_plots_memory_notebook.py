"""Korean plots, figure export, memory arithmetic, notebook helpers and the `make run` runner."""

from __future__ import annotations

import warnings

import matplotlib
import nbformat
import pandas as pd
import pytest
from matplotlib import font_manager
from matplotlib.figure import Figure

from course_utils.memory import estimate as memory
from course_utils.publish import figures as figs
from course_utils.publish import runner as run_notebooks
from course_utils.runtime import notebook, plots


def test_korean_font_is_registered_and_renders_hangul_without_missing_glyphs():
    name = plots.setup_korean_font()
    path = font_manager.findfont(font_manager.FontProperties(family=name), fallback_to_default=False)
    assert "NanumGothic" in path
    fig = Figure()
    fig.subplots().set_title("한국어 제목 −1: 정확도")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing from font(s)" would be a UserWarning
        fig.canvas.draw()
    assert matplotlib.rcParams["axes.unicode_minus"] is False


def test_comparison_chart_has_one_panel_per_metric_and_checks_columns():
    table = pd.DataFrame({"method": ["full", "lora"], "accuracy": [0.9, 0.88], "params": [100, 2]})
    fig = plots.comparison_chart(table, ["accuracy", "params"], title="비교")
    assert len(fig.axes) == 2 and fig.axes[0].get_title() == "accuracy"
    with pytest.raises(ValueError, match="lacks columns \\['memory'\\]"):
        plots.comparison_chart(table, ["memory"])
    with pytest.raises(ValueError, match="at least one"):
        plots.comparison_chart(table, [])


def test_every_registered_figure_builds(tmp_path):
    for name in figs.FIGURES:
        path = figs.build(name, tmp_path)
        assert path.endswith(".png") and (tmp_path / name).stat().st_size > 5_000
    with pytest.raises(ValueError, match="figure name"):
        figs.build("nope.png", tmp_path)
    with pytest.raises(ValueError, match=".png"):
        plots.save_figure(Figure(), "x.svg", tmp_path)


def test_full_finetune_memory_matches_hand_arithmetic():
    parts = memory.full_finetune_bytes(7 * 10**9, "fp32")
    assert parts == {"weights": 28 * 10**9, "gradients": 28 * 10**9, "optimizer_states": 56 * 10**9,
                     "total": 112 * 10**9}
    assert memory.full_finetune_bytes(65 * 10**9, "bf16")["total"] == 780 * 10**9
    assert memory.full_finetune_bytes(10, "bf16", state_dtype="bf16")["total"] == 80


@pytest.mark.parametrize("kwargs, error, message", [
    ({"n_params": 0}, ValueError, "n_params"), ({"n_params": -5}, ValueError, "n_params"),
    ({"n_params": 1.5}, TypeError, "n_params"), ({"n_params": 10, "weight_dtype": "int8"}, ValueError, "weight_dtype"),
    ({"n_params": 10, "state_dtype": "fp8"}, ValueError, "state_dtype"),
])
def test_full_finetune_memory_rejects_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        memory.full_finetune_bytes(**kwargs)


def test_show_source_returns_the_real_source():
    code = notebook.show_source(memory.full_finetune_bytes)
    assert "def full_finetune_bytes(" in code.data and "ADAMW_STATES" in code.data
    with pytest.raises(TypeError, match="show_source"):
        notebook.show_source(len)


def _notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_runner_executes_writes_html_and_collects_headlines(tmp_path, capsys):
    good, bad = tmp_path / "00_good.ipynb", tmp_path / "01_bad.ipynb"
    nbformat.write(_notebook("from course_utils.runtime.notebook import headline",
                             "headline(accuracy=0.875, n=3)"), good)
    nbformat.write(_notebook("raise RuntimeError('boom')"), bad)
    code = run_notebooks.main([str(good), str(bad), "--out", str(tmp_path / "build"), "--timeout", "120"])
    out = capsys.readouterr().out
    assert code == 1  # one notebook failed
    assert (tmp_path / "build" / "00_good.html").exists() and (tmp_path / "build" / "01_bad.ipynb").exists()
    executed = nbformat.read(tmp_path / "build" / "00_good.ipynb", as_version=4)
    assert run_notebooks.headlines(executed) == {"accuracy": 0.875, "n": 3}
    assert "accuracy=0.875, n=3" in out and "FAILED: CellExecutionError" in out


def test_headline_needs_numbers():
    with pytest.raises(ValueError, match="headline"):
        notebook.headline()
