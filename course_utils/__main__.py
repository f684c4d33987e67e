"""The course's one command: ``python -m course_utils <command> [args]`` (installed as ``peft-course``).

Each command is the ``main(argv)`` of one module; ``python -m course_utils <command> --help`` shows its options.
Bad input to any command is one ``error:`` line on stderr and exit code 2.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from course_utils.runtime.cli import EXIT_USAGE, CommandParser

#: command -> (module whose main(argv) runs it, one line of help)
COMMANDS = {
    "run": ("course_utils.publish.runner", "execute every notebook, write HTML and a summary (make run)"),
    "grade": ("course_utils.grading.grade", "grade submitted notebooks: totals, feedback, LMS file, report"),
    "release": ("course_utils.publish.release", "write the practice and assignment editions (make release)"),
    "slides": ("course_utils.publish.slides", "one offline reveal.js deck per notebook (make slides)"),
    "bundle": ("course_utils.publish.bundle", "the Colab bundle zip: wheel, notebooks, data, figures (make bundle)"),
    "colab": ("course_utils.publish.colab", "point badges and setup cells at a repository (make colab)"),
    "figs": ("course_utils.publish.figures", "regenerate the figures in figs/ (make figs)"),
    "reading-time": ("course_utils.publish.reading_time", "read-and-run minutes per section, to check the headers"),
    "editions": ("course_utils.publish.editions", "set a notebook's core/deep tags from its section badges"),
    "train": ("course_utils.runs.train", "train one method as a command (also under accelerate launch)"),
    "sft": ("course_utils.runs.sft", "instruction-tune a causal LM with QLoRA as a command (also under accelerate)"),
    "experiments": ("course_utils.runs.experiments", "the long offline method comparison cache (make experiments)"),
    "select": ("course_utils.runs.selection", "choose each method's learning rate on validation (make experiments)"),
    "lessons": ("course_utils.runs.lessons", "the cached runs behind notebooks 04 and 01's lessons (make lessons)"),
    "md-lesson": ("course_utils.runs.md_lesson", "notebook 02's ΔM/ΔD analysis on runs that learn (make lessons)"),
    "stored-runs": ("course_utils.runs.stored", "store notebooks' long training runs for the demo (make stored-runs)"),
    "preset-answers": ("course_utils.runs.preset_answers", "store the demo's preset memory answers (make stored-runs)"),
    "gpu-check": ("course_utils.runs.gpu_check", "what only a CUDA GPU can confirm (make gpu-check)"),
}


def build_parser() -> CommandParser:
    parser = CommandParser(prog="python -m course_utils", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", metavar="command", title="commands")
    for name, (_, help_text) in COMMANDS.items():
        commands.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else EXIT_USAGE
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        parser.error(f"unknown command {command!r}; choose from {', '.join(COMMANDS)}")
    module = importlib.import_module(COMMANDS[command][0])
    try:
        return int(module.main(rest) or 0)
    except (ValueError, TypeError, FileNotFoundError) as err:
        sys.stderr.write(f"peft-course {command}: error: {err}\n")
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
