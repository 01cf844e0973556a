"""Matplotlib figures of the chapters (the map itself is drawn by :func:`softsom.plotting.draw_map`)."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np

from softsom.plotting import draw_map

__all__ = [
    "capacity_scatter",
    "forest_plot",
    "search_progress",
    "som_output_scatter",
    "summary_lines",
    "decision_regions",
    "field_image",
    "median_bars",
    "plane",
    "player",
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


_PLAYER_ICONS = {
    "fa-minus": "\u2212",
    "fa-fast-backward": "\u21e4",
    "fa-step-backward": "\u25c1",
    "fa-play fa-flip-horizontal": "\u25c0",
    "fa-pause": "\u275a\u275a",
    "fa-play": "\u25b6",
    "fa-step-forward": "\u25b7",
    "fa-fast-forward": "\u21e5",
    "fa-plus": "+",
}


def player(fig, draw, n_frames, *, interval=200):
    """An interactive figure: ``fig`` redrawn by ``draw(i)`` for frames ``0 .. n_frames - 1``.

    Returns the HTML of matplotlib's ``to_jshtml`` player (a slider over the
    frames, play and pause, one step back or forward): every frame is a PNG
    inside the HTML, driven by inline JavaScript, so it works in a saved page
    with no kernel and no network. ``fig`` is closed.
    """
    from matplotlib.animation import FuncAnimation

    if n_frames < 2:
        raise ValueError(f"n_frames must be at least 2; got {n_frames!r}")
    animation = FuncAnimation(fig, draw, frames=n_frames, interval=interval)
    html = animation.to_jshtml(default_mode="once")
    plt.close(fig)
    # The template styles its buttons with Font Awesome from a CDN: drop the stylesheet, label them in Unicode.
    html = re.sub(r'<link rel="stylesheet"\s+href="https://[^"]*font-awesome[^"]*">', "", html)
    for icon, label in _PLAYER_ICONS.items():
        html = html.replace(f'<i class="fa {icon}"></i>', label)
    if "https://" in html or '<i class="fa' in html:
        raise RuntimeError("matplotlib's to_jshtml template changed: the player would load from the network")
    return html


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
    """Mean of per-seed curves with a band of one standard deviation.

    Curves may differ in length (runs that stopped early): each shorter one
    keeps its last value to the longest one's end.
    """
    width = max(len(curve) for curve in curves)
    curves = np.array([np.concatenate([curve, np.full(width - len(curve), curve[-1])]) for curve in curves])
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


def forest_plot(ax, rows, label="question"):
    """Paired differences with their 95% intervals, one line each, zero marked.

    ``rows`` as :func:`experiments.report.contrasts` returns them; a filled dot
    is a difference that survives Holm's adjustment, an open one is not.
    """
    y = np.arange(len(rows))[::-1]
    for yi, row in zip(y, rows):
        significant = row["p_holm"] < 0.05
        ax.plot([row["ci_low"], row["ci_high"]], [yi, yi], color="C0", lw=2)
        ax.plot(row["mean"], yi, "o", color="C0", markerfacecolor="C0" if significant else "white", ms=7)
    ax.axvline(0.0, color="k", lw=0.8, ls="--")
    ax.set_yticks(y, [row[label] for row in rows], fontsize=9)
    ax.set_xlabel("difference in test accuracy (a - b), 95% interval")


def summary_lines(ax, xs, table, labels=None, log_x=False):
    """One line per family: mean test accuracy against ``xs`` with its 95% interval as a band."""
    for i, (name, summaries) in enumerate(table.items()):
        mean = np.array([s["mean"] for s in summaries])
        low = np.array([s["ci_low"] for s in summaries])
        high = np.array([s["ci_high"] for s in summaries])
        positions = np.arange(len(xs)) if labels is not None else np.asarray(xs)
        ax.plot(positions, mean, marker="o", color=f"C{i % 10}", label=name, lw=1.4, ms=4, ls="-" if i < 10 else "--")
        ax.fill_between(positions, low, high, color=f"C{i % 10}", alpha=0.12, lw=0)
    if labels is not None:
        ax.set_xticks(np.arange(len(xs)), labels)
    if log_x:
        ax.set_xscale("log")
    ax.set_ylabel("test accuracy")


def capacity_scatter(ax, search_document):
    """Test accuracy on the tuning seeds against learned parameters, one point per trial, per network family."""
    for i, entry in enumerate(e for e in search_document["families"] if e["kind"] == "network"):
        trials = entry["trials"]
        ax.scatter(
            [t["learned_parameters"] for t in trials],
            [t["test_accuracy"] for t in trials],
            s=14,
            color=f"C{i}",
            label=entry["name"],
            alpha=0.8,
        )
    ax.set_xscale("log")
    ax.set(xlabel="learned parameters (log scale)", ylabel="test accuracy (tuning seeds)")


def som_output_scatter(ax, coords, y, grid_shape):
    """The SOM layer's grid-coordinate output of the training points, coloured by class."""
    ax.scatter(coords[:, 0], coords[:, 1], c=y, cmap="RdBu_r", s=8, edgecolors="k", linewidths=0.2, vmin=0, vmax=1)
    ax.set(xlim=(-0.5, grid_shape[0] - 0.5), ylim=(-0.5, grid_shape[1] - 0.5), aspect="equal")
    ax.set_xlabel("grid coordinate $g_1$")
    ax.set_ylabel("grid coordinate $g_2$")


def search_progress(ax, search_document):
    """The best score found so far against the trial number, one line per family (is the budget enough?)."""
    for i, entry in enumerate(search_document["families"]):
        scores = np.minimum.accumulate([t["score"] for t in entry["trials"]])
        first = scores[0] if scores[0] != 0 else 1.0
        ax.plot(
            np.arange(1, len(scores) + 1),
            scores / first,
            color=f"C{i % 10}",
            ls="-" if i < 10 else "--",
            label=entry["name"],
            lw=1.2,
        )
    ax.set(xlabel="trial", ylabel="best score so far / first trial's score")
