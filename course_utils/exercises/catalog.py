"""Every checkpoint question, in lecture order: import this module when you need all of them.

The engine (:mod:`course_utils.exercises.engine`) holds the registry and never imports content; each content module
registers its questions when imported. This catalog imports the content in lecture order (§2–§4, then §5–§7 with the
notebook extras and the written "why" parts) and re-exports what notebooks and the grader use.
"""

from __future__ import annotations

from course_utils.exercises import sections_2_4, sections_5_7  # noqa: F401  (registers the questions, in this order)
from course_utils.exercises.engine import QUESTIONS, RECORD_MIME, Question, checkpoint
from course_utils.exercises.sections_2_4 import LECTURE_IDS

__all__ = ["LECTURE_IDS", "QUESTIONS", "RECORD_MIME", "Question", "checkpoint"]
