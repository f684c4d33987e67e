"""The assignment edition reveals no answer (issue 28, item 1): a held-out-style walk over every question.

For every registered question, in the assignment edition, every public name of what ``checkpoint()`` returns is
read or called (with the notebook's context where check() needs one), and everything it returns, displays or
prints is searched for the right answer, the known wrong answers and the model answer's text.
"""

from __future__ import annotations

import json
import re

import pytest

from course_utils.exercises import engine, variants
from course_utils.exercises.catalog import QUESTIONS, RECORD_MIME, checkpoint
from course_utils.exercises.engine import SealedQuestion

pytestmark = pytest.mark.usefixtures("no_student")  # every test starts and ends without a student

STUDENT = "2026123456"
# a context value per name check() may need (the answers computed from it are searched for too)
CONTEXT = {"measured": 1.37, "data": None, "r": 8, "preset": None}


def _context(question) -> dict:
    if not question.context:
        return {}
    if question.rebuild is not None:
        return question.rebuild()
    if question.id == "s3_q1":
        return {"measured": (8, 57)}
    return {name: CONTEXT[name] for name in question.context}


def _secrets(question, context: dict) -> set[str]:
    """The strings that must not appear: the answer and known wrong answers as a student would copy them, and the
    model answer's clauses."""
    ctx = question._ctx(context, STUDENT)
    secrets = {chunk.strip() for chunk in re.split(r"[.:;()]\s|, |\n", question._fill(question.explanation, STUDENT))
               if len(chunk.strip()) >= 20}
    if not question.checkable:
        return secrets
    values = [question._expected(ctx)] + ([] if question.kind in ("choice", "set") else question._known_wrong(ctx))
    for value in values:
        if isinstance(value, float):
            secrets |= {f"{value:.{d}f}" for d in (1, 2, 3)} | {question._format_expected(value)}
        elif isinstance(value, tuple):
            secrets |= {repr(value), str(list(value))}
        elif isinstance(value, frozenset):
            secrets |= {repr(sorted(value)), json.dumps(sorted(value), ensure_ascii=False)}
    given = json.dumps({k: engine.fingerprint(v) for k, v in context.items()})  # the student's own run (s3_q1)
    return {s for s in secrets if len(s.replace(".", "").lstrip("0")) >= 3 and s not in given}


def _walk(sealed: SealedQuestion, context: dict, shown: list[dict], capsys) -> list[str]:
    """Everything a student can see through the public names: values, returns, displays, prints."""
    seen = [repr(sealed), str(sealed), sealed._repr_markdown_(), json.dumps(dir(sealed))]
    for name in [n for n in dir(sealed) if not n.startswith("_")]:
        value = getattr(sealed, name)
        if callable(value):
            if name in ("check", "verify"):
                for answer in (None, "아무 답", 1.0, ["x"], (1, 2)):
                    seen.append(repr(value(answer, **context)))
            else:
                seen.append(repr(value(**context) if name == "solution" else value()))
        else:
            seen.append(repr(value))
    seen += [json.dumps(b, ensure_ascii=False, default=str) for b in shown]
    out = capsys.readouterr()
    return seen + [out.out, out.err]


@pytest.mark.parametrize("question_id", list(QUESTIONS))
def test_nothing_public_reveals_an_answer_in_the_assignment_edition(question_id, shown, capsys):
    question = QUESTIONS[question_id]
    context = _context(question)
    variants.start_assignment(STUDENT)
    sealed = checkpoint(question_id)
    assert isinstance(sealed, SealedQuestion)
    secrets = _secrets(question, context)
    text = "\n".join(_walk(sealed, context, shown, capsys))
    found = [s for s in secrets if s in text]
    assert not found, f"{question_id} shows {found}"
    for name in ("answer", "explanation", "wrong", "feedback", "why", "expected", "known_wrong", "solution_text",
                 "judge", "rebuild", "draw"):
        assert not hasattr(sealed, name), name
    with pytest.raises(AttributeError):
        sealed.answer = 1  # type: ignore[misc]


@pytest.mark.parametrize("method", ["expected", "known_wrong", "solution_text"])
def test_the_question_objects_refuse_to_give_answers_in_the_assignment_edition(method):
    q = QUESTIONS["s2_q2"]
    assert getattr(q, method)()  # the practice edition answers
    variants.start_assignment(STUDENT)
    with pytest.raises(PermissionError, match="모범 답안"):
        getattr(q, method)()


def test_check_validates_the_form_records_attempts_and_says_no_verdict(shown):
    variants.start_assignment(STUDENT)
    q = checkpoint("s2_q2")
    assert q.check("96.9%") == "invalid" and "숫자로" in shown[-1]["text/plain"]
    assert q.check(140.0) == "invalid" and "0에서 100 사이" in shown[-1]["text/plain"]
    assert q.check(None) == "not_attempted"
    assert q.attempts == 0
    assert q.check(50.0) == "submitted" and q.check(60.0) == "submitted"
    record = shown[-1][RECORD_MIME]
    assert record["attempt"] == 2 and [a["answer"] for a in record["attempts"]] == [50.0, 60.0]
    assert record["edition"] == "assignment" and record["student"] == STUDENT
    assert "score" not in record and "feedback" not in record and record["verdict"] == "submitted"
    assert "시도 2" in shown[-1]["text/plain"] and not re.search("정답|오답|틀렸", shown[-1]["text/plain"])
    assert checkpoint("s4_q3").check("no-such-model") == "invalid"
    assert checkpoint("s4_q2").check(["NF4", "다른 것"]) == "invalid"


def test_the_feedback_policy_turns_verdicts_on_and_limits_attempts(shown):
    q = QUESTIONS["s2_q2"]
    variants.start_assignment(STUDENT, verdicts=True, max_attempts=2)
    right = q._expected(q._ctx({}, STUDENT))
    sealed = checkpoint("s2_q2")
    assert sealed.check(right + 3) == "incorrect" and "아직 아닙니다" in shown[-1]["text/plain"]
    assert f"{right:.1f}" not in shown[-1]["text/plain"]
    assert sealed.check(right) == "correct"
    assert sealed.check(right + 5) == "correct" and "모두 썼습니다" in shown[-1]["text/plain"]  # the counted one
    record = shown[-1][RECORD_MIME]
    assert record["answer"] == right and record["attempt"] == 2 and len(record["attempts"]) == 2
    with pytest.raises(ValueError, match="max_attempts"):
        variants.start_assignment(STUDENT, max_attempts=0)


def test_the_practice_edition_keeps_instant_verdicts(shown):
    q = checkpoint("s2_q2")
    assert not isinstance(q, SealedQuestion)
    assert q.check(96.875) == "correct" and "정답입니다" in shown[-1]["text/plain"]
