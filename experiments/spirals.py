"""The spiral experiments: a pure network, SOM preprocessing and an interposed SOM.

``python -m experiments.spirals --out results/spiral.json`` runs them and writes
the results file (``make reproduce``); chapter 6 calls :func:`run_experiment`,
the same function, and draws its figures from what it returns.

Every configuration is trained under one protocol (:class:`Protocol`): the
same data, optimiser, epoch budget and early-stopping rule. A run is one
configuration and one seed; the seed sets everything random in it (the data
sample and its split, the network's initial weights, the Kohonen map's
initialisation and sample order), so runs with the same seed are paired across
configurations.

Early stopping: every run trains for ``protocol.epochs`` epochs of full-batch
Adam and then keeps the weights of the epoch with the lowest validation loss.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from experiments import results
from softsom import models
from softsom.datasets import two_spirals
from softsom.kohonen import KohonenSOM
from softsom.layers import SoftSOM

__all__ = [
    "Protocol",
    "Configuration",
    "Trainer",
    "prepare_data",
    "build_model",
    "run_configuration",
    "run_classic",
    "run_all",
    "learned_parameters",
    "learned_parameters_of",
    "spiral_configurations",
    "matched_pure_nn",
    "som_snapshot",
    "setup",
    "SpiralExperiment",
    "run_experiment",
    "main",
]

SPIRAL_SCALE = 6.5  # the spirals' outer radius: inputs are divided by it


@dataclasses.dataclass(frozen=True)
class Protocol:
    """What every model shares: data, optimiser, budget, early stopping."""

    n_per_class: int = 150
    turns: float = 2.0
    noise: float = 0.15
    epochs: int = 600
    learning_rate: float = 0.02
    classic_epochs: int = 3000


@dataclasses.dataclass(frozen=True)
class Configuration:
    """One model of the comparison.

    ``family`` is "pure_nn" (Dense layers ``hidden``), "som_preprocessing" (a
    Kohonen map fitted to the inputs, its ``output`` ("soft" or "hard") fed to
    Dense layers ``hidden``) or "interposed" (Dense ``hidden`` -> soft SOM ->
    Dense ``hidden_after``). SOM outputs are rescaled to [0, 1] per grid axis
    so that the next tanh layer is not saturated by coordinates up to
    ``side - 1``.
    """

    name: str
    description: str
    family: str
    hidden: tuple = (8,)
    hidden_after: tuple = (8,)
    grid_shape: tuple | None = None
    beta: float | None = None
    output: str = "soft"
    embedding_update: str = "kohonen"
    som_epochs: int = 5
    som_learning_rate: tuple = (0.1, 0.01)

    def settings(self):
        """The configuration as plain JSON-ready values."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def prepare_data(protocol, seed):
    """The seed's two-spirals sample, split 60/20/20, inputs scaled to about [-1, 1]."""
    data = two_spirals(protocol.n_per_class, turns=protocol.turns, noise=protocol.noise, seed=seed)
    return {
        part: (X.astype(np.float32) / SPIRAL_SCALE, y.astype(np.int32))
        for part, (X, y) in zip(("train", "validation", "test"), (data.train, data.validation, data.test))
    }


def _identity(X):
    return X


def _hard_features(som, X):
    """The hard map's output, winner coordinates rescaled to [0, 1] like the soft ones."""
    return (som.transform(X) / max(max(som.grid_.shape) - 1, 1)).astype(np.float32)


def build_model(config, X_train, seed, epochs):
    """Build the configuration's Keras model for one seed (fitting its Kohonen map if any).

    The architectures are :mod:`softsom.models`'; SOM outputs are rescaled to
    [0, 1]. An interposed SOM's Kohonen schedule decays over ``epochs`` passes
    over ``X_train``.

    Returns
    -------
    model : keras.Model
        Takes the raw inputs, except for ``output="hard"``: it takes the
        features returned by ``features``.
    features : callable
        Maps raw inputs to the model's inputs (the identity, or the hard map's
        rescaled winner coordinates).
    som : KohonenSOM or None
    """
    features, som = _identity, None
    if config.family == "pure_nn":
        model = models.mlp(2, config.hidden, name=config.name, seed=seed)
    elif config.family == "som_preprocessing":
        som = KohonenSOM(config.grid_shape, random_state=seed).fit(X_train, epochs=config.som_epochs)
        if config.output == "soft":
            model = models.som_preprocessing(som, config.beta, config.hidden, name=config.name, seed=seed, rescale=True)
        else:
            model = models.mlp(len(config.grid_shape), config.hidden, name=config.name, seed=seed)
            features = functools.partial(_hard_features, som)
    elif config.family == "interposed":
        model = models.interposed_som(
            2,
            config.grid_shape,
            config.beta,
            config.hidden,
            config.hidden_after,
            embedding_update=config.embedding_update,
            decay_samples=epochs * len(X_train),
            learning_rate=config.som_learning_rate,
            name=config.name,
            seed=seed,
            rescale=True,
        )
    else:
        raise ValueError(f"config.family must be pure_nn, som_preprocessing or interposed; got {config.family!r}")
    return model, features, som


def learned_parameters(model, som=None):
    """Weights fitted to data, by the optimiser, the Kohonen rule or a Kohonen map fitted beforehand.

    Counters and a never-updated ("frozen") SOM embedding are not learned; the
    embedding of ``som``, the Kohonen map fitted to the inputs, is.
    """
    frozen = {
        layer.embedding.path
        for layer in model.layers
        if isinstance(layer, SoftSOM) and layer.embedding_update == "frozen"
    }
    in_model = sum(np.prod(w.shape) for w in model.weights if "samples_seen" not in w.path and w.path not in frozen)
    return int(in_model + (som.embedding_.size if som is not None else 0))


def _correct(probabilities, y):
    """How many predictions are right. Counted, not averaged: under XLA a float32 mean
    of 194 ones can come out as 0.99999994, and "100% correct" must be exact."""
    predictions = tf.argmax(probabilities, axis=1, output_type=tf.int32)
    return tf.cast(tf.math.count_nonzero(tf.equal(predictions, y)), tf.int32)


class Trainer:
    """Full-batch Adam for one model structure, compiled once and reused across seeds.

    The epochs run inside one compiled TensorFlow loop, and a configuration's
    seeds share one Trainer (tracing costs more than training these small
    models): :meth:`fit` loads the seed's fresh initial weights and zeroes the
    optimizer's state first, which gives the same numbers as a new model and
    optimizer would. Early stopping: the loop keeps a copy of the weights of
    the epoch with the lowest validation loss and restores it at the end.
    """

    def __init__(self, model, learning_rate):
        self.model = model
        self.optimizer = keras.optimizers.Adam(learning_rate)
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy()
        self._best_weights = [tf.Variable(w, trainable=False) for w in model.get_weights()]
        self._best_loss = tf.Variable(np.inf, dtype=tf.float32, trainable=False)
        self._best_epoch = tf.Variable(0, trainable=False)
        self._epochs_to_100 = tf.Variable(-1, trainable=False)
        self._epochs_done = tf.Variable(0, trainable=False)
        self._run = tf.function(self._epochs, jit_compile=True)

    def _epochs(self, x, y, x_val, y_val, count):
        """``count`` epochs; returns their train loss, train correct count, validation loss and count."""
        history = [tf.TensorArray(tf.float32, size=count) for _ in range(4)]
        for i in tf.range(count):
            with tf.GradientTape() as tape:
                probabilities = self.model(x, training=True)
                loss = self.loss_fn(y, probabilities)
            correct = _correct(probabilities, y)
            gradients = tape.gradient(loss, self.model.trainable_variables)
            self.optimizer.apply(gradients, self.model.trainable_variables)
            val_probabilities = self.model(x_val, training=False)
            val_loss = self.loss_fn(y_val, val_probabilities)
            values = (loss, correct, val_loss, _correct(val_probabilities, y_val))
            history = [h.write(i, tf.cast(v, tf.float32)) for h, v in zip(history, values)]
            epoch = self._epochs_done + i
            if self._epochs_to_100 < 0 and correct == tf.size(y):
                self._epochs_to_100.assign(epoch)
            if val_loss < self._best_loss:
                self._best_loss.assign(val_loss)
                self._best_epoch.assign(epoch + 1)
                for best, variable in zip(self._best_weights, self.model.weights):
                    best.assign(variable)
        self._epochs_done.assign_add(count)
        return [h.stack() for h in history]

    def fit(self, initial_weights, data, epochs, checkpoints=(), on_checkpoint=None):
        """Train from ``initial_weights``; end with the weights of the best validation loss.

        Parameters
        ----------
        data : dict
            "train" and "validation" (X, y) pairs, already mapped to the model's inputs.
        checkpoints : sequence of int
            Epochs after which to call ``on_checkpoint(epoch, model)`` (e.g. for
            snapshots); the loop pauses there.

        Returns
        -------
        dict
            Per-epoch "train_loss", "train_accuracy" (measured on the epoch's
            forward pass, before its update), "val_loss", "val_accuracy" (after
            it), "best_epoch" (1-based) and "epochs_to_100" (updates completed
            when the training accuracy first reached 100%, or None).
        """
        self.model.set_weights(initial_weights)
        for variable in self.optimizer.variables:
            if "learning_rate" not in variable.name:
                variable.assign(tf.zeros_like(variable))
        self._best_loss.assign(np.inf)
        self._best_epoch.assign(0)
        self._epochs_to_100.assign(-1)
        self._epochs_done.assign(0)
        tensors = [tf.constant(a) for part in ("train", "validation") for a in data[part]]
        stops = sorted({c for c in checkpoints if 0 < c < epochs} | {epochs})
        pieces, done = [], 0
        for stop in stops:
            pieces.append(self._run(*tensors, tf.constant(stop - done)))
            done = stop
            if on_checkpoint is not None and stop in checkpoints:
                on_checkpoint(stop, self.model)
        history = {
            key: np.concatenate([p[i].numpy() for p in pieces]).astype(np.float64)
            for i, key in enumerate(("train_loss", "train_accuracy", "val_loss", "val_accuracy"))
        }
        history["train_accuracy"] /= len(data["train"][1])
        history["val_accuracy"] /= len(data["validation"][1])
        for best, variable in zip(self._best_weights, self.model.weights):
            variable.assign(best)
        first = int(self._epochs_to_100.numpy())
        return dict(history, best_epoch=int(self._best_epoch.numpy()), epochs_to_100=None if first < 0 else first)


def _log_loss(probabilities, y):
    picked = np.clip(probabilities[np.arange(len(y)), y], 1e-7, 1.0)
    return float(-np.mean(np.log(picked)))


def _trained(config, protocol, seed, data, trainers, epochs, checkpoints=(), on_checkpoint=None):
    """Build the seed's model, train it with the configuration's shared Trainer."""
    keras.utils.set_random_seed(seed)
    model, features, som = build_model(config, data["train"][0], seed, epochs)
    key = (config, epochs)
    if key not in trainers:
        trainers[key] = Trainer(model, protocol.learning_rate)
    trainer = trainers[key]
    mapped = {part: (features(X), y) for part, (X, y) in data.items()}
    history = trainer.fit(model.get_weights(), mapped, epochs, checkpoints, on_checkpoint)
    return trainer.model, features, som, mapped, history


def run_configuration(config, protocol, seed, trainers, checkpoints=(), on_checkpoint=None):
    """Train one configuration on one seed.

    ``trainers`` is a dict shared by the runs (see :class:`Trainer`);
    ``checkpoints`` and ``on_checkpoint`` are passed to :meth:`Trainer.fit`.

    Returns
    -------
    metrics : dict
        JSON-ready numbers: test accuracy and log-loss, validation accuracy,
        training accuracy at the kept epoch, epochs to 100% training accuracy
        (None if never), the kept epoch, parameter counts and seconds.
    details : dict
        The trained model's weights and ``model`` (shared by the configuration's
        seeds: reload the weights before using it), its ``features`` map, its
        Kohonen map, the data and the training history, for figures.
    """
    start = time.perf_counter()
    data = prepare_data(protocol, seed)
    model, features, som, mapped, history = _trained(
        config, protocol, seed, data, trainers, protocol.epochs, checkpoints, on_checkpoint
    )
    probabilities = {part: model(X, training=False).numpy() for part, (X, _) in mapped.items()}
    metrics = {
        "seed": seed,
        "test_accuracy": float(np.mean(probabilities["test"].argmax(axis=1) == mapped["test"][1])),
        "test_log_loss": _log_loss(probabilities["test"], mapped["test"][1]),
        "val_accuracy": float(np.mean(probabilities["validation"].argmax(axis=1) == mapped["validation"][1])),
        "train_accuracy": float(np.mean(probabilities["train"].argmax(axis=1) == mapped["train"][1])),
        "epochs_to_100": history["epochs_to_100"],
        "best_epoch": history["best_epoch"],
        "learned_parameters": learned_parameters(model, som),
        "trainable_parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "seconds": time.perf_counter() - start,
    }
    details = {
        "model": model,
        "weights": model.get_weights(),
        "features": features,
        "som": som,
        "data": data,
        "history": history,
    }
    return metrics, details


def run_classic(config, protocol, seed, trainers):
    """Epochs to 100% training accuracy on the classic 194-point set (Lang & Witbrock 1988).

    The whole set is the training set and there is no held-out data: the
    measure is how many full-batch epochs, within ``protocol.classic_epochs``,
    it takes to classify every point correctly (None if it never does).
    """
    X, y = two_spirals().train
    data = {"train": (X.astype(np.float32) / SPIRAL_SCALE, y.astype(np.int32))}
    data["validation"] = data["train"]
    *_, history = _trained(config, protocol, seed, data, trainers, protocol.classic_epochs)
    return {
        "seed": seed,
        "epochs_to_100": history["epochs_to_100"],
        "final_train_accuracy": float(history["train_accuracy"][-1]),
    }


def run_all(configurations, protocol, seeds, keep_seed=None, checkpoints=(), on_checkpoint_for=None):
    """Run every configuration on every seed.

    Parameters
    ----------
    keep_seed : int, optional
        Keep the trained models and histories of this seed (for figures).
    checkpoints, on_checkpoint_for : sequence of int, dict
        ``{configuration name: callback}``: called as ``callback(epoch, model)``
        after each checkpoint epoch of the ``keep_seed`` run of that
        configuration (e.g. to take snapshots of a SOM as it moves).

    Returns
    -------
    runs : list of (Configuration, list of dict)
        The metrics of every seed, per configuration.
    kept : dict
        ``{configuration name: details}`` for ``keep_seed``.
    histories : dict
        ``{configuration name: [history per seed]}``.
    """
    runs, kept, histories, trainers = [], {}, {}, {}
    for config in configurations:
        metrics = []
        for seed in seeds:
            callback = (on_checkpoint_for or {}).get(config.name) if seed == keep_seed else None
            run, details = run_configuration(
                config, protocol, seed, trainers, checkpoints if callback else (), callback
            )
            metrics.append(run)
            histories.setdefault(config.name, []).append(details["history"])
            if seed == keep_seed:
                kept[config.name] = details
        runs.append((config, metrics))
    return runs, kept, histories


def learned_parameters_of(config):
    """Learned-parameter count of a configuration's model (built once on dummy data)."""
    dummy = np.random.default_rng(0).uniform(-1.0, 1.0, size=(64, 2)).astype(np.float32)
    model, _, som = build_model(config, dummy, seed=0, epochs=1)
    return learned_parameters(model, som)


def matched_pure_nn(config):
    """A one-hidden-layer pure network with about as many learned parameters as ``config``.

    With h tanh units on 2 inputs and 2 classes it has 5h + 2 parameters.
    """
    width = max(1, round((learned_parameters_of(config) - 2) / 5))
    return Configuration(
        f"pure_nn_matched_{config.name}",
        f"pure NN, {width} hidden units: as many parameters as {config.name}",
        "pure_nn",
        hidden=(width,),
    )


def spiral_configurations():
    """The models compared in the spiral chapter, in the order of its table.

    A SOM's beta is set to about 3 / (mean distance between neighbouring
    nodes): 8x8 maps of the scaled inputs have a spacing near 0.165, a chain of
    60 near 0.087, and the interposed 8x8 map ends near 0.6 in its hidden space.
    The interposed SOMs' Kohonen schedules are the layer's defaults.

    Returns
    -------
    main : list of Configuration
    classic : list of Configuration
        The subset run on the classic 194-point task.
    """
    small = Configuration("pure_nn", "pure NN, 8 hidden units", "pure_nn", hidden=(8,))
    large = Configuration("pure_nn_16x16", "pure NN, 16 + 16 hidden units", "pure_nn", hidden=(16, 16))
    pre_soft = Configuration(
        "som_pre_soft",
        "SOM preprocessing: 8x8 map, soft output (beta 18)",
        "som_preprocessing",
        grid_shape=(8, 8),
        beta=18.0,
        som_epochs=10,
    )
    pre_hard = dataclasses.replace(
        pre_soft, name="som_pre_hard", output="hard", description="SOM preprocessing: 8x8 map, hard output"
    )
    pre_chain = dataclasses.replace(
        pre_soft,
        name="som_pre_soft_1d",
        grid_shape=(60,),
        beta=35.0,
        description="SOM preprocessing: chain of 60 nodes, soft output (beta 35)",
    )
    interposed = Configuration(
        "interposed", "interposed SOM 8x8, Kohonen rule (beta 5)", "interposed", grid_shape=(8, 8), beta=5.0
    )
    interposed_chain = dataclasses.replace(
        interposed,
        name="interposed_1d",
        grid_shape=(64,),
        beta=10.0,
        description="interposed SOM, chain of 64, Kohonen rule (beta 10)",
    )
    frozen = dataclasses.replace(
        interposed,
        name="interposed_frozen",
        embedding_update="frozen",
        description="interposed SOM 8x8, random embedding never updated (control)",
    )
    backprop = dataclasses.replace(
        interposed,
        name="interposed_backprop",
        embedding_update="backprop",
        description="interposed SOM 8x8, embedding trained by backprop (extension)",
    )
    sweep = [
        dataclasses.replace(
            interposed,
            name=f"interposed_beta_{beta:g}",
            beta=beta,
            description=f"interposed SOM 8x8, Kohonen rule (beta {beta:g})",
        )
        for beta in (2.0, 20.0)
    ]
    main = [
        small,
        large,
        pre_soft,
        pre_hard,
        pre_chain,
        interposed,
        interposed_chain,
        frozen,
        backprop,
        *sweep,
        matched_pure_nn(pre_soft),
        matched_pure_nn(interposed),
    ]
    return main, [small, large, pre_soft, interposed, backprop]


def som_snapshot(model, X):
    """An interposed SOM as it is now: its layer's input activations for ``X`` and its embedding."""
    layer = model.get_layer("soft_som")
    hidden = keras.Model(model.inputs, layer.input)
    return hidden(X).numpy(), layer.embedding.numpy().copy()


def setup(quick=False, first_seed=0):
    """The protocol and the seeds of a run: 10 seeds in full, 3 and short training in quick mode."""
    if isinstance(first_seed, bool) or not isinstance(first_seed, int) or first_seed < 0:
        raise ValueError(f"first_seed must be an int >= 0; got {first_seed!r}")
    seeds = list(range(first_seed, first_seed + (3 if quick else 10)))
    return (Protocol(epochs=150, classic_epochs=300) if quick else Protocol()), seeds


@dataclasses.dataclass
class SpiralExperiment:
    """What :func:`run_experiment` returns: the results document and what the figures need.

    ``kept`` and ``histories`` are :func:`run_all`'s; ``snapshots`` holds
    ``(epoch, hidden activations, embedding)`` of the interposed SOM of the
    first seed, taken at ``checkpoints``; ``data`` is the first seed's split.
    """

    protocol: Protocol
    seeds: list
    document: dict
    runs: list
    kept: dict
    histories: dict
    snapshots: list
    data: dict


def run_experiment(protocol, seeds, mode, results_path=None):
    """Every configuration on every seed, and the classic task; save the document if ``results_path``.

    Deterministic: ops run deterministically and every run is seeded, so the
    same seeds on the same machine and software give the same numbers.
    """
    tf.config.experimental.enable_op_determinism()
    main_configs, classic_configs = spiral_configurations()
    data = prepare_data(protocol, seeds[0])
    snapshots = []

    def snapshot(epoch, model):
        snapshots.append((epoch, *som_snapshot(model, data["train"][0])))

    checkpoints = [10, 50, protocol.epochs // 4, protocol.epochs]
    runs, kept, histories = run_all(
        main_configs,
        protocol,
        seeds,
        keep_seed=seeds[0],
        checkpoints=checkpoints,
        on_checkpoint_for={"interposed": snapshot},
    )
    trainers = {}
    classic = [
        (config, [run_classic(config, protocol, seed, trainers) for seed in seeds]) for config in classic_configs
    ]
    document = results.document(protocol, seeds, runs, classic, mode)
    if results_path:
        results.save(results_path, document)
    return SpiralExperiment(protocol, seeds, document, runs, kept, histories, snapshots, data)


def main(argv=None):
    """``python -m experiments.spirals [--quick] [--first-seed N] --out PATH``."""
    parser = argparse.ArgumentParser(
        prog="python -m experiments.spirals", description="Run the spiral experiments and write their results file."
    )
    parser.add_argument("--out", type=Path, required=True, help="the results file to write (e.g. results/spiral.json)")
    parser.add_argument("--quick", action="store_true", help="3 seeds and short training, for a fast look")
    parser.add_argument("--first-seed", type=int, default=0, help="the runs use seeds N, N + 1, ... (default 0)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    if out.is_dir() or not out.parent.is_dir():
        parser.error(f"--out must be a file in an existing folder; got {args.out}")
    try:
        protocol, seeds = setup(args.quick, args.first_seed)
    except ValueError as err:
        parser.error(f"--first-seed: {err}")
    start = time.perf_counter()
    experiment = run_experiment(protocol, seeds, "quick" if args.quick else "full", out)
    n_configs = len(experiment.document["configurations"])
    print(
        f"{n_configs} configurations x {len(seeds)} seeds and {len(experiment.document['classic'])} on the "
        f"classic task in {time.perf_counter() - start:.0f} s; written to {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
