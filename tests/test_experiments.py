"""The spiral experiment machinery and the results file (small protocols, for speed)."""

import copy
import dataclasses
import json

import numpy as np
import pytest
import scipy.stats

from experiments import report, results, stats
from experiments.report import describe_difference
from experiments.spirals import (
    Configuration,
    Protocol,
    learned_parameters_of,
    matched_pure_nn,
    prepare_data,
    run_classic,
    run_configuration,
    som_snapshot,
)

TINY = Protocol(n_per_class=40, epochs=15, classic_epochs=5)
PURE = Configuration("pure_nn", "pure NN", "pure_nn", hidden=(4,))
INTERPOSED = Configuration(
    "interposed", "interposed", "interposed", hidden=(4,), hidden_after=(4,), grid_shape=(3, 3), beta=2.0
)
PRE_HARD = Configuration(
    "pre_hard", "hard", "som_preprocessing", grid_shape=(4, 4), beta=5.0, output="hard", som_epochs=1
)


@pytest.fixture(scope="module")
def trainers():
    """Compiled training loops shared across tests, as across seeds in the chapter."""
    return {}


def test_data_depend_only_on_the_seed():
    a, b, c = prepare_data(TINY, 1), prepare_data(TINY, 1), prepare_data(TINY, 2)
    for part in ("train", "validation", "test"):
        np.testing.assert_array_equal(a[part][0], b[part][0])
    assert not np.array_equal(a["train"][0], c["train"][0])
    assert [len(a[p][0]) for p in ("train", "validation", "test")] == [48, 16, 16]
    assert np.abs(a["train"][0]).max() < 1.5


@pytest.mark.parametrize("config", [PURE, INTERPOSED, PRE_HARD], ids=lambda c: c.name)
def test_shared_trainer_gives_the_numbers_of_a_fresh_one(config, trainers):
    run_configuration(config, TINY, 0, trainers)
    reused, _ = run_configuration(config, TINY, 1, trainers)
    fresh, _ = run_configuration(config, TINY, 1, {})
    for key in reused:
        if key != "seconds":
            assert reused[key] == fresh[key], key


def test_runs_are_deterministic_and_differ_between_seeds(trainers):
    a, _ = run_configuration(INTERPOSED, TINY, 3, trainers)
    b, _ = run_configuration(INTERPOSED, TINY, 3, trainers)
    c, _ = run_configuration(INTERPOSED, TINY, 4, trainers)
    assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    assert a["test_log_loss"] != c["test_log_loss"]


def test_metrics_and_history(trainers):
    metrics, details = run_configuration(INTERPOSED, TINY, 0, trainers)
    history = details["history"]
    assert len(history["val_loss"]) == TINY.epochs
    assert metrics["best_epoch"] == int(np.argmin(history["val_loss"])) + 1
    assert 0 <= metrics["test_accuracy"] <= 1 and metrics["test_log_loss"] > 0
    # Kohonen mode: the embedding (3x3 nodes in the 4-unit hidden space) is learned, not trained.
    assert metrics["learned_parameters"] == (2 * 4 + 4) + 9 * 4 + (2 * 4 + 4) + (4 * 2 + 2)
    assert metrics["trainable_parameters"] == metrics["learned_parameters"] - 9 * 4


def test_epochs_to_100_on_an_easy_problem():
    easy = Protocol(n_per_class=30, turns=0.25, noise=0.0, epochs=300, learning_rate=0.05)
    metrics, details = run_configuration(Configuration("wide", "wide", "pure_nn", hidden=(16,)), easy, 0, {})
    first = metrics["epochs_to_100"]
    assert first is not None
    assert details["history"]["train_accuracy"][first] == 1.0
    assert np.all(details["history"]["train_accuracy"][:first] < 1.0)


def test_classic_run(trainers):
    run = run_classic(PURE, TINY, 0, trainers)
    assert set(run) == {"seed", "epochs_to_100", "final_train_accuracy"}


def test_parameter_matching():
    config = matched_pure_nn(INTERPOSED)
    width = config.hidden[0]
    assert abs((5 * width + 2) - learned_parameters_of(INTERPOSED)) <= 3
    # The hard output's map is fitted to data too, outside the Keras model.
    assert learned_parameters_of(PRE_HARD) == 16 * 2 + (2 * 8 + 8) + (8 * 2 + 2)


# -- the results file ------------------------------------------------------------


@pytest.fixture(scope="module")
def document(trainers):
    seeds = [0, 1]
    runs = [(config, [run_configuration(config, TINY, s, trainers)[0] for s in seeds]) for config in (PURE, PRE_HARD)]
    classic = [(PURE, [run_classic(PURE, TINY, s, trainers) for s in seeds])]
    return results.document(TINY, seeds, runs, classic, "quick")


def test_document_round_trip(tmp_path, document):
    path = tmp_path / "spiral.json"
    results.save(path, document)
    loaded = results.load(path)
    assert loaded == json.loads(json.dumps(document))
    assert results.compare(loaded, document) == []
    assert "seconds" not in loaded["configurations"][0]["runs"][0]


def test_invalid_document_is_never_written(tmp_path, document):
    path = tmp_path / "spiral.json"
    results.save(path, document)
    before = path.read_text()
    broken = copy.deepcopy(document)
    broken["configurations"][0]["runs"][0]["test_accuracy"] = None
    with pytest.raises(ValueError):
        results.save(path, broken)
    assert path.read_text() == before


def test_missing_or_malformed_file(tmp_path):
    with pytest.raises(ValueError, match="missing"):
        results.load(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        results.load(bad)


def test_compare_exact_on_the_same_machine(document):
    changed = copy.deepcopy(document)
    changed["configurations"][1]["runs"][0]["test_accuracy"] += 1e-9
    assert results.compare(changed, document) == [
        "configurations pre_hard: runs differ on the same machine and versions"
    ]


def test_compare_with_tolerance_elsewhere(document):
    elsewhere = copy.deepcopy(document)
    elsewhere["provenance"]["machine"]["cpu_model"] = "another CPU"
    for run in elsewhere["configurations"][0]["runs"]:
        run["test_accuracy"] += 0.01
    assert results.compare(elsewhere, document) == []
    for run in elsewhere["configurations"][0]["runs"]:
        run["test_accuracy"] += 0.2
    problems = results.compare(elsewhere, document)
    assert len(problems) == 1 and problems[0].startswith("pure_nn: mean test_accuracy")


def test_compare_detects_stale_results(document):
    stale = copy.deepcopy(document)
    stale["protocol"]["epochs"] += 1
    assert "stale" in results.compare(document, stale)[0]
    stale = copy.deepcopy(document)
    stale["configurations"][0]["settings"]["hidden"] = [5]
    assert "stale" in results.compare(document, stale)[0]


def test_statistics():
    values = [0.5, 0.7, 0.6, 0.9]
    s = stats.summary(values)
    half = scipy.stats.t.ppf(0.975, 3) * np.std(values, ddof=1) / 2
    assert s["mean"] == pytest.approx(0.675) and s["ci_high"] - s["mean"] == pytest.approx(half)
    d = stats.paired_difference([0.6, 0.7, 0.8], [0.5, 0.5, 0.5])
    assert d["mean"] == pytest.approx(0.2) and d["p_value"] == pytest.approx(
        scipy.stats.ttest_rel([0.6, 0.7, 0.8], [0.5] * 3).pvalue
    )
    assert stats.paired_difference([1, 2], [1, 2])["p_value"] == 1.0
    assert describe_difference({"ci_low": 0.01, "ci_high": 0.2}) == "higher than"
    assert describe_difference({"ci_low": -0.2, "ci_high": -0.01}) == "lower than"
    assert describe_difference({"ci_low": -0.1, "ci_high": 0.1}) == "not distinguishable from"
    assert stats.summary([None, None])["n"] == 0


def test_configuration_settings_are_json_ready():
    settings = dataclasses.replace(INTERPOSED).settings()
    assert json.loads(json.dumps(settings)) == settings and settings["grid_shape"] == [3, 3]


def test_comparison_tables(document):
    compared = report.comparison(document)
    assert list(compared) == ["pure_nn", "pre_hard"]
    assert compared["pure_nn"]["difference"]["mean"] == 0.0
    rows = report.comparison_rows(document)
    assert [row["configuration"] for row in rows] == ["pure NN", "hard"]
    assert rows[0]["Δ accuracy vs pure_nn"] == "" and "p = " in rows[1]["Δ accuracy vs pure_nn"]
    classic = report.classic_rows(document)
    assert classic[0]["reached 100%"].endswith("/2")


def test_som_snapshot(trainers):
    _, details = run_configuration(INTERPOSED, TINY, 0, trainers)
    X = details["data"]["train"][0]
    hidden, embedding = som_snapshot(details["model"], X)
    assert hidden.shape == (len(X), 4) and embedding.shape == (9, 4)
    assert np.all(np.abs(hidden) <= 1.0)  # tanh activations
