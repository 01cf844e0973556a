"""The chapters as committed: listed in the table of contents, parameterised, without outputs."""

import re
from pathlib import Path

import nbformat
import papermill
import pytest

from tools.book.runner import toc_notebooks

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = toc_notebooks(ROOT)


def test_every_notebook_is_a_chapter():
    on_disk = {p.relative_to(ROOT) for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert on_disk == set(CHAPTERS)
    assert [p.name for p in CHAPTERS] == sorted(p.name for p in CHAPTERS), "chapters are numbered in reading order"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=str)
def test_committed_without_outputs(chapter):
    nb = nbformat.read(ROOT / chapter, as_version=4)
    for index, cell in enumerate(nb.cells, start=1):
        if cell.cell_type == "code":
            assert not cell.outputs, f"cell {index} of {chapter} has outputs"
            assert cell.execution_count is None, f"cell {index} of {chapter} has an execution count"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=str)
def test_parameters_cell_with_quick_switch(chapter):
    nb = nbformat.read(ROOT / chapter, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{chapter} needs exactly one cell tagged 'parameters'"
    parameters = papermill.inspect_notebook(str(ROOT / chapter))
    assert parameters["quick"]["default"] == "False", "chapters default to the full run"
    assert nb.metadata.kernelspec.name == "softsom"
    nbformat.validate(nb)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=str)
def test_prose_first(chapter):
    nb = nbformat.read(ROOT / chapter, as_version=4)
    # The title, optionally under a MyST label that other pages link to.
    assert nb.cells[0].cell_type == "markdown" and re.match(r"(\([\w-]+\)=\n)?# ", nb.cells[0].source)
