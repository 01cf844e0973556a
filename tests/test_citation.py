"""The book is citable: CITATION.cff is valid, and the "How to cite" page agrees with it."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CFF = ROOT / "CITATION.cff"
CITE_PAGE = ROOT / "book" / "cite.md"


def bibtex_entries(text):
    """``{key: entry text}`` of the BibTeX entries in ``text``."""
    return {m.group(1): m.group(0) for m in re.finditer(r"@\w+\{(\w+),.*?\n\}", text, flags=re.S)}


def field(entry, name):
    return re.search(rf"^\s*{name}\s*=\s*\{{(.*)\}},?$", entry, flags=re.M).group(1)


def test_citation_cff_is_valid():
    cffconvert = Path(sys.executable).parent / "cffconvert"
    completed = subprocess.run([str(cffconvert), "--validate", "-i", str(CFF)], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_cite_page_bibtex_matches_citation_cff():
    cff = yaml.safe_load(CFF.read_text())
    book = bibtex_entries(CITE_PAGE.read_text())["softsom"]
    assert field(book, "title") == cff["title"]
    assert field(book, "version") == str(cff["version"])
    assert field(book, "year") == str(cff["date-released"])[:4]


def test_cite_page_gives_the_original_work_as_in_the_bibliography():
    page = bibtex_entries(CITE_PAGE.read_text())["barnes_slides"]
    references = bibtex_entries((ROOT / "book" / "references.bib").read_text())["barnes_slides"]
    assert page == references


def test_every_reference_is_cited():
    keys = bibtex_entries((ROOT / "book" / "references.bib").read_text())
    sources = [*ROOT.joinpath("book").glob("*.md"), *ROOT.joinpath("notebooks").glob("*.ipynb")]
    cited = set()
    for source in sources:
        for group in re.findall(r"\{cite[:a-z]*\}`([^`]+)`", source.read_text()):
            cited.update(key.strip() for key in group.split(","))
    assert set(keys) == cited, f"cited but missing: {cited - set(keys)}; never cited: {set(keys) - cited}"
