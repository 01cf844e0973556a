"""Shared fixtures: the book, executed and built once per test session.

Every chapter runs quick, except the spiral chapter, which runs in full so that
its regenerated numbers can be checked against the committed results/spiral.json.
"""

import shutil
from pathlib import Path

import pytest

from tools.book import runner

ROOT = Path(__file__).resolve().parents[1]
TEST_BUILD = ROOT / "_build" / "test"
SPIRAL_RESULTS = TEST_BUILD / "spiral.json"


@pytest.fixture(scope="session")
def built_book():
    """Run every chapter with papermill and build the HTML with -W -n --keep-going.

    Returns the folder holding ``_build/executed`` and ``_build/html``.
    """
    shutil.rmtree(TEST_BUILD, ignore_errors=True)
    sources = {p: p.read_bytes() for p in (ROOT / "notebooks").glob("*.ipynb")}
    TEST_BUILD.mkdir(parents=True)
    status = runner.run(
        root=ROOT,
        out_root=TEST_BUILD,
        quick=True,
        parameters=["06_spirals:quick=False", f"06_spirals:results_path={SPIRAL_RESULTS}"],
    )
    assert status == 0, "a notebook failed: see the runner's report above"
    changed = [p.name for p, data in sources.items() if p.read_bytes() != data]
    assert not changed, f"the runner modified notebooks/: {changed}"
    return TEST_BUILD / "_build"
