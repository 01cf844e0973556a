"""CI's check: the spiral chapter, re-run in full by this test session, reproduces results/spiral.json."""

from pathlib import Path

import pytest

from experiments import results

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "results" / "spiral.json"
pytestmark = pytest.mark.book


def test_committed_results_are_valid_and_full():
    committed = results.load(COMMITTED)
    assert committed["provenance"]["mode"] == "full"
    assert len(committed["seeds"]) >= 10


def test_regenerated_results_match_the_committed_ones(built_book):
    # conftest's built_book writes the regenerated file beside its _build folder.
    regenerated = results.load(built_book.parent / "spiral.json")
    problems = results.compare(regenerated, results.load(COMMITTED))
    assert not problems, "\n".join(problems)
