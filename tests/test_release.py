"""Two editions from one source (issue 15, item 1): the assignment edition shows no answer, and says so loudly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils.exercises.catalog import QUESTIONS
from course_utils.publish import release
from course_utils.publish.editions import INSTRUCTOR, INSTRUCTOR_HEADING, PRACTICE_DIR, SOLUTION, cell_source, tags

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def notebook(*cells) -> dict:
    """A notebook dict of the given cells (a title first)."""
    nb = new_notebook(cells=[new_markdown_cell("# 01. 제목"), new_code_cell("# [colab-setup] 설치"), *cells])
    return json.loads(json.dumps(nb))


def solution(cell) -> dict:
    """`cell` tagged solution."""
    cell.metadata["tags"] = [SOLUTION]
    return cell


def test_the_assignment_edition_drops_solution_cells_and_adds_the_student_id_cell():
    nb = notebook(new_code_cell('q = checkpoint("s2_q2")\nq.check(None)'),
                  solution(new_code_cell("q.solution()")),
                  solution(new_markdown_cell("<details><summary>모범 답안</summary>96.875</details>")))
    out = release.assignment_edition(nb)
    sources = [cell_source(c) for c in out["cells"]]
    assert not any(".solution(" in s or "<details" in s for s in sources)
    assert "STUDENT_ID = None" in sources[3] and "start_assignment(STUDENT_ID)" in sources[3]  # after the setup cell
    assert "학번" in sources[2] and tags(out["cells"][3]) == ["core", "assignment"]
    assert out["metadata"]["peft_course"] == {"edition": "assignment"}
    assert len(nb["cells"]) == 5 and release.leaks(out, "01_x.ipynb") == []


def test_both_editions_drop_instructor_notes(tmp_path):
    note = new_markdown_cell(f"{INSTRUCTOR_HEADING} — `make stored-runs`로 다시 만드세요.")
    note.metadata["tags"] = [INSTRUCTOR, "core"]
    nb = notebook(new_markdown_cell("학생이 읽는 글"), note, solution(new_code_cell("q.solution()")))
    practice = release.practice_edition(nb)
    assert [cell_source(c) for c in practice["cells"]] == ["# 01. 제목", "# [colab-setup] 설치", "학생이 읽는 글",
                                                           "q.solution()"]
    assignment = release.assignment_edition(nb)
    assert not any(INSTRUCTOR in tags(c) or SOLUTION in tags(c) for c in assignment["cells"])
    assert len(nb["cells"]) == 5  # the source keeps its note
    source = tmp_path / "src"
    source.mkdir()
    (source / "01_x.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    assert release.release(source, tmp_path / "out") == []
    for edition in ("practice", "assignment"):
        text = (tmp_path / "out" / edition / "01_x.ipynb").read_text(encoding="utf-8")
        assert "stored-runs" not in text and "학생이 읽는 글" in text, edition


@pytest.mark.parametrize(("cell", "what"), [
    (new_markdown_cell("<details><summary>풀이</summary>…</details>"), "'<details'"),
    (new_code_cell("q.solution()"), "calls .solution()"),
    (new_code_cell('print("모범 답:", x)'), "'모범 답'"),
    (new_markdown_cell(QUESTIONS["s2_q1"].explanation), "solution text of s2_q1"),
    (new_code_cell('answer_s4_q3 = "llama-65b"'), "answer of s4_q3 written in code"),
    (new_markdown_cell("QLoRA의 세 가지: NF4, 이중 양자화, 페이지드 옵티마이저"), "whole answer of s4_q2"),
])
def test_every_kind_of_answer_is_found_and_named_by_cell(cell, what):
    problems = release.leaks(notebook(cell), "03_nf4_quantization.ipynb")
    assert problems and all(p.startswith("03_nf4_quantization.ipynb cell 2") for p in problems), problems
    assert any(what in p for p in problems), problems


def test_a_computable_answer_is_found_in_outputs():
    (token, *_) = release.numeric_tokens("s4_q1")  # rebuilt from notebook 03's seeded data
    cell = new_code_cell("ratio", outputs=[{"output_type": "stream", "name": "stdout", "text": f"비 {token}\n"}])
    assert any("answer of s4_q1" in p for p in release.leaks(notebook(cell), "03_x.ipynb"))
    assert release.numeric_tokens("s2_q2") == ()  # a variant question: each student's answer is their own


def test_neutral_cells_are_not_flagged():
    option_list = ('(`"NF4"`, `"double quantization"`, `"paged optimizers"`, `"gradient checkpointing"`, '
                   '`"LoRA dropout"` 중에서)')
    own = notebook(new_markdown_cell("QLoRA = NF4 + 이중 양자화 + 페이지드 옵티마이저"))  # taught in its own notebook
    assert release.leaks(notebook(new_markdown_cell(option_list)), "03_x.ipynb") == []
    assert release.leaks(own, "04_qlora_training.ipynb") == []
    assert release.leaks(notebook(new_markdown_cell("`q.solution()`은 과제에서 잠깁니다.")), "01_x.ipynb") == []


def test_a_name_defined_only_in_a_solution_cell_is_reported():
    nb = notebook(solution(new_code_cell("q2_solution = 96.875")), new_code_cell("print(q2_solution)"))
    assert release.solution_only_names(nb, "01_x.ipynb") == [
        "01_x.ipynb cell 3: uses ['q2_solution'], defined only in a solution cell"]


def test_the_cli_fails_loudly_on_an_untagged_solution_cell(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    bad = notebook(new_code_cell('q = checkpoint("s2_q2")\nq.check(None)'), new_code_cell("q.solution()"))
    (source / "01_lora_math.ipynb").write_text(json.dumps(bad), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "course_utils", "release", "--source", str(source), "--out",
                          str(tmp_path / "release")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 1 and "01_lora_math.ipynb cell 3: calls .solution()" in run.stderr
    assert (tmp_path / "release" / "practice" / "01_lora_math.ipynb").exists()
    bad["cells"][3]["metadata"]["tags"] = [SOLUTION]
    (source / "01_lora_math.ipynb").write_text(json.dumps(bad), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "course_utils", "release", "--source", str(source), "--out",
                          str(tmp_path / "release")], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr


def test_the_real_notebooks_release_without_any_answer(tmp_path):
    problems = release.release(NOTEBOOKS, tmp_path)
    assert problems == [], "\n".join(problems)
    names = sorted(p.name for p in (tmp_path / "assignment").glob("*.ipynb"))
    assert names == sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    for path in (tmp_path / "assignment").glob("*.ipynb"):
        nb = json.loads(path.read_text(encoding="utf-8"))
        text = "\n".join(cell_source(c) for c in nb["cells"])
        assert "STUDENT_ID = None" in text and not any(SOLUTION in tags(c) for c in nb["cells"])
    for path in (tmp_path / "practice").glob("*.ipynb"):
        nb = json.loads(path.read_text(encoding="utf-8"))
        assert not any(INSTRUCTOR in tags(c) for c in nb["cells"]), path.name


def test_links_are_rewritten_for_the_edition_folder():
    text = '![그림](../figs/a.png) <img src="../figs/b.png"> [웹](https://x.org/a.png) [절](#sec) [책](references.md)'
    moved = release.moved_links(text, Path("notebooks"), Path("release/practice"))
    assert moved == ('![그림](../../figs/a.png) <img src="../../figs/b.png"> [웹](https://x.org/a.png) [절](#sec) '
                     '[책](../../notebooks/references.md)')
    assert release.moved_links(text, Path("notebooks"), Path("notebooks")) == text


def test_the_committed_practice_edition_is_what_colab_opens_and_is_up_to_date():
    """The Colab badges open release/practice (no instructor notes, no slide text); it must match notebooks/ now."""
    practice = ROOT / PRACTICE_DIR
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert sorted(p.name for p in practice.glob("*.ipynb")) == [p.name for p in paths]
    for path in paths:
        want = release.practice_edition(json.loads(path.read_text(encoding="utf-8")), (NOTEBOOKS, practice))
        have = json.loads((practice / path.name).read_text(encoding="utf-8"))
        assert have == want, f"{PRACTICE_DIR}/{path.name} is older than notebooks/{path.name}: run make release"
        assert not any({INSTRUCTOR, "slide"} & set(tags(c)) for c in have["cells"])
        markdown = "".join(cell_source(c) for c in have["cells"] if c["cell_type"] == "markdown")
        for link in release.RELATIVE_LINK.findall(markdown):
            assert (practice / link[1]).resolve().exists(), f"{path.name}: broken link {link[1]}"
