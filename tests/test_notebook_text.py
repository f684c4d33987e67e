"""What students read in the notebooks: Korean prose, primary sources, 필수/심화 sections, one term per concept."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import pytest

from course_utils.publish import editions, reading_time

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REFERENCES = ROOT / "notebooks" / "references.md"
HANGUL = re.compile(r"[\uac00-\ud7a3]")
# Pointers to the team's internal fact sheet: students cannot open it, so a notebook must cite the primary source.
INTERNAL_CITATION = re.compile(r"facts\s*(§|\.md|sheet)|사실\s*시트|내부\s*자료", re.IGNORECASE)
# Spans that are not prose: code, math, links' targets, HTML tags, quotations and italic titles.
NOT_PROSE = [
    re.compile(r"```.*?```", re.DOTALL),
    re.compile(r"\$\$.*?\$\$", re.DOTALL),
    re.compile(r"\$[^$\n]+\$"),
    re.compile(r"`[^`\n]+`"),
    re.compile(r"!?\[[^\]]*\]\([^)]*\)"),
    re.compile(r"https?://\S+"),
    re.compile(r"<[^>\n]+>"),
    re.compile(r"\"[^\"\n]+\"|“[^”\n]+”|'[^'\n]+'"),
    re.compile(r"(?<!\*)\*(?!\*)[^*\n]+\*(?!\*)|_[^_\n]+_"),
]
WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
PROSE_WORDS = 6  # a sentence of six or more English words and no Hangul is English prose
SLASH_PARTICLES = re.compile(r"이\(가\)|을\(를\)|은\(는\)|와\(과\)|\(으\)로|\(이\)")
MINUTES = re.compile(r"\*\*소요 시간\*\*: 필수 약 (\d+)분 · 전체 약 (\d+)분")
# Course plumbing that belongs in an instructor note (a cell tagged `instructor`) or docs/, not in what students read:
# make targets, stored-run files and caches, environment variables, tolerances of the test suite, commit hashes,
# and how the text or the budget changed between editions. (config.json / metrics.json are files students use.)
PLUMBING = {
    "a make target": re.compile(r"\bmake [a-z]"),
    "a results/ file": re.compile(r"\bresults/"),
    "a .json file": re.compile(r"(?<!config)(?<!metrics)\.json\b"),
    "an environment variable": re.compile(r"\bCOURSE_[A-Z_]+"),
    "the stored-runs step": re.compile(r"stored-runs"),
    "a test tolerance": re.compile(r"허용 오차|\d+개까지 허용|tolerance", re.IGNORECASE),
    "a commit hash": re.compile(r"커밋 [0-9a-f]{7}"),
    "edition history": re.compile(r"예전 판|이전 판|지난 판"),
    "changelog phrasing": re.compile(r"처음 \d+ ?스텝 예산|이전 예산"),
    "the experiments cache": re.compile(r"(오프라인|실험) 캐시"),
}
# Code that prints plumbing to students: the cache's path, the commit a stored run was made at, a make target.
PRINTED_PLUMBING = re.compile(r"CACHE_PATH|\[[\"']commit[\"']\]|print\(.*\bmake [a-z]")


def _load(path: Path) -> dict:
    """The notebook as plain JSON."""
    return json.loads(path.read_text(encoding="utf-8"))


def _strip_non_prose(text: str) -> str:
    """Markdown with code, math, links (often paper titles), tags, quotes and italic titles removed."""
    for pattern in NOT_PROSE:
        text = pattern.sub(" ", text)
    return text


def english_sentences(markdown: str) -> list[str]:
    """Sentences of markdown prose written in English (six or more English words, no Hangul)."""
    found = []
    for line in _strip_non_prose(markdown).splitlines():
        for sentence in re.split(r"(?<=[.!?:;])\s+|\s+[—–|]\s+|\s*\|\s*", line):
            if not HANGUL.search(sentence) and len(WORD.findall(sentence)) >= PROSE_WORDS:
                found.append(sentence.strip())
    return found


def _markdown_cells(nb: dict) -> list[tuple[int, str]]:
    """(index, source) of the markdown cells, the references list excluded (paper titles are English)."""
    cells = []
    for index, cell in enumerate(nb["cells"]):
        source = editions.cell_source(cell)
        if cell["cell_type"] == "markdown" and not source.lstrip().startswith("## 참고문헌"):
            cells.append((index, source))
    return cells


# ------------------------------------------------------------------------------------------------
# Self-tests of the detectors: what must be caught and what must pass
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "This notebook shows how LoRA adapts a frozen model.",
    "- The estimate is within one percent of the measured value",
    "LoRA 실습입니다. The rest of this section is written in English for now.",
])
def test_english_prose_is_caught(text):
    assert english_sentences(text), text


@pytest.mark.parametrize("text", [
    "`get_peft_model(model, LoraConfig(r=8, lora_alpha=32, target_modules=['query', 'value']))`를 부릅니다.",
    "```python\nfor step in range(10):\n    loss = model(**batch).loss  # the training loop body\n```",
    "QLoRA 논문의 요약은 \"finetune a 65B parameter model on a single 48GB GPU\"라고 씁니다.",
    "$$h = W_0 x + \\frac{\\alpha}{r} B A x \\quad \\text{for every adapted linear layer}$$",
    "[LoRA: Low-Rank Adaptation of Large Language Models](https://arxiv.org/abs/2106.09685)를 보세요.",
    "| 방법 | peft `LoraConfig` | bitsandbytes `BitsAndBytesConfig` |",
])
def test_korean_prose_with_code_and_titles_passes(text):
    assert english_sentences(text) == []


@pytest.mark.parametrize("text, caught", [
    ("자세한 근거는 facts §7을 보세요.", True), ("facts.md 참고", True),
    ("QLoRA 논문 §3, Table 2", False), ("bitsandbytes 0.50 `functional.py`", False),
])
def test_internal_citation_detector(text, caught):
    assert bool(INTERNAL_CITATION.search(text)) is caught


# ------------------------------------------------------------------------------------------------
# The notebooks
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_internal_citations(path):
    for index, cell in enumerate(_load(path)["cells"]):
        match = INTERNAL_CITATION.search(editions.cell_source(cell))
        assert match is None, f"{path.name} cell {index} cites the internal fact sheet ({match.group(0)!r}): " \
                              "cite the paper, library file or issue instead"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_prose_is_korean(path):
    english = [(index, sentence) for index, source in _markdown_cells(_load(path))
               for sentence in english_sentences(source)]
    assert english == [], f"{path.name}: English prose in markdown cells: {english[:5]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_term_and_no_slash_particles(path):
    for index, cell in enumerate(_load(path)["cells"]):
        source = editions.cell_source(cell)
        assert "미세조정" not in source, f"{path.name} cell {index}: the course says 파인튜닝, not 미세조정"
        match = SLASH_PARTICLES.search(source)
        assert match is None, f"{path.name} cell {index}: write the particle that fits, not {match.group(0)!r}"


def test_no_slash_particles_in_package_text():
    for module in sorted((ROOT / "course_utils").rglob("*.py")):
        text = module.read_text(encoding="utf-8")
        match = SLASH_PARTICLES.search(text)
        assert match is None, f"{module.name}: generated Korean uses {match.group(0)!r}; choose the particle"
        assert "미세조정" not in text, f"{module.name}: the course says 파인튜닝, not 미세조정"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_section_is_marked_core_or_deep(path):
    nb = _load(path)
    heads = [index for index, cell in enumerate(nb["cells"]) if editions.section_badge(cell) is not None]
    assert heads, f"{path.name} has no `##` sections"
    tagged = editions.tag_sections(copy.deepcopy(nb))  # raises on a section head without a badge
    for index, (cell, expected) in enumerate(zip(nb["cells"], tagged["cells"])):
        have = {t for t in editions.tags(cell) if t in (editions.CORE, editions.DEEP)}
        want = {t for t in editions.tags(expected) if t in (editions.CORE, editions.DEEP)}
        assert have == want, f"{path.name} cell {index}: tags {sorted(have)} but its section says {sorted(want)} " \
                             "(run python -m course_utils editions on the notebook)"
    assert any(editions.CORE in editions.tags(c) for c in nb["cells"]), f"{path.name} has no 필수 section"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_header_gives_minutes_and_references_close_the_notebook(path):
    cells = [(i, s) for i, s in enumerate(editions.cell_source(c) for c in _load(path)["cells"])]
    header = next(s for _, s in cells if s.lstrip().startswith("# "))
    match = MINUTES.search(header)
    assert match, f"{path.name}: the title cell must say '**소요 시간**: 필수 약 N분 · 전체 약 M분'"
    assert 0 < int(match.group(1)) <= int(match.group(2)), f"{path.name}: 필수 minutes exceed the total"
    references = [s for _, s in cells if s.lstrip().startswith("## 참고문헌")]
    assert references and "(references.md)" in references[0], \
        f"{path.name}: needs a '## 참고문헌' section linking references.md"


def section_minutes(nb: dict) -> dict[str, int]:
    """The minutes of the notebook's sections summed per badge: {'필수': N, '심화': M} (publish.reading_time reads the
    badge lines, and raises naming a cell whose badge line does not say '**필수** · 약 N분')."""
    return {badge: sums["stated"] for badge, sums in reading_time.totals(reading_time.sections(nb)).items()}


def test_section_minutes_detector():
    nb = {"cells": [{"cell_type": "markdown", "source": f"## {i}. 절\n**{badge}** · 약 {minutes}분\n본문"}
                    for i, (badge, minutes) in enumerate([("필수", 10), ("심화", 7), ("필수", 3)])]}
    assert section_minutes(nb) == {"필수": 13, "심화": 7}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_header_minutes_are_the_sum_of_the_sections(path):
    nb = _load(path)
    header = next(s for s in map(editions.cell_source, nb["cells"]) if s.lstrip().startswith("# "))
    core, total = map(int, MINUTES.search(header).groups())
    sums = section_minutes(nb)
    assert (core, total) == (sums["필수"], sums["필수"] + sums["심화"]), \
        f"{path.name}: the header says 필수 {core}분 · 전체 {total}분, but its sections add up to " \
        f"필수 {sums['필수']}분 · 전체 {sums['필수'] + sums['심화']}분"


def plumbing(text: str) -> list[str]:
    """What course plumbing `text` mentions, as 'kind: match'."""
    return [f"{kind}: {match.group(0)!r}" for kind, pattern in PLUMBING.items() for match in pattern.finditer(text)]


@pytest.mark.parametrize("text", [
    "오프라인 프로필이 `make stored-runs`로 저장해 둔 30 스텝의 결과",
    "결과(`results/notebook_runs.json`)를 보여 줍니다",
    "`COURSE_PROFILE=offline` 처럼 고를 수도 있습니다", "테스트 리뷰 240개 중 3개까지 허용", "허용 오차 안에서 채점",
    "마지막 실행 묶음 2026-12-01, 커밋 39087bc1ed", "예전 판의 \"48.3GB라서 넘는다\"는",
    "처음 80 스텝 예산에서 Full FT를", "읽는 법 (오프라인 캐시 기준)",
])
def test_plumbing_is_caught(text):
    assert plumbing(text), text


@pytest.mark.parametrize("text", [
    "klue/bert-base의 `config.json` 값 (vocab 32000)", "마지막에 `metrics.json`(정확도, 손실)",
    "강의 시연용 `demo` 프로필은 미리 학습해 둔 결과를 보여 줍니다", "중간 결과가 CPU 캐시에 머물고",
    "80 스텝에서 멈추면 곡선이 아직 오르는 중입니다",
])
def test_student_text_passes_the_plumbing_check(text):
    assert plumbing(text) == []


def test_printed_plumbing_detector():
    assert PRINTED_PLUMBING.search('print(f"캐시: {experiments.CACHE_PATH}, 커밋 {meta[\'commit\'][:10]}")')
    assert PRINTED_PLUMBING.search('print("오프라인 프로필과 make test가 확인합니다")')
    assert not PRINTED_PLUMBING.search('print(f"미리 돌려 저장해 둔 실험 결과를 불러왔습니다 ({meta[\'date\']})")')


def _for_students(cell: dict) -> bool:
    """Whether students read the cell (instructor notes are dropped from every edition and the slides)."""
    return editions.INSTRUCTOR not in editions.tags(cell)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_course_plumbing_in_student_prose(path):
    nb = _load(path)
    found = [(index, what) for index, source in _markdown_cells(nb) if _for_students(nb["cells"][index])
             for what in plumbing(source)]
    assert found == [], f"{path.name}: course plumbing in student-facing markdown (rewrite it for students or " \
                        f"move it to a cell tagged '{editions.INSTRUCTOR}'): {found}"
    printed = [index for index, cell in enumerate(nb["cells"]) if cell["cell_type"] == "code"
               and PRINTED_PLUMBING.search(editions.cell_source(cell))]
    assert printed == [], f"{path.name} cells {printed} print the cache path, a commit or a make target: " \
                          "print a sentence for students"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_instructor_notes_are_marked_markdown(path):
    for index, cell in enumerate(_load(path)["cells"]):
        if not _for_students(cell):
            assert cell["cell_type"] == "markdown", f"{path.name} cell {index}: only markdown may be an instructor note"
            assert editions.cell_source(cell).startswith(editions.INSTRUCTOR_HEADING), \
                f"{path.name} cell {index}: an instructor note starts with {editions.INSTRUCTOR_HEADING}"


def test_references_list_exists_and_is_korean_headed():
    text = REFERENCES.read_text(encoding="utf-8")
    assert text.startswith("# 참고문헌")
    assert len(re.findall(r"(?m)^- ", text)) >= 10


# ------------------------------------------------------------------------------------------------
# The 필수 path of the whole course, and the errata: one table per notebook, marks that point into it
# ------------------------------------------------------------------------------------------------

CORE_PATH_MINUTES = 240  # the 필수 path of all notebooks together: at most four hours
ERRATA_HEADER = re.compile(r"^\|\s*#\s*\|\s*강의 노트\s*\|\s*바른 내용\s*\|\s*근거\s*\|\s*$", re.MULTILINE)
ERRATA_ROW = re.compile(r"^\|\s*([①-⑳])\s*\|", re.MULTILINE)
ERRATA_MARK = re.compile(r"강의 노트 정정 ([①-⑳])")
OLD_ERRATA_BOX = re.compile(r"\*\*정오표 \(errata\)\*\*")


def test_core_path_of_all_notebooks_fits_in_four_hours():
    per_notebook = {path.name: section_minutes(_load(path))["필수"] for path in NOTEBOOKS}
    assert sum(per_notebook.values()) <= CORE_PATH_MINUTES, \
        f"the 필수 sections add up to {sum(per_notebook.values())} min (> {CORE_PATH_MINUTES}): {per_notebook}"


def errata_problems(nb: dict) -> list[str]:
    """What is wrong with a notebook's errata: several tables, marks without a row, rows without a mark, old boxes."""
    sources = [editions.cell_source(c) for c in nb["cells"] if c["cell_type"] == "markdown"]
    tables = [s for s in sources if ERRATA_HEADER.search(s)]
    problems = [f"{len(tables)} 정오표 tables (at most one)"] if len(tables) > 1 else []
    rows = [row for table in tables for row in ERRATA_ROW.findall(table)]
    marks = {mark for s in sources for mark in ERRATA_MARK.findall(s)}
    problems += [f"mark {m} has no row in the 정오표 table" for m in sorted(marks - set(rows))]
    problems += [f"row {r} is never marked in the text" for r in sorted(set(rows) - marks)]
    problems += [f"row {r} appears twice" for r in sorted({r for r in rows if rows.count(r) > 1})]
    problems += ["an old '**정오표 (errata)**' box: teach the correct way, mark it inline"
                 for s in sources if OLD_ERRATA_BOX.search(s)]
    return problems


def test_errata_detector():
    table = "## 정오표\n\n| # | 강의 노트 | 바른 내용 | 근거 |\n|---|---|---|---|\n| ① | a | b | c |\n| ② | d | e | f |"
    cell = lambda text: {"cell_type": "markdown", "source": text}  # noqa: E731
    good = {"cells": [cell("본문 (강의 노트 정정 ①) 과 (강의 노트 정정 ②)"), cell(table)]}
    assert errata_problems(good) == []
    assert errata_problems({"cells": [cell("(강의 노트 정정 ③)"), cell(table), cell("정정 ①, 강의 노트 정정 ②")]}) == [
        "mark ③ has no row in the 정오표 table", "row ① is never marked in the text"]
    assert len(errata_problems({"cells": [cell("강의 노트 정정 ① ②"), cell(table), cell(table)]})) >= 2
    assert errata_problems({"cells": [cell("> **정오표 (errata)** — 강의 노트는 ...")]})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_errata_are_one_table_with_inline_marks(path):
    problems = errata_problems(_load(path))
    assert problems == [], f"{path.name}: {problems}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_section_states_at_least_its_reading_time(path):
    """Each section's minutes cover reading its prose and code and answering its questions (publish.reading_time:
    300 characters, 10 code lines a minute, 2 minutes a question); run time comes on top (measured, see docs/)."""
    for section in reading_time.sections(_load(path)):
        assert section.stated >= math.ceil(section.reading), \
            f"{path.name} §{section.title[:30]}: states {section.stated} min, reading alone takes " \
            f"{section.reading:.1f} (python -m course_utils reading-time {path.relative_to(ROOT)})"


def test_reading_time_counts_what_a_student_reads():
    nb = {"cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "## 1. 절\n**필수** · 약 3분\n" + "가" * 290},
        {"cell_type": "markdown", "metadata": {"tags": ["slide"]}, "source": "### 1. 절\n- " + "나" * 900},
        {"cell_type": "markdown", "metadata": {"tags": ["instructor"]}, "source": "**강사용 메모** " + "다" * 900},
        {"cell_type": "code", "metadata": {}, "source": "# 주석\nx = 1\n\ny = 2"},
        {"cell_type": "code", "metadata": {"cellView": "form"}, "source": "a = 1\n" * 50},
        {"cell_type": "markdown", "metadata": {}, "source": "**Q1 (§1, `s1_q1`).** 답하세요"},
    ]}
    (section,) = reading_time.sections(nb)
    assert (section.stated, section.code_lines, section.questions) == (3, 2, 1)
    assert section.chars == len("##1.절**필수**·약3분") + 290 + len("**Q1(§1,`s1_q1`).**답하세요")
    assert section.reading == pytest.approx(section.chars / 300 + 2 / 10 + 2)
