"""What a fitted map says about data: U-matrix, hit map, win and label maps, component planes.

The pictures every SOM user makes first, as MiniSom's methods of the same
names compute them, for a fitted :class:`~softsom.KohonenSOM` on a grid of any
dimension. Every function takes the map first (and the data where it needs
them) and returns NumPy arrays laid out on the grid's shape, or dicts keyed by
a node's grid position: node ``k`` sits at ``np.unravel_index(k,
grid.shape)`` (C order), so ``result[position]`` of an array result and
``embedding_[k]`` describe the same node, and a MiniSom map of shape ``(x,
y)`` whose ``_weights`` are ``embedding_.reshape(x, y, n)`` is the same map.

How each definition relates to MiniSom 2.3.6's methods of the same names:

- :func:`activation_response`: the same counts (integers here, floats there);
- :func:`win_map`: the same (a ``defaultdict(list)``, keyed by tuples of ints);
- :func:`labels_map`: the same counts (a ``defaultdict(Counter)``);
- :func:`quantization`: the same prototypes (in the map's float32);
- :func:`component_planes`: ``planes[i]`` is MiniSom's ``get_weights()[:, :, i]``;
- :func:`distance_map`: the default differs (the grid graph's neighbours, their
  mean distance, not normalised); ``neighbours="moore", normalize=True`` with
  ``scaling="sum"`` or ``"mean"`` is MiniSom's rectangular ``distance_map``, and
  ``normalize=True`` on a hexagonal :class:`~softsom.Grid` its hexagonal one.

A hexagonal grid's node ``(i, j)`` is MiniSom's hexagonal node ``(i, j)`` (see
:class:`~softsom.Grid` for where the two place it in the plane); a periodic
grid has no MiniSom counterpart.

Winners are those of :meth:`~softsom.KohonenSOM.winner` (the nearest node in Euclidean
distance, the lowest index on a tie, computed in float64); MiniSom finds the
same nodes, up to ties that the two computations round differently.

Every function checks its arguments first and raises ``ValueError`` naming
the one that is wrong: a map that is not fitted raises the map's own
not-fitted error, data with the wrong number of features or labels of the
wrong length say so.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict

import numpy as np

from ._validation import as_real_array
from .kohonen import KohonenSOM

__all__ = [
    "distance_map",
    "activation_response",
    "win_map",
    "labels_map",
    "quantization",
    "component_planes",
]

NEIGHBOURS = ("grid", "moore")
SCALINGS = ("mean", "sum")


def _fitted_map(som):
    """``som`` if it is a fitted KohonenSOM; else the map's own not-fitted error, or one naming ``som``."""
    if not isinstance(som, KohonenSOM):
        raise ValueError(f"som must be a fitted softsom.KohonenSOM; got {type(som).__name__}")
    som._check_fitted()
    return som


def _position(index, shape):
    """Grid position of node ``index`` as a tuple of Python ints."""
    return tuple(int(c) for c in np.unravel_index(int(index), shape))


def _samples(som, X):
    """``(winners, X as float64)``: the map checks ``X`` (2-D, its number of features, finite)."""
    winners = som.winner(X)
    return winners, as_real_array("X", X)


def _is_rectangular(grid):
    """Whether ``grid``'s edges are those of the plain (non-wrapping) rectangular lattice of its shape."""
    if getattr(grid, "topology", "rectangular") != "rectangular" or any(getattr(grid, "periodic", ())):
        return False
    expected = sum((size - 1) * (grid.size // size) for size in grid.shape)
    return len(grid.edges()) == expected


def _neighbour_pairs(grid, neighbours):
    """Directed pairs ``(node, neighbour)``, both directions of every neighbouring pair."""
    if neighbours == "grid":
        edges = np.asarray(grid.edges(), dtype=np.intp).reshape(-1, 2)
        return np.concatenate([edges[:, 0], edges[:, 1]]), np.concatenate([edges[:, 1], edges[:, 0]])
    if not _is_rectangular(grid):
        raise ValueError(f"neighbours='moore' needs a rectangular grid (not wrapping); got {grid!r}")
    shape = np.array(grid.shape)
    positions = np.stack(np.unravel_index(np.arange(grid.size), grid.shape), axis=1)
    sources, targets = [], []
    for offset in itertools.product((-1, 0, 1), repeat=len(grid.shape)):
        if not any(offset):
            continue
        moved = positions + np.array(offset)
        inside = np.all((moved >= 0) & (moved < shape), axis=1)
        sources.append(np.flatnonzero(inside))
        targets.append(np.ravel_multi_index(tuple(moved[inside].T), grid.shape))
    return np.concatenate(sources), np.concatenate(targets)


def distance_map(som, *, neighbours="grid", scaling="mean", normalize=False):
    """The U-matrix: how far each node's embedding lies from its neighbours' in input space.

    Parameters
    ----------
    som : KohonenSOM
        A fitted map, on a grid of any dimension.
    neighbours : {"grid", "moore"}, default "grid"
        Which nodes count as a node's neighbours. ``"grid"``: the nodes
        adjacent to it in the grid graph (``grid.edges()``, graph distance 1:
        2 in a chain, 4 in a 2-D grid, 6 in a 3-D one or in a hexagonal grid,
        fewer on the border unless the axis wraps around), the neighbours
        Kohonen's rule pulls along most strongly. ``"moore"``: every node
        whose grid position differs by at most one along every axis (2 in a
        chain, 8 in a 2-D grid, 26 in a 3-D one), as MiniSom's rectangular
        topology; only for rectangular grids without periodic axes.
    scaling : {"mean", "sum"}, default "mean"
        Each node's value is the mean or the sum of the Euclidean distances
        from its embedding to its neighbours'. With ``"sum"``, border nodes,
        which have fewer neighbours, come out lower than inner ones for the
        same spacing; the mean compares them fairly.
    normalize : bool, default False
        Divide by the largest value, so that the map's values lie in [0, 1]
        (a map whose nodes all sit at one point stays at 0). False keeps input
        space's units, comparable across maps.

    Returns
    -------
    ndarray of shape ``grid.shape``, float64
        ``result[position]`` belongs to the node at that grid position. A node
        with no neighbours (the only node of a one-node grid) gets 0.

    Raises
    ------
    ValueError
        Naming ``som``, ``neighbours``, ``scaling`` or ``normalize``; the
        map's own error if it is not fitted.

    Notes
    -----
    Relation to MiniSom's ``distance_map(scaling)``: on its rectangular
    topology, MiniSom takes the 8 Moore neighbours, scales by ``"sum"`` by
    default, and always divides by the largest value (0/0 gives NaN for a map
    collapsed to one point). ``distance_map(som, neighbours="moore",
    scaling=s, normalize=True)`` is MiniSom's ``distance_map(scaling=s)``
    (for both ``s``, up to float64 rounding) on the same weights. On its
    hexagonal topology MiniSom takes the six neighbours of the hexagonal
    :class:`~softsom.Grid` of the same shape (for an even or odd number of
    rows), so there ``distance_map(som, scaling=s, normalize=True)`` is
    MiniSom's. The default here differs on purpose: the grid graph's own
    neighbours, averaged, in input space's units.
    """
    som = _fitted_map(som)
    if not isinstance(neighbours, str) or neighbours not in NEIGHBOURS:
        raise ValueError(f"neighbours must be one of {NEIGHBOURS}; got {neighbours!r}")
    if not isinstance(scaling, str) or scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}; got {scaling!r}")
    if not isinstance(normalize, (bool, np.bool_)):
        raise ValueError(f"normalize must be True or False; got {normalize!r}")
    grid = som.grid_
    embedding = som.embedding_.astype(np.float64)
    sources, targets = _neighbour_pairs(grid, neighbours)
    lengths = np.linalg.norm(embedding[sources] - embedding[targets], axis=1)
    totals = np.bincount(sources, weights=lengths, minlength=grid.size).astype(np.float64)  # (int when empty)
    if scaling == "mean":
        counts = np.bincount(sources, minlength=grid.size)
        totals = np.divide(totals, counts, out=np.zeros_like(totals), where=counts > 0)
    largest = totals.max()
    if normalize and largest > 0:
        totals = totals / largest
    return totals.reshape(grid.shape)


def activation_response(som, X):
    """The hit map: how many samples of ``X`` each node wins.

    Parameters
    ----------
    som : KohonenSOM
        A fitted map, on a grid of any dimension.
    X : array_like of shape (N, n)
        Samples with the map's n features, finite (N = 0 gives zeros).

    Returns
    -------
    ndarray of shape ``grid.shape``, int64
        The counts, summing to N.

    Raises
    ------
    ValueError
        Naming ``som`` or ``X``; the map's own error if it is not fitted.

    Notes
    -----
    MiniSom's ``activation_response(data)`` gives the same counts as floats.
    """
    som = _fitted_map(som)
    winners = som.winner(X)
    return np.bincount(winners, minlength=som.grid_.size).astype(np.int64).reshape(som.grid_.shape)


def win_map(som, X, return_indices=False):
    """The samples (or their indices) each node wins, by the node's grid position.

    Parameters
    ----------
    som : KohonenSOM
        A fitted map, on a grid of any dimension.
    X : array_like of shape (N, n)
        Samples with the map's n features, finite.
    return_indices : bool, default False
        List the samples' row indices into ``X`` (ints) instead of the rows.

    Returns
    -------
    collections.defaultdict of list
        ``result[position]`` is the list of the rows of ``X`` (1-D float64
        arrays, copies) or of their indices that the node at grid position
        ``position`` (a tuple of m ints, ``(i,)`` in a chain) wins, in the
        order of ``X``. Only nodes that win a sample are keys, in node order;
        looking up another node gives an empty list (and adds it).

    Raises
    ------
    ValueError
        Naming ``som``, ``X`` or ``return_indices``; the map's own error if
        it is not fitted.

    Notes
    -----
    The same as MiniSom's ``win_map(data, return_indices)``, whose keys are
    tuples of NumPy ints (equal, and hashing equally, to these).
    """
    som = _fitted_map(som)
    if not isinstance(return_indices, (bool, np.bool_)):
        raise ValueError(f"return_indices must be True or False; got {return_indices!r}")
    winners, X = _samples(som, X)
    result = defaultdict(list)
    for node in np.unique(winners):
        rows = np.flatnonzero(winners == node)
        result[_position(node, som.grid_.shape)] = [int(i) for i in rows] if return_indices else list(X[rows])
    return result


def labels_map(som, X, labels):
    """How many samples of each label each node wins, by the node's grid position.

    Parameters
    ----------
    som : KohonenSOM
        A fitted map, on a grid of any dimension.
    X : array_like of shape (N, n)
        Samples with the map's n features, finite.
    labels : sequence of length N
        One hashable label per sample (ints, strings, ...; a string is not
        taken as a sequence of one-character labels).

    Returns
    -------
    collections.defaultdict of collections.Counter
        ``result[position][label]`` is the number of samples with that label
        that the node at grid position ``position`` (a tuple of m ints) wins.
        Only nodes that win a sample are keys, in node order; looking up
        another node gives an empty Counter (and adds it). The labels are the
        objects of ``labels`` themselves.

    Raises
    ------
    ValueError
        Naming ``som``, ``X`` or ``labels`` (not one per sample, not
        hashable); the map's own error if it is not fitted.

    Notes
    -----
    The same counts as MiniSom's ``labels_map(data, labels)``, which returns a
    ``defaultdict(list)`` of Counters (a missing node gives ``[]`` there).
    """
    som = _fitted_map(som)
    winners = som.winner(X)
    if isinstance(labels, (str, bytes)):
        raise ValueError("labels must be a sequence with one label per sample; got a string")
    try:
        labels = list(labels)
    except TypeError:
        raise ValueError(f"labels must be a sequence with one label per sample; got {type(labels).__name__}") from None
    if len(labels) != len(winners):
        raise ValueError(f"labels must hold one label per sample: X has {len(winners)} samples, labels {len(labels)}")
    result = defaultdict(Counter)
    try:
        for node in np.unique(winners):
            rows = np.flatnonzero(winners == node)
            result[_position(node, som.grid_.shape)] = Counter(labels[i] for i in rows)
    except TypeError as err:
        raise ValueError(f"labels must be hashable (ints, strings, ...): {err}") from None
    return result


def quantization(som, X):
    """Each sample's prototype: the embedding of the node it wins.

    Parameters
    ----------
    som : KohonenSOM
        A fitted map, on a grid of any dimension.
    X : array_like of shape (N, n)
        Samples with the map's n features, finite (N = 0 gives shape (0, n)).

    Returns
    -------
    ndarray of shape (N, n), float32
        ``som.embedding_[som.winner(X)]``, a copy. Its mean distance to ``X``
        is :meth:`~softsom.KohonenSOM.quantization_error`.

    Raises
    ------
    ValueError
        Naming ``som`` or ``X``; the map's own error if it is not fitted.

    Notes
    -----
    The same as MiniSom's ``quantization(data)`` on the same weights (whose
    dtype there is that of ``_weights``, float64 by default).
    """
    som = _fitted_map(som)
    return som.embedding_[som.winner(X)]


def component_planes(som):
    """Each input feature's value over the grid: the map's embedding, one plane per feature.

    Parameters
    ----------
    som : KohonenSOM
        A fitted map, on a grid of any dimension.

    Returns
    -------
    ndarray of shape ``(n, *grid.shape)``, float32
        ``result[i][position]`` is feature i of the embedding of the node at
        grid position ``position`` (``embedding_[k, i]`` with ``position =
        np.unravel_index(k, grid.shape)``); a copy.

    Raises
    ------
    ValueError
        Naming ``som``; the map's own error if it is not fitted.

    Notes
    -----
    MiniSom has no function for them: its component planes are
    ``get_weights()[:, :, i]``, which equal ``result[i]`` on the same weights.
    """
    som = _fitted_map(som)
    embedding = som.embedding_
    return np.ascontiguousarray(embedding.T).reshape((embedding.shape[1], *som.grid_.shape))
