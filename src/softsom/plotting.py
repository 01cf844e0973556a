"""Drawing a map with Matplotlib (the ``plot`` extra: ``pip install softsom[plot]``)."""

from __future__ import annotations

import numpy as np

try:
    from matplotlib.collections import LineCollection
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("softsom.plotting needs Matplotlib: pip install 'softsom[plot]' (or matplotlib)") from err

__all__ = ["draw_map"]


def draw_map(ax, embedding, grid, *, color="C3", node_size=14, linewidth=1.2, label=None, node_colors=None):
    """Draw a map's grid graph where it sits in the plane: nodes and grid edges.

    The axes get an equal aspect ratio and are rescaled to show the map.

    Parameters
    ----------
    ax : matplotlib Axes
        Where to draw.
    embedding : array of shape (K, n), n >= 2
        Node positions ``l_v``; the first two input dimensions are drawn.
    grid : :class:`~softsom.Grid`
        The map's grid, whose edges join the nodes.
    color : matplotlib colour, default "C3"
        Colour of the edges, and of the nodes unless ``node_colors`` is given.
    node_size : float, default 14
        Marker area of the nodes, in points squared.
    linewidth : float, default 1.2
        Width of the edges, in points.
    label : str or None, default None
        Legend label of the edges.
    node_colors : array of shape (K,), optional
        Values to colour the nodes by (e.g. the neighbourhood weight), with
        the ``viridis`` colour map and black outlines.

    Returns
    -------
    matplotlib PathCollection
        The nodes' scatter plot (e.g. for a colour bar when ``node_colors``
        is given).
    """
    embedding = np.asarray(embedding)[:, :2]
    edges = grid.edges()
    ax.add_collection(LineCollection(embedding[edges], colors=color, linewidths=linewidth, zorder=2, label=label))
    points = ax.scatter(
        embedding[:, 0],
        embedding[:, 1],
        s=node_size,
        zorder=3,
        c=color if node_colors is None else node_colors,
        cmap=None if node_colors is None else "viridis",
        edgecolors="none" if node_colors is None else "k",
        linewidths=0.4,
    )
    ax.set_aspect("equal")
    ax.autoscale_view()
    return points
