"""Kohonen's self-organizing map: the classical online rule and the batch map.

Online rule (``mode="online"``)
    Each sample ``x`` is shown to the map in turn. The node nearest to it,
    the *winner* ``w``, and its neighbours on the grid move towards it::

        l_v <- l_v + eta(t) * h(d(w, v), sigma(t)) * (x - l_v)

    where ``d`` is the graph (hop) distance on the grid, ``h`` the
    neighbourhood function and ``t`` the number of samples seen so far.

Batch map (``mode="batch"``)
    Every epoch, with the winners ``w(x)`` of all samples under the current
    embedding, every node moves to the neighbourhood-weighted mean of the
    samples::

        l_v <- sum_x h(d(w(x), v), sigma(t)) x / sum_x h(d(w(x), v), sigma(t))

    With ``batch_size`` set, the mini-batch Kohonen rule of
    :class:`~softsom.SoftSOM` is applied to one mini-batch after another
    instead.

The learning rate ``eta`` and the radius ``sigma`` decay geometrically from
their start to their end value over ``decay_samples`` samples, then stay at
the end value::

    value(t) = start * (end / start) ** min(t / decay_samples, 1)

The online rule runs as one XLA-compiled TensorFlow loop per pass over the
data, the batch map as one compiled loop over all epochs, mini-batches as one
per epoch; the batch modes split their work across the replicas of a
:mod:`tf.distribute` strategy when there is one.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import tensorflow as tf

from ._kohonen_tf import (
    NEIGHBOURHOODS,
    sum_over_replicas,
    tf_decay,
    tf_hops,
    tf_kohonen_increment,
    tf_neighbourhood,
    tf_neighbourhood_sums,
    tf_winners,
)
from ._validation import FLOAT32, as_real_array, check_pair, check_positive_int, rng_from_seed
from .grid import Grid

__all__ = ["KohonenSOM", "neighbourhood", "decay"]

INITS = ("uniform", "sample", "pca")
MODES = ("online", "batch")
# Defaults of the batch map: the epochs of fit(X) and the end of the radius
# schedule, chosen so that the batch map's quantization and topographic
# errors come close to those of one online epoch with the online defaults.
# The radius starts at half the grid's extent, twice the online rule's start:
# the batch map's fewer, larger steps need it to unfold. Fewer epochs leave
# more folds; a radius ending lower makes the map k-means (folds), higher
# blurs it (quantization error).
BATCH_EPOCHS = 20
BATCH_SIGMA_END = 0.7
# The smallest radius: sigma**2 (the Gaussian neighbourhood's denominator)
# stays a normal float32 number.
SMALLEST_SIGMA = 1e-18


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


def _largest_value(n_features):
    """The largest magnitude of a value that training accepts, for data of ``n_features`` features.

    The training loops compute squared distances in float32:
    ``sqrt(float32 max / (16 n))`` keeps every squared distance between
    samples and nodes (and the winner products) at most a quarter of
    float32's largest value, for about 2.7e18 at n = 3. Larger data would
    overflow to infinity there; rescale them first.
    """
    return float(np.sqrt(FLOAT32.max / (16 * n_features)))


def _check_range(name, values, n_features):
    """Reject values too large for the float32 training loops (see :func:`_largest_value`)."""
    limit = _largest_value(n_features)
    largest = float(np.abs(values).max()) if values.size else 0.0
    if largest > limit:
        raise ValueError(
            f"{name} values must be at most {limit:.3g} in magnitude for {n_features} features, so that squared "
            f"distances fit float32 (the training's dtype); got {largest:.3g}: rescale the data"
        )


def _check_data(X, n_features=None, allow_empty=False, training=False, drop_non_finite=False):
    """Return ``X`` as a finite float64 array of shape (N, n), N >= 1 unless ``allow_empty``.

    ``training``: also within :func:`_largest_value`. ``drop_non_finite``:
    rows holding NaN or infinity are left out instead of rejected; returns
    ``(X, number of rows left out)`` (X may then be empty).
    """
    # Only real numbers: NumPy would silently parse strings of digits, drop the
    # imaginary part of complex data with a mere warning, and reject ragged
    # lists with a message that names no argument.
    X = as_real_array("X", X)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (samples, features); got shape {X.shape}")
    if (X.shape[0] == 0 and not allow_empty) or X.shape[1] == 0:
        raise ValueError(f"X must hold at least one sample and one feature; got shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features, but the map was fitted with {n_features}")
    finite = np.all(np.isfinite(X), axis=1)
    skipped = int(len(X) - finite.sum())
    if skipped and not drop_non_finite:
        raise ValueError("X contains NaN or infinity")
    if skipped:
        X = X[finite]
    if training:
        _check_range("X", X, X.shape[1])
    return (X, skipped) if drop_non_finite else X


# --- the training loops --------------------------------------------------------


# Plain graph code, no AutoGraph: with AutoGraph's conversion XLA recompiles the
# loop for every new `samples` content, not just for new shapes. The schedules
# are computed for all steps at once.
#
# Each step costs one pass over the [K, n] map for the winner and one for the
# update. For n > PRODUCT_WINNERS_ABOVE the winner minimises ||l_v||^2 - 2 x . l_v
# (||x||^2 is common to all nodes), whose products x . l_v are one
# matrix-vector product, and the squared norms ||l_v||^2 are carried from step
# to step instead of summed again, by the exact identity for l' = l + a (x - l),
# a = eta h:
#
#     ||l'||^2 = (1 - a)^2 ||l||^2 + 2 a (1 - a) x . l + a^2 ||x||^2
#
# (1.5 times faster per step than summing squared differences at n = 64). The
# recursion contracts the rounding of a node's norm by (1 - a)^2 whenever the
# node moves and adds none while it does not, so it stays within a few ulps
# (exact norms at the start of every pass). Data and map are centred on the
# data's mean, so that the products see the data's spread, not their offset;
# winners can differ from those of the squared differences only between nodes
# tied to the products' rounding, about eps32 (|x| + |l|)^2 centred. For
# smaller n the squared differences are summed (the map kept transposed,
# [n, K], so that the sum runs vectorised across nodes), which is faster there.
# Up to HOP_MATRIX_NODES nodes, the graph distances from the winner are a row
# of the [K, K] hop matrix, computed once per pass.
PRODUCT_WINNERS_ABOVE = 4
HOP_MATRIX_NODES = 1024


@tf.function(jit_compile=True, reduce_retracing=True, autograph=False)
def _online_pass(embedding, samples, coords, t0, horizon, rate, radius, gaussian):
    """Show ``samples`` to the map one at a time; return the new embedding."""
    t = t0 + tf.cast(tf.range(tf.shape(samples)[0]), tf.float64)
    rates = tf_decay(rate, t, horizon, embedding.dtype)
    radii = tf_decay(radius, t, horizon, embedding.dtype)
    n, nodes_count = samples.shape[1], embedding.shape[0]
    if nodes_count is not None and nodes_count <= HOP_MATRIX_NODES:
        hop_matrix = tf_hops(coords, tf.range(nodes_count))
    else:
        hop_matrix = None

    def neighbourhood(i, winner):
        if hop_matrix is not None:
            hops = tf.gather(hop_matrix, winner)
        else:
            hops = tf.reduce_sum(tf.abs(coords - tf.gather(coords, winner)), axis=1)
        return tf.gather(rates, i) * tf_neighbourhood(hops, tf.gather(radii, i), gaussian)

    def more(i, *_):
        return i < tf.shape(samples)[0]

    if n is not None and n <= PRODUCT_WINNERS_ABOVE:

        def difference_step(i, nodes):
            x = tf.gather(samples, i)[:, None]
            winner = tf.argmin(tf.reduce_sum(tf.square(nodes - x), axis=0))
            return i + 1, nodes + neighbourhood(i, winner) * (x - nodes)

        _, nodes = tf.while_loop(more, difference_step, (tf.constant(0), tf.transpose(embedding)))
        return tf.transpose(nodes)

    offset = tf.reduce_mean(samples, axis=0)
    samples = samples - offset
    squared_samples = tf.reduce_sum(samples * samples, axis=1)

    def product_step(i, nodes, squared_norms):
        x = tf.gather(samples, i)
        products = tf.linalg.matvec(nodes, x)
        a = neighbourhood(i, tf.argmin(squared_norms - 2.0 * products))
        keep = 1.0 - a
        squared_norms = keep * keep * squared_norms + 2.0 * a * keep * products + a * a * tf.gather(squared_samples, i)
        return i + 1, nodes + a[:, None] * (x - nodes), squared_norms

    start = embedding - offset
    _, nodes, _ = tf.while_loop(more, product_step, (tf.constant(0), start, tf.reduce_sum(start * start, axis=1)))
    # Added as a difference: nodes the pass left alone keep their position exactly.
    return embedding + (nodes - start)


def _winner_sums(x, embedding):
    """Sum ``[K, n]`` and number ``[K]`` of the rows of ``x`` each node wins."""
    winners = tf_winners(x, embedding)
    nodes = tf.shape(embedding)[0]
    return [
        tf.math.unsorted_segment_sum(x, winners, nodes),
        tf.math.unsorted_segment_sum(tf.ones_like(x[:, 0]), winners, nodes),
    ]


def _batch_map_positions(embedding, sums, counts, neighbourhoods):
    """``l_v = sum_w h_wv S_w / sum_w h_wv c_w`` from the winners' sums ``S`` and counts ``c``.

    ``neighbourhoods`` is the symmetric [K, K] matrix ``h(d(w, v), sigma)``.
    Grouping the samples by winner first makes the epoch's second product
    [K, K] x [K, n] instead of [K, N] x [N, n]. Nodes with zero weight (no
    sample within reach of their neighbourhood) keep their position.
    """
    weight = tf.linalg.matvec(neighbourhoods, counts)[:, None]
    reached = weight > 0
    return tf.where(reached, tf.matmul(neighbourhoods, sums) / tf.where(reached, weight, 1.0), embedding)


# The loops below run strategy.run once per step, in cross-replica context:
# the all-reduce inside the replica function must not sit in control flow of
# its own (MirroredStrategy's merge_call forbids that). The embedding is a
# variable mirrored on every replica; every replica computes the same update
# from the all-reduced sums, and the first replica's is written to all.
@tf.function(autograph=False)
def _batch_map_epochs(strategy, embedding, shards, coords, radii, gaussian):
    """Batch-map epochs, one per radius in ``radii``, over the replicas' ``shards`` of the data."""
    hops = tf_hops(coords, tf.range(tf.shape(coords)[0]))

    def replica_epoch(shard, sigma):
        current = tf.convert_to_tensor(embedding)
        sums, counts = sum_over_replicas(_winner_sums(shard, current))
        neighbourhoods = tf_neighbourhood(hops, sigma, gaussian)
        embedding.assign(_batch_map_positions(current, sums, counts, neighbourhoods))

    def epoch(i):
        strategy.run(replica_epoch, args=(shards, radii[i]))
        return i + 1

    tf.while_loop(lambda i: i < tf.shape(radii)[0], epoch, [tf.constant(0)], parallel_iterations=1)


def _minibatch_loop(strategy, embedding, pieces, sizes, coords, rates, radii, gaussian):
    """One mini-batch Kohonen step per entry of ``rates``/``radii``.

    Each replica holds its piece of every mini-batch, ``pieces`` [steps,
    rows, n] of which the first ``sizes`` [steps] rows are data.
    """

    def replica_step(pieces, sizes, i):
        current = tf.convert_to_tensor(embedding)
        x = pieces[i, : sizes[i]]
        weighted, weights = tf_neighbourhood_sums(x, current, coords, radii[i], gaussian)
        count = tf.cast(sizes[i], current.dtype)
        weighted, weights, count = sum_over_replicas([weighted, weights, count])
        embedding.assign_add(tf_kohonen_increment(current, weighted, weights, count, rates[i]))

    def step(i):
        strategy.run(replica_step, args=(pieces, sizes, i))
        return i + 1

    tf.while_loop(lambda i: i < tf.shape(rates)[0], step, [tf.constant(0)], parallel_iterations=1)


# XLA runs the loop of small steps faster, but cannot address variables a
# strategy placed on other devices: it is only used without one.
_minibatch_steps = tf.function(_minibatch_loop, autograph=False)
_minibatch_steps_xla = tf.function(_minibatch_loop, jit_compile=True, autograph=False)


def _per_replica(strategy, arrays):
    """``arrays[r]`` as the value of replica r of ``strategy`` (on its device)."""
    return strategy.experimental_distribute_values_from_function(
        lambda context: tf.constant(arrays[context.replica_id_in_sync_group])
    )


class KohonenSOM:
    """Kohonen's self-organizing map, trained by the online rule or the batch map.

    Parameters
    ----------
    grid : :class:`~softsom.Grid` or tuple of int
        The grid graph (a shape is turned into a :class:`~softsom.Grid`).
    mode : {"online", "batch"}, default "online"
        The training rule (see Notes): Kohonen's classical per-sample rule,
        or the batch map (with ``batch_size``: mini-batches).
    batch_size : int or None, default None
        ``mode="batch"`` only. None: the batch map, every epoch one update
        from all the samples. An int: the mini-batch Kohonen rule of
        :class:`~softsom.SoftSOM`, one update per ``batch_size`` samples
        (the last mini-batch of an epoch may be smaller).
    learning_rate : (float, float), default (0.5, 0.01)
        Start and end of the learning rate eta, each in [1.2e-38, 1] (a rate
        below float32's smallest normal number would round to 0). Not used by
        the batch map (``batch_size=None``), which moves every node all the
        way to its weighted mean.
    sigma : (float, float) or None, default None
        Start and end of the neighbourhood radius, in graph-distance units,
        each in [1e-18, 3.4e38] (``sigma**2`` must fit float32).
        None means ``(max(1, max(grid.shape) / 4), 0.5)``, and for the batch
        map ``(max(1, max(grid.shape) / 2), 0.7)``: the batch map takes fewer,
        larger steps, which need a wider radius to unfold the map, and it
        converges at every radius, so at radii well below one hop it becomes
        k-means, whose nodes ignore their grid neighbours (a high topographic
        error).
    neighbourhood : {"exponential", "gaussian"}, default "exponential"
        ``exp(-d / sigma)``, as on the slides, or ``exp(-d**2 / (2 sigma**2))``.
    init : {"uniform", "sample", "pca"} or array of shape (K, n), default "uniform"
        How the grid is first embedded into input space: uniformly at random
        in the data's bounding box ("embed into input space randomly"),
        at K randomly drawn samples, on the plane of the leading principal
        components, or at the given positions.
    decay_samples : int or None, default None
        Number of samples over which the schedules decay. None means all the
        samples of the call to :meth:`fit` (``epochs * len(X)``), and for the
        batch map ``(epochs - 1) * len(X)`` (at least ``len(X)``), so that its
        first epoch uses the start radius and its last the end radius;
        :meth:`partial_fit` needs it set.
    strategy : tf.distribute.Strategy or None, default None
        Batch modes only: the strategy whose replicas share the work. None
        means the strategy whose scope :meth:`fit` is called in
        (``tf.distribute.get_strategy()``; outside any scope, the current
        device). The online rule is sequential and runs on one device.
    random_state : int, numpy Generator or None
        Seeds the initialisation and the order in which samples are shown
        (a bool is not a seed).

    Attributes
    ----------
    embedding_ : ndarray of shape (K, n), float32
        Position ``l_v`` of every node in input space.
    n_samples_seen_ : int
        Samples shown so far (a batch-map epoch shows every sample once); the
        ``t`` of the schedules.
    n_samples_skipped_ : int
        Rows :meth:`partial_fit` left out because they held NaN or infinity.
    n_features_in_ : int
    decay_samples_ : int
        The resolved schedule horizon.
    sigma_ : (float, float)
        The resolved radius schedule.

    Notes
    -----
    **Online rule.** For each sample ``x`` in turn (a fresh random order
    every epoch), with ``t`` the samples seen before it::

        l_v <- l_v + eta(t) * h(d(w(x), v), sigma(t)) * (x - l_v)

    **Batch map** (``mode="batch"``, ``batch_size=None``; Kohonen's batch
    map). Every epoch finds the winners ``w(x)`` of all samples under the
    current embedding, then sets every node at once to::

        l_v = sum_x h(d(w(x), v), sigma(t)) x / sum_x h(d(w(x), v), sigma(t))

    with ``t`` the samples seen before the epoch; a node with zero total
    weight keeps its position. This is where the online rule's expected
    update ``E[h (x - l_v)]`` vanishes for the current winners: the online
    rule fluctuates around it with an amplitude set by ``eta``, the batch
    map jumps to it, so it needs no learning rate and no sample order, and an
    epoch is a few matrix products over all samples (the winners come from
    one squared-distance matrix product). Both rules need the
    radius to shrink slowly for the map to unfold; at a fixed radius, an
    epoch repeated after convergence changes nothing.

    **Mini-batches** (``mode="batch"``, ``batch_size=B``). The samples, in a
    fresh random order every epoch, are cut into mini-batches, and each
    moves the map by the mean of the online updates of its samples, all
    computed from the embedding before the mini-batch (the rule of
    :class:`~softsom.SoftSOM`'s ``"kohonen"`` mode)::

        l_v <- l_v + eta(t) / B * sum_b h(d(w_b, v), sigma(t)) * (x_b - l_v)

    ``B = 1`` is the online rule (with winners from the squared-distance
    product rather than the differences, so rounding may differ).

    The batch modes centre the data on their mean for the winner products,
    which run in float32.

    **Distribution.** The batch modes run under a :mod:`tf.distribute`
    strategy: the samples (or every mini-batch) are split into one shard per
    replica, every replica computes its shard's sums (for the batch map the
    sum and count of the samples each node wins, for mini-batches the
    neighbourhood-weighted sums of its samples and their weights), the sums
    are added up across replicas (an all-reduce), and every replica applies
    the same update to the mirrored embedding. So the result is the
    single-device one up to the order of the float32 additions (as checked
    with ``MirroredStrategy`` over two logical CPUs). Across processes or
    machines the same code runs under ``MultiWorkerMirroredStrategy``: every
    worker, started with its ``TF_CONFIG``, calls :meth:`fit` with the
    strategy (or in its scope) and the same ``X`` and ``random_state``;
    replica ids are global, so each replica takes its own shard, and every
    worker ends with the same embedding and ``n_samples_seen_`` (tested with
    two worker processes on one machine; see :mod:`softsom.distribute`).
    """

    def __init__(
        self,
        grid,
        *,
        mode="online",
        batch_size=None,
        learning_rate=(0.5, 0.01),
        sigma=None,
        neighbourhood="exponential",
        init="uniform",
        decay_samples=None,
        strategy=None,
        random_state=None,
    ):
        self.grid = grid
        self.mode = mode
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.sigma = sigma
        self.neighbourhood = neighbourhood
        self.init = init
        self.decay_samples = decay_samples
        self.strategy = strategy
        self.random_state = random_state

    # -- training ---------------------------------------------------------
    def fit(self, X, epochs=None):
        """Initialise the map from ``X`` and train it for ``epochs`` passes.

        Each pass shows every sample once (online and mini-batches: in a fresh
        random order).

        Parameters
        ----------
        X : array_like of shape (N, n)
            Training data: N >= 1 samples of n >= 1 finite real features, each
            at most ``sqrt(3.4e38 / (16 n))`` in magnitude (about 2.7e18 for
            n = 3), as training computes squared distances in float32. Ragged
            lists, strings, bools, objects and complex numbers are rejected.
        epochs : int or None, default None
            None means 1 for ``mode="online"`` and ``BATCH_EPOCHS`` (20) for
            ``mode="batch"``.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Naming the argument or setting, for bad data, ``epochs`` or
            constructor settings. Every check runs before anything changes:
            a call that raises leaves the map as it was (a fitted map keeps
            its embedding, grid, schedules and random state).
        """
        if epochs is not None:
            epochs = check_positive_int("epochs", epochs)
        X = _check_data(X, training=True)
        self._check_mode()
        if epochs is None:
            epochs = BATCH_EPOCHS if self.mode == "batch" else 1
        if self._is_batch_map():
            horizon = max(epochs - 1, 1) * len(X)
        else:
            horizon = epochs * len(X)
        with self._all_or_nothing():
            self._setup(X, default_horizon=horizon)
            self._train(X, epochs)
        return self

    def initialize(self, X):
        """Embed the grid into input space from ``X`` without training.

        This is the first step of :meth:`fit`; it also restarts the random
        number generator from ``random_state``. ``X`` as for :meth:`fit`; a
        call that raises changes nothing.

        Returns
        -------
        self
        """
        X = _check_data(X, training=True)
        with self._all_or_nothing():
            self._setup(X, default_horizon=None)
        return self

    def partial_fit(self, X):
        """One pass over ``X`` continuing training (one epoch of the batch map).

        The first call initialises the map from ``X``. The schedules continue
        from ``n_samples_seen_`` over ``decay_samples`` samples, which must
        be set (or resolved by an earlier :meth:`fit`; a ``decay_samples``
        set since then takes over).

        Rows of ``X`` holding NaN or infinity never reach the embedding: they
        are left out, not counted in ``n_samples_seen_``, added to
        ``n_samples_skipped_``, and a ``RuntimeWarning`` says how many
        (:meth:`fit` rejects such data instead). Every check runs before
        anything changes: a call that raises leaves the map as it was.

        Returns
        -------
        self
        """
        fitted = hasattr(self, "embedding_")
        X, skipped = _check_data(X, self.n_features_in_ if fitted else None, training=True, drop_non_finite=True)
        self._check_mode()
        self._check_neighbourhood()
        if self.decay_samples is not None:
            horizon = check_positive_int("decay_samples", self.decay_samples)
        elif fitted and self.decay_samples_ is not None:
            horizon = self.decay_samples_
        else:
            raise ValueError(
                "decay_samples must be set to use partial_fit: it is the number of "
                "samples over which the learning rate and radius decay"
            )
        if len(X) == 0 and not fitted:
            raise ValueError("X has no row without NaN or infinity to initialise the map from")
        with self._all_or_nothing():
            if not fitted:
                self._setup(X, default_horizon=horizon)
            self.decay_samples_ = horizon
            if len(X):
                self._train(X, epochs=1)
            self.n_samples_skipped_ = getattr(self, "n_samples_skipped_", 0) + skipped
        if skipped:
            warnings.warn(
                f"partial_fit left out {skipped} row(s) of X holding NaN or infinity "
                f"({self.n_samples_skipped_} so far, see n_samples_skipped_)",
                RuntimeWarning,
                stacklevel=2,
            )
        return self

    @contextlib.contextmanager
    def _all_or_nothing(self):
        """Restore every attribute, and the random generators' states, if the block raises."""
        saved = dict(self.__dict__)
        generators = [
            (rng, rng.bit_generator.state)
            for rng in {id(g): g for g in (saved.get("_rng"), self.random_state)}.values()
            if isinstance(rng, np.random.Generator)
        ]
        try:
            yield
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            for rng, state in generators:
                rng.bit_generator.state = state
            raise

    def _check_neighbourhood(self):
        if not isinstance(self.neighbourhood, str) or self.neighbourhood not in NEIGHBOURHOODS:
            raise ValueError(f"neighbourhood must be one of {NEIGHBOURHOODS}; got {self.neighbourhood!r}")

    def _check_mode(self):
        """Validate ``mode``, ``batch_size`` and ``strategy``."""
        if not isinstance(self.mode, str) or self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}; got {self.mode!r}")
        if self.batch_size is not None:
            check_positive_int("batch_size", self.batch_size)
            if self.mode != "batch":
                raise ValueError(f"batch_size is only used by mode='batch'; got mode={self.mode!r}")
        if self.strategy is not None:
            if not isinstance(self.strategy, tf.distribute.Strategy):
                raise ValueError(f"strategy must be a tf.distribute.Strategy or None; got {self.strategy!r}")
            if self.mode != "batch":
                raise ValueError("strategy is only used by mode='batch': the online rule is sequential")

    def _is_batch_map(self):
        return self.mode == "batch" and self.batch_size is None

    def _setup(self, X, default_horizon):
        """Validate every setting, and only then reset the map's state from ``X``."""
        self._check_mode()
        grid = self.grid if isinstance(self.grid, Grid) else Grid(self.grid)
        learning_rate = check_pair("learning_rate", self.learning_rate, upper=1.0, lower=float(FLOAT32.tiny))
        if self.mode == "batch" and self.batch_size is None:
            default_sigma = (max(1.0, max(grid.shape) / 2), BATCH_SIGMA_END)
        else:
            default_sigma = (max(1.0, max(grid.shape) / 4), 0.5)
        sigma = check_pair("sigma", default_sigma if self.sigma is None else self.sigma, lower=SMALLEST_SIGMA)
        self._check_neighbourhood()
        if self.decay_samples is not None:
            default_horizon = check_positive_int("decay_samples", self.decay_samples)
        rng = rng_from_seed("random_state", self.random_state)
        init = self._check_init(grid.size, X.shape[1])
        self.grid_, self.learning_rate_, self.sigma_, self.decay_samples_ = grid, learning_rate, sigma, default_horizon
        self._rng = rng
        self.n_features_in_ = X.shape[1]
        self.embedding_ = self._initial_embedding(X, init).astype(np.float32)
        self.n_samples_seen_ = 0
        self.n_samples_skipped_ = 0

    def _check_init(self, K, n):
        """``init`` validated: one of INITS, or a finite real (K, n) array (returned as float64)."""
        if isinstance(self.init, str):
            if self.init not in INITS:
                raise ValueError(f"init must be one of {INITS} or an array; got {self.init!r}")
            return self.init
        init = as_real_array("init", self.init)
        if init.shape != (K, n):
            raise ValueError(f"init array must have shape (K, n) = {(K, n)}; got {init.shape}")
        if not np.all(np.isfinite(init)):
            raise ValueError("init array contains NaN or infinity")
        _check_range("init", init, n)
        return init.copy()

    def _initial_embedding(self, X, init):
        K, n = self.grid_.size, X.shape[1]
        if isinstance(init, np.ndarray):
            return init
        if init == "uniform":
            return self._rng.uniform(X.min(axis=0), X.max(axis=0), size=(K, n))
        if init == "sample":
            return X[self._rng.choice(len(X), size=K, replace=len(X) < K)]
        return self._pca_embedding(X)

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

    def _train(self, X, epochs):
        if self.mode == "online":
            for _ in range(epochs):
                self._online_epoch(X)
        else:
            self._batch_epochs(X, epochs)

    def _online_epoch(self, X):
        order = self._rng.permutation(len(X))
        embedding = _online_pass(
            tf.constant(self.embedding_),
            tf.constant(X[order].astype(np.float32)),  # NumPy's cast: twice as fast as the constant's
            tf.constant(self.grid_.coords),
            tf.constant(float(self.n_samples_seen_), tf.float64),
            tf.constant(float(self.decay_samples_), tf.float64),
            tf.constant(self.learning_rate_, tf.float64),
            tf.constant(self.sigma_, tf.float64),
            self.neighbourhood == "gaussian",
        )
        self.embedding_ = embedding.numpy()
        self.n_samples_seen_ += len(X)

    def _batch_epochs(self, X, epochs):
        """``epochs`` epochs of the batch map or of mini-batches, under the strategy."""
        distributed = self.strategy is not None or tf.distribute.has_strategy()
        strategy = self.strategy if self.strategy is not None else tf.distribute.get_strategy()
        replicas = strategy.num_replicas_in_sync
        # Centred on the data's mean: the float32 winner products then see
        # the data's spread, not their offset from the origin.
        offset = X.mean(axis=0)
        centred = (X - offset).astype(np.float32)
        start = (self.embedding_ - offset).astype(np.float32)
        with strategy.scope():
            embedding = tf.Variable(start, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        coords = tf.constant(self.grid_.coords)
        gaussian = self.neighbourhood == "gaussian"
        if self.batch_size is None:
            seen = self.n_samples_seen_ + len(X) * np.arange(epochs)
            _batch_map_epochs(
                strategy,
                embedding,
                _per_replica(strategy, np.array_split(centred, replicas)),
                coords,
                self._schedule_tensor(self.sigma_, seen),
                gaussian,
            )
            self.n_samples_seen_ += epochs * len(X)
        else:
            for _ in range(epochs):
                pieces, sizes = _minibatch_pieces(centred, self._rng.permutation(len(X)), self.batch_size, replicas)
                seen = self.n_samples_seen_ + np.arange(0, len(X), self.batch_size)
                (_minibatch_steps if distributed else _minibatch_steps_xla)(
                    strategy,
                    embedding,
                    _per_replica(strategy, pieces),
                    _per_replica(strategy, sizes),
                    coords,
                    self._schedule_tensor(self.learning_rate_, seen),
                    self._schedule_tensor(self.sigma_, seen),
                    gaussian,
                )
                self.n_samples_seen_ += len(X)
        # Added as a difference, so that nodes the training left alone keep
        # their position exactly (no rounding from the centring round trip).
        self.embedding_ = self.embedding_ + (embedding.numpy() - start)

    def _schedule_tensor(self, schedule, t):
        return tf.constant(decay(*schedule, t, self.decay_samples_), tf.float32)

    # -- schedules ---------------------------------------------------------
    def schedule(self, t):
        """Learning rate and radius after ``t`` samples: ``(eta(t), sigma(t))``.

        ``t``: a number of samples, or an array of them, each finite and >= 0.
        """
        self._check_fitted()
        if self.decay_samples_ is None:
            raise ValueError("no schedule yet: set decay_samples or call fit(X)")
        t = as_real_array("t", t)
        if not np.all(np.isfinite(t)) or np.any(t < 0):
            raise ValueError(f"t must be a finite number of samples >= 0 (or an array of them); got {t!r}")
        return (
            decay(*self.learning_rate_, t, self.decay_samples_),
            decay(*self.sigma_, t, self.decay_samples_),
        )

    # -- using the map -----------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "embedding_"):
            raise ValueError("this KohonenSOM is not fitted yet: call fit(X) first")

    def _squared_distances(self, X, allow_empty=False):
        """[N, K] squared distances from each sample to each node, float64."""
        self._check_fitted()
        X = _check_data(X, self.n_features_in_, allow_empty)
        L = self.embedding_.astype(np.float64)
        d2 = (X**2).sum(axis=1)[:, None] - 2.0 * X @ L.T + (L**2).sum(axis=1)[None, :]
        return np.maximum(d2, 0.0)

    def winner(self, X):
        """Index of the nearest node for every sample, shape (N,); an empty X gives an empty result."""
        return np.argmin(self._squared_distances(X, allow_empty=True), axis=1)

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
        return f"KohonenSOM(grid={self.grid!r}, mode={self.mode!r}, neighbourhood={self.neighbourhood!r})"


def _minibatch_pieces(data, order, batch_size, replicas):
    """Every replica's piece of every mini-batch of ``data[order]``.

    Sample j of a mini-batch goes to replica ``j % replicas``. Returns one
    array per replica: pieces [steps, rows, n], zero-padded, and the number
    of data rows of each, sizes [steps].
    """
    steps = -(-len(order) // batch_size)
    rows = -(-batch_size // replicas)
    position = np.arange(len(order))
    step, slot = np.divmod(position, batch_size)
    row, replica = np.divmod(slot, replicas)
    pieces = np.zeros((replicas, steps, rows, data.shape[1]), dtype=data.dtype)
    pieces[replica, step, row] = data[order]
    sizes = np.zeros((replicas, steps), dtype=np.int32)
    np.add.at(sizes, (replica, step), 1)
    return list(pieces), list(sizes)
