"""The grid graph a self-organizing map is built on: rectangular or hexagonal, bounded or wrapping around."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

__all__ = ["Grid", "TOPOLOGIES"]

# The TensorFlow ops index nodes with int32 (and np.prod of larger shapes can
# wrap around to a small or zero size).
MAX_NODES = np.iinfo(np.int32).max
TOPOLOGIES = ("rectangular", "hexagonal")
# The distance between two rows of a hexagonal lattice of unit spacing.
ROW_SPACING = math.sqrt(3.0) / 2.0


class Grid:
    """The grid graph of a self-organizing map: rectangular or hexagonal, optionally periodic.

    Node ``k`` has the integer lattice position ``index[k] =
    np.unravel_index(k, shape)`` (C order), whatever the topology.

    **Rectangular** (the default), any number m >= 1 of axes: two nodes are
    adjacent when their lattice positions differ by one along exactly one
    axis (2 neighbours in a chain, 4 inside a 2-D grid, 2m in general), so
    the hop distance is the L1 distance of the positions.

    **Hexagonal**, 2-D shapes only, laid out as MiniSom lays out its
    hexagonal maps: shape ``(x, y)`` holds ``y`` rows of ``x`` nodes. Node
    ``(i, j)`` (node ``k = i * y + j``) sits at ``(i + (j % 2) / 2, j *
    sqrt(3) / 2)`` in the plane: row ``j`` along the first axis, the rows
    stacked along the second, ``sqrt(3) / 2`` apart, every odd row shifted by
    half a node. Each node's six neighbours (fewer on the border) are the
    nodes at distance exactly 1 in the plane: two in its row, two in each
    adjacent row. With ``dr`` rows and ``dx`` units along the rows between
    two nodes, the hop distance is ``dr + max(0, |dx| - dr / 2)`` (the
    hexagonal lattice's distance, computed in axial coordinates as
    ``(|dq| + |dr| + |dq + dr|) / 2``). MiniSom (2.3.6) places node ``(i, j)``
    of ``MiniSom(x, y, topology="hexagonal")`` at the same position minus
    ``(0.5, 0)`` when ``y`` is odd, and its ``distance_map`` takes these
    neighbours for every ``y``; for an even ``y`` its node positions (which
    its topographic error uses) are the mirror image (it shifts the odd rows
    to the left), a lattice of other neighbour pairs.

    **Periodic axes** (``periodic``): the axis wraps around, its last node
    adjacent to its first, a ring along that axis; all axes periodic make a
    torus. Hop distances take the shorter way round: along a periodic axis
    of ``n`` nodes a difference ``d`` counts ``min(|d|, n - |d|)`` (in a
    hexagonal grid, ``dr`` wraps over the ``y`` rows and ``dx`` over ``x``
    units). A periodic axis of rows of a hexagonal grid (its second axis)
    needs an even number of rows, so that the shift of the rows alternates
    across the seam too.

    **Coordinates** (``coords``) are where the SOM's output lives, its
    "graph space": :func:`~softsom.soft_som` averages them, :func:`~softsom.hard_som`
    and :meth:`~softsom.KohonenSOM.transform` return the winner's. Each axis
    contributes its node's position along it (``positions``: the lattice
    position for a rectangular grid, the position in the plane for a
    hexagonal one), except that a periodic axis, along which the positions
    run round a circle of circumference ``P`` (``n`` for ``n`` nodes, ``y *
    sqrt(3) / 2`` for the rows of a hexagonal grid), contributes the point on
    that circle, two coordinates, ``P / (2 pi) * (1 - cos a, 1 + sin a)``
    with ``a = 2 pi * position / P``. Neighbours along the axis then lie
    about 1 apart in graph space (``2 sin(pi / n) n / (2 pi)``: 0.94 for
    ``n = 6``, 0.99 for ``n = 16``), as hops are, and a soft output that
    averages nodes on both sides of the seam lands between them (near the
    circle, inside it), not halfway round the ring, as the mean of raw
    positions would. ``dim``, the width of the output, is therefore
    ``len(shape)`` plus the number of periodic axes; every coordinate is
    >= 0.

    Parameters
    ----------
    shape : tuple of int
        Number of nodes along each of the m >= 1 axes, each a positive int;
        at most ``2**31 - 1`` nodes in all (``softsom.grid.MAX_NODES``: the
        TensorFlow ops index nodes with int32). ``(x, y)`` for a hexagonal
        grid.
    topology : {"rectangular", "hexagonal"}, default "rectangular"
    periodic : bool or tuple of bool, default False
        Whether each axis wraps around: one bool for all axes (True: a
        torus), or one per axis.

    Attributes
    ----------
    shape : tuple of int
    topology : str
    periodic : tuple of bool
        One per axis.
    size : int
        K, the number of nodes.
    dim : int
        Width of ``coords``, the dimension of the SOM's output ("graph
        space"): m, plus one for every periodic axis.
    index : ndarray of shape (K, m), int64
        Integer lattice position of every node, read-only.
    positions : ndarray of shape (K, m), float32
        Position of every node in the unwrapped lattice (the plane, for a
        hexagonal grid), read-only: what the plotting helpers draw.
    coords : ndarray of shape (K, dim), float32
        Graph-space coordinates of every node, read-only. For a rectangular
        grid without periodic axes, ``index`` as floats.

    Examples
    --------
    >>> Grid((2, 3)).coords[4]
    array([1., 1.], dtype=float32)
    >>> Grid((3, 3), topology="hexagonal").distances()[4].reshape(3, 3)
    array([[2., 1., 2.],
           [1., 0., 1.],
           [1., 1., 1.]], dtype=float32)
    >>> Grid((5,), periodic=True).distances()[0]
    array([0., 1., 2., 2., 1.], dtype=float32)
    """

    def __init__(self, shape, topology="rectangular", periodic=False):
        # An ordered sequence: a set or a dict would give the axes in an arbitrary order.
        sequence = isinstance(shape, Sequence) and not isinstance(shape, (str, bytes))
        if not (sequence or isinstance(shape, np.ndarray) and shape.ndim == 1):
            raise ValueError(f"grid shape must be a tuple of positive ints, e.g. (10,) or (8, 8); got {shape!r}")
        if len(shape) == 0:
            raise ValueError("grid shape must have at least one axis; got ()")
        for size in shape:
            if isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Integral) or size < 1:
                raise ValueError(f"grid shape must be a tuple of positive ints; got {tuple(shape)!r}")
        self.shape = tuple(int(size) for size in shape)
        self.size = math.prod(self.shape)  # exact: Python ints do not wrap around
        if self.size > MAX_NODES:
            raise ValueError(f"grid shape {self.shape} has {self.size} nodes; at most {MAX_NODES} are supported")
        if not isinstance(topology, str) or topology not in TOPOLOGIES:
            raise ValueError(f"grid topology must be one of {TOPOLOGIES}; got {topology!r}")
        if topology == "hexagonal" and len(self.shape) != 2:
            raise ValueError(f"a hexagonal grid (topology) needs a 2-D shape (x, y); got shape {self.shape}")
        self.topology = topology
        self.periodic = _check_periodic(periodic, len(self.shape))
        if topology == "hexagonal" and self.periodic[1] and self.shape[1] % 2:
            raise ValueError(
                f"a hexagonal grid's periodic axis of rows (periodic[1]) needs an even number of rows; "
                f"got shape {self.shape}"
            )
        index = np.stack(np.unravel_index(np.arange(self.size), self.shape), axis=1)
        self.index = index.astype(np.int64)
        self.positions = self._plane_positions(self.index)
        self.coords = self._graph_coords(self.positions)
        self.dim = self.coords.shape[1]
        for array in (self.index, self.positions, self.coords):
            array.flags.writeable = False

    # -- positions ---------------------------------------------------------
    def _plane_positions(self, index):
        if self.topology == "rectangular":
            return index.astype(np.float32)
        i, j = index[:, 0].astype(np.float64), index[:, 1].astype(np.float64)
        return np.stack([i + (index[:, 1] % 2) / 2.0, j * ROW_SPACING], axis=1).astype(np.float32)

    def _periods(self):
        """Circumference of every axis in positions' units (the wrap-around length of a periodic one)."""
        if self.topology == "rectangular":
            return [float(n) for n in self.shape]
        return [float(self.shape[0]), self.shape[1] * ROW_SPACING]

    def _graph_coords(self, positions):
        if not any(self.periodic):
            return positions.copy() if self.topology == "hexagonal" else positions
        columns = []
        for axis, (wraps, period) in enumerate(zip(self.periodic, self._periods())):
            position = positions[:, axis].astype(np.float64)
            if not wraps:
                columns.append(position)
                continue
            radius, angle = period / (2.0 * np.pi), 2.0 * np.pi * position / period
            columns += [radius * (1.0 - np.cos(angle)), radius * (1.0 + np.sin(angle))]
        return np.stack(columns, axis=1).astype(np.float32)

    @property
    def _lattice(self):
        """What the TensorFlow kernels need to count hops from ``index``: None for a plain rectangular grid.

        Otherwise ``(topology, shape, periodic)``, hashable Python values (fixed
        when a ``tf.function`` is traced).
        """
        if self.topology == "rectangular" and not any(self.periodic):
            return None
        return (self.topology, self.shape, self.periodic)

    # -- distances ---------------------------------------------------------
    def _offsets(self, a, b):
        """Shortest lattice offsets from index rows ``a`` to ``b`` (broadcast), per axis, as float64 ``>= 0``.

        Rectangular: ``|d|`` per axis (the shorter way round a periodic axis).
        Hexagonal: ``(|dx|, dr)``, the units along the rows and the rows.
        """
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        if self.topology == "rectangular":
            d = np.abs(a - b).astype(np.float64)
            sizes = np.array(self.shape, dtype=np.float64)
            return np.where(np.array(self.periodic), np.minimum(d, sizes - d), d)
        dr = np.abs(a[..., 1] - b[..., 1])
        if self.periodic[1]:
            dr = np.minimum(dr, self.shape[1] - dr)
        twice_dx = np.abs(2 * (a[..., 0] - b[..., 0]) + a[..., 1] % 2 - b[..., 1] % 2)
        if self.periodic[0]:
            twice_dx = np.minimum(twice_dx, 2 * self.shape[0] - twice_dx)
        return np.stack([twice_dx / 2.0, dr.astype(np.float64)], axis=-1)

    def _hops_between(self, a, b):
        """Hop distance between index rows ``a`` and ``b`` (broadcast), int64."""
        if self.topology == "rectangular":
            return self._offsets(a, b).sum(axis=-1).astype(np.int64)
        twice_dx, dr = np.moveaxis(self._offsets(a, b), -1, 0)
        twice_dx, dr = np.rint(2 * twice_dx).astype(np.int64), dr.astype(np.int64)
        return dr + np.maximum(0, (twice_dx - dr) // 2)

    def hops(self, i, j):
        """Hop (graph) distance between nodes ``i`` and ``j`` (node indices, arrays broadcast), int64."""
        i, j = np.asarray(i), np.asarray(j)
        return self._hops_between(self.index[i], self.index[j])

    def euclidean(self, i, j):
        """Euclidean distance between nodes ``i`` and ``j`` in the unwrapped lattice, the shorter way round.

        Between ``positions``, except that along a periodic axis the offset
        is the shorter way round (the flat torus's distance), float64.
        """
        i, j = np.asarray(i), np.asarray(j)
        offsets = self._offsets(self.index[i], self.index[j])
        if self.topology == "hexagonal":
            offsets = offsets * np.array([1.0, ROW_SPACING])
        return np.sqrt(np.square(offsets).sum(axis=-1))

    def distances(self):
        """Graph (hop) distance between every pair of nodes.

        Returns
        -------
        ndarray of shape (K, K), float32
        """
        if self._lattice is None:
            return np.abs(self.coords[:, None, :] - self.coords[None, :, :]).sum(axis=-1)
        return self._hops_between(self.index[:, None, :], self.index[None, :, :]).astype(np.float32)

    def edges(self):
        """Pairs of adjacent nodes ``(i, j)`` with ``i < j``, each pair once, shape (E, 2), int.

        For a rectangular grid without periodic axes, axis by axis; otherwise
        sorted.
        """
        index = np.arange(self.size).reshape(self.shape)
        if self._lattice is None:
            pairs = []
            for axis in range(len(self.shape)):
                lo = np.take(index, np.arange(self.shape[axis] - 1), axis=axis).ravel()
                hi = np.take(index, np.arange(1, self.shape[axis]), axis=axis).ravel()
                pairs.append(np.stack([lo, hi], axis=1))
            return np.concatenate(pairs, axis=0)
        if self.topology == "rectangular":
            steps = [tuple(int(a == b) for b in range(len(self.shape))) for a in range(len(self.shape))]
        else:
            steps = [(1, 0), (0, 1), (-1, 1)]  # from an even row; odd rows shift the row steps by one
        sources, targets = [], []
        for step in steps:
            moved = self.index + np.array(step)
            if self.topology == "hexagonal" and step[1]:
                moved[:, 0] += self.index[:, 1] % 2
            inside = np.ones(self.size, dtype=bool)
            for axis, (n, wraps) in enumerate(zip(self.shape, self.periodic)):
                if wraps:
                    moved[:, axis] %= n
                else:
                    inside &= (moved[:, axis] >= 0) & (moved[:, axis] < n)
            sources.append(np.flatnonzero(inside))
            targets.append(np.ravel_multi_index(tuple(moved[inside].T), self.shape))
        sources, targets = np.concatenate(sources), np.concatenate(targets)
        pairs = np.stack([np.minimum(sources, targets), np.maximum(sources, targets)], axis=1)
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]  # a periodic axis of one node
        return np.unique(pairs, axis=0).reshape(-1, 2)

    def __repr__(self):
        if self.topology == "rectangular" and not any(self.periodic):
            return f"Grid({self.shape!r})"
        periodic = self.periodic[0] if len(set(self.periodic)) == 1 else self.periodic
        return f"Grid({self.shape!r}, topology={self.topology!r}, periodic={periodic!r})"

    def __eq__(self, other):
        return (
            isinstance(other, Grid)
            and other.shape == self.shape
            and other.topology == self.topology
            and other.periodic == self.periodic
        )

    def __hash__(self):
        return hash((self.shape, self.topology, self.periodic))


def _check_periodic(periodic, axes):
    """``periodic`` as a tuple of ``axes`` bools, else a ValueError naming it."""
    if isinstance(periodic, (bool, np.bool_)):
        return (bool(periodic),) * axes
    sequence = isinstance(periodic, Sequence) and not isinstance(periodic, (str, bytes))
    if not (sequence or isinstance(periodic, np.ndarray) and periodic.ndim == 1) or len(periodic) != axes:
        raise ValueError(f"grid periodic must be a bool or one bool per axis ({axes}); got {periodic!r}")
    if not all(isinstance(wraps, (bool, np.bool_)) for wraps in periodic):
        raise ValueError(f"grid periodic must be a bool or one bool per axis ({axes}); got {periodic!r}")
    return tuple(bool(wraps) for wraps in periodic)
