"""The chapters as committed: listed in the table of contents, parameterised, without outputs."""

import ast
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


def _plumbing(source):
    """Whether a code cell only sets or glues values (no figure, no table, nothing a reader learns from).

    Every statement is an import, an assignment, a ``glue`` call or a loop or
    branch of those, and the cell glues something or reads ``quick``.
    """
    tree = ast.parse(source)
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}

    def glue_call(node):
        return (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Call)
            and getattr(node.value.func, "id", "") == "glue"
        )

    def only_plumbing(statements):
        return all(
            isinstance(s, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Import, ast.ImportFrom))
            or glue_call(s)
            or (
                isinstance(s, (ast.For, ast.If, ast.With))
                and only_plumbing(s.body)
                and only_plumbing(getattr(s, "orelse", []))
            )
            for s in statements
        )

    return only_plumbing(tree.body) and bool({"glue", "quick"} & names)


def test_plumbing_classifier():
    assert _plumbing('glue("a", 1, display=False)')
    assert _plumbing("quick = False\nseed = 0")
    assert _plumbing("n = 5 if quick else 50")
    assert _plumbing("for k, v in d.items():\n    glue(k, v, display=False)")
    assert not _plumbing("x = 1")  # nothing glued, nothing from quick
    assert not _plumbing('glue("a", 1, display=False)\nplt.plot([1, 2])')
    assert not _plumbing('Markdown(table)\nglue("a", 1, display=False)')


@pytest.mark.parametrize("chapter", CHAPTERS, ids=str)
def test_plumbing_is_out_of_sight(chapter):
    """Parameters, sizes from ``quick`` and glue-only cells are removed from the rendered page."""
    nb = nbformat.read(ROOT / chapter, as_version=4)
    for index, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        if "parameters" in tags or _plumbing(cell.source):
            assert "remove-cell" in tags or "remove-input" in tags, (
                f"cell {index} of {chapter} only sets or glues values but is shown: tag it remove-cell"
            )
