"""The built book read in headless Chromium, page by page, as a reader would see it.

``tools.book.browser`` does the work (a local server on 127.0.0.1, Playwright, the
checks); these tests make sure it catches what it claims to catch, then run it
over every page of the book built by the ``built_book`` fixture. Screenshots of
every page are left in ``_build/screens/`` for a person to look at.
"""

import base64
import io
from pathlib import Path

import pytest

from tools.book import browser, runner

ROOT = Path(__file__).resolve().parents[1]
SCREENS = ROOT / "_build" / "screens"


@pytest.fixture(scope="module")
def chromium():
    if not browser.CHROMIUM.is_file():
        pytest.fail(
            f"Debian's chromium is missing ({browser.CHROMIUM}): run `make test`, which installs it with apt",
            pytrace=False,
        )
    return browser.CHROMIUM


def toc_pages(root):
    """Every page _toc.yml lists, as "dir/name"."""
    return [str(Path(entry).with_suffix("")) for entry in runner.toc_entries(root)]


def report_text(report):
    return f"{report.summary()}\n" + "\n".join(report.problems)


# --- the checker itself, on a small site with known defects --------------------------


def animated_gif():
    from PIL import Image

    frames = [Image.new("RGB", (40, 40), colour) for colour in ("red", "blue", "green")]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=150, loop=0)
    return out.getvalue()


def jshtml_animation():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation

    fig, ax = plt.subplots(figsize=(2, 2), dpi=50)
    (line,) = ax.plot([0, 1], [0, 0])
    animation = FuncAnimation(fig, lambda i: line.set_ydata([0, i]), frames=4, interval=100)
    html = animation.to_jshtml()
    plt.close(fig)
    return html


@pytest.fixture(scope="module")
def defective_site(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    (site / "anim.gif").write_bytes(animated_gif())
    (site / "page.html").write_text(  # nearly blank: one small line of text
        '<html><body><p id="here">A page</p></body></html>'
    )
    (site / "index.html").write_text(f"""<html><head><title>defects</title></head><body>
        <h1>Defects</h1>
        <p><a href="page.html">fine</a> <a href="page.html#here">fine anchor</a>
           <a href="missing.html">missing page</a> <a href="page.html#nope">missing anchor</a>
           <a href="https://example.org/">an outside link is not a request</a></p>
        <p>Untypeset: \\(x^2\\) and $$y$$.</p>
        <p>| a | b |
        |---|---|
        | 1 | 2 |</p>
        <img src="missing.png" alt="gone"> <img src="anim.gif" alt="moves">
        <img src="data:image/gif;base64,{base64.b64encode(animated_gif()).decode()}">
        {jshtml_animation()}
        {jshtml_animation().replace("oninput=", "data-stuck=")}
        <script>console.error("boom");</script>
        <script>throw new Error("kaboom");</script>
        </body></html>""")
    return site


@pytest.fixture(scope="module")
def defects_report(defective_site, chromium, tmp_path_factory):
    return browser.check_book(defective_site, tmp_path_factory.mktemp("screens"), chromium)


@pytest.mark.parametrize(
    "expected",
    [
        'index: broken link "missing page" -> missing.html: no file missing.html',
        "index: broken link \"missing anchor\" -> page.html#nope: no id 'nope' in page.html",
        "index: image not loaded: http://127.0.0.1:",
        "index: HTTP 404: http://127.0.0.1:",
        "index: request to another host (blocked): https://maxcdn.bootstrapcdn.com/",
        "index: console error: boom",
        "index: uncaught exception: Error: kaboom",
        "index: raw TeX left in the text: '\\\\(x^2\\\\)",
        "index: raw TeX left in the text: '$$y$$",
        "index: Markdown table shown as a paragraph, not rendered: '| a | b |",
        "index: jshtml animation _anim_img",  # the second one's slider moves no frame
        "page: screenshot ",  # too small, or blank
    ],
)
def test_the_checker_reports_each_defect(defects_report, expected):
    assert any(problem.startswith(expected) for problem in defects_report.problems), (
        f"not reported: {expected}\n{report_text(defects_report)}"
    )


def test_the_checker_passes_what_works(defects_report):
    counts, problems = defects_report.counts, "\n".join(defects_report.problems)
    assert defects_report.pages == ["index", "page"]
    assert counts["internal links"] == 4 and counts["external links (not followed)"] == 1
    assert "fine" not in problems and "example.org" not in problems
    # The GIF (file and data: URL) and the jshtml animations play: found, no complaint; one slider works.
    assert counts["animated images"] == 2 and counts["jshtml animations"] == 2 and counts["sliders moved"] == 1
    assert [p for p in defects_report.problems if "animat" in p or "anim.gif" in p] == [
        next(p for p in defects_report.problems if p.endswith("moving the slider to the last frame does not show it"))
    ]
    assert not [
        p for p in defects_report.problems if p.startswith("page:") and "theme's CSS" not in p and "screenshot" not in p
    ]
    assert counts["screenshots"] == 2


# --- the book ------------------------------------------------------------------


@pytest.mark.book
def test_every_page_reads_cleanly_in_chromium(built_book, chromium):
    report = browser.check_book(built_book / "html", SCREENS, chromium)
    print(report.summary())

    # Everything wrong goes in one list, so that one run reports all of it.
    problems = list(report.problems)
    problems += [
        f"{page}: in _toc.yml but not built, so not checked" for page in toc_pages(ROOT) if page not in report.pages
    ]
    problems += [f"{page}: Sphinx's page is missing" for page in ("genindex", "search") if page not in report.pages]
    problems += [f"{page}: no screenshot" for page in report.pages if not (SCREENS / f"{page}.png").is_file()]
    # The interactive figures: chapter 2's unfolding and chapter 4's beta, each played and slid.
    if report.counts["jshtml animations"] < 2 or report.counts["sliders moved"] != report.counts["jshtml animations"]:
        problems.append("the book's interactive figures (chapter 2's unfolding, chapter 4's beta) are missing or stuck")
    if not report.counts["math elements"] or not report.counts["pages with MathJax"]:
        problems.append("the book shows no typeset formula at all")
    assert not problems, (
        f"{len(problems)} problems in the book read in Chromium (screenshots in {SCREENS}):\n"
        f"{report.summary()}\n" + "\n".join(problems)
    )
