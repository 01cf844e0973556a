"""Linear and rank tools for comparing how a method maps a manifold."""

from __future__ import annotations

import numpy as np

__all__ = ["pca", "pca_basis", "rank_correlation"]


def pca_basis(X, m=1):
    """Mean and first ``m`` principal directions of ``X``: ``(mean [n], components [m, n])``."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) < 2:
        raise ValueError(f"X must be 2-D with at least two samples; got shape {X.shape}")
    if not 1 <= m <= X.shape[1]:
        raise ValueError(f"m must be between 1 and the number of features {X.shape[1]}; got {m}")
    mean = X.mean(axis=0)
    _, _, components = np.linalg.svd(X - mean, full_matrices=False)
    return mean, components[:m]


def pca(X, m=1):
    """Project ``X`` onto its first ``m`` principal components.

    Returns
    -------
    scores : ndarray of shape (N, m)
        Coordinates along the components: PCA's m-dimensional output.
    reconstruction : ndarray of shape (N, n)
        The projections, back in input space.
    """
    mean, components = pca_basis(X, m)
    scores = (np.asarray(X, dtype=np.float64) - mean) @ components.T
    return scores, mean + scores @ components


def _ranks(values):
    """Ranks 0..N-1, ties sharing their mean rank."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    _, inverse = np.unique(values, return_inverse=True)
    mean_rank = np.bincount(inverse, weights=ranks) / np.bincount(inverse)
    return mean_rank[inverse]


def rank_correlation(a, b):
    """Spearman's rank correlation of two 1-D arrays (ties get mean ranks).

    +1 or -1 means one is a monotone function of the other: a map that keeps
    the order of points along a curve, in either direction.
    """
    a, b = np.ravel(a), np.ravel(b)
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"a and b must have the same length >= 2; got {len(a)} and {len(b)}")
    ra, rb = _ranks(a), _ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        raise ValueError("rank correlation is undefined when a or b is constant")
    return float(np.corrcoef(ra, rb)[0, 1])
