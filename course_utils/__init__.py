"""Helpers for the PEFT course notebooks, in subpackages by idea (each ``__init__`` says what it may import).

Teaching code: ``runtime`` (profile and environment, paths, data, models, the training loop, I/O), ``adapters``
(LoRA, DoRA, peft rules, parameter counts), ``quant`` (NF4), ``memory`` (estimate, inventory, sharding),
``comparison`` (methods, runner, statistics, guide), ``display`` (widgets, diagrams). Above it: ``exercises``
(engine and content), ``grading``, ``publish`` (editions, release, slides, Colab, bundle, figures, notebook runs)
and ``runs`` (experiments cache, stored results, the training command, the GPU check). One command:
``python -m course_utils <command>`` (``peft-course``). The import contracts are in pyproject.toml.
"""

from course_utils.runtime.quiet import drop_known_log_lines

__version__ = "0.1.0"

# bitsandbytes logs a line on import on some CPUs; the filter must be in place before any library is imported.
drop_known_log_lines()
