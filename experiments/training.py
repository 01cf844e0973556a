"""Training the spiral contenders: data, models, the compiled full-batch loop, one run.

A run is one configuration and one seed; the seed sets everything random in it
(the data sample and its split, the network's initial weights, the Kohonen
map's initialisation and sample order), so runs with the same seed are paired
across configurations. Training is full-batch Adam; every run keeps the weights
of the epoch of best validation accuracy, ties broken by the lower validation
loss (the *best-validation checkpoint*), and, when its configuration has a
``patience``, stops once that many epochs have passed without a new best (early
stopping). Accuracy, not loss, decides: on these small sets the validation
log-loss of a network that keeps fitting its training points rises (a few
confident mistakes) while its validation accuracy still improves, so the
lowest-loss epoch is often one near the start, close to chance.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import keras
import numpy as np
import tensorflow as tf

from softsom import models
from softsom.datasets import two_spirals
from softsom.kohonen import KohonenSOM
from softsom.layers import SoftSOM

__all__ = [
    "SPIRAL_SCALE",
    "Protocol",
    "Configuration",
    "Trainer",
    "prepare_data",
    "classic_data",
    "build_model",
    "learned_parameters",
    "run_configuration",
    "run_classic",
    "run_all",
    "som_output",
    "som_snapshot",
]

SPIRAL_SCALE = 6.5  # the spirals' outer radius: inputs are divided by it
CHUNK = 100  # epochs per compiled call; early stopping is checked between calls


@dataclasses.dataclass(frozen=True)
class Protocol:
    """What every run shares: the data and the caps on training."""

    n_per_class: int = 150
    turns: float = 2.0
    noise: float = 0.15
    max_epochs: int = 6000
    classic_epochs: int = 10000


@dataclasses.dataclass(frozen=True)
class Configuration:
    """One contender's model and training.

    ``family`` is "pure_nn" (Dense layers ``hidden``; a bottleneck is a narrow
    layer among them), "som_preprocessing" (a Kohonen map fitted to the
    inputs, its ``output`` ("soft" or "hard") fed to Dense layers ``hidden``)
    or "interposed" (Dense ``hidden`` -> soft SOM -> Dense ``hidden_after``).
    SOM outputs are rescaled to [0, 1] per grid axis. Training runs for
    ``epochs`` epochs, or stops ``patience`` epochs after the last new best
    checkpoint; an interposed Kohonen map's learning rate and radius
    decay over ``som_decay_epochs`` passes over the training set (``epochs``
    if None).
    """

    name: str
    description: str
    family: str
    hidden: tuple = (8,)
    hidden_after: tuple = (8,)
    activation: str = "tanh"
    learning_rate: float = 0.02
    epochs: int = 600
    patience: int | None = None
    grid_shape: tuple | None = None
    beta: float | None = None
    output: str = "soft"
    embedding_update: str = "kohonen"
    som_epochs: int = 5
    som_learning_rate: tuple = (0.1, 0.01)
    som_decay_epochs: int | None = None

    def settings(self):
        """The configuration as plain JSON-ready values."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_settings(cls, settings):
        """The configuration :meth:`settings` describes."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(settings) - fields
        if unknown:
            raise ValueError(f"settings has unknown fields {sorted(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()})


def prepare_data(protocol, seed):
    """The seed's two-spirals sample, split 60/20/20, inputs scaled to about [-1, 1]."""
    data = two_spirals(protocol.n_per_class, turns=protocol.turns, noise=protocol.noise, seed=seed)
    return {
        part: (X.astype(np.float32) / SPIRAL_SCALE, y.astype(np.int32))
        for part, (X, y) in zip(("train", "validation", "test"), (data.train, data.validation, data.test))
    }


def classic_data():
    """Lang and Witbrock's 194 points, scaled like the generated sets."""
    X, y = two_spirals().train
    return X.astype(np.float32) / SPIRAL_SCALE, y.astype(np.int32)


def _identity(X):
    return X


def _hard_features(som, X):
    """The hard map's output, winner coordinates rescaled to [0, 1] like the soft ones."""
    return (som.transform(X) / max(max(som.grid_.shape) - 1, 1)).astype(np.float32)


def build_model(config, X_train, seed):
    """Build the configuration's Keras model for one seed (fitting its Kohonen map if any).

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
    kwargs = dict(activation=config.activation, name=config.name, seed=seed)
    if config.family == "pure_nn":
        model = models.mlp(2, config.hidden, **kwargs)
    elif config.family == "som_preprocessing":
        som = KohonenSOM(config.grid_shape, random_state=seed, epochs=config.som_epochs).fit(X_train)
        if config.output == "soft":
            model = models.som_preprocessing(som, config.beta, config.hidden, rescale=True, **kwargs)
        else:
            model = models.mlp(len(config.grid_shape), config.hidden, **kwargs)
            features = functools.partial(_hard_features, som)
    elif config.family == "interposed":
        decay_epochs = config.som_decay_epochs or config.epochs
        model = models.interposed_som(
            2,
            config.grid_shape,
            config.beta,
            config.hidden,
            config.hidden_after,
            embedding_update=config.embedding_update,
            decay_samples=decay_epochs * len(X_train),
            learning_rate=config.som_learning_rate,
            rescale=True,
            **kwargs,
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


HISTORY = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_accuracy")


class Trainer:
    """Full-batch Adam for one model structure, compiled once and reused across seeds.

    The epochs run inside compiled TensorFlow loops of :data:`CHUNK` epochs,
    and a configuration's seeds share one Trainer (tracing costs more than
    training these small models): :meth:`fit` loads the seed's fresh initial
    weights and zeroes the optimizer's state first, which gives the same
    numbers as a new model and optimizer would. The loop keeps a copy of the
    weights of the best-validation checkpoint (see the module's docstring) and
    restores it at the end; test accuracy is recorded every epoch for the learning curves only.
    With ``held_out=False`` (a task whose only data is its training set) the
    loop evaluates nothing beyond the training pass: the validation and test
    values it records are the training pass's.
    """

    def __init__(self, model, learning_rate, held_out=True):
        self.model = model
        self.held_out = held_out
        self.optimizer = keras.optimizers.Adam(learning_rate)
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy()
        self._best_weights = [tf.Variable(w, trainable=False) for w in model.get_weights()]
        self._best_loss = tf.Variable(np.inf, dtype=tf.float32, trainable=False)
        self._best_correct = tf.Variable(-1, trainable=False)
        self._best_epoch = tf.Variable(0, trainable=False)
        self._epochs_to_100 = tf.Variable(-1, trainable=False)
        self._epochs_done = tf.Variable(0, trainable=False)
        self._run = tf.function(self._epochs, jit_compile=True)

    def _epochs(self, x, y, x_val, y_val, x_test, y_test, count):
        """``count`` epochs; returns the per-epoch values named in :data:`HISTORY` (accuracies as counts)."""
        history = [tf.TensorArray(tf.float32, size=count) for _ in HISTORY]
        for i in tf.range(count):
            with tf.GradientTape() as tape:
                probabilities = self.model(x, training=True)
                loss = self.loss_fn(y, probabilities)
            correct = _correct(probabilities, y)
            gradients = tape.gradient(loss, self.model.trainable_variables)
            self.optimizer.apply(gradients, self.model.trainable_variables)
            if self.held_out:
                val_probabilities = self.model(x_val, training=False)
                val_loss = self.loss_fn(y_val, val_probabilities)
                val_correct = _correct(val_probabilities, y_val)
                test_correct = _correct(self.model(x_test, training=False), y_test)
            else:
                val_loss, val_correct, test_correct = loss, correct, correct
            values = (loss, correct, val_loss, val_correct, test_correct)
            history = [h.write(i, tf.cast(v, tf.float32)) for h, v in zip(history, values)]
            epoch = self._epochs_done + i
            if self._epochs_to_100 < 0 and correct == tf.size(y):
                self._epochs_to_100.assign(epoch)
            # The checkpoint: the best validation accuracy, ties broken by the lower validation loss.
            if val_correct > self._best_correct or (val_correct == self._best_correct and val_loss < self._best_loss):
                self._best_correct.assign(val_correct)
                self._best_loss.assign(val_loss)
                self._best_epoch.assign(epoch + 1)
                for best, variable in zip(self._best_weights, self.model.weights):
                    best.assign(variable)
        self._epochs_done.assign_add(count)
        return [h.stack() for h in history]

    def fit(self, initial_weights, data, epochs, patience=None, checkpoints=(), on_checkpoint=None):
        """Train from ``initial_weights``; end with the weights of the best-validation checkpoint.

        Parameters
        ----------
        data : dict
            "train", "validation" and "test" (X, y) pairs, already mapped to the model's inputs.
        epochs : int
            The most epochs to run.
        patience : int or None
            Stop once this many epochs have passed since the best checkpoint
            (checked every :data:`CHUNK` epochs, and only then); None: run all ``epochs``.
        checkpoints : sequence of int
            Epochs after which to call ``on_checkpoint(epoch, model)`` (e.g. for
            snapshots); the loop pauses there.

        Returns
        -------
        dict
            Per-epoch :data:`HISTORY` ("train_accuracy" measured on the epoch's
            forward pass, before its update; the others after it),
            "best_epoch" (1-based), "epochs_run" and "epochs_to_100" (updates
            completed when the training accuracy first reached 100%, or None).
        """
        self.model.set_weights(initial_weights)
        for variable in self.optimizer.variables:
            if "learning_rate" not in variable.name:
                variable.assign(tf.zeros_like(variable))
        self._best_loss.assign(np.inf)
        self._best_correct.assign(-1)
        self._best_epoch.assign(0)
        self._epochs_to_100.assign(-1)
        self._epochs_done.assign(0)
        tensors = [tf.constant(a) for part in ("train", "validation", "test") for a in data[part]]
        stops = sorted({c for c in checkpoints if 0 < c < epochs} | set(range(CHUNK, epochs, CHUNK)) | {epochs})
        pieces, done = [], 0
        for stop in stops:
            pieces.append(self._run(*tensors, tf.constant(stop - done)))
            done = stop
            if on_checkpoint is not None and stop in checkpoints:
                on_checkpoint(stop, self.model)
            # Early stopping is decided every CHUNK epochs only, never at a checkpoint: a run
            # with snapshots must stop where the same run without them does.
            if patience is not None and done % CHUNK == 0 and done - int(self._best_epoch.numpy()) >= patience:
                break
        history = {
            key: np.concatenate([p[i].numpy() for p in pieces]).astype(np.float64) for i, key in enumerate(HISTORY)
        }
        for key, part in (("train_accuracy", "train"), ("val_accuracy", "validation"), ("test_accuracy", "test")):
            history[key] /= len(data[part][1])
        for best, variable in zip(self._best_weights, self.model.weights):
            variable.assign(best)
        first = int(self._epochs_to_100.numpy())
        return dict(
            history,
            best_epoch=int(self._best_epoch.numpy()),
            epochs_run=done,
            epochs_to_100=None if first < 0 else first,
        )


def _log_loss(probabilities, y):
    picked = np.clip(probabilities[np.arange(len(y)), y], 1e-7, 1.0)
    return float(-np.mean(np.log(picked)))


def _accuracy(probabilities, y):
    return float(np.mean(probabilities.argmax(axis=1) == y))


def _trained(config, seed, data, trainers, epochs, patience, checkpoints=(), on_checkpoint=None, held_out=True):
    """Build the seed's model, train it with the configuration's shared Trainer."""
    keras.utils.set_random_seed(seed)
    model, features, som = build_model(config, data["train"][0], seed)
    key = (config, len(data["train"][0]), held_out)  # an interposed map's schedule depends on the training-set size
    if key not in trainers:
        trainers[key] = Trainer(model, config.learning_rate, held_out)
    trainer = trainers[key]
    mapped = {part: (features(X), y) for part, (X, y) in data.items()}
    history = trainer.fit(model.get_weights(), mapped, epochs, patience, checkpoints, on_checkpoint)
    return trainer.model, features, som, mapped, history


def run_configuration(config, protocol, seed, trainers, checkpoints=(), on_checkpoint=None, epochs=None):
    """Train one configuration on one seed's data.

    ``trainers`` is a dict shared by the runs (see :class:`Trainer`);
    ``checkpoints`` and ``on_checkpoint`` are passed to :meth:`Trainer.fit`.
    ``epochs``, if given, replaces the configuration's budget and turns early
    stopping off (a fixed budget, for the budget study).

    Returns
    -------
    metrics : dict
        JSON-ready numbers: test accuracy and log-loss, validation accuracy and
        log-loss, training accuracy at the kept epoch, epochs to 100% training
        accuracy (None if never), the kept epoch, the epochs run, parameter
        counts and seconds.
    details : dict
        The trained model's weights and ``model`` (shared by the configuration's
        seeds: reload the weights before using it), its ``features`` map, its
        Kohonen map, the data and the training history, for figures.
    """
    start = time.perf_counter()
    data = prepare_data(protocol, seed)
    budget, patience = (config.epochs, config.patience) if epochs is None else (epochs, None)
    model, features, som, mapped, history = _trained(
        config, seed, data, trainers, budget, patience, checkpoints, on_checkpoint
    )
    probabilities = {part: model(X, training=False).numpy() for part, (X, _) in mapped.items()}
    metrics = {
        "seed": seed,
        "test_accuracy": _accuracy(probabilities["test"], mapped["test"][1]),
        "test_log_loss": _log_loss(probabilities["test"], mapped["test"][1]),
        "val_accuracy": _accuracy(probabilities["validation"], mapped["validation"][1]),
        "val_log_loss": _log_loss(probabilities["validation"], mapped["validation"][1]),
        "train_accuracy": _accuracy(probabilities["train"], mapped["train"][1]),
        "epochs_to_100": history["epochs_to_100"],
        "best_epoch": history["best_epoch"],
        "epochs_run": history["epochs_run"],
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
    X, y = classic_data()
    data = dict.fromkeys(("train", "validation", "test"), (X, y))
    *_, history = _trained(config, seed, data, trainers, protocol.classic_epochs, patience=None, held_out=False)
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
            chosen = checkpoints if callback else ()
            run, details = run_configuration(config, protocol, seed, trainers, chosen, callback)
            metrics.append(run)
            histories.setdefault(config.name, []).append(details["history"])
            if seed == keep_seed:
                kept[config.name] = details
        runs.append((config, metrics))
    return runs, kept, histories


def som_output(model, X):
    """The soft SOM layer's grid-coordinate output for raw inputs ``X`` (before any rescaling)."""
    layer = model.get_layer("soft_som")
    return keras.Model(model.input, layer.output)(X).numpy()


def som_snapshot(model, X):
    """An interposed SOM as it is now: its layer's input activations for ``X`` and its embedding."""
    layer = model.get_layer("soft_som")
    hidden = keras.Model(model.input, layer.input)
    return hidden(X).numpy(), layer.embedding.numpy().copy()
