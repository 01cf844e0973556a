"""Kohonen's self-organizing map, trained by the classical online rule.

Each sample ``x`` is shown to the map in turn. The node nearest to it, the
*winner* ``w``, and its neighbours on the grid move towards it::

    l_v <- l_v + eta(t) * h(d(w, v), sigma(t)) * (x - l_v)

where ``d`` is the graph (hop) distance on the grid, ``h`` the neighbourhood
function and ``t`` the number of samples seen so far. The learning rate
``eta`` and the radius ``sigma`` decay geometrically from their start to their
end value over ``decay_samples`` samples, then stay at the end value::

    value(t) = start * (end / start) ** min(t / decay_samples, 1)

The per-sample loop runs as one XLA-compiled TensorFlow loop per pass over the
data.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from .grid import Grid
from .validation import check_positive_int

__all__ = ["KohonenSOM", "neighbourhood", "decay"]

NEIGHBOURHOODS = ("exponential", "gaussian")
INITS = ("uniform", "sample", "pca")


def neighbourhood(distance, sigma, kind="exponential"):
    """How strongly a node at graph distance ``distance`` from the winner moves.

    Parameters
    ----------
    distance : array_like
        Graph distance to the winner.
    sigma : float
        Radius, > 0.
    kind : {"exponential", "gaussian"}
        ``exp(-d / sigma)`` (the slides' die-off, exponential in graph
        distance) or ``exp(-d**2 / (2 sigma**2))``.
    """
    if kind not in NEIGHBOURHOODS:
        raise ValueError(f"kind must be one of {NEIGHBOURHOODS}; got {kind!r}")
    distance = np.asarray(distance, dtype=np.float64)
    if kind == "exponential":
        return np.exp(-distance / sigma)
    return np.exp(-np.square(distance) / (2.0 * sigma**2))


def decay(start, end, t, horizon):
    """Geometric decay from ``start`` (t = 0) to ``end`` (t >= horizon)."""
    fraction = np.minimum(np.asarray(t, dtype=np.float64) / horizon, 1.0)
    return start * (end / start) ** fraction


def _check_pair(name, value, upper=None):
    """Validate a (start, end) schedule of positive floats."""
    try:
        start, end = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (start, end) pair of floats; got {value!r}") from None
    for v in (start, end):
        if not np.isfinite(v) or v <= 0 or (upper is not None and v > upper):
            bound = f"in (0, {upper}]" if upper is not None else "positive and finite"
            raise ValueError(f"{name} values must be {bound}; got {value!r}")
    return start, end


def _check_data(X, n_features=None):
    """Return ``X`` as a finite float64 array of shape (N, n), N >= 1."""
    try:
        X = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("X must be a 2-D array of numbers") from None
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (samples, features); got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X must hold at least one sample and one feature; got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinity")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} features, but the map was fitted with {n_features}"
        )
    return X


def tf_decay(schedule, t, horizon, dtype):
    """:func:`decay` in TensorFlow: ``schedule`` is a float64 (start, end) pair.

    Evaluated in float64 so that large sample counts ``t`` stay exact.
    """
    fraction = tf.minimum(tf.cast(t, tf.float64) / tf.cast(horizon, tf.float64), 1.0)
    return tf.cast(schedule[0] * (schedule[1] / schedule[0]) ** fraction, dtype)


def tf_neighbourhood(hops, sigma, gaussian):
    """:func:`neighbourhood` in TensorFlow; ``gaussian`` is a Python bool."""
    if gaussian:
        return tf.exp(-tf.square(hops) / (2.0 * sigma * sigma))
    return tf.exp(-hops / sigma)


# Plain graph code, no AutoGraph: with AutoGraph's conversion XLA recompiled the
# loop for every new `samples` content (0.2 s a call), not just for new shapes.
@tf.function(jit_compile=True, reduce_retracing=True, autograph=False)
def _online_pass(embedding, samples, coords, t0, horizon, rate, radius, gaussian):
    """Show ``samples`` to the map one at a time; return the new embedding."""

    def step(i, embedding):
        x = tf.gather(samples, i)
        winner = tf.argmin(tf.reduce_sum(tf.square(embedding - x), axis=1))
        t = t0 + tf.cast(i, tf.float64)
        eta = tf_decay(rate, t, horizon, embedding.dtype)
        sigma = tf_decay(radius, t, horizon, embedding.dtype)
        hops = tf.reduce_sum(tf.abs(coords - tf.gather(coords, winner)), axis=1)
        h = tf_neighbourhood(hops, sigma, gaussian)
        return i + 1, embedding + (eta * h)[:, None] * (x - embedding)

    _, embedding = tf.while_loop(
        lambda i, _: i < tf.shape(samples)[0], step, (tf.constant(0), embedding)
    )
    return embedding


class KohonenSOM:
    """Kohonen's self-organizing map with the online training rule.

    Parameters
    ----------
    grid : Grid or tuple of int
        The grid graph (a shape is turned into a :class:`Grid`).
    learning_rate : (float, float), default (0.5, 0.01)
        Start and end of the learning rate eta, each in (0, 1].
    sigma : (float, float) or None, default None
        Start and end of the neighbourhood radius, in graph-distance units.
        None means ``(max(1, max(grid.shape) / 4), 0.5)``.
    neighbourhood : {"exponential", "gaussian"}, default "exponential"
        ``exp(-d / sigma)``, as on the slides, or ``exp(-d**2 / (2 sigma**2))``.
    init : {"uniform", "sample", "pca"} or array of shape (K, n), default "uniform"
        How the grid is first embedded into input space: uniformly at random
        in the data's bounding box ("embed into input space randomly"),
        at K randomly drawn samples, on the plane of the leading principal
        components, or at the given positions.
    decay_samples : int or None, default None
        Number of samples over which the schedules decay. None means all the
        samples of the call to :meth:`fit` (``epochs * len(X)``);
        :meth:`partial_fit` needs it set.
    random_state : int, numpy Generator or None
        Seeds the initialisation and the order in which samples are shown.

    Attributes
    ----------
    embedding_ : ndarray of shape (K, n), float32
        Position ``l_v`` of every node in input space.
    n_samples_seen_ : int
        Samples shown so far; the ``t`` of the schedules.
    n_features_in_ : int
    decay_samples_ : int
        The resolved schedule horizon.
    sigma_ : (float, float)
        The resolved radius schedule.
    """

    def __init__(
        self,
        grid,
        *,
        learning_rate=(0.5, 0.01),
        sigma=None,
        neighbourhood="exponential",
        init="uniform",
        decay_samples=None,
        random_state=None,
    ):
        self.grid = grid
        self.learning_rate = learning_rate
        self.sigma = sigma
        self.neighbourhood = neighbourhood
        self.init = init
        self.decay_samples = decay_samples
        self.random_state = random_state

    # -- training ---------------------------------------------------------
    def fit(self, X, epochs=1):
        """Initialise the map from ``X`` and train it for ``epochs`` passes.

        Each pass shows every sample once, in a fresh random order.

        Returns
        -------
        self
        """
        epochs = check_positive_int("epochs", epochs)
        X = _check_data(X)
        self._setup(X, default_horizon=epochs * len(X))
        for _ in range(epochs):
            self._train_pass(X)
        return self

    def initialize(self, X):
        """Embed the grid into input space from ``X`` without training.

        This is the first step of :meth:`fit`; it also restarts the random
        number generator from ``random_state``.

        Returns
        -------
        self
        """
        self._setup(_check_data(X), default_horizon=None)
        return self

    def partial_fit(self, X):
        """Show every sample of ``X`` once, in random order, continuing training.

        The first call initialises the map from ``X``. The schedules continue
        from ``n_samples_seen_``, so ``decay_samples`` must be set.

        Returns
        -------
        self
        """
        if not hasattr(self, "embedding_"):
            self.initialize(X)
        if self.decay_samples_ is None:
            raise ValueError(
                "decay_samples must be set to use partial_fit: it is the number of "
                "samples over which the learning rate and radius decay"
            )
        self._train_pass(_check_data(X, self.n_features_in_))
        return self

    def _setup(self, X, default_horizon):
        self.grid_ = self.grid if isinstance(self.grid, Grid) else Grid(self.grid)
        self.learning_rate_ = _check_pair("learning_rate", self.learning_rate, upper=1.0)
        default_sigma = (max(1.0, max(self.grid_.shape) / 4), 0.5)
        self.sigma_ = _check_pair("sigma", default_sigma if self.sigma is None else self.sigma)
        if self.neighbourhood not in NEIGHBOURHOODS:
            raise ValueError(
                f"neighbourhood must be one of {NEIGHBOURHOODS}; got {self.neighbourhood!r}"
            )
        if self.decay_samples is not None:
            default_horizon = check_positive_int("decay_samples", self.decay_samples)
        self.decay_samples_ = default_horizon
        self._rng = np.random.default_rng(self.random_state)
        self.n_features_in_ = X.shape[1]
        self.embedding_ = self._initial_embedding(X).astype(np.float32)
        self.n_samples_seen_ = 0

    def _initial_embedding(self, X):
        K, n = self.grid_.size, X.shape[1]
        if isinstance(self.init, str):
            if self.init not in INITS:
                raise ValueError(f"init must be one of {INITS} or an array; got {self.init!r}")
            if self.init == "uniform":
                return self._rng.uniform(X.min(axis=0), X.max(axis=0), size=(K, n))
            if self.init == "sample":
                return X[self._rng.choice(len(X), size=K, replace=len(X) < K)]
            return self._pca_embedding(X)
        init = np.asarray(self.init, dtype=np.float64)
        if init.shape != (K, n):
            raise ValueError(f"init array must have shape (K, n) = {(K, n)}; got {init.shape}")
        if not np.all(np.isfinite(init)):
            raise ValueError("init array contains NaN or infinity")
        return init.copy()

    def _pca_embedding(self, X):
        """Spread the grid over the plane of the leading principal components.

        Grid axis a spans +-sqrt(3) standard deviations along component a (the
        extent of a uniform distribution of that spread); axes beyond the
        data's rank stay at the mean.
        """
        mean = X.mean(axis=0)
        _, singular, components = np.linalg.svd(X - mean, full_matrices=False)
        spread = np.sqrt(3.0) * singular / np.sqrt(len(X))
        embedding = np.tile(mean, (self.grid_.size, 1))
        for axis, extent in enumerate(self.grid_.shape[: len(singular)]):
            position = self.grid_.coords[:, axis] / max(extent - 1, 1) * 2.0 - 1.0
            embedding += np.outer(position * spread[axis], components[axis])
        return embedding

    def _train_pass(self, X):
        order = self._rng.permutation(len(X))
        embedding = _online_pass(
            tf.constant(self.embedding_),
            tf.constant(X[order], dtype=tf.float32),
            tf.constant(self.grid_.coords),
            tf.constant(float(self.n_samples_seen_), tf.float64),
            tf.constant(float(self.decay_samples_), tf.float64),
            tf.constant(self.learning_rate_, tf.float64),
            tf.constant(self.sigma_, tf.float64),
            self.neighbourhood == "gaussian",
        )
        self.embedding_ = embedding.numpy()
        self.n_samples_seen_ += len(X)

    # -- schedules ---------------------------------------------------------
    def schedule(self, t):
        """Learning rate and radius after ``t`` samples: ``(eta(t), sigma(t))``."""
        self._check_fitted()
        if self.decay_samples_ is None:
            raise ValueError("no schedule yet: set decay_samples or call fit(X)")
        return (
            decay(*self.learning_rate_, t, self.decay_samples_),
            decay(*self.sigma_, t, self.decay_samples_),
        )

    # -- using the map -----------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "embedding_"):
            raise ValueError("this KohonenSOM is not fitted yet: call fit(X) first")

    def _squared_distances(self, X):
        """[N, K] squared distances from each sample to each node, float64."""
        self._check_fitted()
        X = _check_data(X, self.n_features_in_)
        L = self.embedding_.astype(np.float64)
        d2 = (X**2).sum(axis=1)[:, None] - 2.0 * X @ L.T + (L**2).sum(axis=1)[None, :]
        return np.maximum(d2, 0.0)

    def winner(self, X):
        """Index of the nearest node for every sample, shape (N,)."""
        return np.argmin(self._squared_distances(X), axis=1)

    def transform(self, X):
        """The SOM's output: grid coordinates of each sample's winner, shape (N, m)."""
        winners = self.winner(X)
        return self.grid_.coords[winners]

    def quantization_error(self, X):
        """Mean Euclidean distance from each sample to its winner's embedding."""
        d2 = self._squared_distances(X)
        return float(np.sqrt(d2.min(axis=1)).mean())

    def topographic_error(self, X):
        """Fraction of samples whose best and second-best nodes are not adjacent.

        Adjacent means graph distance 1. A map with a single node has no
        second-best node and a topographic error of 0.
        """
        d2 = self._squared_distances(X)
        if d2.shape[1] < 2:
            return 0.0
        best_two = np.argsort(d2, axis=1, kind="stable")[:, :2]
        coords = self.grid_.coords
        hops = np.abs(coords[best_two[:, 0]] - coords[best_two[:, 1]]).sum(axis=1)
        return float(np.mean(hops > 1))

    def __repr__(self):
        return f"KohonenSOM(grid={self.grid!r}, neighbourhood={self.neighbourhood!r})"
