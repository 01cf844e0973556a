"""softsom.analysis and its plots: hand examples, MiniSom on the same weights, errors, smoke plots."""

import re
from collections import Counter
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from minisom import MiniSom

from softsom import Grid, KohonenSOM, plotting
from softsom import analysis as A

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]


def hand_map(shape, embedding):
    """A map on ``Grid(shape)`` whose embedding is exactly ``embedding`` (no training)."""
    embedding = np.asarray(embedding, dtype=np.float64)
    return KohonenSOM(Grid(shape), init=embedding).initialize(embedding)


# Node k of a 2x2 grid sits at unravel_index(k, (2, 2)): 0 (0,0), 1 (0,1), 2 (1,0), 3 (1,1).
SQUARE = [[0.0, 0.0], [3.0, 0.0], [0.0, 4.0], [3.0, 8.0]]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    centres = rng.uniform(-3, 3, size=(4, 3))
    labels = rng.integers(0, 4, size=400)
    return centres[labels] + rng.normal(scale=0.5, size=(400, 3)), labels


@pytest.fixture(scope="module")
def fitted(data):
    return KohonenSOM(Grid((6, 5)), random_state=0).fit(data[0])


@pytest.fixture(scope="module")
def minisom(fitted):
    """MiniSom holding our embedding: weights[i, j] is the node at unravel_index(k) = (i, j)."""
    som = MiniSom(6, 5, 3, random_seed=0)
    som._weights = fitted.embedding_.astype(np.float64).reshape(6, 5, 3)
    return som


# --- hand examples ---------------------------------------------------------------


def test_distance_map_by_hand_on_a_square():
    som = hand_map((2, 2), SQUARE)
    # Grid edges: 0-1 (3), 0-2 (4), 1-3 (8), 2-3 (5); diagonals 0-3 (sqrt 73), 1-2 (5).
    np.testing.assert_allclose(A.distance_map(som), [[3.5, 5.5], [4.5, 6.5]])
    np.testing.assert_allclose(A.distance_map(som, scaling="sum"), [[7, 11], [9, 13]])
    np.testing.assert_allclose(A.distance_map(som, scaling="sum", normalize=True), np.array([[7, 11], [9, 13]]) / 13)
    r = np.sqrt(73)
    moore = np.array([[7 + r, 16], [14, 13 + r]])
    np.testing.assert_allclose(A.distance_map(som, neighbours="moore", scaling="sum"), moore)
    np.testing.assert_allclose(A.distance_map(som, neighbours="moore"), moore / 3)
    assert A.distance_map(som).shape == (2, 2) and A.distance_map(som).dtype == np.float64


def test_distance_map_by_hand_on_a_chain():
    som = hand_map((3,), [[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    np.testing.assert_allclose(A.distance_map(som), [1.0, 1.5, 2.0])
    np.testing.assert_allclose(A.distance_map(som, scaling="sum"), [1.0, 3.0, 2.0])
    np.testing.assert_allclose(A.distance_map(som, normalize=True), [0.5, 0.75, 1.0])
    # In a chain the Moore neighbours are the grid neighbours.
    np.testing.assert_allclose(A.distance_map(som, neighbours="moore"), A.distance_map(som))


def test_distance_map_by_hand_on_a_cube():
    """A 2x2x2 grid embedded at its own positions: 3 neighbours at 1; Moore adds 3 at sqrt 2 and 1 at sqrt 3."""
    grid = Grid((2, 2, 2))
    som = hand_map(grid.shape, grid.coords)
    np.testing.assert_allclose(A.distance_map(som), np.ones((2, 2, 2)))
    expected = 3 + 3 * np.sqrt(2) + np.sqrt(3)
    np.testing.assert_allclose(A.distance_map(som, neighbours="moore", scaling="sum"), np.full((2, 2, 2), expected))


def test_distance_map_of_degenerate_maps_is_zero():
    assert A.distance_map(hand_map((1,), [[2.0, 1.0]])).tolist() == [0.0]
    collapsed = hand_map((2, 3), np.ones((6, 2)))
    np.testing.assert_array_equal(A.distance_map(collapsed, normalize=True), np.zeros((2, 3)))


def test_distance_map_grid_neighbours_by_brute_force(fitted):
    L = fitted.embedding_.astype(np.float64)
    adjacent = fitted.grid_.distances() == 1
    lengths = np.linalg.norm(L[:, None] - L[None], axis=2)
    expected = (lengths * adjacent).sum(axis=1) / adjacent.sum(axis=1)
    np.testing.assert_allclose(A.distance_map(fitted), expected.reshape(6, 5), rtol=1e-12)


def test_activation_win_and_labels_maps_by_hand():
    som = hand_map((2, 2), SQUARE)
    X = np.array([[0.1, 0.0], [3.0, 7.0], [2.9, 0.2], [0.2, 0.1], [3.1, 8.5]])
    labels = ["a", "b", "b", "c", "b"]
    np.testing.assert_array_equal(A.activation_response(som, X), [[2, 1], [0, 2]])
    assert A.activation_response(som, X).dtype == np.int64
    assert A.win_map(som, X, return_indices=True) == {(0, 0): [0, 3], (0, 1): [2], (1, 1): [1, 4]}
    rows = A.win_map(som, X)
    assert list(rows) == [(0, 0), (0, 1), (1, 1)]  # the nodes that win, in node order
    np.testing.assert_array_equal(np.array(rows[(1, 1)]), X[[1, 4]])
    assert rows[(1, 0)] == []  # a defaultdict, as MiniSom's
    assert A.labels_map(som, X, labels) == {
        (0, 0): Counter({"a": 1, "c": 1}),
        (0, 1): Counter({"b": 1}),
        (1, 1): Counter({"b": 2}),
    }
    assert A.labels_map(som, X, labels)[(1, 0)] == Counter()
    np.testing.assert_array_equal(A.quantization(som, X), np.array(SQUARE, dtype=np.float32)[[0, 3, 1, 0, 3]])
    assert A.quantization(som, X).dtype == np.float32


def test_keys_on_a_chain_and_empty_data():
    som = hand_map((3,), [[0.0], [1.0], [3.0]])
    assert A.win_map(som, [[0.9], [2.5], [-1.0]], return_indices=True) == {(0,): [2], (1,): [0], (2,): [1]}
    empty = np.empty((0, 1))
    np.testing.assert_array_equal(A.activation_response(som, empty), [0, 0, 0])
    assert A.win_map(som, empty) == {} and A.labels_map(som, empty, []) == {}
    assert A.quantization(som, empty).shape == (0, 1)


def test_component_planes_by_hand():
    som = hand_map((2, 2), SQUARE)
    planes = A.component_planes(som)
    assert planes.shape == (2, 2, 2) and planes.dtype == np.float32
    np.testing.assert_array_equal(planes[0], [[0, 3], [0, 3]])
    np.testing.assert_array_equal(planes[1], [[0, 0], [4, 8]])
    planes[0, 0, 0] = 99  # a copy
    assert som.embedding_[0, 0] == 0
    cube = Grid((2, 3, 4))
    planes = A.component_planes(hand_map(cube.shape, cube.coords))
    for axis in range(3):
        np.testing.assert_array_equal(planes[axis], np.indices(cube.shape)[axis])


def test_quantization_error_is_the_mean_distance_to_the_prototypes(fitted, data):
    X = data[0]
    distances = np.linalg.norm(X - A.quantization(fitted, X), axis=1)
    assert distances.mean() == pytest.approx(fitted.quantization_error(X), rel=1e-6)


# --- MiniSom on the same weights ---------------------------------------------------


@pytest.mark.parametrize("scaling", ["sum", "mean"])
def test_distance_map_matches_minisom(fitted, minisom, scaling):
    ours = A.distance_map(fitted, neighbours="moore", scaling=scaling, normalize=True)
    np.testing.assert_allclose(ours, minisom.distance_map(scaling=scaling), rtol=1e-12)
    # The default differs: grid neighbours, in input-space units.
    assert not np.allclose(A.distance_map(fitted), minisom.distance_map(scaling=scaling))


def test_activation_response_matches_minisom(fitted, minisom, data):
    np.testing.assert_array_equal(A.activation_response(fitted, data[0]), minisom.activation_response(data[0]))


def test_win_map_matches_minisom(fitted, minisom, data):
    X = data[0]
    assert A.win_map(fitted, X, return_indices=True) == minisom.win_map(X, return_indices=True)
    ours, theirs = A.win_map(fitted, X), minisom.win_map(X)
    assert set(ours) == set(theirs)
    for position in theirs:
        np.testing.assert_array_equal(np.array(ours[position]), np.array(theirs[position]))


def test_labels_map_matches_minisom(fitted, minisom, data):
    X, labels = data
    assert A.labels_map(fitted, X, labels) == minisom.labels_map(X, labels)
    names = [f"cluster {label}" for label in labels]
    assert A.labels_map(fitted, X, names) == minisom.labels_map(X, names)


def test_quantization_matches_minisom(fitted, minisom, data):
    np.testing.assert_array_equal(A.quantization(fitted, data[0]), minisom.quantization(data[0]))


def test_component_planes_match_minisom_weights(fitted, minisom):
    planes = A.component_planes(fitted)
    assert planes.shape == (3, 6, 5)
    for i in range(3):
        np.testing.assert_array_equal(planes[i], minisom.get_weights()[:, :, i])


def test_every_public_function_is_exported():
    assert set(A.__all__) == {
        "distance_map",
        "activation_response",
        "win_map",
        "labels_map",
        "quantization",
        "component_planes",
    }
    import softsom

    assert softsom.analysis is A


# --- errors ----------------------------------------------------------------------


def raised(call):
    """The exception ``call()`` raises."""
    with pytest.raises(Exception) as info:
        call()
    return info.value


def test_unfitted_map_raises_the_maps_own_error():
    som = KohonenSOM(Grid((2, 2)))
    X = np.zeros((3, 2))
    own = raised(lambda: som.winner(X))
    assert isinstance(own, ValueError) and "not fitted yet" in str(own)
    calls = [
        lambda: A.distance_map(som),
        lambda: A.activation_response(som, X),
        lambda: A.win_map(som, X),
        lambda: A.labels_map(som, X, [0, 1, 2]),
        lambda: A.quantization(som, X),
        lambda: A.component_planes(som),
    ]
    for call in calls:
        error = raised(call)
        assert type(error) is type(own) and str(error) == str(own)


def test_something_else_than_a_map_is_named():
    with pytest.raises(ValueError, match="som must be a fitted softsom.KohonenSOM; got MiniSom"):
        A.distance_map(MiniSom(2, 2, 2))
    with pytest.raises(ValueError, match="som must be"):
        A.component_planes(np.zeros((4, 2)))


@pytest.mark.parametrize(
    "bad, message",
    [(np.zeros((4, 3)), "X has 3 features"), (np.zeros(2), "X must be 2-D"), ([[0.0, np.nan]], "X contains NaN")],
)
def test_bad_data_raise_the_maps_own_error_naming_X(bad, message):
    som = hand_map((2, 2), SQUARE)
    own = raised(lambda: som.winner(bad))
    assert isinstance(own, ValueError) and message in str(own)
    calls = [
        lambda: A.activation_response(som, bad),
        lambda: A.win_map(som, bad),
        lambda: A.labels_map(som, bad, list(range(len(bad)))),
        lambda: A.quantization(som, bad),
    ]
    for call in calls:
        error = raised(call)
        assert type(error) is type(own) and str(error) == str(own)


def test_bad_labels_are_named():
    som = hand_map((2, 2), SQUARE)
    X = np.zeros((3, 2))
    with pytest.raises(ValueError, match="labels must hold one label per sample: X has 3 samples, labels 2"):
        A.labels_map(som, X, ["a", "b"])
    with pytest.raises(ValueError, match="got a string"):
        A.labels_map(som, X, "abc")
    with pytest.raises(ValueError, match="labels must be a sequence"):
        A.labels_map(som, X, 3)
    with pytest.raises(ValueError, match="labels must be hashable"):
        A.labels_map(som, X, [[1], [2], [3]])


def test_bad_options_are_named():
    som = hand_map((2, 2), SQUARE)
    with pytest.raises(ValueError, match="neighbours must be one of"):
        A.distance_map(som, neighbours="hex")
    with pytest.raises(ValueError, match="scaling must be one of"):
        A.distance_map(som, scaling="puppies")
    with pytest.raises(ValueError, match="normalize must be True or False"):
        A.distance_map(som, normalize="yes")
    with pytest.raises(ValueError, match="return_indices must be True or False"):
        A.win_map(som, np.zeros((1, 2)), return_indices=None)


# --- plots -----------------------------------------------------------------------


@pytest.fixture
def ax():
    figure, axes = plt.subplots()
    yield axes
    plt.close(figure)


def test_plot_distance_map_draws_one_square_per_node(fitted, ax):
    collection = plotting.plot_distance_map(ax, fitted, neighbours="moore", scaling="sum", normalize=True)
    paths = collection.get_paths()
    assert len(paths) == 30 and len(ax.figure.axes) == 2  # the map and its colour bar
    np.testing.assert_allclose(
        collection.get_array(), A.distance_map(fitted, neighbours="moore", scaling="sum", normalize=True).ravel()
    )
    # Node k is a unit square centred at grid.coords[k] (x the first grid axis, y the second).
    for k in (0, 7, 29):
        vertices = paths[k].vertices
        x, y = fitted.grid_.coords[k]
        np.testing.assert_allclose(vertices.min(axis=0), [x - 0.5, y - 0.5], atol=1e-9)
        np.testing.assert_allclose(vertices.max(axis=0), [x + 0.5, y + 0.5], atol=1e-9)
    extent = collection.get_datalim(ax.transData)
    np.testing.assert_allclose([extent.x0, extent.y0, extent.x1, extent.y1], [-0.5, -0.5, 5.5, 4.5], atol=1e-9)


def test_plot_hit_map_writes_the_counts(fitted, data, ax):
    collection = plotting.plot_hit_map(ax, fitted, data[0], text=True, fontsize=9, colorbar=False)
    assert len(collection.get_paths()) == 30 and len(ax.figure.axes) == 1
    counts = A.activation_response(fitted, data[0]).ravel()
    assert [t.get_text() for t in ax.texts] == [str(c) for c in counts]
    assert {t.get_fontsize() for t in ax.texts} == {9.0}


def test_plot_labels_map_colours_by_the_majority_label(ax):
    som = hand_map((2, 2), SQUARE)
    X = np.array([[0.1, 0.0], [3.0, 7.0], [2.9, 0.2], [0.2, 0.1], [3.1, 8.5], [0.0, 0.1]])
    labels = ["a", "b", "b", "c", "b", "c"]
    colors = {"a": "red", "b": "green", "c": "blue"}
    collection = plotting.plot_labels_map(ax, som, X, labels, colors=colors, text=True, empty_color="white")
    faces = collection.get_facecolors()
    expected = [matplotlib.colors.to_rgba(c) for c in ("blue", "green", "white", "green")]
    np.testing.assert_allclose(faces, expected)
    assert [t.get_text() for t in ax.texts] == ["c", "b", "b"]  # the empty node gets no text
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["b", "c"]  # "a" wins nowhere


def test_plot_labels_map_default_colours(fitted, data, ax):
    collection = plotting.plot_labels_map(ax, fitted, data[0], data[1], legend=False)
    assert len(collection.get_paths()) == 30 and ax.get_legend() is None and not ax.texts


def test_plot_component_planes_one_panel_per_feature(fitted):
    figure = plt.figure()
    axes = plotting.plot_component_planes(figure, fitted, feature_names=["x", "y", "z"])
    assert [a.get_title() for a in axes] == ["x", "y", "z"]
    assert len(figure.axes) == 6  # three panels (the fourth place removed) and their colour bars
    for a, plane in zip(axes, A.component_planes(fitted)):
        (collection,) = a.collections
        np.testing.assert_array_equal(collection.get_array(), plane.ravel())
    plt.close(figure)
    figure = plt.figure()
    assert len(plotting.plot_component_planes(figure, fitted, ncols=3, colorbar=False)) == 3
    assert len(figure.axes) == 3 and figure.axes[0].get_title() == "feature 0"
    plt.close(figure)


def test_a_chain_is_drawn_as_a_row(ax):
    som = hand_map((4,), [[0.0], [1.0], [3.0], [6.0]])
    collection = plotting.plot_distance_map(ax, som, colorbar=False)
    extent = collection.get_datalim(ax.transData)
    np.testing.assert_allclose([extent.x0, extent.y0, extent.x1, extent.y1], [-0.5, -0.5, 3.5, 0.5], atol=1e-9)


def test_plot_errors_are_named(fitted, data, ax):
    cube = hand_map((2, 2, 2), Grid((2, 2, 2)).coords)
    with pytest.raises(ValueError, match=r"plot_distance_map draws 1-D and 2-D grids; .* shape \(2, 2, 2\)"):
        plotting.plot_distance_map(ax, cube)
    with pytest.raises(ValueError, match="fontsize must be a number of points >= 8"):
        plotting.plot_hit_map(ax, fitted, data[0], text=True, fontsize=6)
    with pytest.raises(ValueError, match="colors must be a dict with a colour for every label"):
        plotting.plot_labels_map(ax, fitted, data[0], data[1], colors={0: "red"})
    with pytest.raises(ValueError, match="feature_names must hold one name per feature"):
        plotting.plot_component_planes(ax.figure, fitted, feature_names=["x"])
    with pytest.raises(ValueError, match="ncols must be a positive int"):
        plotting.plot_component_planes(ax.figure, fitted, ncols=0)
    with pytest.raises(ValueError, match="not fitted yet"):
        plotting.plot_hit_map(ax, KohonenSOM(Grid((2, 2))), data[0])


def test_draw_map_still_draws_a_map_in_input_space(fitted, ax):
    points = plotting.draw_map(ax, fitted.embedding_, fitted.grid_)
    assert len(points.get_offsets()) == 30 and len(ax.collections) == 2


def test_no_font_below_8_points_in_plotting():
    source = (ROOT / "src" / "softsom" / "plotting.py").read_text()
    sizes = [float(size) for size in re.findall(r"(?:fontsize|labelsize)\s*=\s*([0-9.]+)", source)]
    assert all(size >= 8 for size in sizes), sizes
    assert plotting.SMALLEST_FONT >= 8
