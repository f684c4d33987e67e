"""``make slides``: one offline reveal.js deck per notebook in ``build/slides/`` (nbconvert's slides exporter).

A notebook with slide text (markdown cells tagged ``slide``, see ``publish/slide_text.py``) gets a deck written for
slides: the first line of its title cell, then per ``##`` section its slide cells (the first one a slide, the others
sub-slides, one arrow down), and, when a section's slide cells show no figure, the figures its code cells drew (in an
executed notebook; their code hidden). The notebook's prose, tables and other code never reach such a deck; a section
without slide cells (the references) is left out. Figures the slide cells link (``../figs/NAME.png``) are copied
beside the decks.

A notebook without slide text falls back to its structure: the title cell and every ``##`` section start a slide,
every ``###`` heading a sub-slide (down arrow), other cells continue the current slide. Slide types are set at build
time, never stored in the notebooks; the Colab setup cells and ``verify`` cells are skipped, and ``instructor`` notes
are dropped.
reveal.js comes from an installed package (``sphinx-revealjs`` ships its ``dist/`` and ``plugin/`` files) and is
copied beside the decks with the course's Korean font, so a deck opens from disk in a lecture hall without a network.

    python -m course_utils slides --out build/slides
"""

from __future__ import annotations

import base64
import copy
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat

from course_utils.publish.editions import DROPPED, without
from course_utils.publish.slide_text import figures, is_slide, notebook_problems
from course_utils.runtime.cli import CommandParser
from course_utils.runtime.paths import ROOT

REVEAL_DIR = "reveal.js"  # beside the decks; the decks point at it with a relative URL
FIGS_DIR = "figs"  # beside the decks: the figures slide cells link
IMAGE_LINK = re.compile(r"(!\[[^\]]*\]\()([^)\s]+)(\))")
FONT_FAMILY = "CourseNanumGothic"
TEMPLATE_NAME = "course_slides.html.j2"
SLIDE_LINES = 28  # lines of prose or code that fit a 1280x800 slide under its heading (18-px code, wrapped prose)
#: The course's deck template: nbconvert's reveal template without its CDN scripts (require.js, jQuery, mermaid,
#: MathJax), loading reveal.js from REVEAL_DIR and the bundled NanumGothic through @font-face. The font is a data URI
#: inside REVEAL_DIR/course-font.css: Chromium refuses font files from file:// URLs (an opaque origin), not styles.
TEMPLATE = """{%- extends 'reveal/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_css -%}
<link rel="stylesheet" href="{{ resources.reveal.url_prefix }}/course-font.css">
<style type="text/css">
.reveal, .reveal h1, .reveal h2, .reveal h3, .reveal p, .reveal li, .jp-RenderedHTMLCommon {
  font-family: '""" + FONT_FAMILY + """', sans-serif !important; }
/* a slide never runs past the bottom edge: a tall section scrolls inside the 1280x800 slide (mouse wheel / touch) */
.reveal .slides section:not(.stack) { height: 100%; box-sizing: border-box; overflow-y: auto; }
.reveal h1 { font-size: 1.6em; } .reveal h2 { font-size: 1.3em; } .reveal h3 { font-size: 1.1em; }
/* code legible on a projector but compact (18 px of 800), a long cell scrolls within itself */
.reveal pre, .reveal .jp-CodeMirrorEditor, .reveal .highlight pre { font-size: 18px !important; line-height: 1.3; }
.reveal .jp-InputArea-editor, .reveal .jp-OutputArea-output pre { max-height: 360px; overflow-y: auto; }
</style>
{%- if resources.slide_text %}
<style type="text/css">
/* slide text: few words, big enough for a lecture hall; a figure fits under six bullets */
.reveal .slides section, .reveal .slides section .jp-RenderedHTMLCommon { font-size: 28px; }
.reveal .slides section li { margin: 0.2em 0; }
.reveal .slides section img { max-height: 380px; max-width: 100%; width: auto; margin: 8px auto; display: block; }
.reveal .slides section h1 { margin-top: 200px; }
.reveal h1, .reveal h2, .reveal h3 { text-transform: none !important; }  /* the theme's capitals turn LoRA into LORA */
.reveal .slides section pre, .reveal .slides section pre code { font-size: 22px !important; }
</style>
{%- endif %}
{%- endblock html_head_css -%}
{% block footer_js %}
<script src="{{ resources.reveal.url_prefix }}/dist/reveal.js"></script>
<script src="{{ resources.reveal.url_prefix }}/plugin/notes/notes.js"></script>
<script>
Reveal.initialize({controls: true, progress: true, history: true, hash: true, transition: "none",
                   slideNumber: "c/t", plugins: [RevealNotes], width: 1280, height: 800, center: false});
</script>
{% endblock footer_js %}
"""


def heading_level(cell) -> int:
    """1 for '# ', 2 for '## ', 3 for '### ' on a markdown cell's first line; 0 otherwise."""
    if cell.cell_type != "markdown":
        return 0
    first = cell.source.lstrip().split("\n", 1)[0]
    hashes = len(first) - len(first.lstrip("#"))
    return hashes if 1 <= hashes <= 3 and first[hashes:hashes + 1] == " " else 0


def is_setup_cell(cell) -> bool:
    """The Colab badge and install cells (students need them, a lecture does not)."""
    return "colab-badge.svg" in cell.source or "[colab-setup]" in cell.source


def screen_lines(cell) -> int:
    """About how many 800-px-slide lines a cell takes: code and output lines, prose wrapped at ~90 characters."""
    if cell.cell_type == "code":
        texts = [cell.source] + ["".join(o.get("text", "")) if o.get("output_type") == "stream"
                                 else "".join(o.get("data", {}).get("text/plain", "")) for o in cell.get("outputs", [])]
        images = sum("image/png" in o.get("data", {}) for o in cell.get("outputs", []))
        return sum(len(t.splitlines()) for t in texts) + 2 + 14 * images
    return sum(1 + len(line) // 90 for line in cell.source.splitlines()) + 1


def slide_types(nb, budget: int = SLIDE_LINES) -> list[str]:
    """reveal slide type per cell: 'slide' (title, ##), 'subslide' (### or a cell that would overfill the slide),
    'skip' (setup, verify, instructor), '-' otherwise."""
    types, used = [], 0
    for cell in nb.cells:
        level, cost = heading_level(cell), screen_lines(cell)
        if is_setup_cell(cell) or set(cell.metadata.get("tags", [])) & DROPPED["slides"]:
            types.append("skip")
            continue
        if level in (1, 2):
            types.append("slide")
        elif level == 3 or (used and used + cost > budget):  # a full slide continues one arrow down
            types.append("subslide")
        else:
            types.append("-")
            cost += used
        used = cost
    if "slide" in types:  # cells before the first slide would form an untitled one
        first = types.index("slide")
        types[:first] = ["skip"] * first
    return types


def figure_only(cell):
    """A copy of a code cell showing only the figures it drew, its code hidden; None when it drew none."""
    if cell.cell_type != "code":
        return None
    outputs = [{**output, "data": {k: v for k, v in output["data"].items() if k.startswith("image/")}}
               for output in cell.get("outputs", [])
               if any(key.startswith("image/") for key in output.get("data", {}))]
    if not outputs:
        return None
    shown = copy.deepcopy(cell)
    shown.outputs = nbformat.from_dict(outputs)
    shown.metadata["transient"] = {"remove_source": True}  # nbconvert's templates then leave the code out
    return shown


def sections(cells) -> list[list]:
    """`cells` split at every ``##`` section head (slide cells never open a section); the first part is the intro."""
    parts: list[list] = [[]]
    for cell in cells:
        if heading_level(cell) == 2 and not is_slide(cell):
            parts.append([])
        parts[-1].append(cell)
    return parts


def slide_text_deck(nb) -> list:
    """The cells of a deck built from slide text: the title line, then per section its slide cells (or the figures
    its code drew when no slide cell shows one), each with its reveal slide type."""
    kept = nbformat.from_dict(without(nb, DROPPED["slides"])).cells
    title = next((c.source.lstrip().split("\n", 1)[0] for c in kept if heading_level(c) == 1), None)
    deck = [nbformat.v4.new_markdown_cell(title, metadata={"slideshow": {"slide_type": "slide"}})] if title else []
    for part in sections(kept):
        text = [cell for cell in part if is_slide(cell)]
        if not text:
            continue  # a section without slide text (the references) stays out of the deck
        drawn = [] if any(figures(cell.source) for cell in text) else [f for f in map(figure_only, part) if f]
        for position, cell in enumerate(text + drawn):
            cell.metadata.pop("jupyter", None)  # slide cells are collapsed in the notebook, shown on the slide
            cell.metadata["slideshow"] = {"slide_type": "slide" if position == 0 else "subslide"}
        deck += text + drawn
    return deck


def prepare(nb):
    """A copy of `nb` with the slide types set on every cell (the notebook on disk is not changed): built from its
    slide text when it has some, else from its structure."""
    if any(is_slide(cell) for cell in nb.cells):
        return nbformat.v4.new_notebook(cells=slide_text_deck(nb), metadata=copy.deepcopy(nb.metadata))
    deck = nbformat.from_dict(without(nb, DROPPED["slides"]))
    for cell, kind in zip(deck.cells, slide_types(deck)):
        cell.metadata["slideshow"] = {"slide_type": kind}
    return deck


def reveal_source() -> Path:
    """The reveal.js folder (with dist/ and plugin/) shipped by the installed sphinx-revealjs package."""
    try:
        import sphinx_revealjs
    except ImportError as err:
        raise ImportError("make slides needs reveal.js from the sphinx-revealjs package: "
                          "pip install 'course-utils[dev]'") from err
    folder = Path(sphinx_revealjs.__file__).parent / "_static" / "revealjs"
    if not (folder / "dist" / "reveal.js").is_file():
        raise FileNotFoundError(f"no dist/reveal.js under {folder}; reinstall sphinx-revealjs")
    return folder


def browser_font(path: Path) -> bytes:
    """The TTF without its VTT source tables (TSI0-TSI5): Chromium's font sanitizer rejects the whole font for them."""
    import io

    from fontTools.ttLib import TTFont

    font = TTFont(str(path))
    for tag in [t for t in font.keys() if t.startswith("TSI")]:
        del font[tag]
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()


def copy_assets(out: Path) -> Path:
    """Copy reveal.js (dist, plugin) into out/REVEAL_DIR and write its course-font.css; return that folder."""
    from course_utils.runtime.plots import korean_font_files

    target = out / REVEAL_DIR
    source = reveal_source()
    for part in ("dist", "plugin"):
        shutil.copytree(source / part, target / part, dirs_exist_ok=True)
    fonts = [p for p in korean_font_files() if Path(p).name == "NanumGothic.ttf"]
    if not fonts:
        raise FileNotFoundError("NanumGothic.ttf not found among the course's Korean fonts")
    encoded = base64.b64encode(browser_font(fonts[0])).decode("ascii")
    source = f"url(data:font/ttf;base64,{encoded}) format('truetype')"
    rule = f"@font-face {{ font-family: '{FONT_FAMILY}'; src: {source}; }}"
    (target / "course-font.css").write_text(rule + "\n", encoding="utf-8")
    return target


def exporter():
    """nbconvert's SlidesExporter with the course template (local reveal.js, no CDN)."""
    from jinja2 import DictLoader
    from nbconvert import SlidesExporter

    slides = SlidesExporter(extra_loaders=[DictLoader({TEMPLATE_NAME: TEMPLATE})], template_file=TEMPLATE_NAME)
    slides.reveal_url_prefix = REVEAL_DIR
    slides.reveal_theme = "white"  # "simple" (the default here) imports web fonts from a remote server
    slides.exclude_input_prompt = slides.exclude_output_prompt = True
    return slides


def link_figures(markdown: str, folder: Path, out: Path) -> str:
    """`markdown` with every image it links from `folder` (e.g. ``../figs/x.png``) copied to out/FIGS_DIR and
    linked there; links to files that do not exist are left as they are."""
    def relink(match: re.Match) -> str:
        image = (folder / match.group(2)).resolve()
        if "://" in match.group(2) or not image.is_file():
            return match.group(0)
        (out / FIGS_DIR).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(image, out / FIGS_DIR / image.name)
        return f"{match.group(1)}{FIGS_DIR}/{image.name}{match.group(3)}"

    return IMAGE_LINK.sub(relink, markdown)


def build_deck(notebook: str | Path, out: Path, slides=None) -> Path:
    """Write out/<notebook stem>.slides.html for one notebook; return its path."""
    notebook = Path(notebook)
    source = nbformat.read(notebook, as_version=4)
    for problem in notebook_problems(source, notebook.name):  # the tests fail on these; a lecture still gets its deck
        print(f"slides: too long for a slide: {problem}", file=sys.stderr)
    nb = prepare(source)
    text = any(is_slide(cell) for cell in source.cells)
    for cell in nb.cells:
        if is_slide(cell):
            cell.source = link_figures(cell.source, notebook.parent, out)
    resources = {"metadata": {"name": notebook.stem}, "slide_text": text}
    html, _ = (slides or exporter()).from_notebook_node(nb, resources=resources)
    if "unpkg.com" in html or "cdnjs" in html:
        raise RuntimeError(f"{notebook.name}: the deck still references a CDN")
    path = out / f"{notebook.stem}.slides.html"
    path.write_text(html, encoding="utf-8")
    return path


def build_slides(notebooks: Sequence[str | Path] | None = None,
                 out: str | Path = ROOT / "build" / "slides") -> list[Path]:
    """One deck per notebook (default: every notebooks/*.ipynb) plus the shared assets; return the deck paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb")) if notebooks is None else list(notebooks)
    if not notebooks:
        raise ValueError("notebooks must name at least one .ipynb")
    copy_assets(out)
    slides = exporter()
    return [build_deck(nb, out, slides) for nb in notebooks]


def main(argv: list[str] | None = None) -> int:
    """CLI: build the decks and print their paths."""
    parser = CommandParser(prog="python -m course_utils slides", description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--out", default=str(ROOT / "build" / "slides"))
    args = parser.parse_args(argv)
    for path in build_slides(args.notebooks or None, args.out):
        print(path)
    return 0
