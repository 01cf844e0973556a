"""Kohonen's self-organizing map: the classical online rule and the batch map.

Online rule (``mode="online"``)
    Each sample ``x`` is shown to the map in turn. The node nearest to it,
    the *winner* ``w``, and its neighbours on the grid move towards it::

        l_v <- l_v + eta(t) * h(d(w, v), sigma(t)) * (x - l_v)

    where ``d`` is the distance on the grid (by default the graph, or hop,
    distance), ``h`` the neighbourhood function and ``t`` the number of
    samples seen so far.

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
import copy
import numbers
import warnings

import numpy as np
import tensorflow as tf
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import validate_data

from ._kohonen_tf import (
    NEIGHBOURHOODS,
    sum_over_replicas,
    tf_decay,
    tf_grid_distances,
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
# The neighbourhood functions: SoftSOM's (softsom._kohonen_tf.NEIGHBOURHOODS,
# which its "kohonen" mode shares) and two more of the classical map's.
KINDS = (*NEIGHBOURHOODS, "bubble", "mexican_hat")
# The grid distances a neighbourhood can be a function of.
DISTANCES = ("hops", "euclidean")
# Adjacency conventions of the topographic error.
ADJACENCIES = ("grid", "minisom")
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
    """How strongly a node at grid distance ``distance`` from the winner moves.

    Parameters
    ----------
    distance : array_like
        Distance to the winner on the grid: the graph (hop) distance, or the
        Euclidean distance between grid positions (see
        :class:`KohonenSOM`'s ``distance``).
    sigma : float
        Radius, > 0.
    kind : {"exponential", "gaussian", "bubble", "mexican_hat"}
        ``"exponential"``: ``exp(-d / sigma)`` (the slides' die-off).
        ``"gaussian"``: ``exp(-d**2 / (2 sigma**2))``.
        ``"bubble"``: 1 for ``d <= sigma``, else 0.
        ``"mexican_hat"``: the Ricker wavelet
        ``(1 - d**2 / sigma**2) exp(-d**2 / (2 sigma**2))``, negative (nodes
        are pushed away) beyond ``d = sigma``.

    Notes
    -----
    MiniSom (2.3.6) writes its neighbourhoods in the grid's x and y
    coordinates. Its ``"gaussian"`` is the product of one Gaussian per axis,
    which is ``"gaussian"`` here on the Euclidean grid distance; its
    ``"mexican_hat"`` is this one on the Euclidean grid distance. Its
    ``"bubble"`` is 1 where *each* coordinate differs by strictly less than
    sigma (a square, open at its border: ``sigma = 1`` moves the winner
    alone); this one is 1 within distance sigma, border included (a diamond
    on hops, a disc on the Euclidean distance: ``sigma = 1`` also moves the
    winner's four neighbours). ``"exponential"`` is not one of MiniSom's.
    """
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    distance = np.asarray(distance, dtype=np.float64)
    if kind == "exponential":
        return np.exp(-distance / sigma)
    if kind == "bubble":
        return (distance <= sigma).astype(np.float64)
    if kind == "gaussian":
        return np.exp(-np.square(distance) / (2.0 * sigma**2))
    ratio = np.square(distance) / sigma**2
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(np.isfinite(ratio), (1.0 - ratio) * np.exp(-ratio / 2.0), 0.0)


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
    # A SciPy sparse matrix or array (NumPy would wrap it in an array of one object).
    if hasattr(X, "tocsr") and hasattr(X, "nnz"):
        raise ValueError(
            f"X must be a dense array: sparse input is not supported (got a {type(X).__name__}); "
            "convert it with X.toarray() if it fits in memory"
        )
    # Only real numbers: NumPy would silently parse strings of digits, drop the
    # imaginary part of complex data with a mere warning, and reject ragged
    # lists with a message that names no argument. Arrays of objects are read
    # if every element is a real number (scikit-learn's convention).
    X = as_real_array("X", X, objects=True)
    # The messages end in scikit-learn's words, which its estimator checks look for.
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2-D (samples, features); got shape {X.shape}. Reshape your data, e.g. with "
            "X.reshape(-1, 1) if it has a single feature or X.reshape(1, -1) if it is a single sample"
        )
    for axis, what in ((0, "sample"), (1, "feature")):
        if X.shape[axis] == 0 and not (axis == 0 and allow_empty):
            raise ValueError(
                f"X must hold at least one sample and one feature; found array with 0 {what}(s) "
                f"(shape={X.shape}) while a minimum of 1 is required."
            )
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} features, but KohonenSOM is expecting {n_features} features as input "
            "(the number it was fitted with)"
        )
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


def _tf_neighbourhood(distance, sigma, kind):
    """:func:`neighbourhood` in TensorFlow; ``kind`` is a Python string of KINDS.

    SoftSOM's kinds are its own kernel (the same numbers for the same rule).
    """
    if kind in NEIGHBOURHOODS:
        return tf_neighbourhood(distance, sigma, kind == "gaussian")
    if kind == "bubble":
        return tf.cast(distance <= sigma, distance.dtype)
    ratio = tf.square(distance) / (sigma * sigma)
    # At radii near SMALLEST_SIGMA the ratio overflows to infinity far out,
    # where (1 - ratio) * exp(-ratio / 2) would be -inf * 0.
    return tf.where(tf.math.is_finite(ratio), (1.0 - ratio) * tf.exp(-0.5 * ratio), tf.zeros_like(ratio))


def _tf_distances(index, nodes, euclidean, lattice=None):
    """Grid distance from each of ``nodes`` (indices, [B]) to every node, [B, K]: hops or Euclidean.

    ``index``: the lattice positions ``Grid.index`` (floats), ``lattice``: ``Grid._lattice``.
    """
    return tf_grid_distances(index, nodes, lattice, euclidean)


def _tf_neighbourhood_sums(x, embedding, index, sigma, kind, euclidean, lattice=None):
    """``tf_neighbourhood_sums`` (SoftSOM's kernel) for any neighbourhood and grid distance."""
    if kind in NEIGHBOURHOODS and not euclidean:
        return tf_neighbourhood_sums(x, embedding, index, sigma, kind == "gaussian", lattice=lattice)
    h = _tf_neighbourhood(_tf_distances(index, tf_winners(x, embedding), euclidean, lattice), sigma, kind)  # [B, K]
    return tf.matmul(h, x, transpose_a=True), tf.reduce_sum(h, axis=0)


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
def _online_pass(embedding, samples, coords, t0, horizon, rate, radius, kind, euclidean=False, lattice=None):
    """Show ``samples`` to the map one at a time; return the new embedding.

    ``kind`` (one of KINDS), ``euclidean`` (the grid distance: Euclidean
    rather than hops) and ``lattice`` (``Grid._lattice``) are Python values,
    fixed when the loop is traced. ``coords`` are the lattice positions
    ``Grid.index`` (floats): the coords of a rectangular grid without
    periodic axes.
    """
    t = t0 + tf.cast(tf.range(tf.shape(samples)[0]), tf.float64)
    rates = tf_decay(rate, t, horizon, embedding.dtype)
    radii = tf_decay(radius, t, horizon, embedding.dtype)
    n, nodes_count = samples.shape[1], embedding.shape[0]
    if nodes_count is not None and nodes_count <= HOP_MATRIX_NODES:
        hop_matrix = _tf_distances(coords, tf.range(nodes_count), euclidean, lattice)
    else:
        hop_matrix = None

    def neighbourhood(i, winner):
        if hop_matrix is not None:
            hops = tf.gather(hop_matrix, winner)
        elif lattice is not None:
            hops = _tf_distances(coords, winner[None], euclidean, lattice)[0]
        elif euclidean:
            hops = tf.sqrt(tf.reduce_sum(tf.square(coords - tf.gather(coords, winner)), axis=1))
        else:
            hops = tf.reduce_sum(tf.abs(coords - tf.gather(coords, winner)), axis=1)
        return tf.gather(rates, i) * _tf_neighbourhood(hops, tf.gather(radii, i), kind)

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
def _batch_map_epochs(strategy, embedding, shards, coords, radii, kind, euclidean, lattice=None):
    """Batch-map epochs, one per radius in ``radii``, over the replicas' ``shards`` of the data."""
    hops = _tf_distances(coords, tf.range(tf.shape(coords)[0]), euclidean, lattice)

    def replica_epoch(shard, sigma):
        current = tf.convert_to_tensor(embedding)
        sums, counts = sum_over_replicas(_winner_sums(shard, current))
        neighbourhoods = _tf_neighbourhood(hops, sigma, kind)
        embedding.assign(_batch_map_positions(current, sums, counts, neighbourhoods))

    def epoch(i):
        strategy.run(replica_epoch, args=(shards, radii[i]))
        return i + 1

    tf.while_loop(lambda i: i < tf.shape(radii)[0], epoch, [tf.constant(0)], parallel_iterations=1)


def _minibatch_loop(strategy, embedding, pieces, sizes, coords, rates, radii, kind, euclidean, lattice=None):
    """One mini-batch Kohonen step per entry of ``rates``/``radii``.

    Each replica holds its piece of every mini-batch, ``pieces`` [steps,
    rows, n] of which the first ``sizes`` [steps] rows are data.
    """

    def replica_step(pieces, sizes, i):
        current = tf.convert_to_tensor(embedding)
        x = pieces[i, : sizes[i]]
        weighted, weights = _tf_neighbourhood_sums(x, current, coords, radii[i], kind, euclidean, lattice)
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


class KohonenSOM(TransformerMixin, BaseEstimator):
    """Kohonen's self-organizing map, trained by the online rule or the batch map.

    A scikit-learn transformer: it maps each sample to the grid position of
    its winning node, and fits in pipelines, ``sklearn.base.clone`` and
    model selection (:meth:`score` is the negative quantization error).

    Parameters
    ----------
    grid : :class:`~softsom.Grid` or tuple of int
        The grid graph (a shape is turned into a rectangular
        :class:`~softsom.Grid`; pass ``Grid(shape, topology="hexagonal")``
        or ``Grid(shape, periodic=True)`` for a hexagonal or toroidal map).
        Required. Training, :meth:`transform` and :meth:`topographic_error`
        use its hop distances and coordinates.
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
        Start and end of the neighbourhood radius, in units of the grid
        distance (``distance``), each in [1e-18, 3.4e38] (``sigma**2`` must
        fit float32).
        None means ``(max(1, max(grid.shape) / 4), 0.5)``, and for the batch
        map ``(max(1, max(grid.shape) / 2), 0.7)``: the batch map takes fewer,
        larger steps, which need a wider radius to unfold the map, and it
        converges at every radius, so at radii well below one hop it becomes
        k-means, whose nodes ignore their grid neighbours (a high topographic
        error).
    neighbourhood : {"exponential", "gaussian", "bubble", "mexican_hat"}, default "exponential"
        The function ``h(d, sigma)`` of the grid distance ``d`` to the winner
        (see ``softsom.kohonen.neighbourhood``): ``exp(-d / sigma)``, as on the slides;
        ``exp(-d**2 / (2 sigma**2))``; 1 for ``d <= sigma``, else 0; or the
        Ricker wavelet ``(1 - d**2 / sigma**2) exp(-d**2 / (2 sigma**2))``,
        which pushes nodes beyond ``sigma`` away. ``"mexican_hat"`` is not
        accepted by the batch map (``mode="batch"``, ``batch_size=None``):
        its negative weights have no weighted mean.
    distance : {"hops", "euclidean"}, default "hops"
        The grid distance ``d`` the neighbourhood is a function of: the graph
        (hop) distance (on a rectangular grid the L1 distance between grid
        positions), or the Euclidean distance between the nodes' positions
        (:meth:`Grid.euclidean <softsom.Grid.euclidean>`: in the plane, for a
        hexagonal grid; the shorter way round a periodic axis), as in MiniSom
        (``neighbourhood="gaussian", distance="euclidean"`` is MiniSom's
        Gaussian, on its rectangular and, for an odd number of rows, its
        hexagonal lattice). Both are the same on a 1-D grid. The sigma
        schedule is in units of this distance.
    init : {"uniform", "sample", "pca"} or array of shape (K, n), default "uniform"
        How the grid is first embedded into input space: uniformly at random
        in the data's bounding box ("embed into input space randomly"),
        at K randomly drawn samples, on the plane of the leading principal
        components, or at the given positions.
    epochs : int or None, default None
        Passes over the data of :meth:`fit`, each showing every sample once.
        None means 1 for ``mode="online"`` and ``BATCH_EPOCHS`` (20) for
        ``mode="batch"``. :meth:`partial_fit` always makes one pass.
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
        (a bool is not a seed). The same int gives the same map, bit for bit.

    Attributes
    ----------
    embedding_ : ndarray of shape (K, n), float32
        Position ``l_v`` of every node in input space.
    grid_ : :class:`~softsom.Grid`
        The grid the map was fitted on.
    n_samples_seen_ : int
        Samples shown so far (a batch-map epoch shows every sample once); the
        ``t`` of the schedules.
    n_samples_skipped_ : int
        Rows :meth:`partial_fit` left out because they held NaN or infinity.
    n_features_in_ : int
        Number of features seen by :meth:`fit`.
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        The column names of ``X`` when it was a data frame with string column
        names (scikit-learn's convention); absent otherwise.
    decay_samples_ : int
        The resolved schedule horizon.
    learning_rate_ : (float, float)
        The validated learning-rate schedule.
    sigma_ : (float, float)
        The resolved radius schedule.

    Notes
    -----
    **scikit-learn.** ``__init__`` only stores its arguments; they are
    validated by :meth:`fit`, :meth:`partial_fit` and :meth:`initialize`,
    before anything changes. ``fit(X, y=None)`` and ``partial_fit(X,
    y=None)`` ignore ``y``; methods that need a fitted map raise
    ``sklearn.exceptions.NotFittedError`` (a ValueError) before
    one. :meth:`transform` returns the winners' grid coordinates
    (``grid.coords``: one column per axis of a rectangular grid;
    :meth:`get_feature_names_out`: ``"som0"``, ``"som1"``, ...), as float32
    for float32 data and float64 otherwise (the float32 coordinates,
    exactly). ``sklearn.base.clone`` copies every parameter
    but ``strategy``, which the clone shares (a strategy stands for devices,
    not for state). ``sklearn.utils.estimator_checks.check_estimator``
    passes (tests/test_estimator.py).

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
        distance="hops",
        init="uniform",
        epochs=None,
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
        self.distance = distance
        self.init = init
        self.epochs = epochs
        self.decay_samples = decay_samples
        self.strategy = strategy
        self.random_state = random_state

    # -- training ---------------------------------------------------------
    def fit(self, X, y=None):
        """Initialise the map from ``X`` and train it for ``epochs`` passes.

        Each pass shows every sample once (online and mini-batches: in a fresh
        random order).

        Parameters
        ----------
        X : array_like of shape (N, n)
            Training data: N >= 1 samples of n >= 1 finite real features, each
            at most ``sqrt(3.4e38 / (16 n))`` in magnitude (about 2.7e18 for
            n = 3), as training computes squared distances in float32. Ragged
            lists, sparse matrices, strings, bools, complex numbers and objects
            other than real numbers are rejected.
        y : None
            Ignored (scikit-learn's signature). The number of epochs is the
            ``epochs`` parameter: ``fit(X, 3)`` of earlier versions raises.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            Naming the argument or setting, for bad data or constructor
            settings. Every check runs before anything changes: a call that
            raises leaves the map as it was (a fitted map keeps its
            embedding, grid, schedules and random state).
        """
        _check_y(y)
        epochs = None if self.epochs is None else check_positive_int("epochs", self.epochs)
        data = _check_data(X, training=True)
        self._check_mode()
        if epochs is None:
            epochs = BATCH_EPOCHS if self.mode == "batch" else 1
        if self._is_batch_map():
            horizon = max(epochs - 1, 1) * len(data)
        else:
            horizon = epochs * len(data)
        with self._all_or_nothing():
            self._setup(data, default_horizon=horizon)
            validate_data(self, X, reset=True, skip_check_array=True)  # feature_names_in_
            self._train(data, epochs)
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
        data = _check_data(X, training=True)
        with self._all_or_nothing():
            self._setup(data, default_horizon=None)
            validate_data(self, X, reset=True, skip_check_array=True)
        return self

    def partial_fit(self, X, y=None):
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
        ``y`` is ignored.

        Returns
        -------
        self
        """
        _check_y(y)
        fitted = hasattr(self, "embedding_")
        raw = X
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
            validate_data(self, raw, reset=not fitted, skip_check_array=True)
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
        """Validate ``neighbourhood`` and ``distance`` (``mode`` checked before)."""
        if not isinstance(self.neighbourhood, str) or self.neighbourhood not in KINDS:
            raise ValueError(f"neighbourhood must be one of {KINDS}; got {self.neighbourhood!r}")
        if not isinstance(self.distance, str) or self.distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}; got {self.distance!r}")
        if self.neighbourhood == "mexican_hat" and self._is_batch_map():
            raise ValueError(
                "neighbourhood='mexican_hat' cannot be used by the batch map (mode='batch', batch_size=None): "
                "its negative weights have no weighted mean; use the online rule or mini-batches"
            )

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
        data's rank stay at the mean. The nodes' positions along the axes are
        ``grid.positions`` (in the plane, for a hexagonal grid; unwrapped,
        for a periodic axis).
        """
        mean = X.mean(axis=0)
        _, singular, components = np.linalg.svd(X - mean, full_matrices=False)
        spread = np.sqrt(3.0) * singular / np.sqrt(len(X))
        embedding = np.tile(mean, (self.grid_.size, 1))
        for axis, extent in enumerate(self.grid_.shape[: len(singular)]):
            positions = self.grid_.positions[:, axis]
            if self.grid_.topology == "rectangular":
                position = positions / max(extent - 1, 1) * 2.0 - 1.0
            else:
                span = float(positions.max() - positions.min())
                position = (positions - positions.min()) / (span if span > 0 else 1.0) * 2.0 - 1.0
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
            tf.constant(self.grid_.index.astype(np.float32)),
            tf.constant(float(self.n_samples_seen_), tf.float64),
            tf.constant(float(self.decay_samples_), tf.float64),
            tf.constant(self.learning_rate_, tf.float64),
            tf.constant(self.sigma_, tf.float64),
            self.neighbourhood,
            self.distance == "euclidean",
            self.grid_._lattice,
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
        coords = tf.constant(self.grid_.index.astype(np.float32))  # the lattice positions hops are counted on
        kind, euclidean, lattice = self.neighbourhood, self.distance == "euclidean", self.grid_._lattice
        if self.batch_size is None:
            seen = self.n_samples_seen_ + len(X) * np.arange(epochs)
            _batch_map_epochs(
                strategy,
                embedding,
                _per_replica(strategy, np.array_split(centred, replicas)),
                coords,
                self._schedule_tensor(self.sigma_, seen),
                kind,
                euclidean,
                lattice,
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
                    kind,
                    euclidean,
                    lattice,
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
    def __sklearn_is_fitted__(self):
        return hasattr(self, "embedding_")

    def _check_fitted(self):
        if not hasattr(self, "embedding_"):
            raise NotFittedError("this KohonenSOM is not fitted yet: call fit(X) first")

    def _squared_distances(self, X, allow_empty=False):
        """[N, K] squared distances from each sample to each node, float64."""
        self._check_fitted()
        data = _check_data(X, self.n_features_in_, allow_empty)
        validate_data(self, X, reset=False, skip_check_array=True)  # warns about other feature names
        L = self.embedding_.astype(np.float64)
        d2 = (data**2).sum(axis=1)[:, None] - 2.0 * data @ L.T + (L**2).sum(axis=1)[None, :]
        return np.maximum(d2, 0.0)

    def winner(self, X):
        """Index of the nearest node for every sample, shape (N,); an empty X gives an empty result."""
        return np.argmin(self._squared_distances(X, allow_empty=True), axis=1)

    def transform(self, X):
        """The SOM's output: grid coordinates of each sample's winner.

        Returns
        -------
        ndarray of shape (N, grid.dim)
            The winner's ``grid.coords``: one column per axis of a
            rectangular grid (the lattice position), the position in the plane
            for a hexagonal one, two columns for a periodic axis (see
            :class:`~softsom.Grid`). float32 for float32 ``X``, float64
            otherwise (the float32 coords, exactly).
        """
        winners = self.winner(X)
        dtype = np.float32 if getattr(X, "dtype", None) == np.float32 else np.float64
        return self.grid_.coords[winners].astype(dtype)

    def get_feature_names_out(self, input_features=None):
        """Names of the columns of :meth:`transform`: ``"som0"``, ``"som1"``, ..., one per grid coordinate.

        ``input_features``, if given, must name the ``n_features_in_`` input
        features (and equal ``feature_names_in_`` if the map has them).

        Returns
        -------
        ndarray of str objects, shape (grid.dim,)
        """
        self._check_fitted()
        if input_features is not None:
            input_features = np.asarray(input_features, dtype=object)
            names = getattr(self, "feature_names_in_", None)
            if names is not None and not np.array_equal(names, input_features):
                raise ValueError("input_features is not equal to feature_names_in_")
            if input_features.ndim != 1 or len(input_features) != self.n_features_in_:
                raise ValueError(
                    f"input_features should have length equal to number of features ({self.n_features_in_}), "
                    f"got {input_features.size}"
                )
        return np.asarray([f"som{axis}" for axis in range(self.grid_.dim)], dtype=object)

    def quantization_error(self, X):
        """Mean Euclidean distance from each sample to its winner's embedding."""
        d2 = self._squared_distances(X)
        return float(np.sqrt(d2.min(axis=1)).mean())

    def score(self, X, y=None):
        """The negative quantization error of ``X`` (higher is better), for model selection.

        So that e.g. ``GridSearchCV(KohonenSOM(grid), {"sigma": [...]})``
        picks the settings of the smallest quantization error on held-out
        data. ``y`` is ignored.
        """
        return -self.quantization_error(X)

    def topographic_error(self, X, adjacency="grid"):
        """Fraction of samples whose best and second-best nodes are not adjacent.

        A map with a single node has no second-best node and a topographic
        error of 0 (MiniSom returns NaN).

        Parameters
        ----------
        X : array_like of shape (N, n)
        adjacency : {"grid", "minisom"}, default "grid"
            When two nodes count as adjacent. ``"grid"``: at graph distance 1,
            the grid's edges (4 neighbours inside a 2-D rectangular grid, 6
            inside a hexagonal one, across the seam of a periodic axis too).
            ``"minisom"``: MiniSom's convention (2.3.6,
            ``MiniSom.topographic_error``). On a rectangular grid, at
            Euclidean grid distance at most sqrt(2) (MiniSom tests ``>
            1.42``), so diagonal neighbours too (8 neighbours inside a 2-D
            grid; on an m-D grid, positions differing by one in at most two
            axes; along a periodic axis, which MiniSom does not have, the
            shorter way round). The same as ``"grid"`` on a 1-D grid;
            otherwise ``"minisom"`` is never larger. On a hexagonal grid
            MiniSom counts the nodes at distance 1 in the plane, which are the
            six neighbours of ``"grid"``: the two are the same, and equal
            MiniSom's value on the same weights when the grid has an odd
            number of rows (``shape[1]``; for an even number MiniSom's node
            positions are the mirror image of its own U-matrix's lattice and
            of this one, see :class:`~softsom.Grid`).
        """
        if not isinstance(adjacency, str) or adjacency not in ADJACENCIES:
            raise ValueError(f"adjacency must be one of {ADJACENCIES}; got {adjacency!r}")
        d2 = self._squared_distances(X)
        if d2.shape[1] < 2:
            return 0.0
        best_two = np.argsort(d2, axis=1, kind="stable")[:, :2]
        grid = self.grid_
        if adjacency == "grid" or grid.topology == "hexagonal":
            return float(np.mean(grid.hops(best_two[:, 0], best_two[:, 1]) > 1))
        offsets = grid._offsets(grid.index[best_two[:, 0]], grid.index[best_two[:, 1]])
        # Integer offsets: squared distances are whole numbers, <= 2 exactly when the distance is <= 1.42.
        return float(np.mean(np.square(offsets).sum(axis=1) > 2))

    def __sklearn_clone__(self):
        # The default clone deep-copies every parameter: a strategy is
        # shared instead (TensorFlow's default strategy cannot be copied,
        # and a copy of another would stand for the same devices).
        shallow = copy.copy(self)
        shallow.strategy = None
        clone = BaseEstimator.__sklearn_clone__(shallow)
        clone.strategy = self.strategy
        return clone

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # transform gives float32 for float32 data, float64 for float64.
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _check_y(y):
    """Reject a number passed where fit(X, epochs) used to take the epochs; any other ``y`` is ignored."""
    if y is not None and isinstance(y, numbers.Number):
        raise ValueError(
            f"fit(X, y) and partial_fit(X, y) ignore y, and take no epochs: pass epochs=... to KohonenSOM "
            f"(or set_params(epochs=...)); got y={y!r}"
        )


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
