"""The reveal.js decks of `make slides`: slide types from the structure, no CDN, and a real browser opening a deck
from disk with every network request blocked: Korean renders in the bundled font (not tofu) and the deck advances.
Screenshots go to build/slides-test/.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from chromium import CHROMIUM, launch

from course_utils.publish import slides

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "build" / "slides-test"
NOTEBOOK = ROOT / "notebooks" / "05_method_comparison.ipynb"


def md(text: str, tags=()):
    """A markdown cell."""
    return nbformat.v4.new_markdown_cell(text, metadata={"tags": list(tags)})


def test_slide_types_follow_the_structure():
    nb = nbformat.v4.new_notebook(cells=[
        md("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](x)"),
        md("# 제목\n\n소개"), nbformat.v4.new_code_cell("x = 1"),
        md("## 1. 절\n\n**필수** · 약 5분"), md("### 1.1 작은 절"), md("본문"),
        nbformat.v4.new_code_cell("assert x == 1", metadata={"tags": ["verify"]}),
        nbformat.v4.new_code_cell("# [colab-setup] 생성된 셀"), md("#해시태그는 제목이 아님"),
    ])
    assert slides.slide_types(nb) == ["skip", "slide", "-", "slide", "subslide", "-", "skip", "skip", "-"]
    deck = slides.prepare(nb)
    assert len(deck.cells) == len(nb.cells) - 1                      # the verify cell is gone
    assert "slideshow" not in nb.cells[1].metadata                   # the notebook itself is unchanged
    assert [c.metadata["slideshow"]["slide_type"] for c in deck.cells][:4] == ["skip", "slide", "-", "slide"]


def test_instructor_notes_stay_out_of_the_slides():
    nb = nbformat.v4.new_notebook(cells=[
        md("# 제목"), md("## 1. 절\n\n**필수** · 약 5분"), md("학생이 읽는 글"),
        md("**강사용 메모** — `make stored-runs`로 저장해 둔 30 스텝의 결과", tags=["instructor", "core"]),
    ])
    assert slides.slide_types(nb) == ["slide", "slide", "-", "skip"]
    deck = slides.prepare(nb)
    assert [c.source for c in deck.cells] == ["# 제목", "## 1. 절\n\n**필수** · 약 5분", "학생이 읽는 글"]


def test_real_decks_carry_no_instructor_note():
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        deck = slides.prepare(nbformat.read(path, as_version=4))
        assert not any("instructor" in c.metadata.get("tags", []) or "stored-runs" in c.source for c in deck.cells), \
            path.name


def test_a_section_too_long_for_one_slide_continues_one_arrow_down():
    code = "\n".join(f"x{i} = {i}" for i in range(20))                # 20 lines + frame: 22 of the slide's 28
    nb = nbformat.v4.new_notebook(cells=[md("## 1. 절\n\n**필수**"), nbformat.v4.new_code_cell(code),
                                         nbformat.v4.new_code_cell(code), md("짧은 글"),
                                         nbformat.v4.new_code_cell(code), md("## 2. 다음 절")])
    assert slides.screen_lines(nb.cells[1]) == 22 and slides.screen_lines(md("가" * 200)) == 4
    assert slides.slide_types(nb) == ["slide", "-", "subslide", "-", "subslide", "slide"]
    assert slides.slide_types(nb, budget=100) == ["slide", "-", "-", "-", "-", "slide"]


@pytest.fixture(scope="module")
def deck(tmp_path_factory) -> Path:
    """Notebook 05's deck, built into a temp folder with reveal.js and the font beside it."""
    out = tmp_path_factory.mktemp("slides")
    (path,) = slides.build_slides([NOTEBOOK], out)
    return path


def test_deck_is_offline(deck):
    html = deck.read_text(encoding="utf-8")
    assert "unpkg.com" not in html and "cdn" not in html.lower()
    assert (deck.parent / slides.REVEAL_DIR / "dist" / "reveal.js").is_file()
    assert "font/ttf;base64," in (deck.parent / slides.REVEAL_DIR / "course-font.css").read_text(encoding="utf-8")
    assert html.count('<section') >= 8                               # one per ## section at least


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"!!! SLIDES BROWSER TEST SKIPPED: no chromium at {CHROMIUM} !!!")
def test_deck_renders_korean_and_advances_in_a_browser(deck, tmp_path):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    profile = tmp_path / "chromium"
    with sync_playwright() as playwright:
        context = launch(playwright, profile, 1280, 800)
        try:
            remote: list[str] = []

            def block(route):
                remote.append(route.request.url)
                route.abort()

            context.route("http*://**/*", block)                     # a lecture hall without a network
            page = context.new_page()
            page.goto(deck.as_uri())
            page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=30_000)
            glyphs = page.evaluate("""async (family) => {
                await document.fonts.load(`48px ${family}`, '가힣');
                await document.fonts.ready;
                const draw = (text, font) => {
                    const canvas = document.createElement('canvas');
                    canvas.width = 64; canvas.height = 64;
                    const ctx = canvas.getContext('2d');
                    ctx.font = font; ctx.fillText(text, 4, 52);
                    return Array.from(ctx.getImageData(0, 0, 64, 64).data);
                };
                const differ = (a, b) => a.some((v, i) => v !== b[i]);
                const ga = draw('가', `48px ${family}`), hih = draw('힣', `48px ${family}`);
                const title = document.querySelector('.reveal .slides section h1');
                return {loaded: document.fonts.check(`48px ${family}`, '가힣'), distinct: differ(ga, hih),
                        inked: ga.some((v, i) => i % 4 === 3 && v > 0),
                        width: (() => { const c = document.createElement('canvas').getContext('2d');
                                        c.font = `48px ${family}`; return c.measureText('가').width; })(),
                        family: getComputedStyle(title).fontFamily, title: title.textContent};
            }""", slides.FONT_FAMILY)
            assert glyphs["loaded"], glyphs                           # the bundled @font-face loaded from disk
            assert glyphs["inked"] and glyphs["distinct"], glyphs     # real, different glyphs: not tofu boxes
            assert 30 < glyphs["width"] < 60, glyphs                  # a full-width Hangul advance at 48 px
            assert glyphs["family"].startswith(f'"{slides.FONT_FAMILY}"') or \
                glyphs["family"].startswith(slides.FONT_FAMILY), glyphs
            assert "PEFT 방법 비교" in glyphs["title"]
            page.screenshot(path=str(SHOTS / "05_slide_1.png"))
            assert page.evaluate("Reveal.getIndices().h") == 0
            page.keyboard.press("ArrowRight")
            page.wait_for_function("() => Reveal.getIndices().h === 1", timeout=10_000)
            heading = page.evaluate("Reveal.getCurrentSlide().querySelector('h2, h1').textContent")
            assert heading.startswith("0.") or "환경" in heading, heading
            page.screenshot(path=str(SHOTS / "05_slide_2.png"))
            fit = page.evaluate("""() => { const out = [];
                for (const [h, slide] of Reveal.getHorizontalSlides().entries()) {
                    const stack = slide.classList.contains('stack');
                    (stack ? Array.from(slide.querySelectorAll(':scope > section')) : [slide]).forEach((s, v) => {
                        Reveal.slide(h, v);
                        const pre = s.querySelector('pre');
                        const scrolls = getComputedStyle(s).overflowY === 'auto';
                        out.push({h, v, bottom: s.getBoundingClientRect().bottom, scrolls,
                                  fits: s.scrollHeight <= s.clientHeight,
                                  code_px: pre ? parseFloat(getComputedStyle(pre).fontSize) : 18}); }); }
                Reveal.slide(1, 0);
                return out; }""")
            assert len(fit) >= 20, len(fit)
            assert all(s["bottom"] <= 800 and s["scrolls"] for s in fit), fit          # nothing below the edge
            assert sum(s["fits"] for s in fit) >= 0.85 * len(fit), fit                # most slides need no scrolling
            assert min(s["code_px"] for s in fit) >= 16, fit                           # code legible on a projector
            assert remote == [], remote                               # nothing asked for the network
        finally:
            context.close()
