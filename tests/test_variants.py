"""Per-student variants and fair checkers (issue 15, items 2 and 3), as a student meets them in check()."""

from __future__ import annotations

import unicodedata

import pytest

from course_utils.exercises import variants
from course_utils.exercises.catalog import QUESTIONS, RECORD_MIME, checkpoint
from course_utils.exercises.computed import s2_q2_variants
from course_utils.exercises.engine import WITHHELD
from course_utils.exercises.why import WHY
from course_utils.memory.estimate import GIB, GPU_GIB, estimate_training_memory

pytestmark = pytest.mark.usefixtures("no_student")  # every test starts and ends without a student

VARIANT_IDS = [q.id for q in QUESTIONS.values() if q.draw]
ALICE, BOB = "2026000001", "2026000002"


def test_the_formula_questions_have_variants():
    assert {"s2_q2", "nb00_full_ft_13b", "nb03_dq_saving", "s8_q1", "s8_q3"} <= set(VARIANT_IDS)


def test_without_a_student_the_default_variant_is_the_lectures():
    assert checkpoint("s2_q2").expected() == 96.875
    assert checkpoint("nb00_full_ft_13b").expected() == 208
    assert round(checkpoint("nb03_dq_saving").expected(), 2) == 3.03
    assert "1024×1024" in checkpoint("s2_q2").prompt_text() and "r=16" in checkpoint("s2_q2").prompt_text()


@pytest.mark.parametrize("question_id", VARIANT_IDS)
def test_two_students_get_different_numbers_and_a_copied_answer_fails(question_id, capsys):
    q = checkpoint(question_id)
    assert q.params(ALICE) != q.params(BOB) and q.prompt_text(ALICE) != q.prompt_text(BOB)
    assert q.params(ALICE) != q.params(None) and q.params(ALICE) == q.params(" 2026000001 ")  # stable, normalized
    bobs, alices = (q._expected(q._ctx({}, who)) for who in (BOB, ALICE))
    variants.start_assignment(BOB, verdicts=True)  # a feedback policy that says right or wrong
    assert checkpoint(question_id).check(bobs) == "correct"
    variants.start_assignment(ALICE, verdicts=True)
    sealed = checkpoint(question_id)
    assert all(str(v) in repr(sealed) for v in q.params(ALICE).values())  # the prompt shows her numbers
    assert sealed.check(bobs) == "incorrect"  # Bob's number is wrong for Alice
    assert sealed.check(alices) == "correct"
    capsys.readouterr()


def test_variants_are_spread_over_many_students():
    for question_id in VARIANT_IDS:
        q = checkpoint(question_id)
        seen = {tuple(sorted(q.params(f"student{n}").items())) for n in range(200)}
        assert len(seen) >= 5, question_id


def test_every_s2_q2_variant_has_its_own_answer_far_from_the_known_wrong_ones():
    q = checkpoint("s2_q2")
    answers = [q._expected(v) for v in s2_q2_variants()]
    assert len(answers) >= 10 and min(abs(a - b) for i, a in enumerate(answers) for b in answers[:i]) >= 0.2
    for v in s2_q2_variants():
        for wrong in q._known_wrong(v):
            assert q._judge(wrong, v)[0] == "incorrect", (v, wrong)


def test_the_record_stores_the_student_and_the_variant(shown):
    variants.start_assignment("Kim Minsu")
    checkpoint("s2_q2").check(90.0)
    record = shown[-1][RECORD_MIME]
    assert record["student"] == "kim minsu" and record["variant"] == QUESTIONS["s2_q2"].params("kim minsu")
    assert "feedback" not in record and "score" not in record and record["verdict"] == "submitted"


def test_student_ids_are_unicode_normalized():
    nfd = unicodedata.normalize("NFD", "김민수")
    assert nfd != "김민수" and variants.normalize_id(nfd) == variants.normalize_id("김민수 ")
    assert variants.seed_for(nfd, "s2_q2") == variants.seed_for("김민수", "s2_q2")


def test_a_missing_student_id_says_what_to_write():
    with pytest.raises(ValueError, match="STUDENT_ID를 적으세요"):
        variants.start_assignment(None)
    with pytest.raises(ValueError, match="STUDENT_ID를 적으세요"):
        variants.start_assignment("  ")
    with pytest.raises(TypeError, match="student id"):
        variants.normalize_id(3.5)


def test_the_assignment_edition_withholds_solutions(shown):
    variants.start_assignment(ALICE)
    for question in QUESTIONS.values():
        question.solution()
        assert WITHHELD in shown[-1]["text/plain"] and question.explanation not in shown[-1]["text/plain"]
    variants.end_assignment()
    checkpoint("s2_q1").solution()
    assert "모범 답안" in shown[-1]["text/plain"]


# -- fair checkers --------------------------------------------------------------------------------------------


def test_s2_q2_says_its_precision_and_accepts_answers_at_it():
    q = checkpoint("s2_q2")
    assert "소수 첫째 자리" in q.prompt
    assert [q.verify(a) for a in (96.9, 96.875, 96.88, 96.8, 97.0)] == ["correct"] * 3 + ["incorrect"] * 2


def test_s3_q1_accepts_any_lora_rank_up_to_r_with_a_larger_dora_rank():
    q = checkpoint("s3_q1")
    measured = (8, 384)
    for answer in ((8, 384), (7, 380), (8, 9), (1, 2)):
        assert q.verify(answer, measured=measured) == "correct", answer
    for answer in ((9, 384), (8, 8), (384, 8), (0, 5)):
        assert q.verify(answer, measured=measured) == "incorrect", answer
    assert q.verify((12, 300), measured=(8, 384), r=16) == "correct"  # the notebook may pass r


def test_s5_q2_gives_partial_credit_per_option_and_names_optional_items(shown):
    q = checkpoint("s5_q2")
    scored = [k for k in q.options if k not in q.optional]
    full = set(q.expected())
    assert q.check(full) == "correct" and shown[-1][RECORD_MIME]["score"] == 1.0
    assert q.check(full | q.optional) == "correct" and "선택 사항" in shown[-1]["text/plain"]
    assert q.check({"nf4", "double_quant"}) == "incorrect"
    assert shown[-1][RECORD_MIME]["score"] == pytest.approx((len(scored) - 1) / len(scored), abs=1e-4)
    assert "부분 점수" in shown[-1]["text/plain"]
    assert q.check({"nf4", "adapters_4bit"}) == "incorrect"
    assert shown[-1][RECORD_MIME]["score"] == pytest.approx((len(scored) - 3) / len(scored), abs=1e-4)
    assert all("권장" in q.why[k] for k in q.optional) and all(k in q.prompt for k in q.optional)  # says which


def test_no_hint_names_an_answer_or_a_distractor():
    for q in QUESTIONS.values():
        hint = q._fill(q.hint_text).lower()
        if q.kind == "set":
            for key, meaning in q.options.items():
                assert key.lower() not in hint and meaning.lower() not in hint, (q.id, key)
            assert "그래디언트 체크포인팅" not in hint and "드롭아웃" not in hint, q.id
        if q.kind == "choice":
            assert q.expected().lower() not in hint, q.id
        if q.kind == "numeric" and not q.context:
            assert q._format_expected(q.expected()).split()[0].rstrip("%배") not in hint, q.id


def test_s6_q1_holds_on_a_cpu_where_the_ratio_is_about_one():
    q = checkpoint("s6_q1")
    assert q.verify(1.0, measured=1.01) == "correct" and q.verify(1.01, measured=1.01) == "correct"
    far = [w for w in q.known_wrong(measured=1.01) if abs(w - 1.01) > 0.05]  # 1/1.01 is timing noise, accepted
    assert len(far) >= 2 and all(q.verify(w, measured=1.01) == "incorrect" for w in far)
    assert "GPU" in q.prompt and "GPU" in checkpoint("s6_q1_why").prompt


@pytest.mark.parametrize("base", ["s3_q1", "s4_q1", "s4_q3", "s6_q1", "s6_q2", "s7_q1", "s8_q1", "s8_q3"])
def test_number_and_set_questions_have_a_written_why_part(base):
    why = checkpoint(f"{base}_why")
    assert base in WHY and why.kind == "written" and why.notebook == checkpoint(base).notebook
    assert why.verify("메모리가 가중치에서 줄기 때문입니다.") == "recorded" and why.verify(None) == "not_attempted"


def test_gpu_fits_compare_gib_and_65b_qlora_fits_the_48gb_a6000_as_in_the_paper():
    qlora_65b = estimate_training_memory("llama-65b", "qlora", "bf16")["total"] / GIB
    assert qlora_65b <= GPU_GIB["A6000"] < 48.0
    assert checkpoint("s4_q3").expected() == "llama-65b"
    assert checkpoint("s7_q1").expected() == {"lora", "qlora"}
    assert "GiB" in checkpoint("s4_q3").prompt and "GiB" in checkpoint("s7_q1").prompt


def test_no_student_text_uses_a_double_particle():
    for q in QUESTIONS.values():
        for text in (q.prompt, q.hint_text, q.explanation):
            assert "이(가)" not in text and "을(를)" not in text and "은(는)" not in text, q.id
            assert "미세조정" not in text, q.id
