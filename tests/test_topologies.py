"""Hexagonal and periodic (toroidal) grids: hops, edges, coordinates, and every user of them.

Hand examples, breadth-first search over the edges, TensorFlow against NumPy,
training (KohonenSOM's three modes, SoftSOM's Kohonen update, on one device and
under MirroredStrategy), the topographic error, the U-matrix and the plots,
MiniSom on the same weights, and the rectangular results of before, bit for bit.
"""

import doctest
import inspect
import json
import os
import re
import subprocess
import sys
from collections import deque
from pathlib import Path

import keras
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from minisom import MiniSom

import softsom.grid
from softsom import Grid, KohonenSOM, SoftSOM, models, plotting
from softsom import analysis as A
from softsom._kohonen_tf import tf_grid_distances, tf_hops
from softsom.grid import TOPOLOGIES
from softsom.kohonen import decay, neighbourhood
from softsom.ops import hard_som, soft_som
from tests.two_cpus import run_on_two_cpus

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
PROPERTIES = settings(deadline=None, max_examples=80, derandomize=True, database=None)
HEX = dict(topology="hexagonal")


@st.composite
def grids(draw):
    """Any small grid: rectangular with 1 to 3 axes or hexagonal, each axis periodic or not."""
    topology = draw(st.sampled_from(TOPOLOGIES))
    if topology == "hexagonal":
        shape = (draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    else:
        shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=3)))
    periodic = tuple(draw(st.booleans()) for _ in shape)
    if topology == "hexagonal" and periodic[1] and shape[1] % 2:
        shape = (shape[0], shape[1] + 1)
    return Grid(shape, topology=topology, periodic=periodic)


def breadth_first_hops(grid):
    """Hops between all pairs by breadth-first search over ``grid.edges()``."""
    neighbours = [[] for _ in range(grid.size)]
    for i, j in grid.edges():
        neighbours[i].append(j)
        neighbours[j].append(i)
    hops = np.full((grid.size, grid.size), -1)
    for source in range(grid.size):
        hops[source, source] = 0
        queue = deque([source])
        while queue:
            node = queue.popleft()
            for other in neighbours[node]:
                if hops[source, other] < 0:
                    hops[source, other] = hops[source, node] + 1
                    queue.append(other)
    return hops


def all_pairs(grid):
    return np.meshgrid(np.arange(grid.size), np.arange(grid.size), indexing="ij")


# --- the grid ------------------------------------------------------------------------------


def test_hexagonal_hops_by_hand():
    grid = Grid((3, 3), **HEX)
    # Node (i, j) = 3 i + j at (i + (j % 2) / 2, j sqrt(3) / 2): rows j, the odd row shifted right.
    np.testing.assert_array_equal(grid.distances()[4].reshape(3, 3), [[2, 1, 2], [1, 0, 1], [1, 1, 1]])
    np.testing.assert_array_equal(grid.distances()[0].reshape(3, 3), [[0, 1, 2], [1, 2, 2], [2, 3, 3]])
    assert sorted(j for i, j in grid.edges() if i == 4) == [5, 6, 7, 8]
    assert len([e for e in grid.edges() if 4 in e]) == 6


def test_ring_and_torus_by_hand():
    ring = Grid((5,), periodic=True)
    assert ring.distances()[0, 4] == 1
    np.testing.assert_array_equal(ring.distances()[0], [0, 1, 2, 2, 1])
    np.testing.assert_array_equal(ring.edges(), [[0, 1], [0, 4], [1, 2], [2, 3], [3, 4]])
    torus = Grid((4, 4), periodic=True)
    assert torus.distances()[0, 15] == 2  # corner to corner: one hop back along each axis
    assert torus.hops(0, 15) == 2 and torus.hops(5, 15) == 4
    assert len(torus.edges()) == 2 * 16  # every node has 4 neighbours
    # One periodic axis only: a cylinder.
    cylinder = Grid((4, 4), periodic=(True, False))
    assert cylinder.hops(0, 15) == 1 + 3
    # A hexagonal torus: every node has 6 neighbours.
    hexagonal = Grid((4, 6), topology="hexagonal", periodic=True)
    assert len(hexagonal.edges()) == 3 * 24
    assert hexagonal.hops(0, 23) == 1  # (0, 0) and (3, 5): across both seams


@PROPERTIES
@given(grids())
def test_distances_are_breadth_first_search_over_the_edges(grid):
    edges = grid.edges()
    assert edges.shape[1] == 2 and np.all(edges[:, 0] < edges[:, 1])
    assert len({tuple(e) for e in edges}) == len(edges)
    np.testing.assert_array_equal(grid.distances(), breadth_first_hops(grid))
    i, j = all_pairs(grid)
    np.testing.assert_array_equal(grid.hops(i, j), grid.distances())


@PROPERTIES
@given(grids())
def test_tensorflow_distances_are_numpys(grid):
    index = tf.constant(grid.index.astype(np.float32))
    nodes = tf.range(grid.size)
    np.testing.assert_array_equal(tf_hops(index, nodes, grid._lattice).numpy(), grid.distances())
    euclidean = tf_grid_distances(index, nodes, grid._lattice, euclidean=True).numpy()
    np.testing.assert_allclose(euclidean, grid.euclidean(*all_pairs(grid)), rtol=1e-6, atol=1e-6)


@PROPERTIES
@given(grids())
def test_every_edge_is_one_unit_long(grid):
    """In the plane (the shorter way round a periodic axis); without periodic axes, the unit pairs are the edges."""
    i, j = grid.edges().T
    np.testing.assert_allclose(grid.euclidean(i, j), 1.0, rtol=1e-12)
    if not any(grid.periodic):
        a, b = all_pairs(grid)
        plane = np.linalg.norm(grid.positions[a].astype(np.float64) - grid.positions[b], axis=-1)
        unit = {(p, q) for p, q in zip(*np.nonzero(np.isclose(plane, 1.0, atol=1e-6))) if p < q}
        assert unit == {tuple(e) for e in grid.edges()}


@PROPERTIES
@given(grids())
def test_periodic_coordinates_lie_on_circles_of_the_axis_length(grid):
    """Neighbours along a periodic axis of n nodes are 2 r sin(pi / n) apart in graph space, r = n / (2 pi)."""
    assert grid.coords.shape == (grid.size, len(grid.shape) + sum(grid.periodic)) and grid.dim == grid.coords.shape[1]
    assert np.all(grid.coords >= 0)
    if not any(grid.periodic):
        np.testing.assert_array_equal(grid.coords, grid.positions)
        return
    column = 0
    for axis, (n, wraps) in enumerate(zip(grid.shape, grid.periodic)):
        if not wraps:
            np.testing.assert_allclose(grid.coords[:, column], grid.positions[:, axis], rtol=1e-6)
            column += 1
            continue
        period = n * (np.sqrt(3) / 2 if grid.topology == "hexagonal" and axis == 1 else 1.0)
        circle = grid.coords[:, column : column + 2].astype(np.float64)
        radius = np.linalg.norm(circle - period / (2 * np.pi), axis=1)
        np.testing.assert_allclose(radius, period / (2 * np.pi), rtol=1e-5)
        column += 2


def test_hexagonal_coordinates_are_minisoms_plane_positions():
    """For an odd number of rows, MiniSom's hexagonal positions are ours shifted by (-0.5, 0)."""
    grid = Grid((4, 5), **HEX)
    som = MiniSom(4, 5, 2, topology="hexagonal", random_seed=0)
    x, y = som.get_euclidean_coordinates()
    np.testing.assert_allclose(grid.coords, np.stack([x.ravel() + 0.5, y.ravel()], axis=1), rtol=1e-6)
    # For an even number it shifts the other rows: the mirror image (the rows' shift reversed).
    x, y = MiniSom(4, 6, 2, topology="hexagonal").get_euclidean_coordinates()
    ours = Grid((4, 6), **HEX).coords
    assert not np.allclose(ours[:, 0] - x.ravel(), (ours[:, 0] - x.ravel())[0])


def test_grid_equality_hash_and_repr():
    assert Grid((3, 4)) == Grid((3, 4), topology="rectangular", periodic=False) == Grid((3, 4), periodic=[0 > 1] * 2)
    assert Grid((3, 4)) != Grid((3, 4), **HEX) and Grid((3, 4)) != Grid((3, 4), periodic=True)
    assert Grid((3, 4), periodic=(True, False)) != Grid((3, 4), periodic=(False, True))
    assert len({Grid((4, 4)), Grid((4, 4)), Grid((4, 4), **HEX), Grid((4, 4), periodic=True)}) == 3
    assert repr(Grid((3, 4))) == "Grid((3, 4))"
    assert repr(Grid((3, 4), **HEX)) == "Grid((3, 4), topology='hexagonal', periodic=False)"
    assert repr(Grid((3, 4), periodic=(True, False))) == "Grid((3, 4), topology='rectangular', periodic=(True, False))"
    for grid in (Grid((3, 4), **HEX), Grid((4, 4), periodic=True)):
        assert eval(repr(grid), {"Grid": Grid}) == grid
        assert not grid.coords.flags.writeable and not grid.index.flags.writeable
        assert grid.index.dtype == np.int64 and grid.coords.dtype == grid.positions.dtype == np.float32


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(shape=(3, 3), topology="hex"), "topology must be one of"),
        (dict(shape=(3, 3), topology=None), "topology must be one of"),
        (dict(shape=(3, 3, 3), topology="hexagonal"), "hexagonal grid .*topology.* needs a 2-D shape"),
        (dict(shape=(6,), topology="hexagonal"), "needs a 2-D shape"),
        (dict(shape=(4, 5), topology="hexagonal", periodic=True), r"periodic\[1\].* even number of rows"),
        (dict(shape=(3, 3), periodic=(True,)), "periodic must be a bool or one bool per axis"),
        (dict(shape=(3, 3), periodic=(1, 0)), "periodic must be a bool or one bool per axis"),
        (dict(shape=(3, 3), periodic="yes"), "periodic must be a bool or one bool per axis"),
        (dict(shape=(3, 3), periodic=None), "periodic must be a bool or one bool per axis"),
    ],
)
def test_bad_topology_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Grid(**kwargs)


def test_a_hexagonal_grid_with_periodic_columns_only_may_have_odd_rows():
    grid = Grid((5, 3), topology="hexagonal", periodic=(True, False))
    np.testing.assert_array_equal(grid.distances(), breadth_first_hops(grid))


def test_grid_docstring_examples():
    result = doctest.testmod(softsom.grid, verbose=False)
    assert result.attempted >= 3 and result.failed == 0


# --- the soft output on a torus ----------------------------------------------------------


def test_soft_output_across_the_seam_stays_near_the_ring():
    """Two neighbours across the seam, equally near: the output lies between them, not across the ring."""
    grid = Grid((8,), periodic=True)
    embedding = np.zeros((8, 1), np.float32)
    embedding[:, 0] = [0.0, 10.0, 20.0, 30.0, 40.0, 30.0, 20.0, 10.0]  # a ring in input space, folded
    embedding[7, 0] = 1.0  # node 7 and node 0 both 0.5 from the point
    out = soft_som(np.array([[0.5]], np.float32), embedding, grid.coords, 20.0).numpy()[0]
    middle = (grid.coords[0].astype(np.float64) + grid.coords[7]) / 2
    np.testing.assert_allclose(out, middle, atol=1e-3)
    # The plain mean of the positions would be 3.5, halfway round; on the circle it is at position 7.5.
    centre = 8 / (2 * np.pi)
    angle = np.arctan2(out[1] - centre, centre - out[0]) % (2 * np.pi)
    assert angle * 8 / (2 * np.pi) == pytest.approx(7.5, abs=1e-3)
    assert hard_som(np.array([[0.4]], np.float32), embedding, grid.coords).numpy()[0] == pytest.approx(grid.coords[0])


# --- Kohonen training ----------------------------------------------------------------------


def numpy_online_pass(embedding, samples, grid, rate, radius, horizon, kind, euclidean=False):
    """The online rule in float64 NumPy, with the grid's own distances."""
    nodes = np.array(embedding, np.float64)
    everyone = np.arange(grid.size)
    for t, x in enumerate(np.asarray(samples, np.float64)):
        winner = np.argmin(((nodes - x) ** 2).sum(axis=1))
        d = grid.euclidean(winner, everyone) if euclidean else grid.hops(winner, everyone)
        eta, sigma = decay(*rate, t, horizon), decay(*radius, t, horizon)
        nodes += eta * neighbourhood(d, sigma, kind)[:, None] * (x - nodes)
    return nodes


@pytest.mark.parametrize(
    "grid, n",
    [
        (Grid((6, 5), **HEX), 3),  # n <= 4: squared differences
        (Grid((6, 5), **HEX), 8),  # winner products
        (Grid((6, 5), periodic=True), 3),
        (Grid((6, 5), periodic=True), 8),
        (Grid((33, 32), topology="hexagonal", periodic=True), 3),  # more than HOP_MATRIX_NODES: hops per step
    ],
    ids=lambda value: repr(value) if isinstance(value, Grid) else f"n={value}",
)
@pytest.mark.parametrize("kind, euclidean", [("exponential", False), ("gaussian", True)])
def test_online_pass_follows_the_rule_on_every_lattice(grid, n, kind, euclidean):
    from softsom.kohonen import HOP_MATRIX_NODES, _online_pass

    assert (grid.size > HOP_MATRIX_NODES) == (grid.shape == (33, 32))
    rng = np.random.default_rng(n)
    samples = rng.normal(size=(150, n)).astype(np.float32)
    embedding = rng.normal(size=(grid.size, n)).astype(np.float32)
    rate, radius, horizon = (0.5, 0.05), (2.0, 0.5), 150.0
    out = _online_pass(
        tf.constant(embedding),
        tf.constant(samples),
        tf.constant(grid.index.astype(np.float32)),
        tf.constant(0.0, tf.float64),
        tf.constant(horizon, tf.float64),
        tf.constant(rate, tf.float64),
        tf.constant(radius, tf.float64),
        kind,
        euclidean,
        grid._lattice,
    ).numpy()
    expected = numpy_online_pass(embedding, samples, grid, rate, radius, horizon, kind, euclidean)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-4)


def batch_map_epoch(X, embedding, grid, sigma, kind="exponential"):
    winners = np.argmin(((X[:, None, :] - embedding[None]) ** 2).sum(axis=2), axis=1)
    h = neighbourhood(grid.distances()[winners], sigma, kind)
    weight = h.sum(axis=0)[:, None]
    return np.where(weight > 0, h.T @ X / np.where(weight > 0, weight, 1.0), embedding)


@pytest.mark.parametrize("grid", [Grid((4, 5), **HEX), Grid((4, 6), topology="hexagonal", periodic=True)], ids=repr)
def test_batch_map_and_mini_batch_step_by_hand(grid):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    init = rng.normal(size=(grid.size, 3))
    som = KohonenSOM(grid, mode="batch", sigma=(1.5, 1.5), init=init, epochs=1).fit(X)
    np.testing.assert_allclose(som.embedding_, batch_map_epoch(X, init, grid, 1.5), atol=1e-5)
    # One mini-batch of all the samples: the mean of the online updates.
    settings = dict(learning_rate=(0.4, 0.4), sigma=(1.2, 1.2), decay_samples=10, init=init)
    som = KohonenSOM(grid, mode="batch", batch_size=len(X), random_state=0, **settings).partial_fit(X)
    winners = np.argmin(((X[:, None, :] - init[None]) ** 2).sum(axis=2), axis=1)
    h = neighbourhood(grid.distances()[winners], 1.2)
    expected = init + 0.4 / len(X) * (h[:, :, None] * (X[:, None, :] - init[None])).sum(axis=0)
    np.testing.assert_allclose(som.embedding_, expected, atol=1e-5)


@pytest.fixture(scope="module")
def torus_data():
    """Points on a torus in 4-D (two circles), which a toroidal map covers without folds."""
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 2 * np.pi, size=(2, 1500))
    return np.stack([np.cos(a), np.sin(a), np.cos(b), np.sin(b)], axis=1).astype(np.float32)


@pytest.fixture(scope="module")
def square_data():
    return np.random.default_rng(1).uniform(size=(1500, 2)).astype(np.float32)


MODES = [dict(), dict(mode="batch"), dict(mode="batch", batch_size=32, epochs=5)]


@pytest.mark.parametrize("options", MODES, ids=["online", "batch", "mini-batch"])
def test_kohonen_som_unfolds_a_hexagonal_map_over_a_square(square_data, options):
    som = KohonenSOM(Grid((8, 9), **HEX), random_state=0, **options).fit(square_data)
    assert np.all(np.isfinite(som.embedding_))
    assert som.topographic_error(square_data) < 0.3
    assert som.topographic_error(square_data, adjacency="minisom") == som.topographic_error(square_data)
    np.testing.assert_array_equal(som.transform(square_data[:5]), som.grid_.coords[som.winner(square_data[:5])])


@pytest.mark.parametrize("options", MODES, ids=["online", "batch", "mini-batch"])
@pytest.mark.parametrize(
    "grid", [Grid((10, 10), periodic=True), Grid((8, 10), topology="hexagonal", periodic=True)], ids=repr
)
def test_a_toroidal_map_covers_a_torus(torus_data, grid, options):
    som = KohonenSOM(grid, random_state=0, **options).fit(torus_data)
    assert np.all(np.isfinite(som.embedding_))
    assert som.topographic_error(torus_data) < 0.15
    assert som.transform(torus_data).shape == (len(torus_data), 4)
    assert list(som.get_feature_names_out()) == ["som0", "som1", "som2", "som3"]


def test_a_ring_covers_a_circle_without_topographic_errors():
    t = np.random.default_rng(2).uniform(0, 2 * np.pi, 600)
    X = np.stack([np.cos(t), np.sin(t)], axis=1)
    for options in MODES:
        som = KohonenSOM(Grid((12,), periodic=True), random_state=0, **options).fit(X)
        assert som.topographic_error(X) == 0.0
        # The ring closes: the first and last nodes are neighbours in input space too.
        gaps = np.linalg.norm(som.embedding_ - np.roll(som.embedding_, 1, axis=0), axis=1)
        assert gaps.max() < 3 * np.median(gaps)


def test_a_periodic_grid_beats_the_flat_one_on_a_torus(torus_data):
    flat = KohonenSOM((10, 10), random_state=0).fit(torus_data).topographic_error(torus_data)
    torus = KohonenSOM(Grid((10, 10), periodic=True), random_state=0).fit(torus_data).topographic_error(torus_data)
    assert torus < flat / 2


def test_pca_init_spreads_a_hexagonal_grid_over_the_principal_plane(square_data):
    som = KohonenSOM(Grid((6, 7), **HEX), init="pca").initialize(square_data)
    centred = som.embedding_ - square_data.mean(axis=0)
    # The embedding is an affine image of the plane positions (an orthogonal map per axis).
    positions = np.column_stack([som.grid_.positions, np.ones(som.grid_.size)])
    fit = np.linalg.lstsq(positions, centred, rcond=None)[0]
    assert np.allclose(positions @ fit, centred, atol=1e-5)
    assert np.ptp(centred, axis=0).min() > 0.5


# --- the topographic error --------------------------------------------------------------------


def hand_map(grid, embedding):
    embedding = np.asarray(embedding, dtype=np.float64)
    return KohonenSOM(grid, init=embedding).initialize(embedding)


def test_topographic_error_counts_hops_on_the_lattice():
    # A 3x3 hexagonal grid on a line: node k at k.
    line = np.arange(9.0)[:, None]
    som = hand_map(Grid((3, 3), **HEX), line)
    # x = 4.4: best 4 (1, 1), second 5 (1, 2): adjacent. 3.4: 3 (1, 0) then 4: adjacent.
    # 2.4: 2 (0, 2) then 3 (1, 0): 2 hops. 0.6: 1 then 0: adjacent. 6.6: 7 (2, 1) then 6 (2, 0): adjacent.
    X = np.array([[4.4], [3.4], [2.4], [0.6], [6.6]])
    assert som.topographic_error(X) == pytest.approx(1 / 5)
    best, second = np.argsort(((X[:, None, :] - line[None]) ** 2).sum(2), axis=1)[:, :2].T
    assert som.topographic_error(X) == np.mean(som.grid_.distances()[best, second] > 1)
    # On a ring, the seam counts as adjacent: 0 and 4 of a ring of 5.
    ring = hand_map(Grid((5,), periodic=True), [[0.0], [10.0], [20.0], [30.0], [1.0]])
    assert ring.topographic_error([[0.4]]) == 0.0
    assert hand_map(Grid((5,)), [[0.0], [10.0], [20.0], [30.0], [1.0]]).topographic_error([[0.4]]) == 1.0
    # MiniSom's adjacency on a torus takes the diagonals the shorter way round.
    torus = hand_map(Grid((4, 4), periodic=True), np.arange(16.0)[:, None] * 10)
    torus.embedding_[15] = 0.5  # node (3, 3), diagonal to (0, 0) across both seams
    assert torus.topographic_error([[0.2]]) == 1.0
    assert torus.topographic_error([[0.2]], adjacency="minisom") == 0.0


@pytest.mark.parametrize("shape", [(5, 5), (4, 7), (6, 3)])
def test_hexagonal_topographic_error_equals_minisoms_for_odd_rows(shape):
    rng = np.random.default_rng(sum(shape))
    X = rng.normal(size=(400, 3))
    som = KohonenSOM(Grid(shape, **HEX), init="sample", random_state=0, epochs=1).fit(X)
    minisom = MiniSom(*shape, 3, topology="hexagonal", random_seed=0)
    minisom._weights = som.embedding_.astype(np.float64).reshape(*shape, 3)
    expected = minisom.topographic_error(X)
    assert 0 < expected < 1
    assert som.topographic_error(X) == pytest.approx(expected)
    assert som.topographic_error(X, adjacency="minisom") == pytest.approx(expected)


def test_hexagonal_gaussian_on_euclidean_distance_is_minisoms():
    grid = Grid((5, 7), **HEX)
    minisom = MiniSom(5, 7, 2, sigma=1.3, topology="hexagonal", neighborhood_function="gaussian")
    for k in (0, 12, 34):
        ours = neighbourhood(grid.euclidean(k, np.arange(grid.size)), 1.3, "gaussian").reshape(5, 7)
        np.testing.assert_allclose(ours, minisom.neighborhood(np.unravel_index(k, (5, 7)), 1.3), rtol=1e-12)


# --- the U-matrix and the plots --------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 5), (4, 6), (6, 3)])
@pytest.mark.parametrize("scaling", ["sum", "mean"])
def test_hexagonal_distance_map_equals_minisoms(shape, scaling):
    """MiniSom's hexagonal U-matrix takes the Grid's six neighbours, for odd and even numbers of rows."""
    embedding = np.random.default_rng(3).normal(size=(int(np.prod(shape)), 3))
    som = hand_map(Grid(shape, **HEX), embedding)
    minisom = MiniSom(*shape, 3, topology="hexagonal")
    minisom._weights = som.embedding_.astype(np.float64).reshape(*shape, 3)
    ours = A.distance_map(som, scaling=scaling, normalize=True)
    np.testing.assert_allclose(ours, minisom.distance_map(scaling=scaling), rtol=1e-12)


def test_distance_map_on_a_ring_by_hand():
    som = hand_map(Grid((4,), periodic=True), [[0.0], [1.0], [3.0], [6.0]])
    # Node 0's neighbours are 1 and 3 (across the seam): (1 + 6) / 2.
    np.testing.assert_allclose(A.distance_map(som), [3.5, 1.5, 2.5, 4.5])
    with pytest.raises(ValueError, match="neighbours='moore' needs a rectangular grid"):
        A.distance_map(som, neighbours="moore")
    with pytest.raises(ValueError, match="neighbours='moore' needs a rectangular grid"):
        A.distance_map(hand_map(Grid((3, 3), **HEX), np.zeros((9, 2))), neighbours="moore")


@pytest.fixture
def ax():
    figure, axes = plt.subplots()
    yield axes
    plt.close(figure)


@pytest.fixture(scope="module")
def hexagonal_map(square_data):
    return KohonenSOM(Grid((6, 5), **HEX), random_state=0).fit(square_data)


def test_plot_distance_map_draws_hexagons_that_tile(hexagonal_map, ax):
    grid = hexagonal_map.grid_
    collection = plotting.plot_distance_map(ax, hexagonal_map, colorbar=False)
    paths = collection.get_paths()
    assert len(paths) == grid.size
    np.testing.assert_allclose(collection.get_array(), A.distance_map(hexagonal_map).ravel())
    corners = []
    for k, path in enumerate(paths):
        corners.append(np.unique(np.round(path.vertices, 9), axis=0))
        assert len(corners[k]) == 6
        np.testing.assert_allclose(corners[k].mean(axis=0), grid.positions[k], atol=1e-6)
        np.testing.assert_allclose(np.ptp(corners[k], axis=0), [1.0, 2 / np.sqrt(3)], atol=1e-9)  # unit width
    # Neighbouring hexagons share a side (two corners); others share none.
    for i, j in grid.edges():
        shared = {tuple(c) for c in np.round(corners[i], 6)} & {tuple(c) for c in np.round(corners[j], 6)}
        assert len(shared) == 2
    assert ax.get_xlim() == pytest.approx((-0.5, grid.positions[:, 0].max() + 0.5))
    assert ax.get_ylim() == pytest.approx((-1 / np.sqrt(3), grid.positions[:, 1].max() + 1 / np.sqrt(3)))


def test_every_plot_draws_hexagonal_and_toroidal_maps(hexagonal_map, square_data, torus_data):
    torus = KohonenSOM(Grid((6, 4), periodic=True), random_state=0).fit(torus_data)
    for som, X in ((hexagonal_map, square_data), (torus, torus_data)):
        figure, (left, middle, right) = plt.subplots(1, 3)
        assert len(plotting.plot_hit_map(left, som, X, text=True).get_paths()) == som.grid_.size
        labels = (X[:, 0] > np.median(X[:, 0])).astype(int)
        assert len(plotting.plot_labels_map(middle, som, X, labels).get_paths()) == som.grid_.size
        plotting.draw_map(right, som.embedding_, som.grid_)
        (edges,) = [c for c in right.collections if isinstance(c, matplotlib.collections.LineCollection)]
        assert len(edges.get_segments()) == len(som.grid_.edges())
        plt.close(figure)
        figure = plt.figure()
        assert len(plotting.plot_component_planes(figure, som)) == X.shape[1]
        plt.close(figure)
    # The torus is drawn unrolled: unit squares at the lattice positions.
    figure, axes = plt.subplots()
    collection = plotting.plot_distance_map(axes, torus, colorbar=False)
    np.testing.assert_allclose(collection.get_paths()[23].vertices.max(axis=0), [5.5, 3.5], atol=1e-9)
    plt.close(figure)


# --- SoftSOM ---------------------------------------------------------------------------------


def test_softsom_signature_is_written_in_the_book():
    written = re.search(r"autoclass:: SoftSOM(\(.*\))", (ROOT / "book" / "api" / "op.md").read_text()).group(1)
    assert written.replace("_000", "000").replace('"', "'") == str(inspect.signature(SoftSOM))


@pytest.mark.parametrize(
    "options",
    [dict(topology="hexagonal"), dict(periodic=True), dict(topology="hexagonal", periodic=(True, True))],
    ids=["hexagonal", "torus", "hexagonal torus"],
)
def test_softsom_outputs_the_grids_coords(options):
    X = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    layer = SoftSOM((4, 6), beta=2.5, **options)
    out = layer(X)
    assert layer.grid == Grid((4, 6), **options)
    assert out.shape == (64, layer.grid.dim) == (64, 2 + 2 * any(layer.grid.periodic))
    assert layer.compute_output_shape((None, 3)) == (None, layer.grid.dim)
    np.testing.assert_allclose(out.numpy(), soft_som(X, layer.embedding, layer.grid.coords, 2.5).numpy(), rtol=1e-6)
    config = layer.get_config()
    assert config["topology"] == layer.grid.topology and config["periodic"] == list(layer.grid.periodic)
    assert SoftSOM.from_config(json.loads(json.dumps(config))).grid == layer.grid


@pytest.mark.parametrize(
    "grid", [Grid((3, 4), **HEX), Grid((4, 4), periodic=True), Grid((4, 4), topology="hexagonal", periodic=True)]
)
def test_softsom_kohonen_step_is_kohonen_soms_mini_batch_step(grid):
    X = np.random.default_rng(0).normal(size=(128, 3)).astype("float32")
    start = np.random.default_rng(1).normal(size=(grid.size, 3)).astype("float32")
    settings = dict(learning_rate=(0.3, 0.3), sigma=(1.5, 1.5), neighbourhood="gaussian", decay_samples=100)
    layer = SoftSOM(
        grid.shape,
        topology=grid.topology,
        periodic=grid.periodic,
        embedding_initializer=keras.initializers.Constant(start),
        **settings,
    )
    layer(X, training=True)
    som = KohonenSOM(grid, mode="batch", batch_size=len(X), init=start, random_state=0, **settings).partial_fit(X)
    np.testing.assert_allclose(layer.embedding.numpy(), som.embedding_, atol=1e-5)
    assert not np.allclose(som.embedding_, start)


def test_softsom_trains_and_saves_on_a_hexagonal_grid(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 3)).astype("float32")
    y = (X[:, 0] * X[:, 1] > 0).astype("int32")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    layer = SoftSOM((4, 5), beta=2.0, decay_samples=500, topology="hexagonal", name="som")
    outputs = keras.layers.Dense(2, activation="softmax")(layer(keras.layers.Dense(4, activation="tanh")(inputs)))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    before = layer.embedding.numpy().copy()
    model.fit(X, y, epochs=2, batch_size=32, verbose=0)
    assert np.all(np.isfinite(layer.embedding.numpy())) and not np.allclose(layer.embedding.numpy(), before)
    model.save(tmp_path / "hexagonal.keras")
    loaded = keras.models.load_model(tmp_path / "hexagonal.keras")
    assert loaded.get_layer("som").grid == Grid((4, 5), topology="hexagonal")
    np.testing.assert_array_equal(loaded.get_layer("som").embedding.numpy(), layer.embedding.numpy())
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)


def test_from_kohonen_and_models_keep_the_topology(square_data):
    som = KohonenSOM(Grid((4, 6), topology="hexagonal", periodic=(True, False)), random_state=0).fit(square_data)
    layer = SoftSOM.from_kohonen(som, beta=3.0)
    assert layer.grid == som.grid_
    np.testing.assert_allclose(
        layer(square_data[:20]).numpy(), soft_som(square_data[:20], som.embedding_, som.grid_.coords, 3.0).numpy()
    )
    model = models.som_preprocessing(som, 3.0, rescale=True, seed=0)
    assert model.get_layer("rescale").scale == pytest.approx(1 / som.grid_.coords.max())
    outputs = keras.Model(model.input, model.get_layer("rescale").output)(square_data).numpy()
    assert outputs.min() >= 0 and outputs.max() <= 1 + 1e-6
    model = models.interposed_som(2, (4, 5), 2.0, topology="hexagonal", rescale=True, seed=0)
    assert model.get_layer("soft_som").grid == Grid((4, 5), topology="hexagonal")
    assert model.get_layer("rescale").scale == pytest.approx(1 / 3.5)  # node (3, 1) at x = 3.5
    assert models.interposed_som(2, (4, 4), 2.0, periodic=True).get_layer("soft_som").output.shape == (None, 4)
    with pytest.raises(ValueError, match="topology must be one of"):
        models.interposed_som(2, (4, 4), 2.0, topology="round")


def test_softsom_bad_topology_arguments_are_named():
    with pytest.raises(ValueError, match="topology"):
        SoftSOM((3, 3, 3), topology="hexagonal")
    with pytest.raises(ValueError, match="periodic"):
        SoftSOM((3, 3), periodic=(True,))


# --- tf.distribute -----------------------------------------------------------------------------

DISTRIBUTED = r"""
import json

import keras  # noqa: E402

from softsom import Grid, KohonenSOM, SoftSOM  # noqa: E402

rng = np.random.default_rng(0)
X = rng.normal(size=(256, 3)).astype("float32")
y = (X[:, 0] > 0).astype("int32")
results = {}
for name, grid in (("hexagonal", Grid((4, 5), topology="hexagonal")), ("torus", Grid((4, 4), periodic=True))):
    for batch_size in (None, 32):
        options = dict(mode="batch", batch_size=batch_size, epochs=3, random_state=0)
        one = KohonenSOM(grid, **options).fit(X).embedding_
        two = KohonenSOM(grid, strategy=strategy, **options).fit(X).embedding_
        results[f"{name} {batch_size}"] = float(np.abs(one - two).max())

    def fitted(distribute):
        keras.utils.set_random_seed(0)
        scope = strategy.scope() if distribute else tf.distribute.get_strategy().scope()
        with scope:
            inputs = keras.Input((3,))
            layer = SoftSOM(grid.shape, beta=2.0, topology=grid.topology, periodic=grid.periodic, decay_samples=500)
            model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(layer(inputs)))
            model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
        model.fit(X, y, batch_size=64, epochs=1, shuffle=False, verbose=0)
        return layer.embedding.numpy()

    results[f"{name} softsom"] = float(np.abs(fitted(False) - fitted(True)).max())
print("RESULTS" + json.dumps(results))
"""


def test_hexagonal_and_toroidal_training_under_mirrored_strategy_matches_one_device():
    results = run_on_two_cpus(DISTRIBUTED)
    assert len(results) == 6
    for name, difference in results.items():
        assert difference < 1e-4, (name, difference)


# --- rectangular grids: unchanged ------------------------------------------------------------


def test_rectangular_grids_give_the_results_of_before_bit_for_bit():
    """Every grid user on rectangular grids, with fixed seeds, against tests/data/rectangular_reference.npz.

    The reference was computed before hexagonal and periodic grids were added
    (``python -m tests._rectangular_reference`` writes it). Compared in a fresh
    process, as the runs that regenerate the book's results are: within one
    process, earlier traces of other shapes can change the last bits (see
    tests/_rectangular_reference.py).
    """
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run(
        [sys.executable, "-m", "tests._rectangular_reference", "--check"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.split("CHANGED")[-1])
    assert report["compared"] > 100 and report["changed"] == []
