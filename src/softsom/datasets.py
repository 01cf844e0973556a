"""Data sets for the chapters: curved 1-D manifolds in the plane, and two spirals."""

from __future__ import annotations

import dataclasses

import numpy as np

from ._validation import check_non_negative_number, check_positive_int, check_positive_number, rng_from_seed

__all__ = ["spiral_curve", "two_spirals", "Spirals"]


def _check_shape(turns, noise):
    """Validate a number of turns (> 0) and a noise level (>= 0); return them as floats."""
    return check_positive_number("turns", turns), check_non_negative_number("noise", noise)


def _check_fractions(fractions):
    """Return (train, validation, test) shares as floats, or raise ValueError naming fractions."""
    try:
        shares = np.asarray(fractions)
        # Numbers only: np.asarray(..., dtype=float) would also accept "0.5" or True.
        valid = (
            shares.dtype.kind in "iuf"
            and shares.shape == (3,)
            and bool(np.all(shares >= 0))
            and bool(np.isclose(shares.sum(), 1.0))
        )
    except ValueError:  # ragged nesting, which numpy cannot make an array of
        valid = False
    if not valid:
        raise ValueError(f"fractions must be three non-negative shares summing to 1; got {fractions!r}")
    return shares.astype(np.float64)


def spiral_curve(n, *, turns=0.75, noise=0.03, seed=None):
    """Points scattered around an Archimedean spiral arc in R².

    The curve is ``(1 + t) * (cos(2 pi turns t), sin(2 pi turns t))`` for a
    position ``t`` in [0, 1]; ``turns < 0.5`` is a gentle arc, ``turns > 1``
    a spiral whose arms lie side by side.

    Parameters
    ----------
    n : int
        Number of points, >= 1.
    turns : float
        How many times the curve winds round the origin, > 0.
    noise : float
        Standard deviation of the Gaussian noise added to each coordinate, >= 0.
    seed : int, numpy Generator or None
        Seeds the positions and the noise; None draws fresh entropy.

    Returns
    -------
    X : ndarray of shape (n, 2)
        The points, sorted by position along the curve.
    t : ndarray of shape (n,)
        Each point's position along the curve, increasing.
    """
    check_positive_int("n", n)
    turns, noise = _check_shape(turns, noise)
    rng = rng_from_seed("seed", seed)
    t = np.sort(rng.uniform(0.0, 1.0, size=n))
    angle = 2.0 * np.pi * turns * t
    X = (1.0 + t)[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return X + rng.normal(scale=noise, size=X.shape), t


@dataclasses.dataclass(frozen=True)
class Spirals:
    """A two-spirals data set split three ways; each part is ``(X [N, 2], y [N])``."""

    train: tuple
    validation: tuple
    test: tuple


def _spiral_arms(t, turns):
    """Class 0 at ``(r sin theta, r cos theta)``, class 1 its negation, for positions t."""
    theta = 2.0 * np.pi * turns * t
    radius = 6.5 * (104.0 - 96.0 * t) / 104.0
    arm = np.stack([radius * np.sin(theta), radius * np.cos(theta)], axis=1)
    X = np.concatenate([arm, -arm])
    y = np.concatenate([np.zeros(len(t), np.int64), np.ones(len(t), np.int64)])
    return X, y


def two_spirals(n_per_class=None, *, turns=3.0, noise=0.0, seed=None, fractions=(0.6, 0.2, 0.2)):
    """Two interleaved spirals, the benchmark of Lang & Witbrock (1988).

    With ``n_per_class=None``: the classic set. For i = 0..96, angle
    ``theta = i pi / 16`` and radius ``r = 6.5 (104 - i) / 104``; class 0 at
    ``(r sin theta, r cos theta)``, class 1 at its negation: 194 points, three
    turns, all of them in ``train`` (the classic task is to fit them all), with
    empty validation and test parts.

    Otherwise a generator on the same spirals: ``n_per_class`` positions drawn
    uniformly along each arm (``theta = 2 pi turns t``,
    ``r = 6.5 (104 - 96 t) / 104`` for t in [0, 1]), Gaussian noise of standard
    deviation ``noise`` added, then shuffled and split by ``fractions``. The
    result depends only on the arguments and ``seed``.

    Parameters
    ----------
    n_per_class : int or None
        Points per class, >= 1; None for the classic set.
    turns : float
        Turns of each arm, > 0 (generator only).
    noise : float
        Noise standard deviation, >= 0 (generator only).
    seed : int, numpy Generator or None
        Seeds the positions, the noise and the shuffle (generator only);
        None draws fresh entropy.
    fractions : (float, float, float)
        Train, validation and test shares, non-negative, summing to 1.

    Returns
    -------
    :class:`~softsom.datasets.Spirals`
        The ``train``, ``validation`` and ``test`` parts, each ``(X, y)``
        with ``X`` of shape (N, 2) and integer labels ``y`` (0 or 1) of
        shape (N,).
    """
    # Checked even for the classic set, which ignores them: a bad value is a mistake either way.
    turns, noise = _check_shape(turns, noise)
    fractions = _check_fractions(fractions)
    rng = rng_from_seed("seed", seed)
    if n_per_class is None:
        X, y = _spiral_arms(np.arange(97) / 96.0, 3.0)
        empty = (np.zeros((0, 2)), np.zeros(0, np.int64))
        return Spirals(train=(X, y), validation=empty, test=empty)
    check_positive_int("n_per_class", n_per_class)
    X, y = _spiral_arms(rng.uniform(0.0, 1.0, size=n_per_class), turns)
    X = X + rng.normal(scale=noise, size=X.shape)
    order = rng.permutation(len(X))
    ends = np.round(np.cumsum(fractions)[:2] * len(X)).astype(int)
    parts = np.split(order, ends)
    return Spirals(*[(X[part], y[part]) for part in parts])
