"""Matplotlib figures of the chapters (the map itself is drawn by :func:`softsom.plotting.draw_map`)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from softsom.plotting import draw_map

__all__ = [
    "decision_regions",
    "field_image",
    "median_bars",
    "plane",
    "seed_band",
    "snapshot_strip",
    "som_in_hidden_space",
    "update_step",
]


def update_step(ax, before, after, grid, sample, winner, weights):
    """One online update: the map before (grey), after (coloured by weight), and the sample."""
    draw_map(ax, before, grid, color="0.75", node_size=8)
    points = draw_map(ax, after, grid, color="C0", node_colors=weights, node_size=30)
    moved = np.linalg.norm(after - before, axis=1) > 1e-3
    for start, end in zip(before[moved], after[moved]):
        ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="->", color="0.3", lw=0.8))
    ax.scatter(*sample, marker="*", s=260, c="C3", edgecolors="k", zorder=5, label="sample x")
    ax.scatter(
        *before[winner],
        marker="s",
        s=70,
        facecolors="none",
        edgecolors="C3",
        linewidths=2,
        zorder=5,
        label="winner (before)",
    )
    ax.legend(loc="lower left", fontsize=8)
    return points


def snapshot_strip(snapshots, grid, X, titles, *, size=2.4):
    """A row of panels showing a map over the data at successive moments of training."""
    fig, axes = plt.subplots(1, len(snapshots), figsize=(size * len(snapshots), size + 0.4))
    for ax, embedding, title in zip(np.atleast_1d(axes), snapshots, titles):
        ax.scatter(X[:, 0], X[:, 1], s=2, c="0.8", zorder=1)
        draw_map(ax, embedding, grid, node_size=6, linewidth=0.8)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def plane(bounds=(-1.0, 1.0, -1.0, 1.0), resolution=100):
    """Points on a regular ``resolution x resolution`` lattice over a rectangle.

    Returns
    -------
    xs, ys : ndarray of shape (resolution,)
    points : ndarray of shape (resolution**2, 2), float32
        Row-major: ``points.reshape(resolution, resolution, 2)[i, j] == (xs[j], ys[i])``.
    """
    x0, x1, y0, y1 = bounds
    xs, ys = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
    xx, yy = np.meshgrid(xs, ys)
    return xs, ys, np.stack([xx.ravel(), yy.ravel()], axis=1).astype(np.float32)


def field_image(ax, values, bounds, **kwargs):
    """Show values computed on :func:`plane` points as an image over the plane."""
    resolution = int(round(np.sqrt(np.size(values))))
    return ax.imshow(
        np.reshape(values, (resolution, resolution)),
        origin="lower",
        extent=bounds,
        interpolation="nearest",
        aspect="equal",
        **kwargs,
    )


def decision_regions(ax, predict, X, y, bounds=(-1.1, 1.1, -1.1, 1.1), resolution=200):
    """Class-1 probability of ``predict`` over the plane, with the points on top."""
    _, _, points = plane(bounds, resolution)
    image = field_image(ax, predict(points)[:, 1], bounds, cmap="RdBu_r", vmin=0.0, vmax=1.0, alpha=0.85)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", s=8, edgecolors="k", linewidths=0.3, vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    return image


def seed_band(ax, curves, label, color):
    """Mean of per-seed curves with a band of one standard deviation."""
    curves = np.asarray(curves)
    epochs = np.arange(1, curves.shape[1] + 1)
    mean, std = curves.mean(axis=0), curves.std(axis=0)
    ax.plot(epochs, mean, color=color, label=label, lw=1.4)
    ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2, lw=0)


def som_in_hidden_space(ax, activations, embedding, grid, y, basis):
    """The SOM's grid where it lives, among a layer's activations, seen through a PCA ``basis``.

    ``basis`` is ``(mean, components)`` from :func:`experiments.manifold.pca_basis`,
    so successive snapshots share one view.
    """
    mean, components = basis
    projected = (np.asarray(activations) - mean) @ components.T
    ax.scatter(projected[:, 0], projected[:, 1], c=y, cmap="RdBu_r", s=5, alpha=0.6, vmin=0, vmax=1)
    draw_map(ax, (np.asarray(embedding) - mean) @ components.T, grid, color="k", node_size=5, linewidth=0.6)
    ax.set_aspect("auto")
    ax.set_xticks([])
    ax.set_yticks([])


def median_bars(ax, table, *, target=None, label=str):
    """Grouped bars of benchmark medians with min-max error bars.

    Parameters
    ----------
    ax : matplotlib Axes
    table : dict
        ``{group: {series: figure}}`` with figures as in ``results/bench.json``
        (``min``, ``median``, ``max``; None where skipped, drawn as a gap).
    target : float, optional
        Drawn as a dashed line.
    label : callable
        Legend label of a series name.
    """
    groups = list(table)
    series = list(dict.fromkeys(name for row in table.values() for name in row))
    width = 0.8 / len(series)
    for i, name in enumerate(series):
        x = np.arange(len(groups)) + (i - (len(series) - 1) / 2) * width
        stats = np.array(
            [
                [np.nan if fig is None or fig[key] is None else fig[key] for key in ("min", "median", "max")]
                for fig in (table[group].get(name) for group in groups)
            ]
        )
        low, median, high = stats.T
        ax.bar(x, median, width, yerr=[median - low, high - median], capsize=3, label=label(name))
    if target is not None:
        ax.axhline(target, color="k", ls="--", lw=1, label=f"target {target:g}x")
    ax.set_xticks(np.arange(len(groups)), groups, fontsize=8)
    ax.legend(fontsize=8)
