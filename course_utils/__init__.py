"""Helpers for the PEFT course notebooks: profiles, data, models, training, and from-scratch PEFT layers."""

from course_utils.runtime.quiet import drop_known_log_lines

__version__ = "0.1.0"

# bitsandbytes logs a line on import on some CPUs; the filter must be in place before any library is imported.
drop_known_log_lines()
