"""The book's PDF: built with the site, linked from "How to cite", the whole book with its figures."""

import re
import unicodedata
from pathlib import Path

import nbformat
import pytest
from pypdf import PdfReader

from tools.book.pdf import PDF_NAME
from tools.book.runner import toc_notebooks

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.book


def chapter_titles():
    titles = []
    for chapter in toc_notebooks(ROOT):
        first = nbformat.read(ROOT / chapter, as_version=4).cells[0].source
        titles.append(re.search(r"^# (.+)$", first, flags=re.M).group(1))
    return titles


def plain(text):
    """Text without its typography and layout: ligatures (NFKC), curly apostrophes, line breaks, spacing."""
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("-\n", "")
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def pdf(built_book):
    path = built_book / "html" / PDF_NAME
    assert path.is_file(), f"the build wrote no {path}"
    return PdfReader(path)


@pytest.fixture(scope="module")
def pdf_text(pdf):
    return plain(" ".join(page.extract_text() for page in pdf.pages))


def test_the_pdf_has_pages_and_the_figures(pdf, built_book):
    figures = sum(len(page.images) for page in pdf.pages)
    site_figures = 0
    for chapter in toc_notebooks(ROOT):
        html = (built_book / "html" / chapter.with_suffix(".html")).read_text()
        site_figures += len(re.findall(r'<img[^>]+src="(?!data:)[^"]*_images/', html))
    print(f"{len(pdf.pages)} pages, {figures} images; the chapters' pages show {site_figures} figure files")
    assert len(pdf.pages) >= 40
    assert figures >= site_figures > 0


def test_the_pdf_has_every_chapter_title(pdf_text):
    missing = [title for title in chapter_titles() if plain(title) not in pdf_text]
    assert not missing, f"chapter titles not in the PDF's text: {missing}"


def test_the_pdf_typesets_the_maths(pdf_text):
    # MathJax has run: no TeX source left in the text layer.
    assert "\\frac" not in pdf_text and "\\lVert" not in pdf_text


def test_how_to_cite_links_to_the_pdf(built_book):
    cite = (built_book / "html" / "book" / "cite.html").read_text()
    assert f'href="../{PDF_NAME}"' in cite
