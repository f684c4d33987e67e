"""`make figs`: regenerate every figure in figs/ from code."""

from __future__ import annotations

import importlib
from pathlib import Path

from course_utils.runtime.cli import CommandParser
from course_utils.runtime.plots import FIGS_DIR, save_figure, setup_korean_font

# file name -> "module:function" returning a matplotlib Figure
FIGURES = {
    "dora_architecture.png": "course_utils.adapters.dora:dora_architecture_figure",
    "full_finetune_memory.png": "course_utils.memory.figures:full_finetune_memory_figure",
    "lora_diagram.png": "course_utils.display.diagrams:lora_diagram_figure",
    "lora_param_counts.png": "course_utils.adapters.params:lora_param_counts_figure",
    "nf4_codebook.png": "course_utils.quant.quant_study:nf4_codebook_figure",
    "qlora_memory.png": "course_utils.memory.figures:qlora_memory_figure",
    "qlora_pipeline.png": "course_utils.display.diagrams:qlora_pipeline_figure",
}


def build(name: str, folder: Path = FIGS_DIR) -> str:
    """Draw one registered figure and save it under figs/."""
    if name not in FIGURES:
        raise ValueError(f"figure name must be one of {sorted(FIGURES)}, got {name!r}")
    module, function = FIGURES[name].split(":")
    fig = getattr(importlib.import_module(module), function)()
    return str(save_figure(fig, name, folder))


def main(argv: list[str] | None = None) -> int:
    """Build the figures named in argv (default: all)."""
    parser = CommandParser(prog="python -m course_utils figs", description=main.__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"figure file names (default: all): {', '.join(sorted(FIGURES))}")
    names = parser.parse_args(argv).names
    unknown = sorted(set(names) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure {', '.join(unknown)}; choose from {', '.join(sorted(FIGURES))}")
    setup_korean_font()
    for name in names or sorted(FIGURES):
        print(build(name))
    return 0
