"""CI's check: the spiral chapter's evaluation, re-run in full by this test session, reproduces
results/spiral.json; the committed search and studies are full runs of the same experiment."""

from pathlib import Path

import pytest

from experiments import report, results, search, spirals

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "results" / "spiral.json"
SEARCH = ROOT / "results" / "spiral_search.json"
STUDIES = ROOT / "results" / "spiral_studies.json"
pytestmark = pytest.mark.book


def test_committed_results_are_valid_and_full():
    committed = results.load(COMMITTED)
    assert committed["provenance"]["mode"] == "full"
    assert committed["seeds"] == list(spirals.EVALUATION_SEEDS)
    searched = results.load_search(SEARCH)
    assert searched["provenance"]["mode"] == "full"
    assert [entry["name"] for entry in searched["families"]] == list(search.FAMILIES)
    assert set(report.trial_counts(searched).values()) == {search.SearchSettings().n_trials}
    # The evaluation evaluates what this search chose, and no tuning seed is an evaluation seed.
    chosen = {entry["name"]: search.chosen_trial(entry)["number"] for entry in searched["families"]}
    assert committed["search"] == {"settings": searched["settings"], "chosen": chosen}
    assert not set(searched["settings"]["tuning_seeds"]) & set(committed["seeds"])
    studies = results.load_studies(STUDIES)
    assert studies["provenance"]["mode"] == "full" and studies["budgets"] == list(spirals.BUDGETS)


def test_regenerated_results_match_the_committed_ones(built_book):
    # conftest's built_book writes the regenerated file beside its _build folder.
    regenerated = results.load(built_book.parent / "spiral.json")
    problems = results.compare(regenerated, results.load(COMMITTED))
    assert not problems, "\n".join(problems)
