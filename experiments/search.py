"""The same hyperparameter search for every contender: families, their spaces, and the trials.

Every family gets ``n_trials`` trials of Optuna's TPE sampler over its own
knobs, seeded, one trial after another (so that a search is repeatable).
Optuna is used rather than KerasTuner because the contenders are not all
Keras models (the references are scikit-learn and SuSi estimators, a SOM
preprocessing model fits a Kohonen map first), because its define-by-run
spaces give each family only the knobs it has, and because its trials are
plain records to keep.

A network family's trial trains on each tuning seed's training split and is
scored by its mean validation error at its best-validation checkpoint, ties
broken by the validation log-loss (:data:`LOSS_WEIGHT` times it is added, too
little to outweigh one point of error). A reference's trial is scored by its
mean 5-fold cross-validated error on each tuning seed's training and
validation splits together (it needs no validation set to stop on). Both
scores are error rates. Every trial also records its test accuracy and
parameter count on the tuning seeds, for the capacity figure: never for the
choice.

The best few trials' scores are close to each other and to the noise of a
small validation set, so the search does not stop at its lowest score: the
``rescored_trials`` best trials of every family are scored again, the same way,
on the ``rescoring_seeds`` (more tuning seeds, again none of them an evaluation
seed), and the family's chosen trial is the one with the lowest *pooled score*,
the mean over all its tuning and rescoring seeds
(:func:`experiments.results.chosen_trial`).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time

import numpy as np
import optuna
import tensorflow as tf

from experiments import references
from experiments.results import best_trial, chosen_rescore, chosen_trial
from experiments.training import Configuration, run_configuration

__all__ = [
    "LOSS_WEIGHT",
    "Family",
    "FAMILIES",
    "SearchSettings",
    "configuration",
    "search_family",
    "run_trials",
    "rescore_family",
    "search",
    "best_trial",
    "chosen_trial",
]

LOSS_WEIGHT = 1e-4  # the log-loss's share of a network trial's score: a tie-break (log-losses are < 17)
WIDE = (2, 512)  # hidden-layer widths, on a log scale
NARROW = (2, 128)  # widths of each of two layers
LEARNING_RATES = (1e-4, 0.3)  # Adam's, on a log scale: every network family's but one
# The hard-output preprocessing network's: a first search over LEARNING_RATES chose 0.3, its upper end.
HARD_LEARNING_RATES = (1e-4, 3.0)
SIDES = (2, 48)  # a square grid's side, for every SOM family
# Early stopping's patience, in epochs, on a log scale, for every network family. At least 200: with a
# shorter one a run can stop on a dip of its validation accuracy long before it has converged.
PATIENCE = (200, 2000)
SOM_EPOCHS = (1, 200)  # a preprocessing map's Kohonen training, on a log scale
# The Kohonen rate's final value over its first, on a log scale: a first search over (0.001, 1) chose 0.00114.
SOM_RATE_END_RATIOS = (1e-5, 1.0)


@dataclasses.dataclass(frozen=True)
class Family:
    """A contender: how a trial's parameters become a model (``space``), and what kind it is."""

    name: str
    description: str
    kind: str  # "network" (softsom/Keras, trained here) or "reference" (experiments.references)
    space: object  # callable(trial, protocol) -> Configuration or references.Reference


def _training(trial, protocol, learning_rates=LEARNING_RATES):
    """What every network family searches: activation, learning rate, early-stopping patience."""
    return dict(
        activation=trial.suggest_categorical("activation", ["tanh", "relu"]),
        learning_rate=trial.suggest_float("learning_rate", *learning_rates, log=True),
        patience=trial.suggest_int("patience", *PATIENCE, log=True),
        epochs=protocol.max_epochs,
    )


def _width(trial, name, bounds=WIDE):
    return trial.suggest_int(name, *bounds, log=True)


def _grid(trial):
    side = trial.suggest_int("side", *SIDES)
    return (side, side)


def _pure_1(trial, protocol):
    return Configuration(
        "pure_nn_1",
        "pure NN, one hidden layer",
        "pure_nn",
        hidden=(_width(trial, "width"),),
        **_training(trial, protocol),
    )


def _pure_2(trial, protocol):
    return Configuration(
        "pure_nn_2",
        "pure NN, two hidden layers",
        "pure_nn",
        hidden=(_width(trial, "width_1", NARROW), _width(trial, "width_2", NARROW)),
        **_training(trial, protocol),
    )


def _bottleneck(trial, protocol):
    return Configuration(
        "bottleneck",
        "the interposed network with a 2-unit Dense layer in place of the SOM",
        "pure_nn",
        hidden=(_width(trial, "width_before", NARROW), 2, _width(trial, "width_after", NARROW)),
        **_training(trial, protocol),
    )


def _preprocessing(output):
    def space(trial, protocol):
        extra = {} if output == "hard" else {"beta": trial.suggest_float("beta", 0.1, 3000.0, log=True)}
        return Configuration(
            f"som_pre_{output}",
            f"SOM preprocessing, {output} output",
            "som_preprocessing",
            hidden=(_width(trial, "width"),),
            grid_shape=_grid(trial),
            output=output,
            som_epochs=trial.suggest_int("som_epochs", *SOM_EPOCHS, log=True),
            **extra,
            **_training(trial, protocol, HARD_LEARNING_RATES if output == "hard" else LEARNING_RATES),
        )

    return space


def _interposed(update):
    def space(trial, protocol):
        extra = {}
        if update == "kohonen":
            start = trial.suggest_float("som_rate_start", 0.005, 0.9, log=True)
            end_ratio = trial.suggest_float("som_rate_end_ratio", *SOM_RATE_END_RATIOS, log=True)
            extra = dict(
                som_learning_rate=(start, start * end_ratio),
                som_decay_epochs=trial.suggest_int("som_decay_epochs", 10, protocol.max_epochs, log=True),
            )
        return Configuration(
            f"interposed_{update}",
            f"interposed SOM, embedding: {update}",
            "interposed",
            hidden=(_width(trial, "width_before", NARROW),),
            hidden_after=(_width(trial, "width_after", NARROW),),
            grid_shape=_grid(trial),
            beta=trial.suggest_float("beta", 0.01, 1000.0, log=True),
            embedding_update=update,
            **extra,
            **_training(trial, protocol),
        )

    return space


FAMILIES = {
    family.name: family
    for family in [
        Family("pure_nn_1", "pure NN, one hidden layer", "network", _pure_1),
        Family("pure_nn_2", "pure NN, two hidden layers (the interposed model's Dense depth)", "network", _pure_2),
        Family(
            "bottleneck",
            "interposed network with a 2-unit Dense bottleneck in place of the SOM",
            "network",
            _bottleneck,
        ),
        Family("som_pre_soft", "SOM preprocessing, soft output", "network", _preprocessing("soft")),
        Family("som_pre_hard", "SOM preprocessing, hard output", "network", _preprocessing("hard")),
        Family(
            "interposed_kohonen", "interposed SOM, Kohonen rule (the slides' design)", "network", _interposed("kohonen")
        ),
        Family(
            "interposed_frozen",
            "interposed SOM, random embedding never updated (control)",
            "network",
            _interposed("frozen"),
        ),
        Family(
            "interposed_backprop", "interposed SOM, embedding trained by backprop", "network", _interposed("backprop")
        ),
        *(Family(name, space.description, "reference", space) for name, space in references.REFERENCES.items()),
    ]
}


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """The search's budget: the same for every family."""

    n_trials: int = 30
    tuning_seeds: tuple = (1000, 1001)
    sampler_seed: int = 0
    rescored_trials: int = 5
    rescoring_seeds: tuple = (1002, 1003, 1004, 1005)


def configuration(family, params, protocol):
    """The model a recorded trial's ``params`` describe (the family's space, replayed)."""
    return FAMILIES[family].space(optuna.trial.FixedTrial(params), protocol)


def _network_trial(config, protocol, seeds):
    trainers, runs = {}, []
    for seed in seeds:
        metrics, _ = run_configuration(config, protocol, seed, trainers)
        runs.append(metrics)
    mean = {
        key: float(np.mean([run[key] for run in runs]))
        for key in ("val_log_loss", "val_accuracy", "test_accuracy", "epochs_run")
    }
    return 1.0 - mean["val_accuracy"] + LOSS_WEIGHT * mean["val_log_loss"], {
        "val_accuracy": mean["val_accuracy"],
        "test_accuracy": mean["test_accuracy"],
        "epochs_run": mean["epochs_run"],
        "learned_parameters": runs[0]["learned_parameters"],
    }


def _score(family, model, protocol, seeds):
    """A trial's score on ``seeds`` and what it records besides (see the module's docstring)."""
    if family.kind == "network":
        return _network_trial(model, protocol, seeds)
    return references.trial(model, protocol, seeds)


def search_family(name, protocol, settings):
    """Run one family's trials; return them as JSON-ready records, in order.

    Returns ``(records, space)``: ``space`` is every knob's searched range
    (``{"low", "high", "log"}`` or ``{"choices"}``). Each record holds the
    trial's ``number``, ``params``, ``score`` (what was
    minimised: validation error for networks, cross-validated error for
    references), ``val_accuracy`` (networks) or ``cv_accuracy`` (references),
    ``test_accuracy`` and ``learned_parameters`` on the tuning seeds, and
    ``seconds``.
    """
    tf.config.experimental.enable_op_determinism()
    tf.get_logger().setLevel("ERROR")  # retracing notes: each trial compiles its own loop, on purpose
    family = FAMILIES[name]

    def score_trial(trial):
        return _score(family, family.space(trial, protocol), protocol, settings.tuning_seeds)

    return run_trials(score_trial, settings.n_trials, settings.sampler_seed)


def run_trials(score_trial, n_trials, sampler_seed):
    """``n_trials`` trials of Optuna's TPE sampler, seeded with ``sampler_seed``, minimising ``score_trial``.

    ``score_trial(trial)`` draws its knobs from the Optuna ``trial`` and returns
    ``(score, extra)``, ``extra`` a dict of what the trial's record holds
    besides. Returns ``(records, space)`` as :func:`search_family` does.
    """
    records = []
    space = {}

    def objective(trial):
        start = time.perf_counter()
        score, extra = score_trial(trial)
        records.append(
            {
                "number": trial.number,
                "params": dict(trial.params),
                "score": score,
                **extra,
                "seconds": time.perf_counter() - start,
            }
        )
        space.update({key: _range(distribution) for key, distribution in trial.distributions.items()})
        return score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=sampler_seed)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.optimize(objective, n_trials=n_trials)
    return records, space


def rescore_family(name, records, protocol, settings):
    """The ``settings.rescored_trials`` best of a family's trial ``records``, scored on the rescoring seeds.

    Returns JSON-ready records, best first by the trials' own score: each has
    the trial's ``number``, its ``score`` on the rescoring seeds with the same
    accuracies the trial records (``val_accuracy`` or ``cv_accuracy``, and
    ``test_accuracy``), and its ``pooled_score``, the mean score over the
    tuning and rescoring seeds together.
    """
    tf.config.experimental.enable_op_determinism()
    family = FAMILIES[name]
    ranked = sorted(records, key=lambda record: (record["score"], record["number"]))
    n_tuning, n_rescoring = len(settings.tuning_seeds), len(settings.rescoring_seeds)
    accuracy = "val_accuracy" if family.kind == "network" else "cv_accuracy"
    out = []
    for record in ranked[: settings.rescored_trials]:
        model = configuration(name, record["params"], protocol)
        score, extra = _score(family, model, protocol, settings.rescoring_seeds)
        out.append(
            {
                "number": record["number"],
                "score": score,
                accuracy: extra[accuracy],
                "test_accuracy": extra["test_accuracy"],
                "pooled_score": (n_tuning * record["score"] + n_rescoring * score) / (n_tuning + n_rescoring),
            }
        )
    return out


def _range(distribution):
    """A searched range as JSON: ``{"low", "high", "log"}``, or ``{"choices"}``."""
    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        return {"choices": list(distribution.choices)}
    return {"low": distribution.low, "high": distribution.high, "log": distribution.log}


def _timed_search_family(name, protocol, settings):
    start = time.perf_counter()
    records, space = search_family(name, protocol, settings)
    rescored = rescore_family(name, records, protocol, settings)
    return records, rescored, space, time.perf_counter() - start


def search(protocol, settings, families=None, log=print):
    """Every family's trials and rescored trials, in :data:`FAMILIES`' order.

    Returns ``[(Family, [trial record, ...], [rescored record, ...], space)]``
    (:func:`search_family`, :func:`rescore_family`).

    Each family's search runs in a fresh process, one per CPU core at a time:
    hundreds of compiled training loops in one process have crashed TensorFlow
    (a segmentation fault, once the trials of several families had
    accumulated), and a family's search depends on no other's, so running them
    side by side changes no number.
    """
    names = list(families or FAMILIES)
    processes = min(len(names), os.cpu_count() or 1)
    context = multiprocessing.get_context("spawn")
    # The references start first: the supervised SOM's search is the longest of
    # all, and the network families then fill the other processes beside it.
    started = sorted(names, key=lambda name: FAMILIES[name].kind != "reference")
    out = []
    with context.Pool(processes, maxtasksperchild=1) as pool:
        jobs = {name: pool.apply_async(_timed_search_family, (name, protocol, settings)) for name in started}
        for name in names:
            job = jobs[name]
            records, rescored, space, seconds = job.get()
            best = best_trial(records)
            chosen = chosen_rescore({"trials": records, "rescored": rescored})
            log(
                f"{name}: {settings.n_trials} trials and {len(rescored)} rescored in {seconds:.0f} s; "
                f"best score {best['score']:.4f} (trial {best['number']}), "
                f"chosen trial {chosen['number']} (pooled score {chosen['pooled_score']:.4f})"
            )
            out.append((FAMILIES[name], records, rescored, space))
    return out
