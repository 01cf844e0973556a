"""The spiral experiments, in three steps, each a command that writes one results file.

``python -m experiments.spirals search --out results/spiral_search.json``
    Every family (:data:`experiments.search.FAMILIES`: pure networks, a Dense
    bottleneck, SOM preprocessing, interposed SOMs, the classical references)
    gets the same number of seeded Optuna trials over its own knobs, scored on
    the tuning seeds, which are not the evaluation seeds.
``python -m experiments.spirals evaluate --out results/spiral.json``
    The best trial of each family, and the slides' untuned setting, on ten
    evaluation seeds paired across contenders; the classic 194-point task, on the first five.
    Chapter 6 runs this step (:func:`evaluate`) when the book is built, and the
    test suite compares its numbers with the committed file.
``python -m experiments.spirals studies --out results/spiral_studies.json``
    The chosen configurations at several epoch budgets and at several
    difficulties (turns and noise of the spirals).

``--quick`` runs each step small, to check that it works (never into
``results/``: ``--out`` is required). ``make reproduce`` runs the three steps.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import tensorflow as tf

from experiments import references, results, search
from experiments.training import (
    Configuration,
    Protocol,
    prepare_data,
    run_all,
    run_classic,
    run_configuration,
    som_snapshot,
)

__all__ = [
    "EVALUATION_SEEDS",
    "BUDGETS",
    "DIFFICULTIES",
    "SNAPSHOT_FAMILY",
    "Evaluation",
    "setup",
    "search_settings",
    "slides_configurations",
    "chosen",
    "evaluate",
    "studies",
    "main",
]

EVALUATION_SEEDS = tuple(range(10))
BUDGETS = (150, 600, 2400, 9600)
DIFFICULTIES = tuple((turns, noise) for noise in (0.1, 0.3) for turns in (1, 2, 3, 4))
STUDY_SEEDS = 5  # the first evaluation seeds, for the budget and difficulty studies and the classic task
SNAPSHOT_FAMILY = "interposed_kohonen"
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SEARCH = ROOT / "results" / "spiral_search.json"


def setup(quick=False, first_seed=0):
    """The protocol and the evaluation seeds: ten in full; three and short training in quick mode."""
    if isinstance(first_seed, bool) or not isinstance(first_seed, int) or first_seed < 0:
        raise ValueError(f"first_seed must be an int >= 0; got {first_seed!r}")
    seeds = list(range(first_seed, first_seed + (3 if quick else len(EVALUATION_SEEDS))))
    return (Protocol(max_epochs=200, classic_epochs=300) if quick else Protocol()), seeds


def search_settings(quick=False):
    """The search's budget: 30 trials per family on two tuning seeds, the best 5 rescored on four more;
    in quick mode 2 trials on one seed, the best rescored on one more."""
    if quick:
        return search.SearchSettings(n_trials=2, tuning_seeds=(1000,), rescored_trials=1, rescoring_seeds=(1001,))
    return search.SearchSettings()


def slides_configurations():
    """The slides' setting: 8 tanh units, beta = 5, full-batch Adam at 0.02 for 600 epochs, untuned."""
    common = dict(hidden=(8,), learning_rate=0.02, epochs=600)
    return [
        Configuration("slides_pure_nn", "the slides' setting: pure NN, 8 units", "pure_nn", **common),
        Configuration(
            "slides_som_pre",
            "the slides' setting: SOM preprocessing, 8x8 map, beta 5",
            "som_preprocessing",
            grid_shape=(8, 8),
            beta=5.0,
            som_epochs=10,
            **common,
        ),
        Configuration(
            "slides_interposed",
            "the slides' setting: interposed SOM 8x8, Kohonen rule, beta 5",
            "interposed",
            grid_shape=(8, 8),
            beta=5.0,
            hidden_after=(8,),
            **common,
        ),
    ]


def chosen(search_document, protocol):
    """The chosen trial of every family, as ``[(family name, model, trial record)]`` in the file's order.

    A network's model is a :class:`~experiments.training.Configuration` (its
    epoch cap is ``protocol.max_epochs``), a reference's an
    :class:`~experiments.references.Reference`.
    """
    out = []
    for entry in search_document["families"]:
        trial = results.chosen_trial(entry)
        model = search.configuration(entry["name"], trial["params"], protocol)
        out.append((entry["name"], model, trial))
    return out


@dataclasses.dataclass
class Evaluation:
    """What :func:`evaluate` returns: the results document, and what the chapter's figures need.

    ``kept`` and ``histories`` are :func:`~experiments.training.run_all`'s;
    ``snapshots`` holds ``(epoch, hidden activations, embedding)`` of the
    Kohonen-interposed SOM of the first seed, taken during training.
    """

    document: dict
    runs: list
    kept: dict
    histories: dict
    snapshots: list
    data: dict


def evaluate(search_document, protocol, seeds, mode, results_path=None, log=print):
    """The chosen configurations, the slides' setting and the references on ``seeds``; the classic task.

    Deterministic: ops run deterministically and every run is seeded, so the
    same seeds on the same machine and software give the same numbers.
    """
    tf.config.experimental.enable_op_determinism()
    picks = chosen(search_document, protocol)
    networks = [model for _, model, _ in picks if not isinstance(model, references.Reference)]
    refs = [model for _, model, _ in picks if isinstance(model, references.Reference)]
    data = prepare_data(protocol, seeds[0])
    snapshots = []

    def snapshot(epoch, model):
        snapshots.append((epoch, *som_snapshot(model, data["train"][0])))

    start = time.perf_counter()
    checkpoints = [10, 50, 200, 1000]
    runs, kept, histories = run_all(
        networks + slides_configurations(),
        protocol,
        seeds,
        keep_seed=seeds[0],
        checkpoints=checkpoints,
        on_checkpoint_for={SNAPSHOT_FAMILY: snapshot},
    )
    log(f"{len(runs)} networks x {len(seeds)} seeds in {time.perf_counter() - start:.0f} s")
    reference_runs = [(ref, [references.evaluate(ref, protocol, seed) for seed in seeds]) for ref in refs]
    trainers, classic_seeds = {}, seeds[:STUDY_SEEDS]
    start = time.perf_counter()
    classic = [
        (config, [run_classic(config, protocol, seed, trainers) for seed in classic_seeds]) for config in networks
    ]
    log(f"classic task: {len(classic)} networks x {len(classic_seeds)} seeds in {time.perf_counter() - start:.0f} s")
    search_record = {
        "settings": search_document["settings"],
        "chosen": {name: trial["number"] for name, _, trial in picks},
    }
    document = results.evaluation_document(
        protocol, seeds, classic_seeds, search_record, runs, reference_runs, classic, mode
    )
    if results_path:
        results.save(results_path, document)
    return Evaluation(document, runs, kept, histories, snapshots, data)


def studies(search_document, protocol, seeds, mode, results_path=None, log=print):
    """The chosen configurations at every budget of :data:`BUDGETS` and difficulty of :data:`DIFFICULTIES`.

    Budget: a fixed number of epochs, no early stopping, the best-validation-loss
    checkpoint within it. Difficulty: the configurations chosen on the standard
    task, retrained with their own early stopping on spirals of other turns and
    noise (references too).
    """
    tf.config.experimental.enable_op_determinism()
    picks = chosen(search_document, protocol)
    budgets = BUDGETS if mode == "full" else (20, 60)
    difficulties = DIFFICULTIES if mode == "full" else DIFFICULTIES[:2]
    budget, difficulty = [], []
    for name, model, _ in picks:
        start = time.perf_counter()
        trainers = {}  # one compiled loop per model: the data's shapes are the same in every setting
        if isinstance(model, references.Reference):
            per_budget = None
        else:
            per_budget = [
                [run_configuration(model, protocol, seed, trainers, epochs=epochs)[0] for seed in seeds]
                for epochs in budgets
            ]
        per_setting = []
        for turns, noise in difficulties:
            harder = dataclasses.replace(protocol, turns=turns, noise=noise)
            if isinstance(model, references.Reference):
                per_setting.append([references.evaluate(model, harder, seed) for seed in seeds])
            else:
                per_setting.append([run_configuration(model, harder, seed, trainers)[0] for seed in seeds])
        kind = "reference" if per_budget is None else "network"
        if per_budget is not None:
            budget.append((name, kind, per_budget))
        difficulty.append((name, kind, per_setting))
        log(f"{name}: studies in {time.perf_counter() - start:.0f} s")
    document = results.studies_document(protocol, seeds, budgets, difficulties, budget, difficulty, mode)
    if results_path:
        results.save_studies(results_path, document)
    return document


def _out_path(parser, path):
    out = path.resolve()
    if out.is_dir() or not out.parent.is_dir():
        parser.error(f"--out must be a file in an existing folder; got {path}")
    return out


def main(argv=None):
    """``python -m experiments.spirals {search,evaluate,studies} [--quick] --out PATH``."""
    parser = argparse.ArgumentParser(prog="python -m experiments.spirals", description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("search", "evaluate", "studies"))
    parser.add_argument("--out", type=Path, required=True, help="the results file to write")
    parser.add_argument(
        "--search",
        type=Path,
        default=DEFAULT_SEARCH,
        help="the search's results, for evaluate and studies (default results/spiral_search.json)",
    )
    parser.add_argument("--quick", action="store_true", help="small and short: check that the step runs")
    parser.add_argument("--first-seed", type=int, default=0, help="evaluate: seeds N, N + 1, ... (default 0)")
    args = parser.parse_args(argv)
    out = _out_path(parser, args.out)
    try:
        protocol, seeds = setup(args.quick, args.first_seed)
    except ValueError as err:
        parser.error(f"--first-seed: {err}")
    mode = "quick" if args.quick else "full"
    tf.get_logger().setLevel("ERROR")  # retracing notes: each configuration compiles its own loop, on purpose
    start = time.perf_counter()
    if args.step == "search":
        settings = search_settings(args.quick)
        trials = search.search(protocol, settings)
        results.save_search(out, results.search_document(protocol, settings, trials, mode))
    else:
        try:
            search_document = results.load_search(args.search)
        except ValueError as err:
            parser.error(f"--search: {err}")
        if args.step == "evaluate":
            evaluate(search_document, protocol, seeds, mode, out)
        else:
            studies(search_document, protocol, seeds[:STUDY_SEEDS], mode, out)
    print(f"{args.step} ({mode}) in {time.perf_counter() - start:.0f} s; written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
