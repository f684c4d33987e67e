"""The question kinds of the checkpoint engine: written, numeric, one choice, a set of choices, a tuple.

Each kind says how an answer is judged (``_judge``), what the right answer is (``_expected``) and which wrong
answers it knows (``_known_wrong``); ``ctx`` is the variant's numbers with the notebook's run context on top.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from course_utils.exercises import engine
from course_utils.exercises.engine import Context, Question, Text, Wrong, _text, _to_number


def _value(answer: Any, ctx: Context) -> Any:
    """An answer given as a value or as a function of the context."""
    return answer(ctx) if callable(answer) else answer


@dataclass(repr=False)
class WrittenQuestion(Question):
    """A conceptual question: the written answer is recorded for the instructor; `solution()` shows a model answer."""

    kind = "written"

    def _form(self, answer: object) -> str | None:
        if not isinstance(answer, str):
            return f"이 질문은 문장으로 답합니다. 따옴표로 감싼 문자열로 적어 주세요 (받은 값: {answer!r})."
        return None

    def _judge(self, answer: object, ctx: Context) -> tuple[str, str]:
        problem = self._form(answer)
        return ("invalid", problem) if problem else ("recorded", "답을 기록했습니다. 강사가 읽고 평가합니다.")


@dataclass(repr=False)
class NumericQuestion(Question):
    """A number compared with a tolerance; `decimals` asks for that many decimals and accepts any answer within
    half a unit of the last one (96.9 for 96.875 at one decimal)."""

    answer: float | Callable[[Context], float] = 0.0
    abs_tol: float = 1e-9
    rel_tol: float = 0.0
    decimals: int | None = None
    wrong: tuple[Wrong, ...] = ()
    unit: str = ""
    valid_range: tuple[float, float] | None = None  # the assignment edition's range check (default: from the unit)
    kind = "numeric"

    def _form(self, answer: object) -> str | None:
        value = _to_number(answer)
        if value is None:
            return f"숫자로 답하세요 (따옴표·% 기호 없이, 예: 12.5). 받은 값: {answer!r}"
        unit = self.unit.strip()
        low, high = self.valid_range or ((0.0, 100.0) if unit == "%" else (0.0, math.inf) if unit else (-math.inf,
                                                                                                        math.inf))
        if not low <= value <= high:
            where = f"{low:g}에서 {high:g} 사이" if math.isfinite(high) else f"{low:g} 이상"
            return f"단위가 {unit}인 답은 {where}의 숫자입니다 (받은 값: {answer!r}). 단위를 확인하세요."
        return None

    def _expected(self, ctx: Context) -> float:
        return float(_value(self.answer, ctx))

    def _known_wrong(self, ctx: Context) -> list[float]:
        return [float(_value(w.answer, ctx)) for w in self.wrong]

    def _close(self, a: float, b: float) -> bool:
        """Equal within the question's tolerance (or its asked precision)."""
        abs_tol = max(self.abs_tol, 0.5 * 10.0 ** -self.decimals + 1e-9) if self.decimals is not None else self.abs_tol
        return math.isclose(a, b, rel_tol=self.rel_tol, abs_tol=abs_tol)

    def _judge(self, answer: object, ctx: Context) -> tuple[str, str]:
        value = _to_number(answer)
        if value is None:
            return "invalid", f"숫자로 답하세요 (따옴표·% 기호 없이, 예: 12.5). 받은 값: {answer!r}"
        right = self._expected(ctx)
        if self._close(value, right):
            return "correct", f"정답입니다! {self._format_expected(right)}"
        for wrong, known in zip(self.wrong, self._known_wrong(ctx)):
            if self._close(value, known) and not self._close(known, right):
                return "incorrect", f"{_text(wrong.feedback, ctx)} `q.hint()`도 참고하세요."
        direction = "큽니다" if value > right else "작습니다"
        return "incorrect", f"아직 아닙니다: 답이 정답보다 {direction}. `q.hint()`를 보고 다시 계산해 보세요."

    def _format_expected(self, value: Any) -> str:
        return f"{value:.{self.decimals}f}{self.unit}" if self.decimals is not None else f"{value:.6g}{self.unit}"


def _norm(item: object) -> str:
    """An option as compared: trimmed and lower-case."""
    return str(item).strip().lower()


def _loose(item: object) -> str:
    """A name as compared where spelling may vary: lower-case, without spaces, '-' or '_' ("Double-Quantization")."""
    return re.sub(r"[\s_-]+", "", str(item).lower())


@dataclass(repr=False)
class ChoiceQuestion(Question):
    """Exactly one of `options` (a string); every wrong option has its own feedback."""

    options: tuple[str, ...] = ()
    answer: str | Callable[[Context], str] = ""
    feedback: Mapping[str, Text] = field(default_factory=dict)
    kind = "choice"

    def _form(self, answer: object) -> str | None:
        if not isinstance(answer, str) or _norm(answer) not in {_norm(o) for o in self.options}:
            return f"다음 중 하나를 문자열로 적으세요: {', '.join(map(repr, self.options))} (받은 값: {answer!r})"
        return None

    def _expected(self, ctx: Context) -> str:
        return _value(self.answer, ctx)

    def _known_wrong(self, ctx: Context) -> list[str]:
        right = self._expected(ctx)
        return [option for option in self.options if option != right]

    def _judge(self, answer: object, ctx: Context) -> tuple[str, str]:
        allowed = {_norm(o): o for o in self.options}
        if not isinstance(answer, str) or _norm(answer) not in allowed:
            choices = ", ".join(map(repr, self.options))
            return "invalid", f"다음 중 하나를 문자열로 적으세요: {choices} (받은 값: {answer!r})"
        chosen, right = allowed[_norm(answer)], self._expected(ctx)
        if chosen == right:
            return "correct", f"정답입니다! {right!r}"
        note = _text(self.feedback[chosen], ctx) if chosen in self.feedback else "다시 생각해 보세요."
        return "incorrect", f"{chosen!r}: 정답이 아닙니다. {note}"


@dataclass(repr=False)
class SetQuestion(Question):
    """A set of options (any order, any iterable of strings); feedback names each missing or extra option.

    `optional`: options that are neither required nor wrong (the feedback says so). `partial`: points per option,
    the share of the non-optional options decided right (chosen when required, left out when wrong). `aliases`:
    other accepted names of an option (e.g. its Korean name) -> the option key; options and aliases are matched
    ignoring case, spaces, '-' and '_'.
    """

    options: Mapping[str, str] = field(default_factory=dict)  # key -> what it means (Korean)
    answer: frozenset[str] | Callable[[Context], frozenset[str]] = frozenset()
    why: Mapping[str, Text] = field(default_factory=dict)  # key -> why it is in / out
    wrong_examples: tuple[frozenset[str], ...] = ()
    optional: frozenset[str] = frozenset()
    partial: bool = False
    aliases: Mapping[str, str] = field(default_factory=dict)  # another accepted name -> option key
    kind = "set"

    def _expected(self, ctx: Context) -> frozenset[str]:
        return frozenset(_value(self.answer, ctx))

    def _known_wrong(self, ctx: Context) -> list[frozenset[str]]:
        right = self._expected(ctx)
        one_missing = [right - {key} for key in sorted(right)][:1]
        one_extra = [right | {key} for key in self.options if key not in right and key not in self.optional]
        return [*self.wrong_examples, *one_missing, *one_extra]

    def _chosen(self, answer: object) -> set[str] | str:
        """The chosen option keys, or an error message for an answer of the wrong form."""
        allowed = {_loose(name): key for name, key in self.aliases.items()} | {_loose(key): key for key in self.options}
        items = [answer] if isinstance(answer, str) else list(answer) if isinstance(answer, Iterable) else None
        if items is None or not all(isinstance(a, str) for a in items):
            return f"문자열의 리스트로 적으세요, 예: [{', '.join(map(repr, list(self.options)[:2]))}]"
        unknown = sorted({a for a in items if _loose(a) not in allowed})
        if unknown:
            return f"모르는 항목 {unknown}. 고를 수 있는 것: {', '.join(map(repr, self.options))}"
        return {allowed[_loose(a)] for a in items}

    def _form(self, answer: object) -> str | None:
        chosen = self._chosen(answer)
        return chosen if isinstance(chosen, str) else None

    def _judge(self, answer: object, ctx: Context) -> tuple[str, str]:
        chosen = self._chosen(answer)
        if isinstance(chosen, str):
            return "invalid", chosen
        right = self._expected(ctx)
        scored = chosen - self.optional
        notes = [f"`{key}`는 선택 사항입니다: 골라도 되고 빼도 됩니다. {_text(self.why.get(key, ''), ctx)}".strip()
                 for key in sorted(chosen & self.optional)]
        if scored == right:
            return "correct", " ".join([f"정답입니다! {sorted(right)}", *notes])
        lines = [f"`{key}`가 빠졌습니다: {_text(self.why.get(key, self.options[key]), ctx)}"
                 for key in sorted(right - scored)]
        lines += [f"`{key}`는 해당하지 않습니다: {_text(self.why.get(key, self.options[key]), ctx)}"
                  for key in sorted(scored - right)]
        head = f"{len(right & scored)}/{len(right)}개를 맞혔습니다."
        if self.partial:
            head += f" 부분 점수 {self._score(answer, 'incorrect', ctx):.2f}점 (항목마다 채점)."
        return "incorrect", " ".join([head, *lines, *notes])

    def _score(self, answer: object, verdict: str, ctx: Context) -> float:
        if verdict == "correct":
            return 1.0
        chosen = self._chosen(answer)
        if not self.partial or isinstance(chosen, str):
            return 0.0
        right, graded = self._expected(ctx), [key for key in self.options if key not in self.optional]
        return round(sum((key in chosen) == (key in right) for key in graded) / len(graded), 4)

    def _format_expected(self, value: Any) -> str:
        return repr(sorted(value))

    def show_options(self) -> None:
        """Display the options a student can choose from (keys and neutral descriptions, no verdicts)."""
        lines = [f"- `{key}`: {meaning}" for key, meaning in self.options.items()]
        engine._emit({"text/plain": "\n".join(line.replace("`", "") for line in lines),
                           "text/markdown": "\n".join(lines)})


@dataclass(repr=False)
class TupleQuestion(Question):
    """A tuple of integers (e.g. two ranks); right when equal to `answer`, or when `accept(given, ctx)` holds."""

    answer: tuple[int, ...] | Callable[[Context], tuple[int, ...]] = ()
    wrong: tuple[Wrong, ...] = ()
    labels: tuple[str, ...] = ()
    accept: Callable[[tuple, Context], bool] | None = None
    kind = "tuple"

    def _expected(self, ctx: Context) -> tuple[int, ...]:
        return tuple(_value(self.answer, ctx))

    def _form(self, answer: object) -> str | None:
        size = len(self.labels) or None
        if isinstance(answer, (str, bytes)) or not isinstance(answer, Iterable):
            return f"{size or '여러'}개 값의 튜플로 적으세요: ({', '.join(self.labels)})"
        values = [_to_number(a) for a in answer]
        if (size is not None and len(values) != size) or any(v is None for v in values):
            return f"숫자 {size or ''}개의 튜플로 적으세요: ({', '.join(self.labels)})"
        return None

    def _known_wrong(self, ctx: Context) -> list[tuple[int, ...]]:
        return [tuple(_value(w.answer, ctx)) for w in self.wrong]

    def _judge(self, answer: object, ctx: Context) -> tuple[str, str]:
        right = self._expected(ctx)
        if isinstance(answer, (str, bytes)) or not isinstance(answer, Iterable):
            return "invalid", f"{len(right)}개 값의 튜플로 적으세요: ({', '.join(self.labels)})"
        values = [_to_number(a) for a in answer]
        if len(values) != len(right) or any(v is None for v in values):
            return "invalid", f"숫자 {len(right)}개의 튜플로 적으세요: ({', '.join(self.labels)})"
        given = tuple(int(v) if float(v).is_integer() else v for v in values)
        if given == right or (self.accept is not None and self.accept(given, ctx)):
            return "correct", f"정답입니다! {given}"
        for wrong, known in zip(self.wrong, self._known_wrong(ctx)):
            if given == known and known != right:
                return "incorrect", f"{_text(wrong.feedback, ctx)} `q.hint()`도 참고하세요."
        off = [label for label, g, r in zip(self.labels, given, right) if g != r]
        return "incorrect", f"다시 계산해 보세요. 다른 값: {', '.join(off)}."
