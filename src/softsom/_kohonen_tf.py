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


def tf_hops(coords, nodes):
    """Graph distance from each of ``nodes`` (indices, [B]) to every node: [B, K]."""
    return tf.reduce_sum(tf.abs(tf.gather(coords, nodes)[:, None, :] - coords[None]), axis=-1)


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


def tf_neighbourhood_sums(x, embedding, coords, sigma, gaussian, keep=None, sum_dtype=None):
    """The sums the mini-batch Kohonen rule needs from the inputs ``x`` [B, n].

    With ``h_bv = h(d(w_b, v), sigma)`` for the winner ``w_b`` of input b:
    ``sum_b h_bv x_b`` [K, n] and ``sum_b h_bv`` [K]. Sums rather than means,
    so that the sums of the shards of a batch (one per replica) add up to
    those of the whole batch. ``keep`` [B] (bool), if given, leaves out the
    rows where it is False (their ``x`` must be finite, e.g. zeroed). The
    sums are accumulated in ``sum_dtype`` (default: the dtype of ``x``).
    """
    h = tf_neighbourhood(tf_hops(coords, tf_winners(x, embedding)), sigma, gaussian)  # [B, K]
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
