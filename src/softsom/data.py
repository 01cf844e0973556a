"""Data sets for the chapters: curved 1-D manifolds in the plane."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["spiral_curve"]


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

    Returns
    -------
    X : ndarray of shape (n, 2)
        The points, sorted by position along the curve.
    t : ndarray of shape (n,)
        Each point's position along the curve, increasing.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive int; got {n!r}")
    if not np.isfinite(turns) or turns <= 0:
        raise ValueError(f"turns must be positive; got {turns!r}")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be >= 0; got {noise!r}")
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0.0, 1.0, size=n))
    angle = 2.0 * np.pi * turns * t
    X = (1.0 + t)[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return X + rng.normal(scale=noise, size=X.shape), t
