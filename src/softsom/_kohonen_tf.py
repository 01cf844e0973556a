"""TensorFlow kernels of the Kohonen rule, shared by :class:`~softsom.KohonenSOM` and :class:`~softsom.SoftSOM`.

Private: the estimator's and the layer's docstrings state what they guarantee.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = [
    "NEIGHBOURHOODS",
    "tf_decay",
    "tf_neighbourhood",
    "tf_hops",
    "tf_grid_distances",
    "tf_winners",
    "tf_neighbourhood_sums",
    "tf_kohonen_increment",
    "sum_over_replicas",
]

NEIGHBOURHOODS = ("exponential", "gaussian")


def tf_decay(schedule, t, horizon, dtype):
    """``softsom.kohonen.decay`` in TensorFlow: ``schedule`` is a float64 (start, end) pair.

    Evaluated in float64 so that large sample counts ``t`` stay exact.
    """
    fraction = tf.minimum(tf.cast(t, tf.float64) / tf.cast(horizon, tf.float64), 1.0)
    return tf.cast(schedule[0] * (schedule[1] / schedule[0]) ** fraction, dtype)


def tf_neighbourhood(hops, sigma, gaussian):
    """``softsom.kohonen.neighbourhood`` in TensorFlow; ``gaussian`` is a Python bool."""
    if gaussian:
        return tf.exp(-tf.square(hops) / (2.0 * sigma * sigma))
    return tf.exp(-hops / sigma)


def tf_hops(index, nodes, lattice=None):
    """Graph distance from each of ``nodes`` (indices, [B]) to every node: [B, K].

    ``index`` [K, m] holds the nodes' integer lattice positions (``Grid.index``,
    as floats), ``lattice`` is ``Grid._lattice``: None for a rectangular grid
    without periodic axes (the L1 distance of the positions, which are then
    also the grid's coords), else ``(topology, shape, periodic)``.
    """
    return tf_grid_distances(index, nodes, lattice)


def tf_grid_distances(index, nodes, lattice=None, euclidean=False):
    """Hops (or, ``euclidean``, Euclidean grid distances) from each of ``nodes`` [B] to every node: [B, K].

    As :meth:`softsom.Grid.hops` and :meth:`softsom.Grid.euclidean`, from the
    lattice positions ``index`` [K, m] (floats) and ``lattice`` (see
    :func:`tf_hops`). Integer positions and hops are exact in float32 (up to
    2**24).
    """
    difference = tf.gather(index, nodes)[:, None, :] - index[None]  # [B, K, m]
    if lattice is None:
        if euclidean:
            return tf.sqrt(tf.reduce_sum(tf.square(difference), axis=-1))
        return tf.reduce_sum(tf.abs(difference), axis=-1)
    topology, shape, periodic = lattice
    dtype = index.dtype
    if topology == "rectangular":
        offsets = _wrapped(tf.abs(difference), shape, periodic, dtype)
        if euclidean:
            return tf.sqrt(tf.reduce_sum(tf.square(offsets), axis=-1))
        return tf.reduce_sum(offsets, axis=-1)
    # Hexagonal: rows dr apart, twice_dx half-units along the rows (odd rows shifted by half a node).
    parity = tf.math.floormod(index[:, 1], 2.0)
    rows = _wrapped(tf.abs(difference[..., 1]), shape[1:], periodic[1:], dtype)
    twice_dx = tf.abs(2.0 * difference[..., 0] + tf.gather(parity, nodes)[:, None] - parity[None])
    twice_dx = _wrapped(twice_dx, (2 * shape[0],), periodic[:1], dtype)
    if euclidean:
        return tf.sqrt(tf.square(0.5 * twice_dx) + tf.square(rows * (3.0**0.5 / 2.0)))
    return rows + tf.maximum(0.0, 0.5 * (twice_dx - rows))


def _wrapped(offsets, periods, periodic, dtype):
    """``min(d, n - d)`` along the periodic axes of ``offsets`` (``|d|``, last axis the grid's, or one axis)."""
    if not any(periodic):
        return offsets
    if len(periods) == 1:
        return tf.minimum(offsets, float(periods[0]) - offsets)
    sizes = tf.constant([float(n) if wraps else float("inf") for n, wraps in zip(periods, periodic)], dtype)
    return tf.minimum(offsets, sizes - offsets)


def tf_winners(x, embedding):
    """Index of the nearest node for every row of ``x`` [B, n], shape [B].

    ``argmin_v ||l_v||^2 - 2 x . l_v``: one [B, n] x [n, K] matrix product
    (``||x||^2`` is common to all nodes and left out). Computed in the dtype
    of the arguments, so data far from the origin compared with their spread
    should be centred first.
    """
    # -2 scales the [K, n] factor, not the [B, K] product: the same numbers
    # (a power of two scales exactly), one pass fewer over the large product.
    squared = tf.reduce_sum(tf.square(embedding), axis=1)[None, :] + tf.matmul(x, -2.0 * embedding, transpose_b=True)
    return tf.argmin(squared, axis=1)


def tf_neighbourhood_sums(x, embedding, index, sigma, gaussian, keep=None, sum_dtype=None, lattice=None):
    """The sums the mini-batch Kohonen rule needs from the inputs ``x`` [B, n].

    With ``h_bv = h(d(w_b, v), sigma)`` for the winner ``w_b`` of input b:
    ``sum_b h_bv x_b`` [K, n] and ``sum_b h_bv`` [K]. Sums rather than means,
    so that the sums of the shards of a batch (one per replica) add up to
    those of the whole batch. ``keep`` [B] (bool), if given, leaves out the
    rows where it is False (their ``x`` must be finite, e.g. zeroed). The
    sums are accumulated in ``sum_dtype`` (default: the dtype of ``x``).
    ``index`` and ``lattice`` describe the grid as for :func:`tf_hops`.
    """
    h = tf_neighbourhood(tf_hops(index, tf_winners(x, embedding), lattice), sigma, gaussian)  # [B, K]
    if keep is not None:
        h = tf.where(keep[:, None], h, tf.zeros_like(h))
    if sum_dtype is not None:
        h, x = tf.cast(h, sum_dtype), tf.cast(x, sum_dtype)
    return tf.matmul(h, x, transpose_a=True), tf.reduce_sum(h, axis=0)


def tf_kohonen_increment(embedding, weighted_inputs, weights, count, eta):
    """``eta / B * sum_b h_bv (x_b - l_v)``, the mean of the online updates of a batch.

    From the sums of :func:`tf_neighbourhood_sums` over ``count`` (B) inputs.
    """
    pull = weighted_inputs - weights[:, None] * embedding
    return eta / tf.maximum(count, 1.0) * pull


def sum_over_replicas(values):
    """Sum a list of tensors over the replicas of the current replica context.

    Returns the values unchanged outside a replica context (cross-replica
    code) or with a single replica, so single-device code is untouched.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return values
    return context.all_reduce(tf.distribute.ReduceOp.SUM, values)
