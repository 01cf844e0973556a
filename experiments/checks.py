"""Checks of the soft SOM op that the book shows: gradients, the naive formula's failure, beta's sharpness."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from softsom.ops import hard_som, soft_som

__all__ = ["gradient_check", "naive_soft_som", "sharpness"]

ARGUMENTS = ("points", "embedding", "coords", "beta")


def naive_soft_som(points, embedding, coords, beta):
    """The formula typed in directly: broadcast differences, exp, then normalise.

    Shown in the book to contrast with :func:`~softsom.ops.soft_som`. It builds the
    [B, K, n] difference tensor, and ``exp(-beta d)`` underflows to 0 for every node
    once ``beta d`` exceeds about 88 (float32) or 745 (float64), giving 0/0 = NaN.
    """
    points = np.asarray(points)
    distances = np.sqrt(((points[:, None, :] - embedding[None]) ** 2).sum(axis=-1))
    weights = np.exp(-beta * distances)
    with np.errstate(invalid="ignore"):
        return (weights @ coords) / weights.sum(axis=1, keepdims=True)


def gradient_check(n_cases=8, seed=0):
    """Compare soft_som's hand-written gradients with float64 central differences.

    Each case draws a batch of points, an embedding, grid coordinates and a beta
    at random. The error for an argument is the largest absolute difference
    between the analytic and the numerical Jacobian, relative to the largest
    Jacobian entry.

    Returns
    -------
    list of dict
        One row per case: its shapes, its ``beta`` (key "β"), and the error per
        argument (keys "points", "embedding", "coords", "beta").
    """
    rng = np.random.default_rng(seed)
    rows = []
    for case in range(n_cases):
        B, K, n, m = rng.integers(1, 6), rng.integers(2, 9), rng.integers(1, 5), rng.integers(1, 4)
        args = [
            rng.normal(size=(B, n)),
            rng.normal(size=(K, n)),
            rng.integers(0, 5, size=(K, m)).astype(np.float64),
            np.float64(rng.uniform(0.2, 5.0)),
        ]
        row = {"case": case + 1, "B, K, n, m": f"{B}, {K}, {n}, {m}", "β": float(args[3])}
        for index, name in enumerate(ARGUMENTS):

            def f(x, index=index):
                return soft_som(*[x if i == index else a for i, a in enumerate(args)])

            (analytic,), (numeric,) = tf.test.compute_gradient(f, [tf.constant(args[index])], delta=1e-6)
            row[name] = float(np.abs(analytic - numeric).max() / max(np.abs(numeric).max(), 1e-12))
        rows.append(row)
    return rows


def sharpness(points, embedding, coords, beta, spacing, gradient_floor):
    """How sharp the soft output is at ``beta``: its blur, and where it still passes a gradient.

    Returns ``(blur, usable)``: the mean distance, in grid units, of
    :func:`~softsom.ops.soft_som`'s output from :func:`~softsom.ops.hard_som`'s
    over ``points``, and the share of ``points`` at which moving the point by one
    node ``spacing`` moves the output by more than ``gradient_floor`` grid units
    (the Jacobian's Frobenius norm times ``spacing``). Chapter 4 measures both
    against beta times the node spacing.
    """
    points = tf.constant(np.asarray(points, dtype=np.float32))
    embedding = np.asarray(embedding, dtype=np.float32)
    coords = np.asarray(coords, dtype=np.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(points)
        output = soft_som(points, embedding, coords, beta)
        components = [tf.reduce_sum(output[:, axis]) for axis in range(coords.shape[1])]
    # Each point's output depends on that point only: the gradient of a component's sum is every point's gradient.
    jacobian = np.stack([tape.gradient(component, points).numpy() for component in components], axis=1)
    usable = np.linalg.norm(jacobian, axis=(1, 2)) * spacing > gradient_floor
    hard = hard_som(points, embedding, coords).numpy()
    return float(np.linalg.norm(output.numpy() - hard, axis=1).mean()), float(usable.mean())
