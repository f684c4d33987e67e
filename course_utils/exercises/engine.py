"""Checkpoint exercises that answer back: ``q = checkpoint("s2_q2"); q.check(answer); q.hint(); q.solution()``.

Declarative question classes in the style of Kaggle's learntools: a numeric answer with a tolerance, one choice
from a list, a set of choices, a tuple, or a written (conceptual) answer. Each known wrong answer carries feedback
that teaches ("A와 B를 모두 세었나요?"). Every :meth:`Question.check` displays that feedback together with a
structured record (MIME type :data:`RECORD_MIME`: question id, answer, verdict, score, student id, variant, a
summary of the run's context, timestamp), which ``python -m course_utils grade`` reads from saved notebooks.

This module is the engine (the base class, verdicts, records, the registry and :func:`checkpoint`); it never imports
content. The question kinds live in :mod:`course_utils.exercises.kinds`; the content modules register their questions
here, and :mod:`course_utils.exercises.catalog` imports all of them in lecture order (import the catalog when you need
every question, e.g. ``from course_utils.exercises.catalog import checkpoint``).

Per-student variants (:mod:`course_utils.exercises.variants`): a question with a ``draw`` function takes its numbers
from the
student's seed; its prompt is a template (``{r}``) filled with them, and the judging sees them in the context.

Verdicts: ``"correct"``, ``"incorrect"``, ``"not_attempted"`` (the ``None`` placeholder is untouched),
``"recorded"`` (a written answer, for the instructor), ``"invalid"`` (an answer of the wrong kind) and
``"submitted"`` (the assignment edition: recorded, judged by the grader). ``check`` never raises for a student's
answer; it raises ``TypeError`` only when the notebook passes the wrong context.

The assignment edition (after :func:`~course_utils.exercises.variants.start_assignment`): :func:`checkpoint` returns
a :class:`SealedQuestion`, whose public names show the prompt, the hint and the offered options only. ``check()``
validates the answer's form (type, unit, range, one of the options), records it with its attempt number and the
session's earlier attempts, and says right or wrong only when the assignment's feedback policy turns verdicts on
(``start_assignment(..., verdicts=True, max_attempts=3)``); the record holds no feedback and no score. The question
objects' ``expected()``, ``known_wrong()`` and ``solution_text()`` refuse in that edition.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from course_utils.exercises import variants
from course_utils.exercises.records import (  # noqa: F401  (re-exported)
    MAX_RECORDED_CHARS,
    _to_number,
    fingerprint,
    jsonable,
)

RECORD_MIME = "application/vnd.peft-course.checkpoint+json"
RECORD_VERSION = 2
ASSIGNMENT_RECORD_VERSION = 3  # the assignment edition's record: verdict "submitted", attempt, attempts; no feedback
VERDICTS = ("correct", "incorrect", "not_attempted", "recorded", "invalid", "submitted")
NOT_ATTEMPTED = "아직 답을 적지 않았습니다. `None`을 여러분의 답으로 바꾸고 다시 실행하세요."
WITHHELD = "과제용 노트북에서는 모범 답안을 보여 주지 않습니다. 채점이 끝난 뒤 연습용 노트북에서 확인하세요."
SUBMITTED = "답을 기록했습니다 (시도 {n}{limit}). 맞았는지는 채점 뒤에 알려 드립니다."
NO_ATTEMPTS_LEFT = "시도 횟수({max}회)를 모두 썼습니다. 마지막으로 기록한 답이 채점됩니다."
CURRENT = object()  # "the session's student" (variants.current_student())

Context = Mapping[str, Any]
Text = str | Callable[[Context], str]  # feedback may need the context (e.g. the measured value)


class Verdict(str):
    """A verdict string that shows nothing when it is a cell's last value (the feedback is already displayed)."""

    def _ipython_display_(self) -> None:
        """Display nothing: check() has already shown the feedback."""


@dataclass(frozen=True)
class Wrong:
    """A known wrong answer (a value, or a function of the context) and the feedback that teaches."""

    answer: Any
    feedback: Text


def _text(text: Text, context: Context) -> str:
    """A feedback text, formatted with the context when it is a function."""
    return text(context) if callable(text) else text


def is_placeholder(answer: object) -> bool:
    """True for an untouched placeholder: None, ``...``, or an empty string."""
    return answer is None or answer is Ellipsis or (isinstance(answer, str) and not answer.strip())


@dataclass
class Question:
    """One checkpoint question: prompt, hint, model answer, and how to judge an answer.

    Args:
        id: the question id, ``"s{section}_q{n}"`` for the lecture's questions.
        notebook: the notebook (file stem) that holds it, e.g. ``"01_lora_math"``.
        prompt: the question in Korean (a ``{name}`` template filled with the variant's numbers when `draw` is set).
        hint_text: a hint that points the way without giving the answer (may use the variant's numbers too).
        explanation: the model answer's reasoning (shown by :meth:`solution`; a template like the prompt).
        context: names of the keyword arguments `check` needs from the notebook's run (e.g. ``("measured",)``).
        optional_context: keyword arguments `check` also accepts (e.g. ``("r",)``).
        draw: the per-student variant: a function of a ``random.Random`` that returns the question's numbers.
        default: the numbers of the default variant (the practice edition's, the lecture's).
        rebuild: the run's context rebuilt from seeded data, so that the grader can judge the answer again.
    """

    id: str
    notebook: str
    prompt: str
    hint_text: str
    explanation: str
    context: tuple[str, ...] = ()
    optional_context: tuple[str, ...] = ()
    draw: variants.Draw | None = None
    default: Mapping[str, Any] = field(default_factory=dict)
    rebuild: Callable[[], dict[str, Any]] | None = None
    kind = "written"

    @property
    def checkable(self) -> bool:
        """Whether the answer is judged automatically (False for written answers)."""
        return self.kind != "written"

    # -- the variant ----------------------------------------------------------------------------------------
    def params(self, student: object = CURRENT) -> dict[str, Any]:
        """The numbers of this question for `student` (default: the session's student; None: the default variant)."""
        who = variants.current_student() if student is CURRENT else student
        return variants.params_for(self.id, self.draw, self.default, None if who is None else str(who))

    def _fill(self, text: str, student: object = CURRENT) -> str:
        """A template filled with the variant's numbers (texts of questions without variants are left as they are)."""
        return text.format_map(self.params(student)) if self.draw or self.default else text

    def prompt_text(self, student: object = CURRENT) -> str:
        """The prompt with the student's own numbers."""
        return self._fill(self.prompt, student)

    # -- the judging, per kind (ctx = the variant's numbers plus the run's context) -------------------------
    def _judge(self, answer: object, ctx: Context) -> tuple[str, str]:
        """(verdict, feedback) for a non-placeholder answer."""
        raise NotImplementedError

    def _score(self, answer: object, verdict: str, ctx: Context) -> float:
        """Points out of 1 (partial credit where a kind allows it)."""
        return 1.0 if verdict == "correct" else 0.0

    def _expected(self, ctx: Context) -> Any:
        """The right answer for the full context."""
        return None

    def _known_wrong(self, ctx: Context) -> list[Any]:
        """Known wrong answers for the full context."""
        return []

    def _ctx(self, context: Context, student: object = CURRENT) -> dict[str, Any]:
        """The variant's numbers with the run's context on top."""
        return {**self.params(student), **context}

    def expected(self, **context: Any) -> Any:
        """The right answer (for checkable questions) for the session's student and the run's context (practice
        edition only: the assignment edition raises PermissionError)."""
        _refuse_in_assignment("expected()")
        return self._expected(self._ctx(context))

    def known_wrong(self, **context: Any) -> list[Any]:
        """Known wrong answers (each has targeted feedback); used by the self-tests (practice edition only)."""
        _refuse_in_assignment("known_wrong()")
        return self._known_wrong(self._ctx(context))

    def form_problem(self, answer: object) -> str | None:
        """Why `answer` has the wrong form (type, unit, range, not an offered option), or None: judged without the
        right answer, so the assignment edition can say it."""
        return None if is_placeholder(answer) else self._form(answer)

    def _form(self, answer: object) -> str | None:
        """The kind's form check of a non-placeholder answer (None: the form is right)."""
        return None

    def judge(self, answer: object, context: Context, student: object = CURRENT) -> tuple[Verdict, str, float]:
        """(verdict, feedback, score) of `answer` for `student`'s variant; what check() shows and grade() recomputes."""
        if is_placeholder(answer):
            return Verdict("not_attempted"), NOT_ATTEMPTED, 0.0
        ctx = self._ctx(context, student)
        verdict, feedback = self._judge(answer, ctx)
        return Verdict(verdict), feedback, self._score(answer, verdict, ctx)

    # -- the student API ------------------------------------------------------------------------------------
    def _check_context(self, context: Context) -> None:
        """TypeError naming the keyword arguments when the notebook passes the wrong context."""
        missing = [name for name in self.context if name not in context]
        extra = sorted(set(context) - set(self.context) - set(self.optional_context))
        if missing or extra:
            needed = ", ".join(f"{name}=..." for name in self.context) or "no keyword arguments"
            raise TypeError(f"checkpoint {self.id!r}: check() needs {needed}; "
                            f"missing {missing or 'none'}, unexpected {extra or 'none'}")

    def verify(self, answer: object, **context: Any) -> Verdict:
        """The verdict alone, with nothing displayed or recorded (for a notebook's own asserts and tests); in the
        assignment edition only the form is checked ("invalid" or "submitted", or the verdict when verdicts are on)."""
        self._check_context(context)
        if variants.assignment_mode():
            if is_placeholder(answer) or self.form_problem(answer):
                return Verdict("not_attempted" if is_placeholder(answer) else "invalid")
            return self.judge(answer, context)[0] if variants.policy()["verdicts"] else Verdict("submitted")
        return self.judge(answer, context)[0]

    def check(self, answer: object = None, **context: Any) -> Verdict:
        """Judge `answer`, display Korean feedback plus a grading record, and return the verdict (the assignment
        edition: validate the form and record the attempt, see :meth:`_submit`)."""
        self._check_context(context)
        if variants.assignment_mode():
            return self._submit(answer, context)
        verdict, feedback, score = self.judge(answer, context)
        record = {"version": RECORD_VERSION, "question": self.id, "kind": self.kind, "answer": jsonable(answer),
                  "verdict": str(verdict), "score": score, "feedback": feedback,
                  "student": variants.current_student(), "variant": self.params() if self.draw else None,
                  "context": {name: fingerprint(value) for name, value in sorted(context.items())},
                  "timestamp": datetime.now(UTC).isoformat(timespec="seconds")}
        icon = {"correct": "✅", "incorrect": "❌", "invalid": "⚠️", "recorded": "📝", "not_attempted": "⏳"}[verdict]
        _emit({RECORD_MIME: record, "text/plain": f"{icon} [{self.id}] {feedback}",
               "text/markdown": f"{icon} **[{self.id}]** {feedback}"})
        return verdict

    def _submit(self, answer: object, context: Context) -> Verdict:
        """The assignment edition's check: the form is validated, a valid answer is recorded as the next attempt
        (with the session's earlier ones); no feedback, no score, no verdict unless the policy turns verdicts on."""
        rules, problem = variants.policy(), self.form_problem(answer)
        history = variants.attempts(self.id)
        used, limit = len(history), rules["max_attempts"]
        verdict = Verdict("not_attempted" if is_placeholder(answer) else "invalid" if problem else "submitted")
        if verdict == "submitted" and limit is not None and used >= limit:
            answer, verdict, problem = history[-1]["answer"], Verdict("submitted"), NO_ATTEMPTS_LEFT.format(max=limit)
        elif verdict == "submitted":
            history.append({"answer": jsonable(answer), "timestamp": datetime.now(UTC).isoformat(timespec="seconds")})
        if verdict == "submitted" and rules["verdicts"]:
            verdict = self.judge(answer, context)[0]
        record = {"version": ASSIGNMENT_RECORD_VERSION, "question": self.id, "kind": self.kind,
                  "answer": jsonable(answer), "verdict": str(verdict), "edition": "assignment",
                  "attempt": len(history) or None, "attempts": list(history), "student": variants.current_student(),
                  "variant": self.params() if self.draw else None,
                  "context": {name: fingerprint(value) for name, value in sorted(context.items())},
                  "timestamp": datetime.now(UTC).isoformat(timespec="seconds")}
        text = {"not_attempted": NOT_ATTEMPTED, "invalid": problem, "correct": "맞았습니다.",
                "incorrect": "아직 아닙니다. 다시 생각해 보세요.", "recorded": "", "submitted": ""}[verdict]
        text = problem or text or SUBMITTED.format(n=len(history), limit=f"/{limit}" if limit else "")
        icon = {"correct": "✅", "incorrect": "❌", "invalid": "⚠️", "not_attempted": "⏳"}.get(verdict, "📨")
        _emit({RECORD_MIME: record, "text/plain": f"{icon} [{self.id}] {text}",
               "text/markdown": f"{icon} **[{self.id}]** {text}"})
        return verdict

    def hint(self) -> None:
        """Display the hint."""
        text = self._fill(self.hint_text)
        _emit({"text/plain": f"💡 [{self.id}] 힌트: {text}", "text/markdown": f"💡 **[{self.id}] 힌트:** {text}"})

    def solution_text(self, **context: Any) -> str:
        """The model answer as text (with the computed value where the question has one); practice edition only."""
        _refuse_in_assignment("solution_text()")
        explanation = self._fill(self.explanation)
        if self.checkable and all(name in context for name in self.context):
            return f"정답: {self._format_expected(self.expected(**context))}. {explanation}"
        return explanation

    def solution(self, **context: Any) -> None:
        """Display the model answer; in the assignment edition, a note that solutions are withheld."""
        if variants.assignment_mode():
            _emit({"text/plain": f"🔒 [{self.id}] {WITHHELD}", "text/markdown": f"🔒 **[{self.id}]** {WITHHELD}"})
            return
        text = self.solution_text(**context)
        # folded until clicked: a saved or exported notebook does not show the answer to whoever reads it first
        folded = (f"<details><summary>📖 [{self.id}] 모범 답안 보기 (먼저 스스로 풀어 보세요)</summary>"
                  f"<p>{html.escape(text)}</p></details>")
        _emit({"text/plain": f"📖 [{self.id}] 모범 답안: {text}", "text/html": folded,
               "text/markdown": f"📖 **[{self.id}] 모범 답안:** {text}"})

    def _format_expected(self, value: Any) -> str:
        """The right answer as a student would write it."""
        return repr(value)

    def __repr__(self) -> str:
        return f"checkpoint({self.id!r}): {self.prompt_text()}"

    def _repr_markdown_(self) -> str:
        """The prompt with the student's own numbers, when `q` is a cell's last value."""
        return f"**[{self.id}]** {self.prompt_text()}"


def _refuse_in_assignment(what: str) -> None:
    """PermissionError in the assignment edition: `what` would show an answer."""
    if variants.assignment_mode():
        raise PermissionError(f"{what}: {WITHHELD}")


class SealedQuestion:
    """What a student holds in the assignment edition: the prompt, the hint, the offered options and check().

    No public name, attribute, repr or display returns the right answer, the model answer or the known wrong
    answers (``tests/test_sealed.py`` walks them for every question)."""

    __slots__ = ("_q",)

    def __init__(self, question: Question) -> None:
        object.__setattr__(self, "_q", question)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"checkpoint {self._q.id!r} is read-only")

    id = property(lambda self: self._q.id, doc="the question id")
    notebook = property(lambda self: self._q.notebook, doc="the notebook that holds it")
    kind = property(lambda self: self._q.kind, doc="the question kind")
    context = property(lambda self: self._q.context, doc="the keyword arguments check() needs")
    options = property(lambda self: getattr(self._q, "options", ()), doc="the options to choose from (if any)")

    @property
    def attempts(self) -> int:
        """How many answers this session recorded for the question."""
        return len(variants.attempts(self._q.id))

    def prompt_text(self) -> str:
        """The prompt with the student's own numbers."""
        return self._q.prompt_text()

    def hint(self) -> None:
        """Display the hint."""
        self._q.hint()

    def show_options(self) -> None:
        """Display the options (set questions)."""
        getattr(self._q, "show_options", lambda: None)()

    def check(self, answer: object = None, **context: Any) -> Verdict:
        """Validate the form of `answer` and record it (see Question._submit)."""
        return self._q.check(answer, **context)

    def verify(self, answer: object, **context: Any) -> Verdict:
        """The form of `answer` only ("invalid", "submitted"), nothing recorded."""
        return self._q.verify(answer, **context)

    def solution(self, **context: Any) -> None:
        """Say that solutions are withheld in the assignment edition."""
        self._q.solution(**context)

    def __repr__(self) -> str:
        return repr(self._q)

    def _repr_markdown_(self) -> str:
        return self._q._repr_markdown_()


def _emit(bundle: dict[str, Any]) -> None:
    """Display a MIME bundle in IPython (Jupyter, Colab); print its text elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with the course's dependencies
        print(bundle["text/plain"])
        return
    if get_ipython() is None:
        print(bundle["text/plain"])
    else:
        display(bundle, raw=True)


# ------------------------------------------------------------------------------------------------------------
# The registry: the content modules fill it when imported (course_utils.exercises.catalog imports them all)
# ------------------------------------------------------------------------------------------------------------

QUESTIONS: dict[str, Question] = {}


def register(question: Question) -> Question:
    """Add a question to the registry (ids are unique)."""
    if question.id in QUESTIONS:
        raise ValueError(f"question id {question.id!r} is registered twice")
    QUESTIONS[question.id] = question
    return question


def checkpoint(question_id: str) -> Question | SealedQuestion:
    """The checkpoint question `question_id` (sealed in the assignment edition); a ValueError lists the valid ids."""
    if not isinstance(question_id, str):
        raise TypeError(f"question_id must be a string such as 's2_q2', got {question_id!r}")
    if question_id not in QUESTIONS:
        raise ValueError(f"unknown question_id {question_id!r}; valid ids: {', '.join(QUESTIONS)}")
    return SealedQuestion(QUESTIONS[question_id]) if variants.assignment_mode() else QUESTIONS[question_id]

