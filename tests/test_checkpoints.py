"""Checker self-tests: every solution passes, known wrong answers fail with teaching feedback, ids match notebooks."""

from __future__ import annotations

import ast
import html
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from course_utils.exercises import engine as checkpoints
from course_utils.exercises import kinds
from course_utils.exercises.catalog import CONTENT, LECTURE_IDS, QUESTIONS, RECORD_MIME, checkpoint
from course_utils.exercises.engine import VERDICTS

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
# The fixed contract (brief "checkpoint_api.md"): which notebook holds which lecture questions.
CONTRACT = {
    "01_lora_math": ["s2_q1", "s2_q2", "s2_q3"],
    "02_dora_decomposition": ["s3_q1", "s3_q2", "s3_q3"],
    "03_nf4_quantization": ["s4_q1"],
    "04_qlora_training": ["s4_q2", "s4_q3", "s6_q1", "s6_q2", "s6_q3"],
    "05_method_comparison": ["s5_q1", "s5_q2", "s5_q3", "s7_q1", "s7_q2", "s7_q3"],
    "06_causal_lm_qlora": ["s8_q1", "s8_q2", "s8_q3"],  # §8: the course's causal-LM section (not in the lecture)
}
# Example run-dependent values, as the notebooks would pass them.
CONTEXTS = {
    "s3_q1": {"measured": (8, 384)},
    "s4_q1": {"data": torch.randn(64 * 256, generator=torch.Generator().manual_seed(0))},
    "s6_q1": {"measured": 1.7},
    "s6_q2": {"measured": 0.42},
}
CHECKABLE = [q.id for q in QUESTIONS.values() if q.checkable]
CALL = re.compile(r"""checkpoint\(\s*["']([^"']+)["']\s*\)""")


def test_the_sections_have_21_questions_in_the_contracted_notebooks():
    assert len(LECTURE_IDS) == 21 and set(LECTURE_IDS) <= set(QUESTIONS)  # the lecture's 18 and notebook 06's 3
    for notebook, ids in CONTRACT.items():
        for question_id in ids:
            assert QUESTIONS[question_id].notebook == notebook, question_id
    assert sorted(i for ids in CONTRACT.values() for i in ids) == sorted(LECTURE_IDS)


def test_sections_5_and_7_need_no_context():
    assert all(not QUESTIONS[f"s{s}_q{n}"].context for s in (5, 7) for n in (1, 2, 3))


def test_some_questions_of_every_section_5_and_7_are_checkable():
    assert {"s5_q2", "s5_q3", "s7_q1"} <= set(CHECKABLE)


def test_unknown_id_lists_the_valid_ids():
    with pytest.raises(ValueError, match=r"unknown question_id 's9_q9'.*s2_q1.*s7_q3"):
        checkpoint("s9_q9")
    with pytest.raises(TypeError, match="question_id"):
        checkpoint(22)


@pytest.mark.parametrize("question_id", CHECKABLE)
def test_the_solution_is_accepted(question_id):
    q = checkpoint(question_id)
    context = CONTEXTS.get(question_id, {})
    assert q.verify(q.expected(**context), **context) == "correct"


@pytest.mark.parametrize("question_id", CHECKABLE)
def test_known_wrong_answers_are_rejected(question_id):
    q = checkpoint(question_id)
    context = CONTEXTS.get(question_id, {})
    wrong = q.known_wrong(**context)
    assert len(wrong) >= 2, f"{question_id} needs at least two known wrong answers"
    for answer in wrong:
        assert q.verify(answer, **context) == "incorrect", (question_id, answer)


@pytest.mark.parametrize("question_id", list(QUESTIONS))
@pytest.mark.parametrize("placeholder", [None, ..., "", "   "])
def test_an_untouched_placeholder_is_not_attempted(question_id, placeholder):
    context = CONTEXTS.get(question_id, {})
    assert checkpoint(question_id).verify(placeholder, **context) == "not_attempted"


def test_feedback_teaches_the_usual_mistakes(shown):
    q = checkpoint("s2_q2")
    assert q.check(98.4375) == "incorrect" and "A와 B를 모두 세었나요" in shown[-1]["text/plain"]
    assert q.check(3.125) == "incorrect" and "남는 비율" in shown[-1]["text/plain"]
    assert q.check(0.96875) == "incorrect" and "퍼센트" in shown[-1]["text/plain"]
    assert q.check(90) == "incorrect" and "작습니다" in shown[-1]["text/plain"]
    ranks = checkpoint("s3_q1")
    assert ranks.check((384, 8), measured=(8, 384)) == "incorrect" and "순서" in shown[-1]["text/plain"]
    fits = checkpoint("s7_q1")
    assert fits.check(["full", "lora", "qlora"]) == "incorrect"
    assert "`full`는 해당하지 않습니다" in shown[-1]["text/plain"] and "GiB" in shown[-1]["text/plain"]


def test_numeric_answers_use_a_tolerance_and_accept_numpy_and_torch_scalars():
    q = checkpoint("s2_q2")
    for answer in (96.875, 96.87, np.float32(96.875), torch.tensor(96.875), 96.88):
        assert q.verify(answer) == "correct", answer
    assert q.verify(96.8) == "incorrect"
    for answer in ("96.875", "96.875%", float("nan"), True, [96.875]):
        assert q.verify(answer) == "invalid", answer


def test_choices_and_sets_ignore_case_order_and_container():
    assert checkpoint("s4_q3").verify("  LLAMA-65B ") == "correct"
    assert checkpoint("s4_q2").verify(("paged optimizers", "nf4", "Double Quantization")) == "correct"
    assert checkpoint("s4_q2").verify(k for k in ("NF4", "double quantization", "paged optimizers")) == "correct"
    assert checkpoint("s4_q2").verify(["NF4", "bitsandbytes"]) == "invalid"
    assert checkpoint("s4_q3").verify(33) == "invalid"


def test_option_lists_do_not_give_the_answer_away(shown):
    for question in QUESTIONS.values():
        if isinstance(question, kinds.SetQuestion):
            question.show_options()
            listed = shown[-1]["text/markdown"]
            assert all(f"`{key}`" in listed for key in question.options)
            assert not any(word in listed for word in ("틀림", "불공정", "정답", "아님")), question.id


def test_written_answers_are_recorded_not_judged(shown):
    q = checkpoint("s2_q1")
    assert q.check("필요한 변화의 랭크가 낮기 때문입니다.") == "recorded"
    assert shown[-1][RECORD_MIME]["answer"] == "필요한 변화의 랭크가 낮기 때문입니다."
    assert q.check(42) == "invalid"
    q.solution()
    assert "모범 답안" in shown[-1]["text/plain"] and q.explanation in shown[-1]["text/plain"]
    # a notebook front end shows the HTML: the answer is folded until the student opens it
    folded = shown[-1]["text/html"]
    assert folded.startswith("<details><summary>") and "</summary>" in folded and "<details open" not in folded
    assert html.escape(q.explanation) in folded.split("</summary>", 1)[1]


def test_check_displays_a_json_record_with_id_answer_verdict_and_timestamp(shown):
    verdict = checkpoint("s4_q2").check({"NF4", "paged optimizers", "double quantization"})
    record = shown[-1][RECORD_MIME]
    assert verdict == record["verdict"] == "correct" and record["question"] == "s4_q2"
    assert record["answer"] == ["NF4", "double quantization", "paged optimizers"]  # a set, sorted
    assert datetime.fromisoformat(record["timestamp"]).tzinfo is not None
    assert json.loads(json.dumps(record)) == record and set(record["verdict"]) and verdict in VERDICTS
    checkpoint("s2_q2").check(None)
    assert shown[-1][RECORD_MIME]["verdict"] == "not_attempted" and shown[-1][RECORD_MIME]["answer"] is None


def test_hint_and_solution_record_nothing(shown):
    q = checkpoint("s6_q2")
    q.hint()
    q.solution(measured=0.42)
    assert all(RECORD_MIME not in bundle for bundle in shown)
    assert "0.42" in shown[-1]["text/plain"]


def test_long_written_answers_are_cut_in_the_record(shown):
    checkpoint("s7_q3").check("가" * 10_000)
    assert len(shown[-1][RECORD_MIME]["answer"]) == checkpoints.MAX_RECORDED_CHARS


def test_wrong_context_keywords_raise_a_type_error_naming_them():
    with pytest.raises(TypeError, match="measured"):
        checkpoint("s6_q2").check(0.42)
    with pytest.raises(TypeError, match="unexpected.*measured"):
        checkpoint("s2_q2").check(96.875, measured=1)


def test_outside_ipython_the_feedback_is_printed(capsys):
    assert checkpoint("s2_q2").check(96.875) == "correct"
    assert "정답입니다" in capsys.readouterr().out


def test_check_displays_the_record_in_an_ipython_kernel_like_shell():
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    captured = []
    shell.display_pub.publish = lambda data, metadata=None, **kw: captured.append(data)
    try:
        shell.run_cell("from course_utils.exercises.catalog import checkpoint\ncheckpoint('s2_q2').check(98.4375)")
    finally:
        InteractiveShell.clear_instance()
    records = [data[RECORD_MIME] for data in captured if RECORD_MIME in data]
    assert [r["verdict"] for r in records] == ["incorrect"]


def _module_level_calls(module) -> list[str]:
    """Names of the functions and classes a module calls at import time (its top-level statements)."""
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    top = [node for node in tree.body if not isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    return [node.func.id for stmt in top for node in ast.walk(stmt)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)]


def test_the_engine_holds_no_question_content():
    calls = _module_level_calls(checkpoints)
    kinds = {name for name, value in vars(checkpoints).items()
             if isinstance(value, type) and issubclass(value, checkpoints.Question)}
    assert "register" not in calls and not kinds & set(calls), calls
    assert not hasattr(checkpoints, "LECTURE_IDS")
    # every registered question is one register(...) of the content modules (the why parts: one loop)
    registers = sum(_module_level_calls(module).count("register") for module in CONTENT)
    why = next(module for module in CONTENT if module.__name__.endswith(".why"))
    assert registers - 1 + len(why.WHY) == len(QUESTIONS)
    assert all(q_id in QUESTIONS for q_id in LECTURE_IDS)


def test_the_engine_alone_registers_and_judges_a_toy_question(monkeypatch):
    monkeypatch.setattr(checkpoints, "QUESTIONS", {})
    toy = checkpoints.register(kinds.NumericQuestion(
        id="toy_q1", notebook="99_toy", prompt="2 + 2?", hint_text="더하세요.", explanation="4입니다.", answer=4,
        wrong=(checkpoints.Wrong(22, "숫자를 이어 붙였습니다."),)))
    assert checkpoint("toy_q1") is toy and list(checkpoints.QUESTIONS) == ["toy_q1"]
    assert (toy.verify(4), toy.verify(22), toy.verify("four")) == ("correct", "incorrect", "invalid")
    with pytest.raises(ValueError, match="registered twice"):
        checkpoints.register(toy)
    with pytest.raises(ValueError, match="valid ids: toy_q1"):
        checkpoint("s2_q2")


def test_the_engine_alone_imports_no_content():
    """The engine never imports content: alone it has no question; the catalog registers all of them in order."""
    code = "from course_utils.exercises.engine import QUESTIONS\nprint(len(QUESTIONS))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(out) == 0
    code = "from course_utils.exercises.catalog import QUESTIONS\nprint(' '.join(QUESTIONS))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == list(QUESTIONS)
    lecture = [q_id for q_id in QUESTIONS if q_id in LECTURE_IDS]
    assert lecture == list(LECTURE_IDS)


def _notebook_ids(path: Path) -> list[str]:
    """Ids used in checkpoint("...") calls of a notebook's code cells."""
    nb = nbformat.read(path, as_version=4)
    return [i for cell in nb.cells if cell.cell_type == "code" for i in CALL.findall(cell.source)]


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.name)
def test_every_id_used_in_a_notebook_exists(path):
    unknown = sorted(set(_notebook_ids(path)) - set(QUESTIONS))
    assert not unknown, f"{path.name} uses unknown checkpoint ids {unknown}"


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.name)
def test_a_notebook_uses_only_its_own_questions(path):
    foreign = {i: QUESTIONS[i].notebook for i in _notebook_ids(path) if i in QUESTIONS}
    assert all(notebook == path.stem for notebook in foreign.values()), foreign


def test_every_lecture_question_is_in_exactly_its_contracted_notebook():
    missing = [name for name in CONTRACT if not (NOTEBOOKS / f"{name}.ipynb").exists()]
    assert not missing, f"notebooks not written yet: {missing} (the contract places lecture questions there)"
    used = {path.stem: set(_notebook_ids(path)) for path in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    for question_id in LECTURE_IDS:
        holders = sorted(stem for stem, ids in used.items() if question_id in ids)
        assert holders == [QUESTIONS[question_id].notebook], f"{question_id} appears in {holders}"


def test_fair_prompts_show_what_a_student_needs():
    """s4_q1 shows the function's signature, s4_q2 the accepted names, s5_q2 which options are only recommended."""
    assert 'quantization_mse(x, fmt="nf4", blocksize=64)' in checkpoint("s4_q1").prompt_text()
    s4_q2 = checkpoint("s4_q2").prompt_text()
    assert all(name in s4_q2 for name in ("이중 양자화", "페이지드 옵티마이저", "영어 이름"))
    s5_q2 = checkpoint("s5_q2")
    assert all(key in s5_q2.prompt_text() for key in sorted(s5_q2.optional)) and "필수 항목" in s5_q2.prompt_text()


@pytest.mark.parametrize("answer, verdict", [
    (["NF4", "이중 양자화", "페이지드 옵티마이저"], "correct"),
    (["nf4", "Double-Quantization", "paged optimizer"], "correct"),
    (["NormalFloat4", "double_quantization", "PAGED OPTIMIZERS"], "correct"),
    (["NF4", "이중 양자화", "그래디언트 체크포인팅"], "incorrect"),
    (["NF4", "LoRA 드롭아웃", "paged optimizers"], "incorrect"),
    (["NF4", "양자화"], "invalid"),
])
def test_s4_q2_accepts_korean_and_english_names(answer, verdict):
    assert checkpoint("s4_q2").verify(answer) == verdict


def test_set_question_aliases_point_at_options():
    for question in QUESTIONS.values():
        for alias, key in getattr(question, "aliases", {}).items():
            assert key in question.options, f"{question.id}: alias {alias!r} points at no option ({key!r})"
