"""Drawing a map with Matplotlib (the ``plot`` extra: ``pip install softsom[plot]``).

:func:`draw_map` draws a map where it sits in input space. The ``plot_*``
functions draw what :mod:`softsom.analysis` computes on the grid itself: one
patch per node, centred at the node's position in the plane,
``grid.positions[k]`` (x the grid's first axis, y its second, the origin at
the lower left; a chain is drawn as a row): a unit square on a rectangular
grid, a hexagon of unit width on a hexagonal one, so that the patches tile
the plane (``_node_patch``). A periodic axis is drawn unrolled, its seam at
the border. They draw 1-D and 2-D grids.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

try:
    from matplotlib.collections import LineCollection, PatchCollection
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch, RegularPolygon
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("softsom.plotting needs Matplotlib: pip install 'softsom[plot]' (or matplotlib)") from err

from . import analysis

__all__ = ["draw_map", "plot_distance_map", "plot_hit_map", "plot_labels_map", "plot_component_planes"]

# The smallest text the plots write, in points (the book's smallest font).
SMALLEST_FONT = 8


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


# --- the grid's own pictures ---------------------------------------------------


def _check_fontsize(fontsize):
    """``fontsize`` (points) if it is None or a number >= SMALLEST_FONT, else a ValueError naming it."""
    if fontsize is None:
        return None
    if isinstance(fontsize, bool) or not isinstance(fontsize, numbers.Real) or not fontsize >= SMALLEST_FONT:
        raise ValueError(f"fontsize must be a number of points >= {SMALLEST_FONT}, or None; got {fontsize!r}")
    return float(fontsize)


def _planar(som, function):
    """Node centres (K, 2) in the plane of a fitted map's 1-D or 2-D grid, else a ValueError."""
    som = analysis._fitted_map(som)
    grid = som.grid_
    if len(grid.shape) > 2:
        raise ValueError(f"{function} draws 1-D and 2-D grids; this map's grid has shape {grid.shape}")
    coords = np.asarray(grid.positions, dtype=np.float64)
    if len(grid.shape) == 1:
        coords = np.column_stack([coords[:, 0], np.zeros(len(coords))])
    return som, coords


def _node_patch(grid, centre):
    """The patch that shows one node: a unit square on the rectangular lattice, a hexagon on the hexagonal one.

    The hexagon stands on a vertex (its flat sides face the row neighbours, 1
    apart) with circumradius ``1 / sqrt(3)``, so that the rows, ``sqrt(3) /
    2`` apart, tile the plane.
    """
    topology = getattr(grid, "topology", "rectangular")
    if topology == "rectangular":
        return RegularPolygon(centre, numVertices=4, radius=math.sqrt(0.5), orientation=math.pi / 4)
    if topology == "hexagonal":
        return RegularPolygon(centre, numVertices=6, radius=1.0 / math.sqrt(3.0), orientation=0.0)
    raise ValueError(f"drawing the nodes of a {topology} grid is not supported")


def _half_extent(grid):
    """How far a node's patch reaches from its centre along x and y."""
    if getattr(grid, "topology", "rectangular") == "hexagonal":
        return 0.5, 1.0 / math.sqrt(3.0)
    return 0.5, 0.5


def _draw_nodes(ax, grid, coords, *, values=None, facecolors=None, cmap=None, norm=None, edgecolor="white"):
    """Add one patch per node to ``ax`` (coloured by ``values`` or ``facecolors``); return the collection."""
    patches = [_node_patch(grid, tuple(centre)) for centre in coords]
    collection = PatchCollection(patches, edgecolors=edgecolor, linewidths=0.5, zorder=1)
    if values is not None:
        collection.set_array(np.asarray(values, dtype=np.float64))
        collection.set_cmap(cmap)
        if norm is not None:
            collection.set_norm(norm)
    else:
        collection.set_facecolors(facecolors)
    ax.add_collection(collection)
    half_x, half_y = _half_extent(grid)
    ax.set_xlim(coords[:, 0].min() - half_x, coords[:, 0].max() + half_x)
    ax.set_ylim(coords[:, 1].min() - half_y, coords[:, 1].max() + half_y)
    ax.set_aspect("equal")
    if len(grid.shape) == 1:
        ax.set_yticks([])
    return collection


def _write(ax, coords, texts, fontsize, colors="black"):
    """Write ``texts[k]`` at node k's centre (None: nothing); return the Text objects."""
    colors = [colors] * len(texts) if isinstance(colors, str) else colors
    return [
        ax.text(x, y, text, ha="center", va="center", fontsize=fontsize, color=color, zorder=3)
        for (x, y), text, color in zip(coords, texts, colors)
        if text is not None
    ]


def _contrasting(collection):
    """Black or white text for each patch's face colour, whichever reads better."""
    values = collection.get_array()
    faces = collection.get_facecolors() if values is None else collection.to_rgba(values)
    luminance = faces[:, :3] @ np.array([0.299, 0.587, 0.114])
    return ["black" if value > 0.5 else "white" for value in luminance]


def plot_distance_map(
    ax, som, *, neighbours="grid", scaling="mean", normalize=False, cmap="bone_r", colorbar=True, label=None
):
    """Draw the map's U-matrix (:func:`softsom.analysis.distance_map`) on its grid.

    Light nodes sit close to their neighbours in input space (inside a
    cluster), dark ones far (a border between clusters), with the default
    colour map.

    Parameters
    ----------
    ax : matplotlib Axes
        Where to draw; gets an equal aspect ratio and the grid's extent.
    som : KohonenSOM
        A fitted map on a 1-D or 2-D grid.
    neighbours, scaling, normalize
        As for :func:`softsom.analysis.distance_map` (``neighbours="moore",
        scaling="sum", normalize=True`` is MiniSom's default U-matrix).
    cmap : matplotlib colour map, default "bone_r"
    colorbar : bool, default True
        Add a colour bar beside ``ax``.
    label : str or None, default None
        The colour bar's label; None says which distance is shown.

    Returns
    -------
    matplotlib PatchCollection
        The K node patches, in node order, coloured by their values.
    """
    som, coords = _planar(som, "plot_distance_map")
    values = analysis.distance_map(som, neighbours=neighbours, scaling=scaling, normalize=normalize)
    collection = _draw_nodes(ax, som.grid_, coords, values=values.ravel(), cmap=cmap)
    if colorbar:
        if label is None:
            label = f"{scaling} distance to the {neighbours} neighbours" + (" (normalised)" if normalize else "")
        ax.figure.colorbar(collection, ax=ax, label=label)
    return collection


def plot_hit_map(ax, som, X, *, cmap="Blues", text=False, fontsize=None, colorbar=True):
    """Draw how many samples of ``X`` each node wins (:func:`softsom.analysis.activation_response`).

    Parameters
    ----------
    ax : matplotlib Axes
        Where to draw.
    som : KohonenSOM
        A fitted map on a 1-D or 2-D grid.
    X : array_like of shape (N, n)
        Samples with the map's n features.
    cmap : matplotlib colour map, default "Blues"
        Colours the counts, from 0.
    text : bool, default False
        Write each node's count on it (in black or white, whichever reads).
    fontsize : float or None, default None
        Of the counts, in points, at least 8; None: Matplotlib's default.
    colorbar : bool, default True

    Returns
    -------
    matplotlib PatchCollection
        The K node patches, in node order.
    """
    fontsize = _check_fontsize(fontsize)
    som, coords = _planar(som, "plot_hit_map")
    counts = analysis.activation_response(som, X).ravel()
    norm = Normalize(vmin=0, vmax=max(int(counts.max()), 1))
    collection = _draw_nodes(ax, som.grid_, coords, values=counts, cmap=cmap, norm=norm)
    if text:
        _write(ax, coords, [str(int(c)) for c in counts], fontsize, _contrasting(collection))
    if colorbar:
        ax.figure.colorbar(collection, ax=ax, label="samples won")
    return collection


def plot_labels_map(ax, som, X, labels, *, colors=None, text=False, fontsize=None, legend=True, empty_color="0.92"):
    """Colour each node by the most frequent label among the samples it wins.

    Parameters
    ----------
    ax : matplotlib Axes
        Where to draw.
    som : KohonenSOM
        A fitted map on a 1-D or 2-D grid.
    X : array_like of shape (N, n)
        Samples with the map's n features.
    labels : sequence of length N
        One hashable label per sample (see :func:`softsom.analysis.labels_map`).
    colors : dict or None, default None
        Colour of each label; None: Matplotlib's colour cycle ("C0", "C1",
        ...) over the distinct labels, sorted (in node order if they do not
        sort).
    text : bool, default False
        Write each node's majority label on it.
    fontsize : float or None, default None
        Of the labels, in points, at least 8; None: Matplotlib's default.
    legend : bool, default True
        Add a legend of the label colours.
    empty_color : matplotlib colour, default "0.92"
        Of the nodes that win no sample.

    Returns
    -------
    matplotlib PatchCollection
        The K node patches, in node order.

    Notes
    -----
    A node whose samples tie between labels shows the one that comes first
    among its samples, in the order of ``X``.
    """
    fontsize = _check_fontsize(fontsize)
    som, coords = _planar(som, "plot_labels_map")
    counts = analysis.labels_map(som, X, labels)
    distinct = list(dict.fromkeys(label for counter in counts.values() for label in counter))
    try:
        distinct = sorted(distinct)
    except TypeError:
        pass
    if colors is None:
        colors = {label: f"C{i % 10}" for i, label in enumerate(distinct)}
    elif not isinstance(colors, dict) or set(distinct) - set(colors):
        raise ValueError(f"colors must be a dict with a colour for every label, {distinct!r}; got {colors!r}")
    shape = som.grid_.shape
    majority = [None] * som.grid_.size
    for position, counter in counts.items():
        majority[int(np.ravel_multi_index(position, shape))] = counter.most_common(1)[0][0]
    faces = [empty_color if label is None else colors[label] for label in majority]
    collection = _draw_nodes(ax, som.grid_, coords, facecolors=faces)
    if text:
        texts = [None if label is None else str(label) for label in majority]
        _write(ax, coords, texts, fontsize, _contrasting(collection))
    if legend:
        shown = [label for label in distinct if label in set(majority) - {None}]
        handles = [Patch(facecolor=colors[label], label=str(label)) for label in shown]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0, frameon=False)
    return collection


def plot_component_planes(fig, som, *, feature_names=None, cmap="coolwarm", ncols=None, colorbar=True):
    """One panel per input feature: its value over the grid (:func:`softsom.analysis.component_planes`).

    Parameters
    ----------
    fig : matplotlib Figure
        Gets the panels (``fig.subplots``), in rows of ``ncols``.
    som : KohonenSOM
        A fitted map on a 1-D or 2-D grid.
    feature_names : sequence of n str, or None
        The panels' titles; None: "feature 0", "feature 1", ...
    cmap : matplotlib colour map, default "coolwarm"
    ncols : int or None, default None
        Panels per row; None: ``ceil(sqrt(n))``.
    colorbar : bool, default True
        A colour bar beside every panel (each feature has its own range).

    Returns
    -------
    list of matplotlib Axes
        The n panels, in feature order (unused places of the last row are removed).
    """
    som, coords = _planar(som, "plot_component_planes")
    planes = analysis.component_planes(som)
    n = len(planes)
    if feature_names is None:
        feature_names = [f"feature {i}" for i in range(n)]
    elif isinstance(feature_names, str) or len(feature_names) != n:
        raise ValueError(f"feature_names must hold one name per feature ({n}); got {feature_names!r}")
    if ncols is None:
        ncols = math.ceil(math.sqrt(n))
    elif isinstance(ncols, bool) or not isinstance(ncols, numbers.Integral) or ncols < 1:
        raise ValueError(f"ncols must be a positive int or None; got {ncols!r}")
    ncols = min(int(ncols), n)
    nrows = math.ceil(n / ncols)
    axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for extra in axes[n:]:
        extra.remove()
    for ax, plane, name in zip(axes, planes, feature_names):
        collection = _draw_nodes(ax, som.grid_, coords, values=plane.ravel(), cmap=cmap)
        ax.set_title(str(name))
        if colorbar:
            fig.colorbar(collection, ax=ax)
    return axes[:n]
