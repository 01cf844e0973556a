"""The digits chapter's experiments: the split, the quick run and its results file, the map comparison."""

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from experiments import digits, digits_maps, digits_report

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "results" / "digits.json"
TINY = digits.DigitsProtocol(max_epochs=100)
TINY_SETTINGS = digits.Settings(n_trials=2, tuning_seeds=(1000,), evaluation_seeds=(0, 1))


def test_split_is_stratified_disjoint_and_seeded():
    protocol, _ = digits.settings_for(quick=False)
    data = digits.prepare_data(protocol, 0)
    sizes = {part: len(y) for part, (_, y) in data.items()}
    assert sum(sizes.values()) == 1797
    assert abs(sizes["train"] / 1797 - 0.6) < 0.01 and abs(sizes["validation"] - sizes["test"]) <= 1
    for _, y in data.values():
        assert np.bincount(y, minlength=10).min() >= 0.09 * len(y)  # every digit, about a tenth
    rows = {part: {x.tobytes() for x in X} for part, (X, _) in data.items()}
    assert not rows["train"] & rows["test"] and not rows["validation"] & rows["test"]
    again, other = digits.prepare_data(protocol, 0), digits.prepare_data(protocol, 1)
    assert np.array_equal(again["test"][0], data["test"][0])
    assert not np.array_equal(other["test"][0], data["test"][0])
    assert data["train"][0].dtype == np.float32 and 0.0 <= data["train"][0].min() <= data["train"][0].max() <= 1.0


@pytest.fixture(scope="module")
def quick_document(tmp_path_factory):
    """A quick run of the MLP, one SOM family, the matched MLP and one reference, written by the command line."""
    out = tmp_path_factory.mktemp("digits") / "digits.json"
    families = ["knn", "mlp_matched", "som_kohonen", "mlp"]  # run in FAMILIES' order whatever the order asked
    document = digits.run(TINY, TINY_SETTINGS, "quick", out, families=families, log=lambda _: None)
    assert json.loads(out.read_text()) == json.loads(json.dumps(document))
    return out, document


def test_quick_run_records_every_trial_and_run(quick_document):
    path, document = quick_document
    loaded = digits.load(path)
    assert loaded["provenance"]["mode"] == "quick"
    assert set(loaded["provenance"]["versions"]) >= {"tensorflow", "sklearn", "optuna", "minisom"}
    for entry in loaded["families"]:
        assert [t["number"] for t in entry["trials"]] == list(range(TINY_SETTINGS.n_trials))
        assert all(set(t["params"]) == set(entry["space"]) for t in entry["trials"])
        assert [r["seed"] for r in entry["runs"]] == list(TINY_SETTINGS.evaluation_seeds)
        if entry["kind"] == "network":
            assert all(len(r["curve"]) == r["epochs_run"] // digits.CURVE_STEP for r in entry["runs"])
            assert all(r["best_epoch"] <= r["epochs_run"] <= TINY.max_epochs for r in entry["runs"])
    som = next(e for e in loaded["families"] if e["name"] == "som_kohonen")
    assert {"beta", "side", "som_rate_start", "som_decay_epochs"} <= set(som["space"])
    assert som["space"]["beta"] == {"low": digits.BETAS[0], "high": digits.BETAS[1], "log": True}


def test_runs_are_repeatable(quick_document):
    """The same command again (each family in a fresh process, as the first time): the same trials and runs."""

    def timeless(entry):
        entry = copy.deepcopy(entry)
        entry.pop("seconds")
        for record in entry["trials"] + entry["runs"]:
            record.pop("seconds", None)
        return entry

    _, document = quick_document
    again = digits.run(TINY, TINY_SETTINGS, "quick", families=["mlp"], log=lambda _: None)
    first = next(e for e in document["families"] if e["name"] == "mlp")
    assert timeless(again["families"][0]) == timeless(first)


def test_matched_mlp_has_no_more_parameters_than_the_largest_som_model(quick_document):
    _, document = quick_document
    assert [e["name"] for e in document["families"]] == ["mlp", "som_kohonen", "mlp_matched", "knn"]
    som, matched = (next(e for e in document["families"] if e["name"] == n) for n in ("som_kohonen", "mlp_matched"))
    cap = som["runs"][0]["learned_parameters"]
    assert matched["max_parameters"] == cap
    width = digits.matched_width(cap)
    assert matched["space"]["width_before"]["high"] == matched["space"]["width_after"]["high"] == width
    assert digits.mlp_parameters(width, width) <= cap < digits.mlp_parameters(width + 1, width + 1)
    assert all(t["learned_parameters"] <= cap for t in matched["trials"])
    assert all(r["learned_parameters"] <= cap for r in matched["runs"])


def test_mlp_parameters_counts_the_built_model():
    from experiments.training import learned_parameters
    from softsom import models

    for widths in ((16, 16), (40, 23), (512, 17)):
        model = models.mlp(64, widths, n_classes=10)
        assert digits.mlp_parameters(*widths) == learned_parameters(model)


@pytest.mark.parametrize("cap, message", [(100, "below the 1482"), (2.5e4, "must be an int"), (True, "must be an int")])
def test_matched_width_names_a_bad_cap(cap, message):
    with pytest.raises(ValueError, match=f"max_parameters.*{message}"):
        digits.matched_width(cap)


def test_matched_mlp_needs_a_som_family_in_the_run():
    with pytest.raises(ValueError, match="mlp_matched is matched to the SOM families"):
        digits.run(TINY, TINY_SETTINGS, "quick", families=["mlp", "mlp_matched"], log=lambda _: None)


def test_contrasts_and_table(quick_document):
    _, document = quick_document
    rows = digits.contrasts(document)  # only som_kohonen was run: one contrast with each MLP
    assert [(row["a"], row["b"]) for row in rows] == [("som_kohonen", "mlp"), ("som_kohonen", "mlp_matched")]
    first = min(rows, key=lambda row: row["p_value"])
    assert first["p_holm"] == pytest.approx(min(1.0, 2 * first["p_value"]))  # both MLPs' contrasts in one Holm family
    table = digits_report.chosen_rows(document)
    assert [r["family"] for r in table] == ["mlp", "som_kohonen", "mlp_matched", "knn"]
    assert "Holm p" in table[1]["minus the MLP [95% interval]"]
    assert "Holm p" in table[1]["minus the matched MLP [95% interval]"]
    assert table[2]["minus the matched MLP [95% interval]"] == "(reference)"
    verdicts = digits_report.verdicts(document)
    for baseline, words in (("mlp", "the plain MLP"), ("mlp_matched", "the parameter-matched MLP")):
        assert words in digits_report.answer(verdicts, baseline)
    with pytest.raises(ValueError, match="no planned contrast"):
        digits_report.answer(verdicts, "knn")
    assert digits_report.cap_family(document) == "som_kohonen"  # the only SOM family run sets the cap
    assert digits_report.size_words(document, verdicts).startswith(("So the SOM", "Held to the SOM"))


def test_holm_adjusts_the_three_planned_comparisons():
    runs = {
        "mlp": [0.95, 0.96, 0.97, 0.96],
        "som_kohonen": [0.90, 0.92, 0.91, 0.90],
        "som_backprop": [0.94, 0.97, 0.96, 0.97],
        "som_frozen": [0.85, 0.86, 0.88, 0.86],
    }
    document = {
        "families": [
            {"name": n, "runs": [{"seed": s, "test_accuracy": a} for s, a in enumerate(v)]} for n, v in runs.items()
        ]
    }
    rows = digits.contrasts(document)
    assert [r["a"] for r in rows] == list(digits.SOM_FAMILIES)
    p = sorted(r["p_value"] for r in rows)
    holm = sorted(r["p_holm"] for r in rows)
    assert holm[0] == pytest.approx(min(1.0, 3 * p[0]))
    assert all(r["p_holm"] >= r["p_value"] for r in rows)
    assert rows[0]["mean"] == pytest.approx(np.mean(np.subtract(runs["som_kohonen"], runs["mlp"])))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["families"][0]["trials"].pop(), "trials holds"),
        (lambda d: d["families"][0].update(chosen=99), "chosen"),
        (lambda d: d["families"][0]["runs"].reverse(), "one run per evaluation seed"),
        (lambda d: d["families"][1]["runs"][0].update(test_accuracy=1.5), "families[1].runs[0].test_accuracy"),
        (lambda d: d["settings"].update(evaluation_seeds=[1000, 1]), "tuning seed is also an evaluation seed"),
        (lambda d: d["families"][0].update(name="nope"), "unknown family"),
        (lambda d: d["families"].pop(0), "the MLP among them"),
        (lambda d: d["families"][2].pop("max_parameters"), r"families[2].max_parameters is missing"),
        (lambda d: d["families"][2].update(max_parameters=10), r"families[2].trials[0, 1] have more learned"),
        (lambda d: d.update(schema_version=0), "schema_version"),
    ],
)
def test_validation_names_the_wrong_field(quick_document, change, message, tmp_path):
    _, document = quick_document
    broken = copy.deepcopy(document)
    change(broken)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        digits.validate(broken)
    target = tmp_path / "digits.json"
    target.write_text("{}")
    with pytest.raises(ValueError):
        digits.save(target, broken)
    assert target.read_text() == "{}", "a failed save leaves the old file"


def test_load_names_a_missing_file(tmp_path):
    with pytest.raises(ValueError, match="missing.*experiments.digits run"):
        digits.load(tmp_path / "nothing.json")


def test_command_line_quick_validate(quick_document, capsys):
    path, _ = quick_document
    assert digits.main(["validate", str(path)]) == 0
    assert "valid" in capsys.readouterr().out


@pytest.mark.skipif(not COMMITTED.is_file(), reason="results/digits.json not generated yet")
def test_committed_results_are_valid_and_full():
    document = digits.load(COMMITTED)
    assert document["provenance"]["mode"] == "full"
    settings = document["settings"]
    assert len(settings["evaluation_seeds"]) >= 10
    assert [e["name"] for e in document["families"]] == list(digits.FAMILIES)
    assert {len(e["trials"]) for e in document["families"]} == {settings["n_trials"]}


def test_map_comparison_scores_both_maps_the_same_way():
    X, _ = digits_maps.load_scaled()
    rows, maps = digits_maps.compare(X[:300], digits_maps.MapSettings(side=4, epochs=1), seed=0)
    ours, theirs = rows
    assert ours["library"].startswith("softsom") and theirs["library"] == "MiniSom"
    # MiniSom's own measures of its map are ours under its adjacency convention.
    assert theirs["minisom_quantization_error"] == pytest.approx(theirs["quantization_error"], abs=1e-6)
    assert theirs["minisom_topographic_error"] == theirs["topographic_error_minisom"]
    for row in rows:
        assert row["topographic_error_minisom"] <= row["topographic_error_grid"]
        assert row["cold_seconds"] > 0 and row["warm_seconds"] > 0
    wrapped = digits_maps.as_kohonen(maps["minisom"], X[:300])
    assert np.array_equal(wrapped.embedding_.reshape(4, 4, 64), maps["minisom"].get_weights().astype(np.float32))


def test_prototype_mosaic_puts_each_node_at_its_place():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X, y = digits_maps.load_scaled()
    som = digits_maps.kohonen_map(X[:200], digits_maps.MapSettings(side=3, epochs=1), seed=0)
    fig, ax = plt.subplots()
    image = digits_maps.prototype_mosaic(ax, som, digits_maps.majority_labels(som, X[:200], y[:200]))
    mosaic = np.ma.getdata(image.get_array())
    for node, (i, j) in enumerate(som.grid_.coords.astype(int)):
        block = mosaic[1 + 9 * j : 9 + 9 * j, 1 + 9 * i : 9 + 9 * i]
        assert np.allclose(block[::-1], som.embedding_[node].reshape(8, 8))
    plt.close(fig)
