"""The digits chapter's comparison: the soft SOM inside a Keras classifier against a plain MLP, on real data.

``python -m experiments.digits run --out results/digits.json``
    The search and the evaluation, in one go. Every family
    (:data:`FAMILIES`: a plain MLP, the interposed soft SOM in each of its
    three ``embedding_update`` modes, a parameter-matched MLP and two
    classical references) gets the
    same number of seeded Optuna TPE trials over its own knobs, scored on the
    validation data of the tuning seeds; the chosen trial of each family is
    then trained and tested on the evaluation seeds, which no trial saw.
``python -m experiments.digits search ...`` is the same command (the
evaluation is part of it: a search without its evaluation answers nothing).
``python -m experiments.digits validate results/digits.json`` checks a file.

``--quick`` runs both steps small, to check that they work.

The protocol is the spiral chapter's (:mod:`experiments.search`,
:mod:`experiments.training`), on scikit-learn's 8x8 digits
(:func:`sklearn.datasets.load_digits`, 1 797 images of 64 pixels, shipped with
scikit-learn): a seed sets the stratified 60/20/20 split and every random
initialisation, so runs with the same seed are paired across families; the
networks train by full-batch Adam with the best-validation checkpoint and early
stopping (:class:`experiments.training.Trainer`); a network trial's score is its
validation error plus :data:`experiments.search.LOSS_WEIGHT` times its
validation log-loss, a reference's its 5-fold cross-validated error on the
training and validation splits together. A SOM family's beta is searched in
``beta_scale="spacing"`` units: node spacings of its current embedding, so that
one range fits every width and activation of the layer before it.

The parameter-matched MLP (:data:`MLP_MATCHED`) is searched after the SOM
families: its widths are capped so that it has no more learned parameters
than the largest of their chosen models (:func:`matched_width`), and the cap
is recorded with it.

Each family's search runs in a fresh process (as in :func:`experiments.search.search`),
one after another, with TensorFlow on one thread: the whole run uses one core.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import sys
import time
import warnings
from pathlib import Path

import numpy as np

__all__ = [
    "SCHEMA_VERSION",
    "PIXEL_SCALE",
    "CURVE_STEP",
    "FAMILIES",
    "MLP",
    "MLP_MATCHED",
    "MLPS",
    "SOM_FAMILIES",
    "chosen_parameters",
    "mlp_parameters",
    "matched_width",
    "DigitsProtocol",
    "Settings",
    "settings_for",
    "prepare_data",
    "build_model",
    "run_network",
    "run_reference",
    "search_family",
    "evaluate_family",
    "run",
    "contrasts",
    "validate",
    "save",
    "load",
    "main",
]

SCHEMA_VERSION = 2
PIXEL_SCALE = 16.0  # the digits' pixels are counts 0..16: inputs are divided by it, to [0, 1]
EXTRA_PACKAGES = ("sklearn", "optuna", "minisom")  # versions recorded besides tools.provenance.PACKAGES
CURVE_STEP = 10  # the evaluation runs' validation curves keep every CURVE_STEP-th epoch
MLP = "mlp"
MLP_MATCHED = "mlp_matched"
MLPS = (MLP, MLP_MATCHED)
SOM_FAMILIES = ("som_kohonen", "som_backprop", "som_frozen")
FAMILIES = {
    MLP: ("network", "plain MLP, two hidden layers (the SOM models' Dense depth)"),
    "som_kohonen": ("network", "interposed soft SOM, embedding by the Kohonen rule"),
    "som_backprop": ("network", "interposed soft SOM, embedding trained by backprop"),
    "som_frozen": ("network", "interposed soft SOM, random embedding never updated"),
    MLP_MATCHED: ("network", "plain MLP, two hidden layers, at most the largest chosen SOM model's parameters"),
    "knn": ("reference", "k-nearest neighbours (cross-validated)"),
    "svm_rbf": ("reference", "SVM, RBF kernel (cross-validated)"),
}
# The searched ranges (every network family shares those it has).
LEARNING_RATES = (3e-4, 0.03)  # Adam's, log scale
WIDTHS = (16, 512)  # Dense widths, log scale
SOM_INPUT_WIDTHS = (4, 128)  # the Dense layer the SOM maps (its embedding's dimension), log scale
SIDES = (3, 16)  # the SOM grid's side
BETAS = (0.1, 100.0)  # beta in node spacings (beta_scale="spacing"), log scale
PATIENCE = (100, 800)  # early stopping, epochs, log scale (checked every experiments.training.CHUNK epochs)
SOM_RATE_STARTS = (0.005, 0.9)
SOM_RATE_END_RATIOS = (1e-3, 1.0)


@dataclasses.dataclass(frozen=True)
class DigitsProtocol:
    """What every run shares: the split and the epoch cap."""

    train_fraction: float = 0.6
    validation_fraction: float = 0.2
    max_epochs: int = 2000


@dataclasses.dataclass(frozen=True)
class Settings:
    """The budget: the same for every family."""

    n_trials: int = 20
    tuning_seeds: tuple = (1000, 1001)
    sampler_seed: int = 0
    evaluation_seeds: tuple = tuple(range(10))


def settings_for(quick):
    """The protocol and settings of a full or a quick run (2 trials, 1 tuning seed, 2 evaluation seeds)."""
    if quick:
        return DigitsProtocol(max_epochs=200), Settings(n_trials=2, tuning_seeds=(1000,), evaluation_seeds=(0, 1))
    return DigitsProtocol(), Settings()


# --- data and models --------------------------------------------------------------------------


def prepare_data(protocol, seed):
    """The seed's stratified train/validation/test split of the digits, pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = (X / PIXEL_SCALE).astype(np.float32)
    y = y.astype(np.int32)
    held_out = 1.0 - protocol.train_fraction
    X_train, X_rest, y_train, y_rest = train_test_split(X, y, test_size=held_out, stratify=y, random_state=seed)
    test_share = (held_out - protocol.validation_fraction) / held_out
    X_val, X_test, y_val, y_test = train_test_split(
        X_rest, y_rest, test_size=test_share, stratify=y_rest, random_state=seed
    )
    return {"train": (X_train, y_train), "validation": (X_val, y_val), "test": (X_test, y_test)}


def _configuration(name, params, protocol):
    """The :class:`experiments.training.Configuration` a network family's ``params`` describe."""
    from experiments.training import Configuration

    common = dict(
        activation=params["activation"],
        learning_rate=params["learning_rate"],
        patience=params["patience"],
        epochs=protocol.max_epochs,
        hidden_after=(params["width_after"],),
    )
    if name in MLPS:
        return Configuration(name, FAMILIES[name][1], "pure_nn", hidden=(params["width_before"],), **common)
    update = name.removeprefix("som_")
    extra = {}
    if update == "kohonen":
        start = params["som_rate_start"]
        extra = dict(
            som_learning_rate=(start, start * params["som_rate_end_ratio"]),
            som_decay_epochs=params["som_decay_epochs"],
        )
    return Configuration(
        name,
        FAMILIES[name][1],
        "interposed",
        hidden=(params["som_input_width"],),
        grid_shape=(params["side"], params["side"]),
        beta=params["beta"],
        embedding_update=update,
        **extra,
        **common,
    )


def mlp_parameters(width_before, width_after):
    """The learned parameters of the 64 -> ``width_before`` -> ``width_after`` -> 10 MLP (weights and biases)."""
    return (64 + 1) * width_before + (width_before + 1) * width_after + (width_after + 1) * 10


def matched_width(max_parameters):
    """The largest width ``w`` of :data:`WIDTHS` whose MLP of two ``w``-unit layers has at most ``max_parameters``.

    Both of the matched MLP's widths are searched up to it, so every one of its
    trials is within the budget. A ValueError if even the narrowest MLP is over it.
    """
    low, high = WIDTHS
    if isinstance(max_parameters, bool) or not isinstance(max_parameters, int):
        raise ValueError(f"max_parameters must be an int; got {max_parameters!r}")
    if mlp_parameters(low, low) > max_parameters:
        raise ValueError(
            f"max_parameters is {max_parameters}: below the {mlp_parameters(low, low)} of the narrowest MLP "
            f"({low} units per layer)"
        )
    return max(w for w in range(low, high + 1) if mlp_parameters(w, w) <= max_parameters)


def _suggest(name, trial, protocol, max_width=None):
    """A trial's parameters: the family's own knobs (Optuna's define-by-run space).

    ``max_width`` caps the matched MLP's widths (:func:`matched_width`).
    """
    if FAMILIES[name][0] == "reference":
        from experiments.references import REFERENCES

        return dict(REFERENCES[name](trial, protocol).params)
    params = {
        "activation": trial.suggest_categorical("activation", ["tanh", "relu"]),
        "learning_rate": trial.suggest_float("learning_rate", *LEARNING_RATES, log=True),
        "patience": trial.suggest_int("patience", *PATIENCE, log=True),
    }
    widths = (WIDTHS[0], max_width) if name == MLP_MATCHED else WIDTHS
    if name in MLPS:
        params["width_before"] = trial.suggest_int("width_before", *widths, log=True)
    else:
        params["som_input_width"] = trial.suggest_int("som_input_width", *SOM_INPUT_WIDTHS, log=True)
        params["side"] = trial.suggest_int("side", *SIDES)
        params["beta"] = trial.suggest_float("beta", *BETAS, log=True)
        if name == "som_kohonen":
            params["som_rate_start"] = trial.suggest_float("som_rate_start", *SOM_RATE_STARTS, log=True)
            params["som_rate_end_ratio"] = trial.suggest_float("som_rate_end_ratio", *SOM_RATE_END_RATIOS, log=True)
            params["som_decay_epochs"] = trial.suggest_int("som_decay_epochs", 10, protocol.max_epochs, log=True)
    params["width_after"] = trial.suggest_int("width_after", *widths, log=True)
    return params


def build_model(config, n_train, seed):
    """The Keras model of a network configuration, for 64 inputs and 10 classes (uncompiled).

    An interposed SOM's beta is in node spacings (``beta_scale="spacing"``), its
    output rescaled to [0, 1] per grid axis, and its Kohonen schedules decay over
    ``som_decay_epochs`` passes over the ``n_train`` training images.
    """
    from softsom import models

    kwargs = dict(n_classes=10, activation=config.activation, name=config.name, seed=seed)
    if config.family == "pure_nn":
        return models.mlp(64, config.hidden + config.hidden_after, **kwargs)
    decay_epochs = config.som_decay_epochs or config.epochs
    return models.interposed_som(
        64,
        config.grid_shape,
        config.beta,
        config.hidden,
        config.hidden_after,
        embedding_update=config.embedding_update,
        decay_samples=decay_epochs * n_train,
        learning_rate=config.som_learning_rate,
        rescale=True,
        beta_scale="spacing",
        **kwargs,
    )


# --- one run ----------------------------------------------------------------------------------


def run_network(config, protocol, seed, trainers, keep_curve=False):
    """Train one network configuration on one seed's split; its JSON-ready numbers.

    ``trainers`` is shared by the runs of one configuration (the compiled loop
    is reused across seeds; see :class:`experiments.training.Trainer`). With
    ``keep_curve`` the run also records its validation accuracy every
    :data:`CURVE_STEP` epochs ("curve"), for the learning curves.
    """
    import keras

    from experiments.training import Trainer, _accuracy, _log_loss, learned_parameters

    start = time.perf_counter()
    data = prepare_data(protocol, seed)
    keras.utils.set_random_seed(seed)
    model = build_model(config, len(data["train"][0]), seed)
    if config not in trainers:
        trainers[config] = Trainer(model, config.learning_rate)
    trainer = trainers[config]
    history = trainer.fit(model.get_weights(), data, config.epochs, config.patience)
    model = trainer.model
    probabilities = {part: model(X, training=False).numpy() for part, (X, _) in data.items()}
    out = {
        "seed": seed,
        "test_accuracy": _accuracy(probabilities["test"], data["test"][1]),
        "val_accuracy": _accuracy(probabilities["validation"], data["validation"][1]),
        "val_log_loss": _log_loss(probabilities["validation"], data["validation"][1]),
        "train_accuracy": _accuracy(probabilities["train"], data["train"][1]),
        "best_epoch": history["best_epoch"],
        "epochs_run": history["epochs_run"],
        "learned_parameters": learned_parameters(model),
        "seconds": time.perf_counter() - start,
    }
    if keep_curve:
        out["curve"] = [float(v) for v in history["val_accuracy"][CURVE_STEP - 1 :: CURVE_STEP]]
    return out


def _reference(name, params):
    from experiments.references import Reference

    return Reference(name, FAMILIES[name][1], tuple(sorted(params.items())))


def run_reference(name, params, protocol, seed, cross_validate=False):
    """Fit a reference on the seed's training and validation splits together; its test accuracy.

    With ``cross_validate`` it also gets its 5-fold cross-validated accuracy
    on those splits ("cv_accuracy", a search trial's measure).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from experiments.references import FOLDS

    start = time.perf_counter()
    data = prepare_data(protocol, seed)
    X = np.concatenate([data["train"][0], data["validation"][0]])
    y = np.concatenate([data["train"][1], data["validation"][1]])
    reference = _reference(name, params)
    out = {"seed": seed}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if cross_validate:
            folds = StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
            out["cv_accuracy"] = float(cross_val_score(reference.estimator(seed), X, y, cv=folds).mean())
        fitted = reference.estimator(seed).fit(X, y)
    out["test_accuracy"] = float(np.mean(fitted.predict(data["test"][0]) == data["test"][1]))
    out["seconds"] = time.perf_counter() - start
    return out


# --- search and evaluation --------------------------------------------------------------------


def _one_thread():
    """TensorFlow on one thread (the run's budget is one core), deterministic ops."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow already started in this process (e.g. under pytest): keep its threads
        pass
    tf.config.experimental.enable_op_determinism()
    tf.get_logger().setLevel("ERROR")


def search_family(name, protocol, settings, max_width=None):
    """One family's ``settings.n_trials`` seeded TPE trials; ``(trial records, searched space)``.

    ``max_width`` is the matched MLP's width cap (:func:`matched_width`), required for it.

    A record holds the trial's ``number``, ``params``, ``score`` (minimised),
    ``val_accuracy`` (networks) or ``cv_accuracy`` (references), mean over the
    tuning seeds, and ``learned_parameters`` (networks), ``epochs_run`` (networks,
    mean) and ``seconds``.
    """
    from experiments.search import LOSS_WEIGHT, run_trials

    kind = FAMILIES[name][0]
    if (name == MLP_MATCHED) != (max_width is not None):
        raise ValueError(f"max_width is for {MLP_MATCHED} only, and required for it; got {max_width!r} for {name}")
    trainers = {}

    def score_trial(trial):
        params = _suggest(name, trial, protocol, max_width)
        if kind == "network":
            config = _configuration(name, params, protocol)
            trainers.clear()  # a trial's loop is compiled for its configuration only
            runs = [run_network(config, protocol, seed, trainers) for seed in settings.tuning_seeds]
            mean = {key: float(np.mean([r[key] for r in runs])) for key in ("val_accuracy", "val_log_loss")}
            score = 1.0 - mean["val_accuracy"] + LOSS_WEIGHT * mean["val_log_loss"]
            return score, {
                "val_accuracy": mean["val_accuracy"],
                "learned_parameters": runs[0]["learned_parameters"],
                "epochs_run": float(np.mean([r["epochs_run"] for r in runs])),
            }
        runs = [run_reference(name, params, protocol, seed, True) for seed in settings.tuning_seeds]
        accuracy = float(np.mean([r["cv_accuracy"] for r in runs]))
        return 1.0 - accuracy, {"cv_accuracy": accuracy}

    return run_trials(score_trial, settings.n_trials, settings.sampler_seed)


def evaluate_family(name, params, protocol, settings):
    """The chosen ``params`` of a family on every evaluation seed, in order."""
    seeds = settings.evaluation_seeds
    if FAMILIES[name][0] == "reference":
        return [run_reference(name, params, protocol, seed) for seed in seeds]
    config, trainers = _configuration(name, params, protocol), {}
    return [run_network(config, protocol, seed, trainers, keep_curve=True) for seed in seeds]


def _family_job(name, protocol, settings, max_parameters=None):
    """A family's search and evaluation, in a process of its own; its JSON-ready entry."""
    from experiments.results import best_trial

    _one_thread()
    start = time.perf_counter()
    max_width = None if max_parameters is None else matched_width(max_parameters)
    trials, space = search_family(name, protocol, settings, max_width)
    searched = time.perf_counter() - start
    chosen = best_trial(trials)
    runs = evaluate_family(name, chosen["params"], protocol, settings)
    entry = {
        "name": name,
        "kind": FAMILIES[name][0],
        "description": FAMILIES[name][1],
        "space": space,
        "trials": trials,
        "chosen": chosen["number"],
        "runs": runs,
        "seconds": {"search": searched, "evaluation": time.perf_counter() - start - searched},
    }
    if max_parameters is not None:
        entry["max_parameters"] = max_parameters
    return entry


def chosen_parameters(entry):
    """The learned parameters of a network family's chosen model (its ``entry`` in the results document)."""
    return entry["runs"][0]["learned_parameters"]


def _largest_som_model(entries):
    """The most learned parameters among the SOM families' chosen models in ``entries`` (the matched MLP's cap)."""
    return max(chosen_parameters(e) for e in entries if e["name"] in SOM_FAMILIES)


def run(protocol, settings, mode, out=None, families=None, log=print):
    """Every family's search and evaluation, one fresh process after another; the results document.

    Hundreds of compiled training loops in one process have crashed TensorFlow
    (see :func:`experiments.search.search`), so each family gets its own
    process (spawned, one at a time: the run uses one core), in
    :data:`FAMILIES`' order, so the SOM families come before the matched MLP
    whose cap they set. The document is validated and, with ``out``, written
    atomically.
    """
    from tools.provenance import provenance

    names = [name for name in FAMILIES if name in (families or FAMILIES)]
    if MLP_MATCHED in names and not set(SOM_FAMILIES) & set(names):
        raise ValueError(f"{MLP_MATCHED} is matched to the SOM families' chosen models: run at least one of them too")
    context = multiprocessing.get_context("spawn")
    entries = []
    with context.Pool(1, maxtasksperchild=1) as pool:
        for name in names:
            cap = _largest_som_model(entries) if name == MLP_MATCHED else None
            entry = pool.apply(_family_job, (name, protocol, settings, cap))
            log(
                f"{name}: {settings.n_trials} trials in {entry['seconds']['search']:.0f} s, "
                f"chosen trial {entry['chosen']}, {len(entry['runs'])} evaluation runs in "
                f"{entry['seconds']['evaluation']:.0f} s"
            )
            entries.append(entry)
    document = {
        "schema_version": SCHEMA_VERSION,
        "provenance": provenance(mode, extra_packages=EXTRA_PACKAGES),
        "protocol": dataclasses.asdict(protocol),
        "settings": {key: list(v) if isinstance(v, tuple) else v for key, v in dataclasses.asdict(settings).items()},
        "families": entries,
    }
    validate(document)
    if out is not None:
        save(out, document)
    return document


def contrasts(document, confidence=0.95):
    """Each SOM family minus each MLP in test accuracy, paired by seed, with Holm-adjusted p-values.

    Returns rows ``{"question", "a", "b", "mean", "ci_low", "ci_high", "p_value", "p_holm", "n"}``:
    every SOM family of :data:`SOM_FAMILIES` minus the MLP, then minus the matched MLP (those in
    ``document``). They are the planned comparisons, adjusted together (the references are
    context, not in the Holm family), ready for :func:`experiments.figures.forest_plot`.
    """
    from experiments.stats import holm, paired_difference

    accuracy = {e["name"]: [r["test_accuracy"] for r in e["runs"]] for e in document["families"]}
    rows = []
    for baseline in MLPS:
        for name in SOM_FAMILIES:
            if name in accuracy and baseline in accuracy:
                row = paired_difference(accuracy[name], accuracy[baseline], confidence)
                rows.append({"question": f"{name} - {baseline}", "a": name, "b": baseline, **row})
    for row, adjusted in zip(rows, holm([row["p_value"] for row in rows])):
        row["p_holm"] = adjusted
    return rows


# --- the results file -------------------------------------------------------------------------


def _check_list(where, value):
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where} must be a non-empty list")
    return value


def validate(data):
    """``data`` itself if it is a valid digits results document; else a ValueError naming the first wrong field.

    ``{"schema_version", "provenance", "protocol": {DigitsProtocol fields},
    "settings": {"n_trials", "tuning_seeds", "sampler_seed", "evaluation_seeds"},
    "families": [{"name", "kind", "description", "space", "trials": [...], "chosen",
    "runs": [...], "seconds": {"search", "evaluation"}}, ...]}`` (the matched MLP's
    entry also holds ``max_parameters``, and none of its trials has more): every family
    holds ``n_trials`` trials numbered 0, 1, ..., ``chosen`` is the number of
    its trial of lowest score, and it has one run per evaluation seed, in their
    order; no evaluation seed is a tuning seed.
    """
    from tools.jsonfile import Number, check_fields, check_provenance
    from tools.provenance import PACKAGES

    check_fields(
        "",
        data,
        {"schema_version": int, "provenance": dict, "protocol": dict, "settings": dict, "families": list},
    )
    if data["schema_version"] != SCHEMA_VERSION:
        raise ValueError(f"schema_version must be {SCHEMA_VERSION}; got {data['schema_version']!r}")
    check_provenance("provenance", data["provenance"], ("full", "quick"), (*PACKAGES, *EXTRA_PACKAGES))
    fraction = Number(False, 0.0, 1.0)
    check_fields(
        "protocol",
        data["protocol"],
        {"train_fraction": fraction, "validation_fraction": fraction, "max_epochs": Number(True, 1)},
    )
    seed = Number(True, 0)
    settings = check_fields(
        "settings",
        data["settings"],
        {"n_trials": Number(True, 1), "tuning_seeds": list, "sampler_seed": seed, "evaluation_seeds": list},
    )
    for key in ("tuning_seeds", "evaluation_seeds"):
        for i, value in enumerate(_check_list(f"settings.{key}", settings[key])):
            seed.check(f"settings.{key}[{i}]", value)
    if set(settings["tuning_seeds"]) & set(settings["evaluation_seeds"]):
        raise ValueError("settings: a tuning seed is also an evaluation seed")
    names = []
    accuracy = Number(False, 0.0, 1.0)
    for f, family in enumerate(_check_list("families", data["families"])):
        where = f"families[{f}]"
        check_fields(
            where,
            family,
            {
                "name": str,
                "kind": str,
                "description": str,
                "space": dict,
                "trials": list,
                "chosen": Number(True, 0),
                "runs": list,
                "seconds": dict,
            }
            | (
                {"max_parameters": Number(True, 1)}
                if isinstance(family, dict) and family.get("name") == MLP_MATCHED
                else {}
            ),
        )
        if family["name"] not in FAMILIES or family["kind"] != FAMILIES[family["name"]][0]:
            raise ValueError(f"{where}: unknown family {family['name']!r} of kind {family['kind']!r}")
        names.append(family["name"])
        network = family["kind"] == "network"
        trial_fields = {"number": Number(True, 0), "params": dict, "score": Number(False), "seconds": Number(False, 0)}
        trial_fields |= (
            {"val_accuracy": accuracy, "learned_parameters": Number(True, 1), "epochs_run": Number(False, 0)}
            if network
            else {"cv_accuracy": accuracy}
        )
        trials = family["trials"]
        if len(trials) != settings["n_trials"]:
            raise ValueError(f"{where}.trials holds {len(trials)} trials; settings.n_trials is {settings['n_trials']}")
        for t, trial in enumerate(trials):
            check_fields(f"{where}.trials[{t}]", trial, trial_fields)
            if trial["number"] != t:
                raise ValueError(f"{where}.trials[{t}].number is {trial['number']}; expected {t}")
        if family["name"] == MLP_MATCHED:
            cap = family["max_parameters"]
            over = [t for t, trial in enumerate(trials) if trial["learned_parameters"] > cap]
            if over:
                raise ValueError(f"{where}.trials{over} have more learned parameters than max_parameters ({cap})")
        best = min(trials, key=lambda record: (record["score"], record["number"]))["number"]
        if family["chosen"] != best:
            raise ValueError(f"{where}.chosen is {family['chosen']}; the trial of lowest score is {best}")
        run_fields = {"seed": seed, "test_accuracy": accuracy, "seconds": Number(False, 0)}
        if network:
            run_fields |= {
                "val_accuracy": accuracy,
                "val_log_loss": Number(False, 0),
                "train_accuracy": accuracy,
                "best_epoch": Number(True, 0),
                "epochs_run": Number(True, 1),
                "learned_parameters": Number(True, 1),
                "curve": list,
            }
        runs = family["runs"]
        if [r.get("seed") if isinstance(r, dict) else None for r in runs] != settings["evaluation_seeds"]:
            raise ValueError(f"{where}.runs must hold one run per evaluation seed, in their order")
        for r, record in enumerate(runs):
            check_fields(f"{where}.runs[{r}]", record, run_fields)
            for i, value in enumerate(record.get("curve", [])):
                accuracy.check(f"{where}.runs[{r}].curve[{i}]", value)
        check_fields(
            f"{where}.seconds", family["seconds"], {"search": Number(False, 0), "evaluation": Number(False, 0)}
        )
    if MLP not in names or len(set(names)) != len(names):
        raise ValueError(f"families must name each family once, the MLP among them; got {names}")
    return data


def save(path, data):
    """Validate ``data`` and write it to ``path`` atomically (the old file survives a failure)."""
    from tools.jsonfile import save_validated

    save_validated(path, data, validate)


def load(path):
    """The validated document at ``path`` (a ValueError names the file and the wrong field)."""
    from tools.jsonfile import load_validated

    return load_validated(path, validate, "digits results", " (run `python -m experiments.digits run --out PATH`)")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m experiments.digits", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for command in ("run", "search"):
        sub = commands.add_parser(command, help="search every family, then evaluate the chosen trials")
        sub.add_argument("--out", required=True, type=Path, help="the results JSON to write")
        sub.add_argument("--quick", action="store_true", help="2 trials, 1 tuning seed, 2 evaluation seeds")
        sub.add_argument("--families", nargs="+", choices=list(FAMILIES), help="only these families")
    check = commands.add_parser("validate", help="check a results file")
    check.add_argument("path", type=Path)
    args = parser.parse_args(argv)
    if args.command == "validate":
        document = load(args.path)
        print(f"{args.path}: valid ({len(document['families'])} families, mode {document['provenance']['mode']})")
        return 0
    protocol, settings = settings_for(args.quick)
    start = time.perf_counter()
    run(protocol, settings, "quick" if args.quick else "full", args.out, args.families)
    print(f"wrote {args.out} in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
