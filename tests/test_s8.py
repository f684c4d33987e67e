"""§8 (notebook 06): the answers of the three questions are what the course's code computes."""

from __future__ import annotations

import pytest
import torch

from course_utils.exercises.catalog import QUESTIONS, checkpoint, s8  # the catalog first: it registers in order
from course_utils.memory.causal_lm import TABLE_SEQ_LENS, qlora_training_gib

pytestmark = pytest.mark.usefixtures("no_student")  # every test starts and ends without a student


def test_the_three_questions_belong_to_notebook_06():
    assert [QUESTIONS[f"s8_q{n}"].kind for n in (1, 2, 3)] == ["numeric", "written", "numeric"]
    assert {QUESTIONS[i].notebook for i in ("s8_q1", "s8_q2", "s8_q3", "s8_q1_why", "s8_q3_why")} == {
        "06_causal_lm_qlora"}


def test_s8_q1_counts_what_the_loss_of_a_masked_example_averages_over():
    """mask_prompt on the course's tiny LLaMA: P prompt tokens, A answer tokens + EOS; the model's loss is the mean
    over exactly A + 1 positions, the question's answer."""
    from transformers import AutoModelForCausalLM

    from course_utils.llm.models import TINY_MODEL_DIR, load_tokenizer
    from course_utils.llm.prompts import format_prompt, mask_prompt

    tokenizer = load_tokenizer(str(TINY_MODEL_DIR))
    row = {"instruction": "다음 문장을 높임말로 바꾸세요.", "input": "밥 먹었어?", "output": "진지 잡수셨어요?"}
    example = mask_prompt(row, tokenizer, max_length=256)
    prompt = len(tokenizer(format_prompt(row))["input_ids"])
    answer = len(example["input_ids"]) - prompt - 1
    assert example["labels"][:prompt] == [-100] * prompt and example["labels"][-1] == tokenizer.eos_token_id
    counted = s8.loss_positions({"P": prompt, "A": answer})
    assert sum(label != -100 for label in example["labels"][1:]) == counted == answer + 1

    model = AutoModelForCausalLM.from_pretrained(str(TINY_MODEL_DIR), dtype=torch.float32).eval()
    ids, labels = torch.tensor([example["input_ids"]]), torch.tensor([example["labels"]])
    with torch.no_grad():
        logits = model(ids).logits[0, :-1]
        loss = model(ids, labels=labels).loss
    kept = labels[0, 1:] != -100
    per_position = torch.nn.functional.cross_entropy(logits, labels[0, 1:].clamp(min=0), reduction="none")
    assert int(kept.sum()) == counted
    torch.testing.assert_close(loss, per_position[kept].mean())


def test_s8_q1_variants_each_have_their_own_answer_and_reject_the_usual_mistakes(shown):
    q = checkpoint("s8_q1")
    assert q.expected() == 13 and "37" in q.prompt_text() and "12" in q.prompt_text()
    answers = [q._expected(v) for v in s8.S8_Q1_VARIANTS]
    assert len(set(answers)) == len(answers) >= 10 and q.expected() not in answers
    for v in s8.S8_Q1_VARIANTS:
        assert all(q._judge(wrong, v)[0] == "incorrect" for wrong in q._known_wrong(v)), v
    assert q.check(50) == "incorrect" and "-100" in shown[-1]["text/plain"]   # P + A + 1: every token
    assert q.check(12) == "incorrect" and "끝 토큰" in shown[-1]["text/plain"]  # A: the end token forgotten
    assert q.check(13) == "correct"


def test_s8_q3_is_the_estimators_gib_and_its_wrong_answers_teach(shown):
    q = checkpoint("s8_q3")
    assert q.expected() == pytest.approx(qlora_training_gib("polyglot-ko-1.3b", 4, 1024))
    assert "T4" in q.prompt and "GiB" in q.prompt and "소수 둘째 자리" in q.prompt
    right = q.expected()
    assert q.verify(round(right, 2)) == "correct" and q.verify(round(right, 1)) in ("correct", "incorrect")
    gb, no_adam, fp16, no_act, only_4bit = q.known_wrong()
    for wrong, words in ((gb, "GiB"), (no_adam, "AdamW"), (fp16, "NF4"), (no_act, "활성값"), (only_4bit, "4비트")):
        assert q.check(round(wrong, 2)) == "incorrect" and words in shown[-1]["text/plain"], words


def test_s8_q3_variants_are_apart_and_none_is_printed_in_the_notebooks_table():
    q = checkpoint("s8_q3")
    chosen = s8.s8_q3_variants()
    assert len(chosen) >= 10 and {v["model"] for v in chosen} == set(s8.S8_Q3_MODELS)
    assert all(v["seq_len"] not in TABLE_SEQ_LENS for v in chosen)  # the table (256, 512) gives no one's answer
    answers = [q._expected(v) for v in chosen]
    assert min(abs(a - b) for i, a in enumerate(answers) for b in answers[:i]) >= s8.S8_Q3_GAP
    for v in chosen:
        for wrong in q._known_wrong(v):
            assert q._judge(wrong, v)[0] == "incorrect", (v, wrong)


def test_s8_q2_model_answer_covers_the_deployment_trade_offs():
    q = checkpoint("s8_q2")
    for words in ("MB", "여러 어댑터", "peft", "16/32비트", "다시 양자화", "지연"):
        assert words in q.explanation, words
    assert q.hint_text and q.verify("어댑터는 작고 병합하면 빠릅니다.") == "recorded"


# The cells notebook 06 shows its questions with (the pattern of notebooks 01 and 04): (source, tagged solution).
NOTEBOOK_06_CELLS = [
    ('from course_utils.exercises.catalog import checkpoint\n\n'
     'q = checkpoint("s8_q1")\n'
     'display(q)  # 여러분의 문제 (과제용 노트북에서는 숫자가 학번마다 다릅니다)\n'
     'answer_s8_q1 = None  # TODO: 위치 수 (정수), 예) 7\n'
     'q.check(answer_s8_q1)', False),
    ('q.hint()   # 막히면 실행하세요', False),
    ('p = q.params()   # 연습용 노트북의 기본 숫자\n'
     'solution_s8_q1 = p["A"] + 1   # 응답 토큰 + 끝 토큰 (프롬프트는 -100)\n'
     'assert q.verify(solution_s8_q1) == "correct"                # 채점기는 모범 답을 받고\n'
     'assert q.verify(p["P"] + p["A"] + 1) == "incorrect"         # 모든 토큰을 센 답은 받지 않습니다\n'
     'q.solution()', True),
    ('q_why = checkpoint("s8_q1_why")\n'
     'display(q_why)  # 이어지는 서술 문제: 까닭을 적으세요\n'
     'answer_s8_q1_why = None  # TODO: 한두 문장 (문자열)\n'
     'q_why.check(answer_s8_q1_why)', False),
    ('q = checkpoint("s8_q2")\n'
     'answer_s8_q2 = None  # TODO: 장단점을 문장으로 (문자열)\n'
     'q.check(answer_s8_q2)', False),
    ('q.solution()', True),
    ('q = checkpoint("s8_q3")\n'
     'display(q)  # 여러분의 문제 (과제용 노트북에서는 모델·배치·길이가 학번마다 다릅니다)\n'
     'answer_s8_q3 = None  # TODO: GiB, 예) 12.34\n'
     'q.check(answer_s8_q3)', False),
    ('q.hint()   # 막히면 실행하세요', False),
    ('q_why = checkpoint("s8_q3_why")\n'
     'display(q_why)  # 이어지는 서술 문제: T4에 들어가나요?\n'
     'answer_s8_q3_why = None  # TODO: 한두 문장 (문자열)\n'
     'q_why.check(answer_s8_q3_why)', False),
    ('from course_utils.memory.causal_lm import fits_gpu, qlora_training_bytes\n'
     'from course_utils.memory.estimate import GIB, GPU_GIB\n\n'
     'p = q.params()   # 연습용 노트북의 기본 설정\n'
     'parts = qlora_training_bytes(p["model"], batch_size=p["batch"], seq_len=p["seq_len"])\n'
     'solution_s8_q3 = parts["total"] / GIB\n'
     'assert q.verify(solution_s8_q3) == "correct"               # 채점기는 모범 답을 받고\n'
     'assert q.verify(parts["total"] / 10**9) == "incorrect"      # GB로 센 답은 받지 않습니다\n'
     'fit = "들어갑니다" if fits_gpu(solution_s8_q3, "T4") else "들어가지 않습니다"\n'
     'print(f"{p[\'model\']}, 배치 {p[\'batch\']}, 길이 {p[\'seq_len\']}: {solution_s8_q3:.2f} GiB, "\n'
     '      f"T4({GPU_GIB[\'T4\']:.2f} GiB)에 {fit}")\n'
     'q.solution()', True),
]


def _notebook_06():
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    cells = [new_markdown_cell("# 06. 한국어 인과 언어 모델의 QLoRA 지시 튜닝"), new_code_cell("# [colab-setup] 설치"),
             new_code_cell("from course_utils.memory.causal_lm import qlora_fit_table\n\nqlora_fit_table()")]
    for source, is_solution in NOTEBOOK_06_CELLS:
        cell = new_code_cell(source)
        cell.metadata["tags"] = ["solution", "core"] if is_solution else ["core"]
        cells.append(cell)
    return new_notebook(cells=cells)


def _run(nb: dict, student_id: str | None = None) -> None:
    """Execute the code cells (the setup cell aside) as a kernel would, in one namespace."""
    namespace = {"display": lambda *args, **kwargs: None}
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] != "code" or "[colab-setup]" in source:
            continue
        exec(source.replace("STUDENT_ID = None", f"STUDENT_ID = {student_id!r}"), namespace)


def test_the_cells_for_notebook_06_release_cleanly_and_run_in_both_editions(tmp_path, shown):
    """The cells the report gives the notebook's author: no leak in the assignment edition, both editions run."""
    import json

    import nbformat

    from course_utils.exercises.engine import RECORD_MIME
    from course_utils.publish import release

    source = tmp_path / "notebooks"
    source.mkdir()
    nbformat.write(_notebook_06(), source / "06_causal_lm_qlora.ipynb")
    assert release.release(source, tmp_path / "release") == []
    practice, assignment = (json.loads((tmp_path / "release" / e / "06_causal_lm_qlora.ipynb").read_text("utf-8"))
                            for e in ("practice", "assignment"))
    assert sum(".solution()" in "".join(c["source"]) for c in practice["cells"]) == 3
    assert not any(".solution()" in "".join(c["source"]) for c in assignment["cells"])
    _run(practice)  # the solution cells' asserts hold; the answers are still None
    records = [b[RECORD_MIME] for b in shown if RECORD_MIME in b]
    assert [r["question"] for r in records] == ["s8_q1", "s8_q1_why", "s8_q2", "s8_q3", "s8_q3_why"]
    assert {r["verdict"] for r in records} == {"not_attempted"}
    assert any("모범 답안" in b["text/plain"] for b in shown)
    shown.clear()
    _run(assignment, "2026000001")
    records = [b[RECORD_MIME] for b in shown if RECORD_MIME in b]
    assert [r["question"] for r in records] == ["s8_q1", "s8_q1_why", "s8_q2", "s8_q3", "s8_q3_why"]
    assert records[0]["variant"] == QUESTIONS["s8_q1"].params("2026000001") and records[0]["edition"] == "assignment"
    assert not any("모범 답안" in b["text/plain"] for b in shown)
