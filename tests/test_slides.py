"""The reveal.js decks of `make slides`: slide types from the structure, no CDN, and a real browser opening a deck
from disk with every network request blocked: Korean renders in the bundled font (not tofu) and the deck advances.
Every slide of every deck fits the 1280x800 slide and stays within the slide-text limits as rendered.
Screenshots go to build/slides-test/.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from chromium import CHROMIUM, launch

from course_utils.publish import slide_text, slides

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
            heading = page.evaluate("Reveal.getCurrentSlide().querySelector('h1, h2, h3').textContent")
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
            assert len(fit) >= 10, len(fit)                                           # one slide per section at least
            assert all(s["bottom"] <= 800 and s["scrolls"] for s in fit), fit          # nothing below the edge
            assert all(s["fits"] for s in fit), fit                                    # slide text needs no scrolling
            assert min(s["code_px"] for s in fit) >= 16, fit                           # code legible on a projector
            assert remote == [], remote                               # nothing asked for the network
        finally:
            context.close()


# ------------------------------------------------------------------------------------------------
# Every deck, as rendered: no slide overflows, none says more than the slide-text limits
# ------------------------------------------------------------------------------------------------

#: Per slide: its size against its content, the code blocks that would scroll, and its words and bullets as shown
#: (the text of the slide without code blocks and figures, split at whitespace, as slide_text.words counts them).
MEASURE = """() => { const out = [];
    const word = /[0-9A-Za-z\\uac00-\\ud7a3]/;
    for (const [h, slide] of Reveal.getHorizontalSlides().entries()) {
        const stack = slide.classList.contains('stack');
        (stack ? Array.from(slide.querySelectorAll(':scope > section')) : [slide]).forEach((s, v) => {
            Reveal.slide(h, v);
            const copy = s.cloneNode(true);
            copy.querySelectorAll('pre, img, .jp-OutputArea, .jp-InputArea-editor').forEach(e => e.remove());
            const frame = s.getBoundingClientRect();
            const inside = Array.from(s.querySelectorAll('h1, h2, h3, li, p, pre, img')).every(e => {
                const box = e.getBoundingClientRect();
                return box.bottom <= frame.bottom + 1 && box.right <= frame.right + 1; });
            const scrolling = Array.from(s.querySelectorAll('pre, .jp-InputArea-editor, .jp-OutputArea-output'))
                .filter(e => e.scrollHeight > e.clientHeight + 1 || e.scrollWidth > e.clientWidth + 1).length;
            out.push({h, v, title: (s.querySelector('h1, h2, h3') || {}).textContent,
                      fits: s.scrollHeight <= s.clientHeight + 1 && s.scrollWidth <= s.clientWidth + 1,
                      inside, scrolling, size: [s.clientWidth, s.clientHeight],
                      words: copy.textContent.split(/\\s+/).filter(t => word.test(t)).length,
                      bullets: s.querySelectorAll('li').length}); }); }
    return out; }"""


@pytest.fixture(scope="module")
def decks(tmp_path_factory) -> list[Path]:
    """Every notebook's deck, built as `make slides` builds them."""
    return slides.build_slides(out=tmp_path_factory.mktemp("decks"))


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"!!! SLIDES BROWSER TEST SKIPPED: no chromium at {CHROMIUM}; "
                    "install it with `apt-get install -y chromium fonts-nanum`. The decks were NOT checked for "
                    "overflow or length in a browser. !!!")
def test_no_slide_overflows_or_says_too_much(decks, tmp_path):
    from playwright.sync_api import sync_playwright

    assert len(decks) == len(list((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")))
    SHOTS.mkdir(parents=True, exist_ok=True)
    problems, counts = [], {}
    with sync_playwright() as playwright:
        context = launch(playwright, tmp_path / "chromium", 1280, 800)
        try:
            context.route("http*://**/*", lambda route: route.abort())
            page = context.new_page()
            for deck in decks:
                page.goto(deck.as_uri())
                page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=30_000)
                page.evaluate("async () => { await document.fonts.ready; await Promise.all(Array.from("
                              "document.images).map(i => i.decode().catch(() => null))); }")
                measured = page.evaluate(MEASURE)
                counts[deck.name] = len(measured)
                for s in measured:
                    where = f"{deck.name} slide {s['h'] + 1}.{s['v']} {s['title']!r}"
                    assert s["size"] == [1280, 800] or s["size"][1] >= 700, (where, s["size"])
                    if not (s["fits"] and s["inside"]):
                        problems.append(f"{where}: overflows the slide")
                    if s["scrolling"]:
                        problems.append(f"{where}: {s['scrolling']} code block(s) or output(s) scroll")
                    if s["words"] > slide_text.MAX_WORDS:
                        problems.append(f"{where}: {s['words']} words (at most {slide_text.MAX_WORDS})")
                    if s["bullets"] > slide_text.MAX_BULLETS:
                        problems.append(f"{where}: {s['bullets']} bullets (at most {slide_text.MAX_BULLETS})")
                broken = page.evaluate("Array.from(document.images).filter(i => !i.naturalWidth).map(i => i.src)")
                if broken:
                    problems.append(f"{deck.name}: figures that did not load: {broken}")
        finally:
            context.close()
    assert problems == [], problems
    assert all(n >= 5 for n in counts.values()), counts  # the title and one slide per numbered section


@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"!!! SLIDES BROWSER TEST SKIPPED: no chromium at {CHROMIUM} !!!")
def test_the_browser_check_catches_a_slide_that_overflows(tmp_path):
    from playwright.sync_api import sync_playwright

    long = "### 1. 너무 긴 슬라이드\n" + "\n".join(f"- 항목 {i}번은 한 줄을 차지하는 글입니다" for i in range(20))
    nb = nbformat.v4.new_notebook(cells=[md("# 99. 시험"), md("## 1. 절\n**필수** · 약 1분"),
                                         md(long, tags=["slide", "core"])])
    path = tmp_path / "99_test.ipynb"
    nbformat.write(nb, path)
    (deck,) = slides.build_slides([path], tmp_path / "out")
    with sync_playwright() as playwright:
        context = launch(playwright, tmp_path / "chromium", 1280, 800)
        try:
            page = context.new_page()
            page.goto(deck.as_uri())
            page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=30_000)
            (title, slide) = page.evaluate(MEASURE)
        finally:
            context.close()
    assert title["fits"] and title["words"] == 2  # "99." and "시험"
    assert not slide["fits"] and slide["bullets"] == 20 and slide["words"] > slide_text.MAX_WORDS, slide
