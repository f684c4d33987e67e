"""Checkpoint exercises that answer back: ``q = checkpoint("s2_q2"); q.check(answer); q.hint(); q.solution()``.

Declarative question classes in the style of Kaggle's learntools: a numeric answer with a tolerance, one choice
from a list, a set of choices, a tuple, or a written (conceptual) answer. Each known wrong answer carries feedback
that teaches ("A와 B를 모두 세었나요?"). Every :meth:`Question.check` displays that feedback together with a
structured record (MIME type :data:`RECORD_MIME`: question id, answer, verdict, timestamp), which
``python -m course_utils.grade`` reads from saved notebooks without running them.

This module is the engine (question classes, verdicts, records, the registry and :func:`checkpoint`); the
questions themselves live in :mod:`course_utils.questions`, which this module imports last so that
:data:`QUESTIONS` is complete after any import of it.

Verdicts: ``"correct"``, ``"incorrect"``, ``"not_attempted"`` (the ``None`` placeholder is untouched),
``"recorded"`` (a written answer, for the instructor) and ``"invalid"`` (an answer of the wrong kind, e.g. text
where a number is asked). ``check`` never raises for a student's answer; it raises ``TypeError`` only when the
notebook passes the wrong context keywords.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

RECORD_MIME = "application/vnd.peft-course.checkpoint+json"
RECORD_VERSION = 1
VERDICTS = ("correct", "incorrect", "not_attempted", "recorded", "invalid")
NOT_ATTEMPTED = "아직 답을 적지 않았습니다. `None`을 여러분의 답으로 바꾸고 다시 실행하세요."
MAX_RECORDED_CHARS = 2000  # a written answer longer than this is cut in the record

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


def _is_placeholder(answer: object) -> bool:
    """True for an untouched placeholder: None, ``...``, or an empty string."""
    return answer is None or answer is Ellipsis or (isinstance(answer, str) and not answer.strip())


def _to_number(answer: object) -> float | None:
    """`answer` as a finite float (ints, floats, numpy/torch scalars), or None if it is not a number."""
    if isinstance(answer, (bool, str, bytes)):
        return None
    try:
        value = float(answer)  # type: ignore[arg-type]
    except (TypeError, ValueError, RuntimeError):
        return None
    return value if math.isfinite(value) else None


def jsonable(answer: object) -> Any:
    """The answer as plain JSON (sets sorted, tuples as lists, scalars as numbers, long text cut)."""
    if answer is None or isinstance(answer, (bool, int)):
        return answer
    if isinstance(answer, str):
        return answer[:MAX_RECORDED_CHARS]
    if isinstance(answer, float):
        return answer if math.isfinite(answer) else repr(answer)
    if isinstance(answer, (set, frozenset)):
        return sorted((jsonable(a) for a in answer), key=repr)
    if isinstance(answer, (list, tuple)):
        return [jsonable(a) for a in list(answer)[:100]]
    number = _to_number(answer)
    if number is not None:
        return int(number) if number.is_integer() and "int" in type(answer).__name__.lower() else number
    return repr(answer)[:MAX_RECORDED_CHARS]


@dataclass
class Question:
    """One checkpoint question: prompt, hint, model answer, and how to judge an answer.

    Args:
        id: the question id, ``"s{section}_q{n}"`` for the lecture's questions.
        notebook: the notebook (file stem) that holds it, e.g. ``"01_lora_math"``.
        prompt: the question in Korean.
        hint_text: a hint that points the way without giving the answer.
        explanation: the model answer's reasoning (shown by :meth:`solution`).
        context: names of the keyword arguments `check` needs from the notebook's run (e.g. ``("measured",)``).
    """

    id: str
    notebook: str
    prompt: str
    hint_text: str
    explanation: str
    context: tuple[str, ...] = ()
    kind = "written"

    @property
    def checkable(self) -> bool:
        """Whether the answer is judged automatically (False for written answers)."""
        return self.kind != "written"

    # -- the judging, per kind ------------------------------------------------------------------------------
    def _judge(self, answer: object, context: Context) -> tuple[str, str]:
        """(verdict, feedback) for a non-placeholder answer."""
        raise NotImplementedError

    def expected(self, **context: Any) -> Any:
        """The right answer (for checkable questions), computed from the context where it depends on the run."""
        return None

    def known_wrong(self, **context: Any) -> list[Any]:
        """Known wrong answers (each has targeted feedback); used by the self-tests."""
        return []

    # -- the student API ------------------------------------------------------------------------------------
    def _check_context(self, context: Context) -> None:
        """TypeError naming the keyword arguments when the notebook passes the wrong context."""
        missing = [name for name in self.context if name not in context]
        extra = sorted(set(context) - set(self.context))
        if missing or extra:
            needed = ", ".join(f"{name}=..." for name in self.context) or "no keyword arguments"
            raise TypeError(f"checkpoint {self.id!r}: check() needs {needed}; "
                            f"missing {missing or 'none'}, unexpected {extra or 'none'}")

    def verify(self, answer: object, **context: Any) -> Verdict:
        """The verdict alone, with nothing displayed or recorded (for a notebook's own asserts and tests)."""
        self._check_context(context)
        return self._evaluate(answer, context)[0]

    def _evaluate(self, answer: object, context: Context) -> tuple[Verdict, str]:
        """(verdict, feedback) for any answer, placeholders included."""
        if _is_placeholder(answer):
            verdict, feedback = "not_attempted", NOT_ATTEMPTED
        else:
            verdict, feedback = self._judge(answer, context)
        return Verdict(verdict), feedback

    def check(self, answer: object = None, **context: Any) -> Verdict:
        """Judge `answer`, display Korean feedback plus a grading record, and return the verdict."""
        self._check_context(context)
        verdict, feedback = self._evaluate(answer, context)
        record = {"version": RECORD_VERSION, "question": self.id, "kind": self.kind, "answer": jsonable(answer),
                  "verdict": str(verdict), "timestamp": datetime.now(UTC).isoformat(timespec="seconds")}
        icon = {"correct": "✅", "incorrect": "❌", "invalid": "⚠️", "recorded": "📝", "not_attempted": "⏳"}[verdict]
        _emit({RECORD_MIME: record, "text/plain": f"{icon} [{self.id}] {feedback}",
               "text/markdown": f"{icon} **[{self.id}]** {feedback}"})
        return verdict

    def hint(self) -> None:
        """Display the hint."""
        _emit({"text/plain": f"💡 [{self.id}] 힌트: {self.hint_text}",
               "text/markdown": f"💡 **[{self.id}] 힌트:** {self.hint_text}"})

    def solution_text(self, **context: Any) -> str:
        """The model answer as text (with the computed value where the question has one)."""
        if self.checkable and all(name in context for name in self.context):
            return f"정답: {self._format_expected(self.expected(**context))}. {self.explanation}"
        return self.explanation

    def solution(self, **context: Any) -> None:
        """Display the model answer (pass the same context as to check() to see the computed value)."""
        text = self.solution_text(**context)
        _emit({"text/plain": f"📖 [{self.id}] 모범 답안: {text}",
               "text/markdown": f"📖 **[{self.id}] 모범 답안:** {text}"})

    def _format_expected(self, value: Any) -> str:
        """The right answer as a student would write it."""
        return repr(value)

    def __repr__(self) -> str:
        return f"checkpoint({self.id!r}): {self.prompt}"

    def _repr_markdown_(self) -> str:
        """The prompt, when `q` is a cell's last value."""
        return f"**[{self.id}]** {self.prompt}"


@dataclass(repr=False)
class WrittenQuestion(Question):
    """A conceptual question: the written answer is recorded for the instructor; `solution()` shows a model answer."""

    kind = "written"

    def _judge(self, answer: object, context: Context) -> tuple[str, str]:
        if not isinstance(answer, str):
            return "invalid", f"이 질문은 문장으로 답합니다. 따옴표로 감싼 문자열로 적어 주세요 (받은 값: {answer!r})."
        return "recorded", "답을 기록했습니다. `q.solution()`으로 모범 답안과 비교해 보세요."


@dataclass(repr=False)
class NumericQuestion(Question):
    """A number compared with a tolerance; `answer` is a number or a function of the context."""

    answer: float | Callable[[Context], float] = 0.0
    abs_tol: float = 1e-9
    rel_tol: float = 0.0
    wrong: tuple[Wrong, ...] = ()
    unit: str = ""
    kind = "numeric"

    def expected(self, **context: Any) -> float:
        return float(self.answer(context) if callable(self.answer) else self.answer)

    def known_wrong(self, **context: Any) -> list[float]:
        return [float(w.answer(context) if callable(w.answer) else w.answer) for w in self.wrong]

    def _close(self, a: float, b: float) -> bool:
        """Equal within the question's tolerance."""
        return math.isclose(a, b, rel_tol=self.rel_tol, abs_tol=self.abs_tol)

    def _judge(self, answer: object, context: Context) -> tuple[str, str]:
        value = _to_number(answer)
        if value is None:
            return "invalid", f"숫자로 답하세요 (따옴표·% 기호 없이, 예: 12.5). 받은 값: {answer!r}"
        right = self.expected(**context)
        if self._close(value, right):
            return "correct", f"정답입니다! {self._format_expected(right)}"
        for wrong, known in zip(self.wrong, self.known_wrong(**context)):
            if self._close(value, known) and not self._close(known, right):
                return "incorrect", f"{_text(wrong.feedback, context)} `q.hint()`도 참고하세요."
        direction = "큽니다" if value > right else "작습니다"
        return "incorrect", f"아직 아닙니다: 답이 정답보다 {direction}. `q.hint()`를 보고 다시 계산해 보세요."

    def _format_expected(self, value: Any) -> str:
        return f"{value:.6g}{self.unit}"


def _norm(item: object) -> str:
    """An option as compared: trimmed and lower-case."""
    return str(item).strip().lower()


@dataclass(repr=False)
class ChoiceQuestion(Question):
    """Exactly one of `options` (a string); every wrong option has its own feedback."""

    options: tuple[str, ...] = ()
    answer: str | Callable[[Context], str] = ""
    feedback: Mapping[str, Text] = field(default_factory=dict)
    kind = "choice"

    def expected(self, **context: Any) -> str:
        return self.answer(context) if callable(self.answer) else self.answer

    def known_wrong(self, **context: Any) -> list[str]:
        right = self.expected(**context)
        return [option for option in self.options if option != right]

    def _judge(self, answer: object, context: Context) -> tuple[str, str]:
        allowed = {_norm(o): o for o in self.options}
        if not isinstance(answer, str) or _norm(answer) not in allowed:
            choices = ", ".join(map(repr, self.options))
            return "invalid", f"다음 중 하나를 문자열로 적으세요: {choices} (받은 값: {answer!r})"
        chosen, right = allowed[_norm(answer)], self.expected(**context)
        if chosen == right:
            return "correct", f"정답입니다! {right!r}"
        note = _text(self.feedback[chosen], context) if chosen in self.feedback else "다시 생각해 보세요."
        return "incorrect", f"{chosen!r}는 아닙니다. {note}"

    def _format_expected(self, value: Any) -> str:
        return repr(value)


@dataclass(repr=False)
class SetQuestion(Question):
    """A set of options (any order, any iterable of strings); feedback names each missing or extra option."""

    options: Mapping[str, str] = field(default_factory=dict)  # key -> what it means (Korean)
    answer: frozenset[str] | Callable[[Context], frozenset[str]] = frozenset()
    why: Mapping[str, Text] = field(default_factory=dict)  # key -> why it is in / out
    wrong_examples: tuple[frozenset[str], ...] = ()
    kind = "set"

    def expected(self, **context: Any) -> frozenset[str]:
        return frozenset(self.answer(context) if callable(self.answer) else self.answer)

    def known_wrong(self, **context: Any) -> list[frozenset[str]]:
        right = self.expected(**context)
        one_missing = [right - {key} for key in sorted(right)][:1]
        one_extra = [right | {key} for key in self.options if key not in right]
        return [*self.wrong_examples, *one_missing, *one_extra]

    def _judge(self, answer: object, context: Context) -> tuple[str, str]:
        allowed = {_norm(key): key for key in self.options}
        if isinstance(answer, str):
            answer = [answer]
        answer = list(answer) if isinstance(answer, Iterable) else None
        if answer is None or not all(isinstance(a, str) for a in answer):
            return "invalid", f"문자열의 리스트로 적으세요, 예: [{', '.join(map(repr, list(self.options)[:2]))}]"
        unknown = sorted({a for a in answer if _norm(a) not in allowed})
        if unknown:
            return "invalid", f"모르는 항목 {unknown}. 고를 수 있는 것: {', '.join(map(repr, self.options))}"
        chosen, right = {allowed[_norm(a)] for a in answer}, self.expected(**context)
        if chosen == right:
            return "correct", f"정답입니다! {sorted(right)}"
        lines = [f"`{key}`가 빠졌습니다: {_text(self.why.get(key, self.options[key]), context)}"
                 for key in sorted(right - chosen)]
        lines += [f"`{key}`는 해당하지 않습니다: {_text(self.why.get(key, self.options[key]), context)}"
                  for key in sorted(chosen - right)]
        return "incorrect", f"{len(right & chosen)}/{len(right)}개를 맞혔습니다. " + " ".join(lines)

    def _format_expected(self, value: Any) -> str:
        return repr(sorted(value))

    def show_options(self) -> None:
        """Display the options a student can choose from (keys and neutral descriptions, no verdicts)."""
        lines = [f"- `{key}`: {meaning}" for key, meaning in self.options.items()]
        _emit({"text/plain": "\n".join(line.replace("`", "") for line in lines), "text/markdown": "\n".join(lines)})


@dataclass(repr=False)
class TupleQuestion(Question):
    """A tuple of integers (e.g. two ranks), compared exactly; the right tuple may come from the context."""

    answer: tuple[int, ...] | Callable[[Context], tuple[int, ...]] = ()
    wrong: tuple[Wrong, ...] = ()
    labels: tuple[str, ...] = ()
    kind = "tuple"

    def expected(self, **context: Any) -> tuple[int, ...]:
        return tuple(self.answer(context) if callable(self.answer) else self.answer)

    def known_wrong(self, **context: Any) -> list[tuple[int, ...]]:
        return [tuple(w.answer(context) if callable(w.answer) else w.answer) for w in self.wrong]

    def _judge(self, answer: object, context: Context) -> tuple[str, str]:
        right = self.expected(**context)
        if isinstance(answer, (str, bytes)) or not isinstance(answer, Iterable):
            return "invalid", f"{len(right)}개 값의 튜플로 적으세요: ({', '.join(self.labels)})"
        values = [_to_number(a) for a in answer]
        if len(values) != len(right) or any(v is None for v in values):
            return "invalid", f"숫자 {len(right)}개의 튜플로 적으세요: ({', '.join(self.labels)})"
        given = tuple(int(v) if float(v).is_integer() else v for v in values)
        if given == right:
            return "correct", f"정답입니다! {right}"
        for wrong, known in zip(self.wrong, self.known_wrong(**context)):
            if given == known and known != right:
                return "incorrect", f"{_text(wrong.feedback, context)} `q.hint()`도 참고하세요."
        off = [label for label, g, r in zip(self.labels, given, right) if g != r]
        return "incorrect", f"다시 계산해 보세요: {', '.join(off)}이(가) 다릅니다."


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
# The registry: course_utils.questions fills it (imported at the end of this module)
# ------------------------------------------------------------------------------------------------------------

QUESTIONS: dict[str, Question] = {}


def register(question: Question) -> Question:
    """Add a question to the registry (ids are unique)."""
    if question.id in QUESTIONS:
        raise ValueError(f"question id {question.id!r} is registered twice")
    QUESTIONS[question.id] = question
    return question


def checkpoint(question_id: str) -> Question:
    """The checkpoint question `question_id`; a ValueError lists the valid ids."""
    if not isinstance(question_id, str):
        raise TypeError(f"question_id must be a string such as 's2_q2', got {question_id!r}")
    if question_id not in QUESTIONS:
        raise ValueError(f"unknown question_id {question_id!r}; valid ids: {', '.join(QUESTIONS)}")
    return QUESTIONS[question_id]


# The content registers its questions on import. Importing it last (every name above already exists) keeps
# `from course_utils.checkpoints import QUESTIONS` complete, while this module holds no question of its own.
from course_utils import questions  # noqa: E402, F401
