"""The m-dimensional grid graph a self-organizing map is built on."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

__all__ = ["Grid"]

# The TensorFlow ops index nodes with int32 (and np.prod of larger shapes can
# wrap around to a small or zero size).
MAX_NODES = np.iinfo(np.int32).max


class Grid:
    """A rectangular m-dimensional grid graph.

    Node ``k`` sits at the integer position ``np.unravel_index(k, shape)``
    (C order); two nodes are adjacent when their positions differ by one in
    exactly one axis, so the graph (hop) distance is the L1 distance of the
    positions.

    Parameters
    ----------
    shape : tuple of int
        Number of nodes along each of the m >= 1 axes, each a positive int;
        at most ``2**31 - 1`` nodes in all (``softsom.grid.MAX_NODES``: the
        TensorFlow ops index nodes with int32).

    Attributes
    ----------
    shape : tuple of int
    dim : int
        m, the number of axes: the dimension of the SOM's output ("graph space").
    size : int
        K, the number of nodes.
    coords : ndarray of shape (K, m), float32
        Grid position of every node, read-only.

    Examples
    --------
    >>> Grid((2, 3)).coords[4]
    array([1., 1.], dtype=float32)
    """

    def __init__(self, shape):
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
        self.dim = len(self.shape)
        coords = np.stack(np.unravel_index(np.arange(self.size), self.shape), axis=1)
        self.coords = coords.astype(np.float32)
        self.coords.flags.writeable = False

    def distances(self):
        """Graph (hop) distance between every pair of nodes.

        Returns
        -------
        ndarray of shape (K, K), float32
        """
        return np.abs(self.coords[:, None, :] - self.coords[None, :, :]).sum(axis=-1)

    def edges(self):
        """Pairs of adjacent nodes ``(i, j)`` with ``i < j``, shape (E, 2), int."""
        index = np.arange(self.size).reshape(self.shape)
        pairs = []
        for axis in range(self.dim):
            lo = np.take(index, np.arange(self.shape[axis] - 1), axis=axis).ravel()
            hi = np.take(index, np.arange(1, self.shape[axis]), axis=axis).ravel()
            pairs.append(np.stack([lo, hi], axis=1))
        return np.concatenate(pairs, axis=0)

    def __repr__(self):
        return f"Grid({self.shape!r})"

    def __eq__(self, other):
        return isinstance(other, Grid) and other.shape == self.shape

    def __hash__(self):
        return hash(self.shape)
