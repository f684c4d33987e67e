"""The two concept diagrams: Korean labels for every part they teach, and `make figs` writes both."""

from __future__ import annotations

import re

import pytest
from matplotlib.figure import Figure

from course_utils.display import diagrams
from course_utils.publish import figures as figs
from course_utils.runtime.plots import setup_korean_font

HANGUL = re.compile("[가-힣]")


def _texts(fig: Figure) -> str:
    """Every text element of the figure (axes texts and legend labels), one per line."""
    parts = [t.get_text() for ax in fig.axes for t in ax.texts]
    parts += [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    return "\n".join(parts)


def test_lora_diagram_names_frozen_w0_bottleneck_scaling_and_init():
    text = _texts(diagrams.lora_diagram_figure())
    for part in ["$W_0$", "고정", "$A$ (r × k)", "$B$ (d × r)", "병목", "\\alpha / r", "0으로 초기화",
                 "입력 $x$", "출력 $h$", "학습 (trainable)", "병합(merge)"]:
        assert part in text, part


def test_qlora_pipeline_names_nf4_dequantize_bf16_lora_and_paging():
    text = _texts(diagrams.qlora_pipeline_figure())
    for part in ["NF4", "역양자화", "bf16 행렬곱", "LoRA 경로 (bf16)", "GPU 메모리", "CPU RAM",
                 "페이지드 옵티마이저", "옵티마이저 상태만", "가중치·그래디언트·활성값은 GPU에 남습니다"]:
        assert part in text, part


@pytest.mark.parametrize("function", [diagrams.lora_diagram_figure, diagrams.qlora_pipeline_figure])
def test_diagram_labels_are_korean_and_projector_sized(function):
    fig = function()
    texts = [t for ax in fig.axes for t in ax.texts]
    assert sum(bool(HANGUL.search(t.get_text())) for t in texts) >= 5
    assert min(t.get_fontsize() for t in texts) >= 11      # legible on a projector
    assert fig.get_size_inches()[0] >= 10


def test_make_figs_writes_both_diagrams(tmp_path):
    setup_korean_font()
    for name in ["lora_diagram.png", "qlora_pipeline.png"]:
        assert name in figs.FIGURES
        path = figs.build(name, tmp_path)
        assert path.endswith(name)
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (tmp_path / name).stat().st_size > 20_000
