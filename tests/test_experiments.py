"""The spiral experiment machinery and its results files (tiny protocols, for speed)."""

import copy
import dataclasses
import json

import numpy as np
import pytest
import scipy.stats

from experiments import references, report, results, search, spirals, stats
from experiments.training import (
    CHUNK,
    Configuration,
    Protocol,
    prepare_data,
    run_classic,
    run_configuration,
    som_output,
)

TINY = Protocol(n_per_class=40, max_epochs=15, classic_epochs=5)
PURE = Configuration("pure_nn", "pure NN", "pure_nn", hidden=(4,), epochs=15)
INTERPOSED = Configuration(
    "interposed", "interposed", "interposed", hidden=(4,), hidden_after=(4,), grid_shape=(3, 3), beta=2.0, epochs=15
)
PRE_HARD = Configuration(
    "pre_hard", "hard", "som_preprocessing", grid_shape=(4, 4), output="hard", som_epochs=1, epochs=15
)
QUICK_SEARCH = spirals.search_settings(quick=True)


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


def checkpoint_epoch(history):
    """The best validation accuracy, ties broken by the lower validation loss (1-based)."""
    order = np.lexsort((history["val_loss"], -history["val_accuracy"]))
    return int(order[0]) + 1


def test_metrics_and_history(trainers):
    metrics, details = run_configuration(INTERPOSED, TINY, 0, trainers)
    history = details["history"]
    assert len(history["val_loss"]) == INTERPOSED.epochs == metrics["epochs_run"]
    assert metrics["best_epoch"] == checkpoint_epoch(history)
    assert metrics["val_accuracy"] == history["val_accuracy"][metrics["best_epoch"] - 1]
    assert 0 <= metrics["test_accuracy"] <= 1 and metrics["test_log_loss"] > 0 and metrics["val_log_loss"] > 0
    assert len(history["test_accuracy"]) == INTERPOSED.epochs
    # Kohonen mode: the embedding (3x3 nodes in the 4-unit hidden space) is learned, not trained.
    assert metrics["learned_parameters"] == (2 * 4 + 4) + 9 * 4 + (2 * 4 + 4) + (4 * 2 + 2)
    assert metrics["trainable_parameters"] == metrics["learned_parameters"] - 9 * 4


def test_early_stopping_stops_after_the_patience_and_keeps_the_best_epoch():
    protocol = dataclasses.replace(TINY, max_epochs=3000)
    # A learning rate this large makes the checkpoint stop improving early.
    config = dataclasses.replace(PURE, epochs=3000, patience=20, learning_rate=0.5)
    metrics, details = run_configuration(config, protocol, 0, {})
    assert metrics["epochs_run"] < 3000
    assert metrics["epochs_run"] - metrics["best_epoch"] >= 20
    # Checked every CHUNK epochs: it stops at the first check past the patience.
    assert metrics["epochs_run"] % CHUNK == 0 and metrics["epochs_run"] - metrics["best_epoch"] < 20 + CHUNK
    assert metrics["best_epoch"] == checkpoint_epoch(details["history"])


def test_snapshots_do_not_change_where_a_run_stops():
    protocol = dataclasses.replace(TINY, max_epochs=3000)
    config = dataclasses.replace(PURE, epochs=3000, patience=20, learning_rate=0.5)
    plain, _ = run_configuration(config, protocol, 0, {})
    seen = []
    snapped, _ = run_configuration(
        config, protocol, 0, {}, checkpoints=[10, 50, 150], on_checkpoint=lambda epoch, _: seen.append(epoch)
    )
    del plain["seconds"], snapped["seconds"]
    assert seen == [10, 50] and snapped == plain


def test_a_fixed_budget_turns_early_stopping_off():
    config = dataclasses.replace(PURE, epochs=3000, patience=5, learning_rate=0.5)
    metrics, _ = run_configuration(config, TINY, 0, {}, epochs=250)
    assert metrics["epochs_run"] == 250


def test_epochs_to_100_on_an_easy_problem():
    easy = Protocol(n_per_class=30, turns=0.25, noise=0.0)
    config = Configuration("wide", "wide", "pure_nn", hidden=(16,), learning_rate=0.05, epochs=300)
    metrics, details = run_configuration(config, easy, 0, {})
    first = metrics["epochs_to_100"]
    assert first is not None
    assert details["history"]["train_accuracy"][first] == 1.0
    assert np.all(details["history"]["train_accuracy"][:first] < 1.0)


def test_classic_run(trainers):
    run = run_classic(PURE, TINY, 0, trainers)
    assert set(run) == {"seed", "epochs_to_100", "final_train_accuracy"}


def test_som_output_is_the_grid_coordinates(trainers):
    _, details = run_configuration(INTERPOSED, TINY, 0, trainers)
    model = details["model"]
    model.set_weights(details["weights"])
    coords = som_output(model, details["data"]["train"][0])
    assert coords.shape == (48, 2) and coords.min() >= 0.0 and coords.max() <= 2.0


def test_configuration_settings_round_trip():
    settings = INTERPOSED.settings()
    assert json.loads(json.dumps(settings)) == settings and settings["grid_shape"] == [3, 3]
    assert Configuration.from_settings(settings) == INTERPOSED
    with pytest.raises(ValueError, match="unknown fields"):
        Configuration.from_settings({**settings, "colour": "red"})


# -- the search ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def search_document():
    trials = search.search(TINY, QUICK_SEARCH, families=["pure_nn_1", "interposed_kohonen", "knn"], log=lambda _: None)
    return results.search_document(TINY, QUICK_SEARCH, trials, "quick")


def test_every_family_has_a_space_that_replays_to_its_model():
    for name, family in search.FAMILIES.items():
        import optuna

        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        trial = study.ask()
        model = family.space(trial, TINY)
        replayed = search.configuration(name, dict(trial.params), TINY)
        assert replayed == model, name


def test_search_records_every_trial_with_equal_counts(search_document, tmp_path):
    assert report.trial_counts(search_document) == {"pure_nn_1": 2, "interposed_kohonen": 2, "knn": 2}
    path = tmp_path / "search.json"
    results.save_search(path, search_document)
    loaded = results.load_search(path)
    assert loaded == json.loads(json.dumps(search_document))
    broken = copy.deepcopy(search_document)
    broken["families"][0]["trials"].pop()
    with pytest.raises(ValueError, match="every family gets the same budget"):
        results.save_search(path, broken)
    assert results.load_search(path) == loaded


def test_search_is_repeatable(search_document):
    again = search.search(TINY, QUICK_SEARCH, families=["pure_nn_1"], log=lambda _: None)
    (family, records, rescored, space), first = again[0], search_document["families"][0]
    assert [r["params"] for r in records] == [t["params"] for t in first["trials"]]
    assert [r["score"] for r in records] == [t["score"] for t in first["trials"]]
    assert rescored == first["rescored"]
    assert space == first["space"] and family.name == "pure_nn_1"


def test_the_best_trials_are_rescored_on_new_seeds_and_pooled(search_document):
    settings = search_document["settings"]
    assert not set(settings["tuning_seeds"]) & set(settings["rescoring_seeds"])
    for entry in search_document["families"]:
        [rescored] = entry["rescored"]  # quick mode rescores the best trial only
        best = search.best_trial(entry["trials"])
        assert rescored["number"] == best["number"]
        assert rescored["score"] != best["score"]  # another seed, another score
        assert rescored["pooled_score"] == pytest.approx((best["score"] + rescored["score"]) / 2)
        assert search.chosen_trial(entry) is best


def test_the_chosen_trial_has_the_lowest_pooled_score_not_the_lowest_score():
    trials = [{"number": i, "score": score} for i, score in enumerate([0.10, 0.05, 0.08])]
    rescored = [{"number": 1, "pooled_score": 0.09}, {"number": 2, "pooled_score": 0.07}]
    assert search.chosen_trial({"trials": trials, "rescored": rescored}) is trials[2]
    tied = [{"number": 2, "pooled_score": 0.07}, {"number": 1, "pooled_score": 0.07}]
    assert search.chosen_trial({"trials": trials, "rescored": tied}) is trials[1]


def test_a_search_file_must_rescore_the_best_trials_on_new_seeds(search_document, tmp_path):
    path = tmp_path / "search.json"
    wrong = copy.deepcopy(search_document)
    entry = wrong["families"][0]
    worst = max(entry["trials"], key=lambda t: (t["score"], t["number"]))
    entry["rescored"][0]["number"] = worst["number"]
    with pytest.raises(ValueError, match=r"families\[0\]\.rescored holds trials .* best trials by score"):
        results.save_search(path, wrong)
    reused = copy.deepcopy(search_document)
    reused["settings"]["rescoring_seeds"] = reused["settings"]["tuning_seeds"]
    with pytest.raises(ValueError, match="rescoring_seeds repeats tuning seeds"):
        results.save_search(path, reused)
    assert not path.exists()


def test_chosen_rows_mark_knobs_at_the_edge(search_document):
    rows = report.chosen_rows(search_document)
    assert [row["family"] for row in rows] == ["pure_nn_1", "interposed_kohonen", "knn"]
    assert report.on_boundary(2, {"low": 2, "high": 256, "log": True})
    assert not report.on_boundary(16, {"low": 2, "high": 256, "log": True})
    assert report.on_boundary(0.999, {"low": 0.0, "high": 1.0, "log": False})
    assert not report.on_boundary("tanh", {"choices": ["tanh", "relu"]})
    knn = copy.deepcopy(search_document["families"][2])
    knn["trials"] = [{**knn["trials"][0], "number": 0, "params": {"n_neighbors": 1, "weights": "uniform"}}]
    knn["rescored"] = [{**knn["rescored"][0], "number": 0}]
    knn["space"]["n_neighbors"] = {"low": 1, "high": 60, "log": True}
    [row] = report.chosen_rows({"families": [knn]})
    assert row["chosen"] == "n_neighbors 1 (natural bound), weights uniform"
    assert report.edge_knobs({"families": [knn]}) == []
    knn["trials"][0]["params"]["n_neighbors"] = 59
    assert report.edge_knobs({"families": [knn]}) == [("knn", "n_neighbors", 59)]


def test_a_shared_range_is_the_same_in_every_family_that_searches_the_knob(search_document):
    low, high = search.PATIENCE
    assert report.shared_range(search_document, "patience") == {"low": low, "high": high, "log": True}
    with pytest.raises(ValueError, match="'n_estimators' is searched by no family"):
        report.shared_range(search_document, "n_estimators")
    broken = copy.deepcopy(search_document)
    broken["families"][1]["space"]["patience"]["high"] = 500
    with pytest.raises(ValueError, match="'patience' has different ranges"):
        report.shared_range(broken, "patience")


def test_the_answer_names_the_slides_designs_that_beat_the_pure_network():
    def row(a, verdict):
        return {"a": a, "b": report.REFERENCE, "verdict": verdict}

    planned = [row("som_pre_soft", "lower than"), row("interposed_kohonen", "higher than"), row("knn", "higher than")]
    wins, compared, sentence = report.answer(planned)
    assert wins == ["interposed_kohonen"] and len(compared) == 2 and "interposed_kohonen classify better" in sentence
    assert "som_pre_soft classifies measurably worse" in sentence
    wins, _, sentence = report.answer(planned[:1])
    assert wins == [] and "neither of the slides' designs" in sentence
    assert sentence.endswith("; som_pre_soft classifies measurably worse than it")
    _, _, sentence = report.answer([row("som_pre_soft", "not distinguishable from")])
    assert sentence.endswith("a tuned pure network: there, the SOM adds nothing measurable")


def test_references_score_by_cross_validation():
    model = references.REFERENCES["knn"](
        __import__("optuna").trial.FixedTrial({"n_neighbors": 3, "weights": "uniform"}), TINY
    )
    score, extra = references.trial(model, TINY, (1000,))
    assert 0 <= score <= 1 and extra["cv_accuracy"] == pytest.approx(1 - score)
    run = references.evaluate(model, TINY, 0)
    assert set(run) == {"seed", "test_accuracy", "train_accuracy"}


# -- the evaluation and its file --------------------------------------------------------------


@pytest.fixture(scope="module")
def evaluation(search_document):
    return spirals.evaluate(search_document, TINY, [0, 1], "quick", log=lambda _: None)


def test_evaluation_document_round_trip(tmp_path, evaluation):
    document = evaluation.document
    names = [entry["settings"]["name"] for entry in document["configurations"]]
    assert names == ["pure_nn_1", "interposed_kohonen", "slides_pure_nn", "slides_som_pre", "slides_interposed"]
    assert [entry["settings"]["name"] for entry in document["references"]] == ["knn"]
    assert document["search"]["chosen"].keys() == {"pure_nn_1", "interposed_kohonen", "knn"}
    path = tmp_path / "spiral.json"
    results.save(path, document)
    loaded = results.load(path)
    assert loaded == json.loads(json.dumps(document))
    assert results.compare(loaded, document) == []
    assert "seconds" not in loaded["configurations"][0]["runs"][0]
    assert evaluation.snapshots and evaluation.snapshots[0][0] == 10


def test_invalid_document_is_never_written(tmp_path, evaluation):
    path = tmp_path / "spiral.json"
    results.save(path, evaluation.document)
    before = path.read_text()
    broken = copy.deepcopy(evaluation.document)
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


def test_compare_exact_on_the_same_machine(evaluation):
    document = evaluation.document
    changed = copy.deepcopy(document)
    changed["configurations"][1]["runs"][0]["test_accuracy"] += 1e-9
    assert results.compare(changed, document) == [
        "configurations interposed_kohonen: runs differ on the same machine and versions"
    ]


def test_compare_with_tolerance_elsewhere(evaluation):
    document = evaluation.document
    elsewhere = copy.deepcopy(document)
    elsewhere["provenance"]["machine"]["cpu_model"] = "another CPU"
    for run in elsewhere["configurations"][0]["runs"]:
        run["test_accuracy"] = min(1.0, run["test_accuracy"] + 0.01)
    assert results.compare(elsewhere, document) == []
    for run in elsewhere["references"][0]["runs"]:
        run["test_accuracy"] = max(0.0, run["test_accuracy"] - 0.3)
    problems = results.compare(elsewhere, document)
    assert len(problems) == 1 and problems[0].startswith("knn: mean test_accuracy")


def test_compare_detects_stale_results(evaluation):
    document = evaluation.document
    stale = copy.deepcopy(document)
    stale["protocol"]["max_epochs"] += 1
    assert "stale" in results.compare(document, stale)[0]
    stale = copy.deepcopy(document)
    stale["search"]["chosen"]["pure_nn_1"] = 1 - stale["search"]["chosen"]["pure_nn_1"]
    assert "stale" in results.compare(document, stale)[0]


def test_tables_and_contrasts(evaluation):
    document = evaluation.document
    rows = report.evaluation_rows(document)
    assert [row["kind"] for row in rows] == ["tuned", "tuned", "reference", "slides", "slides", "slides"]
    assert rows[0]["difference vs pure_nn_1"] == ""
    planned = [("interposed_kohonen", "pure_nn_1", "q1"), ("knn", "pure_nn_1", "q2")]
    found = report.contrasts(document, planned)
    assert [row["question"] for row in found] == ["q1", "q2"]
    assert all(row["p_holm"] >= row["p_value"] for row in found)
    assert report.classic_rows(document)[0]["reached 100%"].endswith("/2")


def test_studies_document(search_document, tmp_path):
    document = spirals.studies(search_document, TINY, [0, 1], "quick", log=lambda _: None)
    path = tmp_path / "studies.json"
    results.save_studies(path, document)
    assert results.load_studies(path) == json.loads(json.dumps(document))
    budgets, table = report.budget_table(document)
    assert budgets == [20, 60] and set(table) == {"pure_nn_1", "interposed_kohonen"}
    settings, table = report.difficulty_table(document)
    assert len(settings) == 2 and set(table) == {"pure_nn_1", "interposed_kohonen", "knn"}
    assert document["budget"][0]["runs"][1][0]["epochs_run"] == 60
    at_20 = report.budget_contrast(document, "interposed_kohonen", "pure_nn_1")
    first = {entry["name"]: [run["test_accuracy"] for run in entry["runs"][0]] for entry in document["budget"]}
    assert at_20["mean"] == pytest.approx(np.mean(np.subtract(first["interposed_kohonen"], first["pure_nn_1"])))


# -- statistics --------------------------------------------------------------------------------


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
    assert report.describe_difference({"ci_low": 0.01, "ci_high": 0.2}) == "higher than"
    assert report.describe_difference({"ci_low": -0.2, "ci_high": -0.01}) == "lower than"
    assert report.describe_difference({"ci_low": -0.1, "ci_high": 0.1}) == "not distinguishable from"
    assert report.describe_difference({"mean": 0.1, "p_holm": 0.2, "ci_low": 0.01, "ci_high": 0.2}) == (
        "not distinguishable from"
    )
    assert stats.summary([None, None])["n"] == 0


def test_holm_matches_the_step_down_rule():
    # Sorted 0.01, 0.02, 0.04 with m = 3: 0.03, max(0.03, 0.04), max(0.04, 0.04).
    assert stats.holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_the_command_line_refuses_a_bad_output(tmp_path, capsys):
    with pytest.raises(SystemExit):
        spirals.main(["search", "--quick", "--out", str(tmp_path / "missing" / "x.json")])
    assert "--out must be a file in an existing folder" in capsys.readouterr().err


def test_convergence_counts_checkpoints_near_the_start_and_at_the_cap(evaluation):
    document = copy.deepcopy(evaluation.document)
    cap = document["protocol"]["max_epochs"] = 1000
    entry = document["configurations"][0]
    for run, epoch in zip(entry["runs"], [1, cap]):
        run["best_epoch"] = epoch
    for other in document["configurations"][1:]:
        for run in other["runs"]:
            run["best_epoch"] = cap // 2
    rows = report.convergence(document)
    assert [(row["name"], row["early"], row["late"], row["runs"]) for row in rows] == [
        (entry["settings"]["name"], 1, 1, 2)
    ]
