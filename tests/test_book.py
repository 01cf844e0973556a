"""The whole book, as `make book` builds it but with quick-sized chapters."""

import ast
import inspect
import json
import re
from pathlib import Path

import nbformat
import pytest

from tools.book.runner import toc_notebooks

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = toc_notebooks(ROOT)
BOOK_PAGES = [
    "book/intro",
    "book/reproduction",
    "book/discussion",
    "book/notation",
    "book/reproduce",
    "book/cite",
    "book/bibliography",
]
API_PAGES = [
    "book/api/index",
    "book/api/maps",
    "book/api/op",
    "book/api/models",
    "book/api/data",
    "book/api/distribute",
]
# The public names, by the anchor of their entry in the API reference.
API_ENTRIES = [
    "softsom.Grid",
    "softsom.KohonenSOM",
    "softsom.SoftSOM",
    "softsom.soft_som",
    "softsom.hard_som",
    "softsom.two_spirals",
    "softsom.distribute.train",
    "softsom.datasets.spiral_curve",
    "softsom.models.mlp",
    "softsom.models.som_preprocessing",
    "softsom.models.interposed_som",
    "softsom.plotting.draw_map",
    "softsom.analysis.distance_map",
    "softsom.analysis.activation_response",
    "softsom.analysis.win_map",
    "softsom.analysis.labels_map",
    "softsom.analysis.quantization",
    "softsom.analysis.component_planes",
    "softsom.plotting.plot_distance_map",
    "softsom.plotting.plot_hit_map",
    "softsom.plotting.plot_labels_map",
    "softsom.plotting.plot_component_planes",
]
# The chapters that reproduce the slides (the others: a tutorial and the appendices).
SLIDE_CHAPTERS = [c for c in CHAPTERS if c.stem[:2].isdigit() and c.stem[2] == "_"]
# Where a chapter first names a public name, it links to the name's entry.
CHAPTER_LINKS = {
    "notebooks/01_what_is_a_som": [
        "softsom.Grid",
        "softsom.KohonenSOM",
        "softsom.datasets.spiral_curve",
        "softsom.plotting.draw_map",
    ],
    "notebooks/03_why_not_backprop": ["softsom.hard_som"],
    "notebooks/04_soft_som": ["softsom.soft_som", "softsom.SoftSOM"],
    "notebooks/05_tensorflow_structure": [
        "softsom.models.mlp",
        "softsom.models.som_preprocessing",
        "softsom.models.interposed_som",
        "softsom.SoftSOM.from_kohonen",
    ],
    "notebooks/05b_your_own_network": ["softsom.SoftSOM", "softsom.models.interposed_som", "softsom.KohonenSOM"],
    "notebooks/06_spirals": ["softsom.two_spirals"],
}
pytestmark = pytest.mark.book


def page(built_book, source):
    return (built_book / "html" / Path(source).with_suffix(".html")).read_text()


def test_index_and_every_page_exist(built_book):
    html = built_book / "html"
    assert (html / "index.html").is_file()
    for entry in [*BOOK_PAGES, *API_PAGES, *map(str, CHAPTERS)]:
        assert (html / Path(entry).with_suffix(".html")).is_file(), entry


def api_entries(built_book):
    """``{anchor: page}`` of every object documented in the API reference."""
    entries = {}
    for source in API_PAGES:
        for anchor in re.findall(r'<dt class="sig sig-object py" id="([^"]+)"', page(built_book, source)):
            entries[anchor] = source
    return entries


def test_api_reference_documents_every_public_name(built_book):
    import softsom
    from softsom import analysis, models

    entries = api_entries(built_book)
    assert set(API_ENTRIES) <= set(entries), sorted(set(API_ENTRIES) - set(entries))
    # Names added to the package's __all__ get an entry too.
    public = [f"softsom.{name}" for name in softsom.__all__ if name != "models"]
    public += [f"softsom.models.{name}" for name in models.__all__]
    public += [f"softsom.analysis.{name}" for name in analysis.__all__]
    assert set(public) <= set(API_ENTRIES), sorted(set(public) - set(API_ENTRIES))
    # The entries show their arguments (SoftSOM's signature is written out in book/api/op.md).
    op = page(built_book, "book/api/op")
    for name, function in [("soft_som", softsom.soft_som), ("SoftSOM", softsom.SoftSOM.__init__)]:
        signature = re.search(rf'<dt class="sig sig-object py" id="softsom\.{name}">(.*?)</dt>', op, flags=re.S)
        text = re.sub(r"<[^>]+>", "", signature.group(1))
        for parameter in inspect.signature(function).parameters:
            if parameter != "self":
                assert parameter in text, f"{name}: {parameter} not in the signature {text!r}"
    assert "Parameters" in op and "Raises" in op


def test_chapters_link_to_the_api_reference(built_book):
    entries = api_entries(built_book)
    for chapter, anchors in CHAPTER_LINKS.items():
        links = set(re.findall(r'href="\.\./(book/api/[a-z_]+)\.html#([\w.]+)"', page(built_book, chapter)))
        for anchor in anchors:
            assert (entries[anchor], anchor) in links, f"{chapter} does not link to {anchor}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=str)
def test_chapter_executed_cleanly_with_figures(built_book, chapter):
    nb = nbformat.read(built_book / "executed" / chapter, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if {"image/png", "image/svg+xml"} & set(o.get("data", {}))]
    assert figures, f"{chapter} shows no figure"
    text = page(built_book, chapter)
    images = re.findall(r'<img[^>]+src="([^"]+)"', text)
    assert len(images) >= len(figures)
    for src in images:
        image = (built_book / "html" / chapter.parent / src).resolve()
        assert image.is_file() and image.stat().st_size > 1000, src


@pytest.mark.parametrize("chapter", CHAPTERS, ids=str)
def test_numbers_in_prose_are_glued(built_book, chapter):
    nb = nbformat.read(ROOT / chapter, as_version=4)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    keys = re.findall(r"\{glue:text\}`([A-Za-z0-9_]+)", prose)
    assert keys, f"{chapter} glues no number into its prose"
    text = page(built_book, chapter)
    assert "{glue" not in text and "glue:text" not in text
    # Outside code cells and maths, the prose holds no decimal number typed by hand.
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            bare = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|\{glue:text\}`[^`]*`|`[^`]*`", "", cell.source, flags=re.S)
            assert not re.search(r"\d\.\d{2,}", bare), f"typed number in {chapter}: {bare[:200]}"


def test_prose_pages_glue_every_number(built_book):
    for source in sorted((ROOT / "book").glob("*.md")):
        # Code, maths, glued values and version numbers ("Python 3.10") are not typed results.
        bare = re.sub(
            r"```.*?```|\$\$.*?\$\$|\$[^$]*\$|\{glue:text\}`[^`]*`|`[^`]*`|Python \d+\.\d+",
            "",
            source.read_text(),
            flags=re.S,
        )
        assert not re.search(r"\d\.\d{2,}", bare), f"typed number in {source.name}"
        text = page(built_book, source.relative_to(ROOT))
        assert "{glue" not in text and "glue:text" not in text, source.name


def test_reproduction_report_covers_every_slide_claim(built_book):
    text = re.sub(r"<[^>]+>", "", page(built_book, "book/reproduction"))
    # One numbered row per claim of the slides: 16 about the method, 3 results.
    rows = re.findall(r"^(\d+)$", text, flags=re.M)
    assert [int(r) for r in rows] == list(range(1, 20))
    assert "not reproduced" not in text, "a chapter no longer reproduces a claim: update the report"
    linked = page(built_book, "book/reproduction")
    for chapter in SLIDE_CHAPTERS:
        assert f"{chapter.stem}.html#" in linked, f"the report links nowhere into {chapter.stem}"


def test_reproduce_page_describes_this_build(built_book):
    text = re.sub(r"<[^>]+>", "", page(built_book, "book/reproduce"))
    timings = json.loads((built_book / "executed" / "timings.json").read_text())
    for run in timings:
        assert f"{run['notebook']}" in text and f"{run['seconds']:.1f}" in text
    for package in ("tensorflow-cpu", "jupyter-book", "papermill"):
        assert re.search(rf"{package}\s+\d", text), package
    assert "make book" in text and "make test" in text
    assert re.search(r"[0-9a-f]{40}", text), "no git commit on the page"
    assert "logical cores" in text


def test_rendered_glue_values_match_the_notebook(built_book):
    chapter = ROOT / "notebooks" / "01_what_is_a_som.ipynb"
    nb = nbformat.read(built_book / "executed" / chapter.relative_to(ROOT), as_version=4)
    glued = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            key = output.get("metadata", {}).get("scrapbook", {}).get("name")
            if key:
                glued[key] = ast.literal_eval(output["data"]["application/papermill.record/text/plain"])
    assert glued["ch1_rho_som"] > glued["ch1_rho_pca"]
    text = page(built_book, "notebooks/01_what_is_a_som")
    assert f"{glued['ch1_rho_som']:.3f} for the SOM" in re.sub(r"<[^>]+>", "", text)


def test_pages_load_nothing_from_the_network(built_book):
    for path in (built_book / "html").rglob("*.html"):
        text = path.read_text()
        for tag in re.findall(r"<(?:script|link|img|iframe|source)\b[^>]*>", text):
            url = re.search(r'(?:src|href)="([^"]*)"', tag)
            if url and not tag.startswith('<link rel="canonical"'):
                assert not re.match(r"(https?:)?//", url.group(1)), f"{path.name} loads {url.group(1)}"


def test_mathjax_is_served_by_the_book(built_book):
    text = page(built_book, "notebooks/02_kohonen_algorithm")
    src = re.search(r'<script[^>]+src="([^"]*tex-mml-chtml\.js)[^"]*"', text).group(1)
    assert not src.startswith("http")
    assert (built_book / "html" / "notebooks" / src).resolve().is_file()


def test_no_log_noise_or_injected_parameters_on_pages(built_book):
    for chapter in CHAPTERS:
        text = page(built_book, chapter)
        for noise in ("oneDNN custom operations", "absl::InitializeLog", "Traceback", "UserWarning"):
            assert noise not in text, f"{chapter}: {noise}"
        assert "# Parameters" not in text
        # Glued NumPy scalars render as their repr, not as numbers.
        assert not re.search(r"np\.(float|int)\d+\(", text)


def test_citations_resolve(built_book):
    text = (built_book / "html" / "book" / "bibliography.html").read_text()
    assert "Kohonen" in text and "Self-organized formation" in text


def test_bibliography_lists_every_reference(built_book):
    bib = (ROOT / "book" / "references.bib").read_text()
    titles = re.findall(r"^\s*title\s*=\s*\{(.+)\},?$", bib, flags=re.M)
    text = re.sub(r"<[^>]+>|[{}]", "", (built_book / "html" / "book" / "bibliography.html").read_text()).lower()
    for title in titles:
        # The bibliography style may change a title's case.
        words = re.sub(r"[{}]|\\.", "", title).lower().split()[:3]
        assert " ".join(words) in text, f"{title} is not in the bibliography: cite it or drop it"


def test_timings_recorded(built_book):
    timings = json.loads((built_book / "executed" / "timings.json").read_text())
    assert [t["notebook"] for t in timings] == [str(c) for c in CHAPTERS]
    assert all(t["error"] is None for t in timings)
    assert {t["notebook"]: t["mode"] for t in timings}["notebooks/06_spirals.ipynb"] == "full"


def test_every_chapter_figure_is_numbered_and_captioned(built_book):
    """Every image, diagram and player a chapter's cells draw sits in a numbered figure with a caption."""
    from bs4 import BeautifulSoup

    numbered = 0
    for chapter in CHAPTERS:
        soup = BeautifulSoup(page(built_book, chapter), "html.parser")
        drawn = soup.select(".cell_output img, .cell_output svg, .cell_output div.animation")
        drawn = [d for d in drawn if not d.find_parent("svg") and not d.find_parent("div", class_="animation")]
        assert drawn, f"{chapter.stem}: no figure found"
        for element in drawn:
            figure = element.find_parent("figure")
            what = element.get("alt") or element.get("id") or element.name
            assert figure is not None, f"{chapter.stem}: {what} is not in a figure"
            caption = figure.find("figcaption")
            assert caption is not None and caption.get_text(strip=True), f"{chapter.stem}: {what} has no caption"
            assert re.match(r"Fig\. \d+", caption.get_text(strip=True)), f"{chapter.stem}: figure not numbered"
            numbered += 1
    assert numbered >= 30


def test_every_chapter_image_fits_the_column(built_book):
    """No chapter image is wider than the column at its own resolution, so none is squeezed: with
    fonts of at least SMALLEST_FONT_POINTS, its text is at least 10 px tall as rendered."""
    from bs4 import BeautifulSoup
    from PIL import Image

    from experiments.figures import COLUMN_INCHES

    measured = 0
    for chapter in CHAPTERS:
        html_page = built_book / "html" / chapter.with_suffix(".html")
        soup = BeautifulSoup(html_page.read_text(), "html.parser")
        for img in soup.select(".cell_output img"):
            if not img.get("src", "").endswith(".png"):  # the players' frames are data, set by their script
                continue
            with Image.open((html_page.parent / img["src"]).resolve()) as image:
                width_px, dpi = image.size[0], image.info["dpi"][0]
            assert width_px / dpi <= COLUMN_INCHES * 1.02, (
                f"{chapter.stem}: {img.get('alt')} is {width_px / dpi:.1f} in wide; the column holds {COLUMN_INCHES}"
            )
            measured += 1
    assert measured >= 20


def test_no_figure_text_below_the_smallest_font():
    """No chapter, figure helper or plotting function asks for text below SMALLEST_FONT_POINTS."""
    from experiments.figures import SMALLEST_FONT_POINTS

    helpers = [ROOT / "experiments" / "figures.py", ROOT / "src" / "softsom" / "plotting.py"]
    sources = {path.name: path.read_text() for path in helpers}
    for chapter in CHAPTERS:
        notebook = nbformat.read(ROOT / chapter, as_version=4)
        sources[chapter.name] = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    for name, source in sources.items():
        sizes = {float(value) for value in re.findall(r"(?:fontsize|labelsize)\s*=\s*([0-9.]+)", source)}
        assert all(size >= SMALLEST_FONT_POINTS for size in sizes), f"{name}: font sizes {sorted(sizes)}"


def test_every_chapter_figure_is_referred_to_by_number():
    """Every named chapter figure is cited by its number ({numref}) somewhere in the book's prose."""
    prose = [path.read_text() for path in (ROOT / "book").rglob("*.md")]
    names = []
    for chapter in CHAPTERS:
        notebook = nbformat.read(ROOT / chapter, as_version=4)
        prose += [cell.source for cell in notebook.cells if cell.cell_type == "markdown"]
        names += [
            cell.metadata["mystnb"]["figure"]["name"]
            for cell in notebook.cells
            if "figure" in cell.metadata.get("mystnb", {})
        ]
    assert len(names) >= 30
    cited = set(re.findall(r"\{numref\}`(?:[^`<]*<)?(fig-[\w-]+)>?`", "\n".join(prose)))
    assert not set(names) - cited, f"figures never cited by number: {sorted(set(names) - cited)}"


def test_every_chapter_sets_the_book_figure_style():
    """Each chapter that draws with matplotlib sets the book's figure resolution before its first figure."""
    for chapter in CHAPTERS:
        notebook = nbformat.read(ROOT / chapter, as_version=4)
        code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
        drawing = [i for i, source in enumerate(code) if "plt.subplot" in source or "plt.figure" in source]
        styled = [i for i, source in enumerate(code) if "use_book_style()" in source or "figure.dpi" in source]
        if drawing:
            assert styled and styled[0] < drawing[0], f"{chapter.stem}: no book figure style before the first figure"
