"""The digits chapter's maps: a Kohonen map of the 8x8 digits, MiniSom's on the same task, and their pictures.

:func:`compare` fits :class:`~softsom.KohonenSOM` and MiniSom (Vettigli)
with the same settings (:class:`MapSettings`): the same grid, MiniSom's
Gaussian neighbourhood of the Euclidean grid distance
(``neighbourhood="gaussian", distance="euclidean"``), the same geometric
learning-rate and radius schedules over the same number of single-sample
updates, both started at randomly drawn samples and shown the samples in a
random order. Each map is timed twice in the process: *cold*, the first fit
(for KohonenSOM it includes tracing and XLA compilation of its loop), and
*warm*, a repeat with the same seed. Both maps are then scored by the same code
(:meth:`~softsom.KohonenSOM.quantization_error` and
:meth:`~softsom.KohonenSOM.topographic_error` under both adjacency
conventions; MiniSom's map is wrapped as a KohonenSOM embedded at its weights),
and by MiniSom's own methods, as a check.

MiniSom takes a callable learning-rate schedule but only named radius
schedules, so its radius schedule is set on the instance after construction
(``_sigma_decay_function``, a private attribute of MiniSom 2.3).
"""

from __future__ import annotations

import dataclasses
import functools
import time

import matplotlib.pyplot as plt
import numpy as np

from experiments.digits import PIXEL_SCALE

__all__ = [
    "MapSettings",
    "load_scaled",
    "kohonen_map",
    "minisom_map",
    "as_kohonen",
    "compare",
    "prototype_mosaic",
    "majority_labels",
    "write_labels",
]


@dataclasses.dataclass(frozen=True)
class MapSettings:
    """The settings both libraries get: grid side, passes over the data, and the two schedules."""

    side: int = 12
    epochs: int = 10
    learning_rate: tuple = (0.5, 0.01)
    sigma: tuple = (3.0, 0.5)

    def updates(self, n_samples):
        """Single-sample updates of one fit: ``epochs`` passes over ``n_samples``."""
        return self.epochs * n_samples


def load_scaled():
    """All 1 797 digits as ``(X, y)``: pixels divided by 16, to [0, 1], float32; labels 0-9."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X / PIXEL_SCALE).astype(np.float32), y


def kohonen_map(X, settings, seed):
    """A KohonenSOM fitted to ``X`` with ``settings`` (the online rule, one update per sample)."""
    from softsom import KohonenSOM

    return KohonenSOM(
        (settings.side, settings.side),
        learning_rate=settings.learning_rate,
        sigma=settings.sigma,
        neighbourhood="gaussian",
        distance="euclidean",
        init="sample",
        epochs=settings.epochs,
        random_state=seed,
    ).fit(X)


def _geometric(start, t, horizon, *, end):
    """MiniSom's schedule signature ``(start, t, max_iter)`` for KohonenSOM's geometric decay."""
    from softsom.kohonen import decay

    return float(decay(start, end, t, horizon))


def minisom_map(X, settings, seed):
    """A MiniSom fitted to ``X`` with the same grid, neighbourhood, schedules and number of updates."""
    from minisom import MiniSom

    som = MiniSom(
        settings.side,
        settings.side,
        X.shape[1],
        sigma=settings.sigma[0],
        learning_rate=settings.learning_rate[0],
        decay_function=functools.partial(_geometric, end=settings.learning_rate[1]),
        neighborhood_function="gaussian",
        random_seed=seed,
    )
    som._sigma_decay_function = functools.partial(_geometric, end=settings.sigma[1])
    som.random_weights_init(X)
    som.train(X, settings.updates(len(X)), random_order=True)
    return som


def as_kohonen(som, X):
    """MiniSom's map as a KohonenSOM embedded at its weights (node (i, j) is node i * side + j)."""
    from softsom import KohonenSOM

    weights = som.get_weights()
    rows, cols, n = weights.shape
    return KohonenSOM((rows, cols), init=weights.reshape(rows * cols, n)).initialize(X)


def _timed(fit, *args):
    start = time.perf_counter()
    fitted = fit(*args)
    return fitted, time.perf_counter() - start


def compare(X, settings, seed=0):
    """Fit both maps twice (cold, then warm), time them, and score them the same way.

    Call it before any other KohonenSOM fit in the process, or "cold" is not cold.

    Returns
    -------
    rows : list of dict
        One per library: "library", "cold_seconds", "warm_seconds",
        "quantization_error", "topographic_error_grid" (4 neighbours),
        "topographic_error_minisom" (8 neighbours), and MiniSom's own
        "minisom_quantization_error" and "minisom_topographic_error" (MiniSom's
        map only; None for ours).
    maps : dict
        ``{"softsom": KohonenSOM, "minisom": MiniSom}``, the warm fits.
    """
    ours_cold, ours_cold_seconds = _timed(kohonen_map, X, settings, seed)
    ours, ours_warm_seconds = _timed(kohonen_map, X, settings, seed)
    if not np.array_equal(ours.embedding_, ours_cold.embedding_):
        raise RuntimeError("KohonenSOM: the same seed gave two different maps")
    _, theirs_cold_seconds = _timed(minisom_map, X, settings, seed)
    theirs, theirs_warm_seconds = _timed(minisom_map, X, settings, seed)
    wrapped = as_kohonen(theirs, X)
    rows = []
    for library, fitted, cold, warm in [
        ("softsom KohonenSOM", ours, ours_cold_seconds, ours_warm_seconds),
        ("MiniSom", wrapped, theirs_cold_seconds, theirs_warm_seconds),
    ]:
        rows.append(
            {
                "library": library,
                "cold_seconds": cold,
                "warm_seconds": warm,
                "quantization_error": fitted.quantization_error(X),
                "topographic_error_grid": fitted.topographic_error(X, adjacency="grid"),
                "topographic_error_minisom": fitted.topographic_error(X, adjacency="minisom"),
                "minisom_quantization_error": None,
                "minisom_topographic_error": None,
            }
        )
    rows[1]["minisom_quantization_error"] = float(theirs.quantization_error(X))
    rows[1]["minisom_topographic_error"] = float(theirs.topographic_error(X))
    return rows, {"softsom": ours, "minisom": theirs}


def prototype_mosaic(ax, som, labels=None, gap=1):
    """Each node's embedding drawn as an 8x8 image at its place on the grid, in one picture.

    The places are those of :mod:`softsom.plotting`'s maps (grid axis 0 to the
    right, axis 1 upwards), so the mosaic lines up with the U-matrix and the hit
    map. Dark is ink (high pixel values). ``labels``, if given, is ``{grid
    position: label}`` (e.g. :func:`majority_labels`), written small in each
    image's top left corner.
    """
    rows, cols = som.grid_.shape
    cell = 8 + gap
    mosaic = np.full((cols * cell + gap, rows * cell + gap), np.nan)
    for node, (i, j) in enumerate(som.grid_.coords.astype(int)):
        bottom, left = gap + j * cell, gap + i * cell
        mosaic[bottom : bottom + 8, left : left + 8] = som.embedding_[node].reshape(8, 8)[::-1]
    cmap = plt.get_cmap("gray_r").with_extremes(bad="white")
    image = ax.imshow(mosaic, cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest", origin="lower")
    for (i, j), label in (labels or {}).items():
        ax.text(gap + i * cell - 0.3, gap + j * cell + 7.8, str(label), ha="left", va="top", fontsize=8, color="C3")
    ax.set_xticks([])
    ax.set_yticks([])
    return image


def majority_labels(som, X, y):
    """``{grid position: the most frequent label among the samples the node wins}`` (nodes that win any)."""
    from softsom import analysis

    return {position: counts.most_common(1)[0][0] for position, counts in analysis.labels_map(som, X, y).items()}


def write_labels(ax, labels, color="C3"):
    """Write each node's label at its place on a map drawn by :mod:`softsom.plotting` (x: grid axis 0)."""
    for (i, j), label in labels.items():
        ax.text(i, j, str(label), ha="center", va="center", fontsize=8, color=color, fontweight="bold", zorder=4)
