"""The whole book as one PDF: Sphinx's single-page HTML, printed by headless Chromium.

The single page is served from 127.0.0.1 (as the browser check serves the site);
once every image has loaded and MathJax has typeset every formula, Chromium
prints it on A4 with page numbers. The build puts the PDF into the HTML site as
:data:`PDF_NAME`, which the "How to cite" page links to.

``python -m tools.book.pdf SINGLEHTML_DIR OUT.pdf``
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from tools.atomic import write_bytes_atomically
from tools.book.browser import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, VIEWPORT, serve

__all__ = ["PDF_NAME", "print_book"]

PDF_NAME = "softsom.pdf"
PRINTED_PAGE = "whole-book.html"
# The site's navigation has no place on paper: the header, both sidebars, the previous/next links.
PRINT_CSS = """
.bd-header, .bd-header-article, .bd-sidebar-primary, .bd-sidebar-secondary, .prev-next-area,
.bd-footer, .bd-footer-article, .bd-footer-content, #pst-skip-link, .header-article, .search-button-field
  { display: none !important; }
.bd-main .bd-content .bd-article-container, .bd-page-width { max-width: 100% !important; }
img { max-width: 100% !important; height: auto !important; }
pre { white-space: pre-wrap !important; word-break: break-word; }
"""
# Images load eagerly (the theme marks some lazy, which a print would leave blank), then wait for all
# of them and for MathJax's typesetting.
READY_JS = r"""
async () => {
  for (const img of document.images) img.loading = 'eager';
  await Promise.all(Array.from(document.images, img => img.complete ? null
    : new Promise(done => { img.onload = img.onerror = done; })));
  if (window.MathJax && MathJax.startup) await MathJax.startup.promise;
  return Array.from(document.images).filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.src);
}
"""
FOOTER = '<div style="font-size: 8px; width: 100%; text-align: center;"><span class="pageNumber"></span></div>'


def print_book(singlehtml_dir, out_path, root_doc, chromium=CHROMIUM):
    """Print the single page ``singlehtml_dir/<root_doc>.html`` to ``out_path`` (written atomically).

    ``root_doc`` is the table of contents' root (e.g. "book/intro"): singlehtml
    writes the whole book into that one page.

    Returns the PDF's size in bytes. Raises ``RuntimeError`` if an image of the
    page does not load.
    """
    from playwright.sync_api import sync_playwright

    singlehtml_dir = Path(singlehtml_dir)
    source = singlehtml_dir / f"{root_doc}.html"
    if not source.is_file():
        raise FileNotFoundError(f"no {source}: build the book with the singlehtml builder first")
    # Sphinx writes the page's links relative to the folder it builds into, not to the root
    # document's own folder: read it from there.
    shutil.copyfile(source, singlehtml_dir / PRINTED_PAGE)
    with serve(singlehtml_dir) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(10 * TIMEOUT_MS)
            page.goto(base + PRINTED_PAGE, wait_until="load")
            page.add_style_tag(content=PRINT_CSS)
            broken = page.evaluate(READY_JS)
            if broken:
                raise RuntimeError(f"{len(broken)} images of the book did not load: {broken[:3]}")
            page.emulate_media(media="print")
            pdf = page.pdf(
                format="A4",
                print_background=True,
                margin={"top": "15mm", "bottom": "15mm", "left": "12mm", "right": "12mm"},
                display_header_footer=True,
                header_template="<span></span>",
                footer_template=FOOTER,
            )
        finally:
            browser.close()
    write_bytes_atomically(out_path, pdf)
    return len(pdf)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("singlehtml", type=Path, help="the book's singlehtml folder")
    parser.add_argument("out", type=Path, help="the PDF to write")
    parser.add_argument("--root-doc", default="book/intro", help="the book's root page (default book/intro)")
    args = parser.parse_args(argv)
    size = print_book(args.singlehtml, args.out, args.root_doc)
    print(f"{args.out}: {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
