"""Matplotlib figures of the chapters (the map itself is drawn by :func:`softsom.plotting.draw_map`)."""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np

from softsom.plotting import draw_map

# The book's text column is about 690 px wide, 7.2 in at the browser's 96 px per inch. A figure at most
# this wide, with no text under SMALLEST_FONT_POINTS, shows its text at least 10 px tall:
# 8 pt x 690 px / (72 pt/in x 7.2 in) = 10.6 px.
COLUMN_INCHES = 7.2
SMALLEST_FONT_POINTS = 8
BOOK_STYLE = {
    "figure.dpi": 150,  # a 7.2-in figure is 1080 px, drawn into the 690-px column: sharp on high-density screens
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 11,
}


def use_book_style():
    """Set matplotlib's defaults for the book's figures (:data:`BOOK_STYLE`); chapters call it once, first."""
    plt.rcParams.update(BOOK_STYLE)


__all__ = [
    "COLUMN_INCHES",
    "SMALLEST_FONT_POINTS",
    "use_book_style",
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
    """Square panels showing a map over the data at successive moments of training, in reading order.

    Up to three snapshots sit in one row; more wrap onto two rows (the last one may have a gap).
    Each panel is ``size`` inches square, less if that is needed for the figure to fit
    :data:`COLUMN_INCHES`.
    """
    rows = 1 if len(snapshots) <= 3 else 2
    cols = -(-len(snapshots) // rows)
    side = min(size, COLUMN_INCHES / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(side * cols, (side + 0.3) * rows), squeeze=False)
    for ax, embedding, title in zip(axes.flat, snapshots, titles):
        ax.scatter(X[:, 0], X[:, 1], s=2, c="0.8", zorder=1)
        draw_map(ax, embedding, grid, node_size=6, linewidth=0.8)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[len(snapshots) :]:
        ax.set_visible(False)
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

    The frames show at the figure's size in inches at the browser's 96 px per
    inch, whatever ``fig``'s dpi, and never wider than the page; so a figure at
    most :data:`COLUMN_INCHES` wide fits the book's column at its nominal font sizes.
    """
    from matplotlib.animation import FuncAnimation

    if n_frames < 2:
        raise ValueError(f"n_frames must be at least 2; got {n_frames!r}")
    width_px = round(fig.get_size_inches()[0] * 96)
    animation = FuncAnimation(fig, draw, frames=n_frames, interval=interval)
    html = animation.to_jshtml(default_mode="once")
    plt.close(fig)
    html, n_images = re.subn(
        r'<img id="(_anim_img\w+)">', rf'<img id="\1" style="width: {width_px}px; max-width: 100%; height: auto">', html
    )
    if n_images != 1:
        raise RuntimeError("matplotlib's to_jshtml template changed: its frame's <img> was not found")
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
    """Class-1 probability of ``predict`` over the plane, with the points on top.

    The field is drawn in pale colours and the points in their class's darkest one with a contrasting edge
    (class 0 as white-edged circles, class 1 as black-edged triangles), so every point stands out
    on either class's region; the points' scatters are labelled "blue class" and "red class" for a legend.
    """
    from matplotlib.colors import ListedColormap

    _, _, points = plane(bounds, resolution)
    pale = ListedColormap(plt.get_cmap("RdBu_r")(np.linspace(0.25, 0.75, 256)))
    image = field_image(ax, predict(points)[:, 1], bounds, cmap=pale, vmin=0.0, vmax=1.0)
    colors = plt.get_cmap("RdBu_r")([0.0, 1.0])
    for label, marker, edge, name in ((0, "o", "w", "blue class"), (1, "^", "k", "red class")):
        mine = np.asarray(y) == label
        ax.scatter(
            X[mine, 0],
            X[mine, 1],
            color=colors[label],
            marker=marker,
            s=20,
            edgecolors=edge,
            linewidths=0.8,
            label=name,
        )
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
    so successive snapshots share one view. The map is drawn as a thin grey web under the
    activations, so that even a map of thousands of nodes leaves them visible.
    """
    mean, components = basis
    projected = (np.asarray(activations) - mean) @ components.T
    draw_map(ax, (np.asarray(embedding) - mean) @ components.T, grid, color="0.55", node_size=1, linewidth=0.3)
    ax.scatter(
        projected[:, 0],
        projected[:, 1],
        c=y,
        cmap="RdBu_r",
        s=7,
        edgecolors="k",
        linewidths=0.2,
        vmin=0,
        vmax=1,
        zorder=4,
    )
    ax.set_aspect("auto")
    ax.set_xticks([])
    ax.set_yticks([])


def median_bars(ax, table, *, target=None, label=str, series=None, colors=None, legend=True):
    """Grouped bars of benchmark medians with min-max error bars, on the axes' (linear) scale.

    A figure that was not measured is labelled where its bar would be, not left as a silent gap:
    "skipped" (it is in the file with a ``skipped`` reason) or "missing" (not in the file at all);
    a group with none of its figures measured gets one label, with the reason if they share one.

    Parameters
    ----------
    ax : matplotlib Axes
    table : dict
        ``{group: {series: figure}}`` with figures as in ``results/bench.json``
        (``min``, ``median``, ``max``; None where skipped).
    target : float or "each", optional
        A float is drawn as one dashed line; ``"each"`` draws every figure's own target
        (``figure["target"]["value"]``) as a dashed black line across its bar.
    label : callable
        Legend label of a series name.
    series : list, optional
        The series to draw, in order (by default every series in ``table``): one named here but
        absent from a group is labelled missing.
    colors : dict, optional
        ``{series: colour}``; by default the colour cycle.
    legend : bool
        Draw the legend on ``ax``.
    """
    import textwrap

    groups = list(table)
    series = list(series or dict.fromkeys(name for row in table.values() for name in row))
    width = 0.8 / len(series)
    whole_group = {}  # groups with nothing measured, labelled once: {group: label}
    for group in groups:
        figs = [table[group].get(name) for name in series]
        if all(fig is None or fig["median"] is None for fig in figs):
            reasons = {fig.get("skipped") for fig in figs if fig is not None}
            if not reasons:
                whole_group[group] = "missing from the file"
            elif len(reasons) == 1 and None not in reasons:
                whole_group[group] = "not measured:\n" + textwrap.fill(reasons.pop(), 24)
            else:
                whole_group[group] = "not measured"
    targets_drawn = False
    for i, name in enumerate(series):
        x = np.arange(len(groups)) + (i - (len(series) - 1) / 2) * width
        figs = [table[group].get(name) for group in groups]
        stats = np.array(
            [
                [np.nan if fig is None or fig[key] is None else fig[key] for key in ("min", "median", "max")]
                for fig in figs
            ]
        )
        low, median, high = stats.T
        measured = ~np.isnan(median)
        color = (colors or {}).get(name, f"C{i}")
        ax.bar(
            x[measured],
            median[measured],
            width,
            yerr=[(median - low)[measured], (high - median)[measured]],
            capsize=3,
            color=color,
            label=label(name),
        )
        if target == "each":
            for xi, fig in zip(x, figs):
                if fig is not None and fig.get("target") is not None and fig["median"] is not None:
                    value = fig["target"]["value"]
                    ax.hlines(value, xi - width / 2, xi + width / 2, colors="k", linestyles="--", lw=1.2, zorder=3)
                    targets_drawn = True
        for j, (xi, fig) in enumerate(zip(x, figs)):
            if not measured[j] and groups[j] not in whole_group:
                text = "missing" if fig is None else "skipped"
                ax.text(
                    xi,
                    0.03,
                    text,
                    transform=ax.get_xaxis_transform(),
                    rotation=90,
                    ha="center",
                    va="bottom",
                    fontsize=8,
                )
    for j, group in enumerate(groups):
        if group in whole_group:
            ax.text(
                j, 0.5, whole_group[group], transform=ax.get_xaxis_transform(), ha="center", va="center", fontsize=8
            )
    if isinstance(target, (int, float)):
        ax.axhline(target, color="k", ls="--", lw=1, label=f"target {target:g}x")
    elif targets_drawn:
        ax.plot([], [], color="k", ls="--", lw=1.2, label="target")
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.set_ylim(bottom=0)
    if legend:
        ax.legend()


def forest_plot(ax, rows, label="question", wrap=None):
    """Paired differences with their 95% intervals, one line each, zero marked.

    ``rows`` as :func:`experiments.report.contrasts` returns them; a filled dot
    is a difference that survives Holm's adjustment, an open one is not. With
    ``wrap``, a label longer than that many characters is broken onto several lines.
    """
    import textwrap

    y = np.arange(len(rows))[::-1]
    for yi, row in zip(y, rows):
        significant = row["p_holm"] < 0.05
        ax.plot([row["ci_low"], row["ci_high"]], [yi, yi], color="C0", lw=2)
        ax.plot(row["mean"], yi, "o", color="C0", markerfacecolor="C0" if significant else "white", ms=7)
    ax.axvline(0.0, color="k", lw=0.8, ls="--")
    labels = [textwrap.fill(row[label], wrap) if wrap else row[label] for row in rows]
    ax.set_yticks(y, labels, fontsize=9)
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
