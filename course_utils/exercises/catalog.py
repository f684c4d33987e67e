"""Every checkpoint question, in lecture order: import this module when you need all of them.

The engine (:mod:`course_utils.exercises.engine`) holds the registry and never imports content; each content module
registers its questions when imported. This catalog imports the content in lecture order (§2 … §7, then §8, the
course's causal-LM section of notebook 06, then the notebook extras and the written "why" parts) and re-exports what
notebooks and the grader use.
"""

from __future__ import annotations

# Importing a content module registers its questions: in lecture order, then the extras and the "why" parts.
# isort: off
from course_utils.exercises import s2, s3, s4, s5, s6, s7, s8
from course_utils.exercises import extras, why
# isort: on
from course_utils.exercises.engine import QUESTIONS, RECORD_MIME, Question, checkpoint

#: The 21 section question ids, s2_q1 … s8_q3: the lecture's 18 (§2-§7) and notebook 06's three (§8, the course's
#: causal-LM section). The nbNN_... extras and the *_why parts are not among them.
LECTURE_IDS = tuple(f"s{section}_q{n}" for section in range(2, 9) for n in range(1, 4))
#: The content modules, in the order they register.
CONTENT = (s2, s3, s4, s5, s6, s7, s8, extras, why)

__all__ = ["CONTENT", "LECTURE_IDS", "QUESTIONS", "RECORD_MIME", "Question", "checkpoint"]
