import numpy as np
import pytest

from softsom import Grid


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 4), (2, 3, 4), (np.int64(5), 2)])
def test_grid_attributes(shape):
    grid = Grid(shape)
    assert grid.shape == tuple(int(s) for s in shape)
    assert grid.dim == len(shape)
    assert grid.size == int(np.prod(shape))
    assert grid.coords.shape == (grid.size, grid.dim)
    assert grid.coords.dtype == np.float32


def test_coords_follow_c_order():
    grid = Grid((3, 4))
    for k in range(grid.size):
        np.testing.assert_array_equal(grid.coords[k], np.unravel_index(k, (3, 4)))
    assert not grid.coords.flags.writeable


def test_distances_are_hop_counts():
    grid = Grid((3, 4))
    d = grid.distances()
    assert d.shape == (12, 12)
    np.testing.assert_array_equal(d, d.T)
    assert np.all(np.diag(d) == 0)
    # (0, 0) to (2, 3): 2 + 3 hops.
    assert d[0, 11] == 5
    # Exactly the grid edges are at distance 1.
    edges = {tuple(e) for e in grid.edges()}
    ones = {(i, j) for i, j in zip(*np.nonzero(d == 1)) if i < j}
    assert edges == ones
    assert len(edges) == 3 * 3 + 2 * 4


def test_one_dimensional_chain():
    grid = Grid((5,))
    np.testing.assert_array_equal(grid.distances()[0], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(grid.edges(), [[0, 1], [1, 2], [2, 3], [3, 4]])


@pytest.mark.parametrize("shape", [(), (0,), (3, 0), (-1, 2), (2.5,), (True, 3), ("3",), (3, None), 5, "ab", None])
def test_bad_shape_names_shape(shape):
    with pytest.raises(ValueError, match="shape"):
        Grid(shape)


def test_rectangular_defaults():
    """A rectangular grid without periodic axes: coords are the lattice positions, one column per axis."""
    grid = Grid((3, 4))
    assert grid.topology == "rectangular" and grid.periodic == (False, False)
    np.testing.assert_array_equal(grid.index, grid.coords)
    np.testing.assert_array_equal(grid.positions, grid.coords)
    assert grid.dim == 2 and grid._lattice is None
    np.testing.assert_array_equal(grid.hops(0, np.arange(12)), grid.distances()[0])
    np.testing.assert_allclose(grid.euclidean(0, 11), np.hypot(2, 3))


@pytest.mark.parametrize(
    "topology, periodic, dim",
    [("rectangular", True, 4), ("rectangular", (True, False), 3), ("hexagonal", False, 2), ("hexagonal", True, 4)],
)
def test_dim_is_the_width_of_coords(topology, periodic, dim):
    """One coordinate per axis, two (a circle) per periodic axis."""
    grid = Grid((4, 6), topology=topology, periodic=periodic)
    assert grid.dim == dim == grid.coords.shape[1] and grid.index.shape == grid.positions.shape == (24, 2)
