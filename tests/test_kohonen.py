import numpy as np
import pytest
import tensorflow as tf
from minisom import MiniSom

from experiments.manifold import rank_correlation
from softsom import Grid, KohonenSOM
from softsom.kohonen import decay, neighbourhood


@pytest.fixture(scope="module")
def blobs():
    """Six Gaussian clusters in 5-D: structure for a map to find."""
    rng = np.random.default_rng(42)
    centres = rng.uniform(-3, 3, size=(6, 5))
    return centres[rng.integers(0, 6, size=3000)] + rng.normal(scale=0.4, size=(3000, 5))


@pytest.fixture(scope="module")
def fitted(blobs):
    return KohonenSOM((8, 8), random_state=0, epochs=2).fit(blobs)


def test_fit_returns_self_and_learned_attributes(blobs):
    som = KohonenSOM(Grid((4, 5)), random_state=0)
    assert som.fit(blobs) is som
    assert som.embedding_.shape == (20, 5)
    assert som.embedding_.dtype == np.float32
    assert som.n_samples_seen_ == len(blobs)
    assert som.n_features_in_ == 5
    assert som.decay_samples_ == len(blobs)
    # __init__ only stores the arguments.
    assert som.grid == Grid((4, 5)) and som.sigma is None


def test_winner_equals_brute_force(fitted, blobs):
    brute = np.argmin(np.linalg.norm(blobs[:, None, :] - fitted.embedding_.astype(np.float64)[None], axis=2), axis=1)
    np.testing.assert_array_equal(fitted.winner(blobs), brute)


def test_transform_is_the_winners_grid_coordinates(fitted, blobs):
    np.testing.assert_array_equal(fitted.transform(blobs), fitted.grid_.coords[fitted.winner(blobs)])


def test_quantization_and_topographic_error_by_definition(fitted, blobs):
    L = fitted.embedding_.astype(np.float64)
    d = np.linalg.norm(blobs[:, None, :] - L[None], axis=2)
    assert fitted.quantization_error(blobs) == pytest.approx(d.min(axis=1).mean(), rel=1e-9)
    best, second = np.argsort(d, axis=1)[:, :2].T
    hops = fitted.grid_.distances()[best, second]
    assert fitted.topographic_error(blobs) == pytest.approx(np.mean(hops > 1))


def test_one_online_update_by_hand():
    """Two samples on a chain of three nodes, checked against the rule written out."""
    init = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    som = KohonenSOM((3,), learning_rate=(0.5, 0.05), sigma=(1.0, 0.25), init=init, decay_samples=2)
    som.partial_fit([[1.2, 1.0]])
    # t = 0: eta = 0.5, sigma = 1; winner is node 1 (distance 1.02 against 1.56 and 1.28).
    h = np.exp(-np.array([1.0, 0.0, 1.0]))
    expected = init + 0.5 * h[:, None] * (np.array([1.2, 1.0]) - init)
    np.testing.assert_allclose(som.embedding_, expected, rtol=1e-6)
    assert som.n_samples_seen_ == 1
    # t = 1: halfway through the decay, eta = 0.5 * 0.1 ** 0.5, sigma = 1 * 0.25 ** 0.5 = 0.5.
    x = np.array([2.5, -0.5])
    winner = np.argmin(np.linalg.norm(expected - x, axis=1))
    assert winner == 2
    h = np.exp(-np.abs(np.arange(3) - winner) / 0.5)
    expected = expected + 0.5 * 0.1**0.5 * h[:, None] * (x - expected)
    som.partial_fit([x])
    np.testing.assert_allclose(som.embedding_, expected, rtol=1e-6)


def test_gaussian_neighbourhood_update():
    init = np.zeros((3, 1))
    som = KohonenSOM(
        (3,), learning_rate=(1.0, 1.0), sigma=(1.0, 1.0), init=init, neighbourhood="gaussian", decay_samples=1
    ).partial_fit([[1.0]])
    # All nodes tie; the first wins.
    np.testing.assert_allclose(som.embedding_[:, 0], np.exp(-np.array([0.0, 1.0, 4.0]) / 2), rtol=1e-6)


def test_schedules():
    som = KohonenSOM((5,), learning_rate=(0.5, 0.005), sigma=(4.0, 0.5), decay_samples=100)
    som.initialize(np.zeros((3, 2)))
    eta, sigma = som.schedule(np.array([0, 50, 100, 1000]))
    np.testing.assert_allclose(eta, [0.5, 0.05, 0.005, 0.005])
    np.testing.assert_allclose(sigma, [4.0, np.sqrt(2.0), 0.5, 0.5])
    np.testing.assert_allclose(decay(2.0, 8.0, 5, 10), 4.0)
    np.testing.assert_allclose(neighbourhood([0, 1, 2], 2.0), np.exp([0, -0.5, -1]))
    np.testing.assert_allclose(neighbourhood([0, 2], 2.0, kind="gaussian"), np.exp([0, -0.5]))
    with pytest.raises(ValueError, match="kind"):
        neighbourhood([1], 1.0, kind="box")


def test_bubble_and_mexican_hat_by_definition():
    d = np.array([0.0, 1.0, 1.5, 2.0, 3.0])
    np.testing.assert_array_equal(neighbourhood(d, 1.5, kind="bubble"), [1, 1, 1, 0, 0])
    sigma = 2.0
    ricker = (1 - d**2 / sigma**2) * np.exp(-(d**2) / (2 * sigma**2))
    np.testing.assert_allclose(neighbourhood(d, sigma, kind="mexican_hat"), ricker)
    assert neighbourhood([2.0], 2.0, kind="mexican_hat")[0] == 0 and neighbourhood([3.0], 2.0, "mexican_hat")[0] < 0
    # At the smallest radius d**2 / sigma**2 overflows far out: 0 there, not NaN.
    np.testing.assert_array_equal(neighbourhood([0.0, 1e30], 1e-18, kind="mexican_hat"), [1.0, 0.0])


def minisom_neighbourhood(kind, shape, winner, sigma):
    """MiniSom's neighbourhood function ``kind`` around node ``winner`` of a ``shape`` grid, as our node order."""
    som = MiniSom(*shape, 2, neighborhood_function=kind)
    return getattr(som, f"_{kind}")(np.unravel_index(winner, shape), sigma).ravel()


@pytest.mark.parametrize("kind", ["gaussian", "mexican_hat"])
def test_gaussian_and_mexican_hat_on_euclidean_grid_distance_are_minisoms(kind):
    grid, winner, sigma = Grid((5, 4)), 9, 1.3
    coords = grid.coords.astype(np.float64)
    euclidean = np.linalg.norm(coords - coords[winner], axis=1)
    np.testing.assert_allclose(
        neighbourhood(euclidean, sigma, kind), minisom_neighbourhood(kind, (5, 4), winner, sigma), rtol=1e-12
    )


def test_bubble_differs_from_minisoms_as_documented():
    """MiniSom's bubble is a square open at its border; ours is closed, a diamond on hops."""
    grid, winner = Grid((5, 5)), 12
    hops = grid.distances()[winner]
    ours, theirs = neighbourhood(hops, 1.0, "bubble"), minisom_neighbourhood("bubble", (5, 5), winner, 1.0)
    assert ours.sum() == 5 and theirs.sum() == 1  # the winner and its 4 neighbours; the winner alone
    chebyshev = np.abs(grid.coords - grid.coords[winner]).max(axis=1)
    np.testing.assert_array_equal(theirs, chebyshev < 1)
    np.testing.assert_array_equal(minisom_neighbourhood("bubble", (5, 5), winner, 1.5), (chebyshev < 1.5))


def test_euclidean_distance_moves_diagonal_neighbours_as_the_gaussian_says():
    """One online step on a 3x3 grid: a diagonal neighbour is sqrt(2) away, not 2 hops."""
    init = np.zeros((9, 1))
    settings = dict(learning_rate=(1.0, 1.0), sigma=(1.0, 1.0), init=init, decay_samples=1, neighbourhood="gaussian")
    euclidean = KohonenSOM((3, 3), distance="euclidean", **settings).partial_fit([[1.0]])
    hops = KohonenSOM((3, 3), **settings).partial_fit([[1.0]])
    # All nodes tie; node 0 wins. Node 4 is its diagonal neighbour.
    assert euclidean.embedding_[4, 0] == pytest.approx(np.exp(-1.0), rel=1e-6)
    assert hops.embedding_[4, 0] == pytest.approx(np.exp(-2.0), rel=1e-6)
    distances = np.linalg.norm(Grid((3, 3)).coords - Grid((3, 3)).coords[0], axis=1)
    # float32 arithmetic: op determinism switched on earlier in the process moves the last bits (1.7e-6 seen).
    np.testing.assert_allclose(euclidean.embedding_[:, 0], neighbourhood(distances, 1.0, "gaussian"), rtol=1e-5)


@pytest.mark.parametrize("distance", ["hops", "euclidean"])
@pytest.mark.parametrize("kind", ["bubble", "mexican_hat"])
def test_mini_batch_step_by_hand_for_the_new_neighbourhoods(kind, distance):
    grid = Grid((3, 3))
    init = np.arange(9.0)[:, None] / 8
    som = KohonenSOM(
        grid.shape,
        mode="batch",
        batch_size=2,
        learning_rate=(0.5, 0.5),
        sigma=(1.2, 1.2),
        neighbourhood=kind,
        distance=distance,
        init=init,
        decay_samples=10,
    )
    x = np.array([[0.0], [1.0]])  # won by nodes 0 and 8
    som.partial_fit(x)
    coords = grid.coords.astype(np.float64)
    h = np.stack(
        [
            neighbourhood(
                np.abs(coords - coords[w]).sum(axis=1)
                if distance == "hops"
                else np.linalg.norm(coords - coords[w], axis=1),
                1.2,
                kind,
            )
            for w in (0, 8)
        ]
    )
    expected = init[:, 0] + 0.5 / 2 * (h * (x - init[:, 0][None, :])).sum(axis=0)
    np.testing.assert_allclose(som.embedding_[:, 0], expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", ["bubble", "gaussian"])
def test_batch_map_epoch_by_hand_on_euclidean_distance(blobs, kind):
    init = KohonenSOM((4, 5), init="sample", random_state=0).initialize(blobs).embedding_
    som = KohonenSOM(
        (4, 5), mode="batch", neighbourhood=kind, distance="euclidean", sigma=(1.5, 1.5), init=init, epochs=1
    ).fit(blobs)
    coords = som.grid_.coords.astype(np.float64)
    winners = np.argmin(((blobs[:, None, :] - init.astype(np.float64)[None]) ** 2).sum(axis=2), axis=1)
    h = neighbourhood(np.linalg.norm(coords[winners][:, None, :] - coords[None], axis=2), 1.5, kind)
    weight = h.sum(axis=0)[:, None]
    expected = np.where(weight > 0, h.T @ blobs / np.where(weight > 0, weight, 1.0), init)
    np.testing.assert_allclose(som.embedding_, expected, atol=1e-5)


def test_every_neighbourhood_unfolds_a_map(blobs):
    """A smoke test of the new settings in every mode: finite maps, better than their initialisation."""
    start = KohonenSOM((5, 5), random_state=0).initialize(blobs).quantization_error(blobs)
    for kind in ("bubble", "mexican_hat"):
        for distance in ("hops", "euclidean"):
            for mode, batch_size in [("online", None), ("batch", None), ("batch", 64)]:
                if kind == "mexican_hat" and mode == "batch" and batch_size is None:
                    continue
                som = KohonenSOM(
                    (5, 5), mode=mode, batch_size=batch_size, neighbourhood=kind, distance=distance, random_state=0
                ).fit(blobs[:600])
                assert np.all(np.isfinite(som.embedding_))
                assert som.quantization_error(blobs) < start, (kind, distance, mode, batch_size)


def test_topographic_error_with_minisoms_adjacency_equals_minisoms(blobs):
    """The same embedding in MiniSom ([x, y, n] weights, node k at np.unravel_index(k, shape)) gives the same TE."""
    som = KohonenSOM((7, 5), random_state=0, epochs=1).fit(blobs[:200])  # barely trained: some folds
    theirs = MiniSom(7, 5, blobs.shape[1])
    theirs._weights = som.embedding_.astype(np.float64).reshape(7, 5, -1)
    minisom_te = theirs.topographic_error(blobs)
    assert som.topographic_error(blobs, adjacency="minisom") == minisom_te
    # Diagonal neighbours count as adjacent there, not on the grid graph.
    assert 0 < minisom_te < som.topographic_error(blobs) == som.topographic_error(blobs, adjacency="grid")
    best, second = np.argsort(((blobs[:, None] - som.embedding_.astype(np.float64)[None]) ** 2).sum(-1), axis=1)[
        :, :2
    ].T
    coords = som.grid_.coords
    chebyshev = np.abs(coords[best] - coords[second]).max(axis=1)
    hops = np.abs(coords[best] - coords[second]).sum(axis=1)
    assert minisom_te == pytest.approx(np.mean((chebyshev > 1) | (hops > 2)))


def test_topographic_error_adjacency_is_validated(fitted, blobs):
    with pytest.raises(ValueError, match="adjacency"):
        fitted.topographic_error(blobs, adjacency="hexagonal")
    chain = KohonenSOM((6,), random_state=0).fit(blobs[:300])
    assert chain.topographic_error(blobs) == chain.topographic_error(blobs, adjacency="minisom")


def test_one_dimensional_map_keeps_order_on_an_unseen_curve():
    """A sine-shaped curve, unlike the spiral arcs the chapters use."""
    rng = np.random.default_rng(7)

    def sample(n):
        s = rng.uniform(0.0, 3.0, size=n)
        return np.stack([s, 0.6 * np.sin(2.0 * s)], axis=1) + rng.normal(scale=0.02, size=(n, 2)), s

    X, _ = sample(1500)
    X_new, s_new = sample(500)
    chain = KohonenSOM((25,), random_state=1, epochs=3).fit(X)
    assert abs(rank_correlation(s_new, chain.transform(X_new)[:, 0])) > 0.99


def test_quantization_error_close_to_minisom(blobs):
    """Same data, same 10x10 map, comparable Gaussian schedule: within 10% of MiniSom."""
    n_steps = 3 * len(blobs)
    ours = KohonenSOM(
        (10, 10), learning_rate=(0.5, 0.5 / 3), sigma=(2.0, 2.0 / 3), neighbourhood="gaussian", random_state=0, epochs=3
    ).fit(blobs)
    theirs = MiniSom(10, 10, 5, sigma=2.0, learning_rate=0.5, random_seed=0)
    theirs.train_random(blobs, n_steps)
    ours_qe, theirs_qe = ours.quantization_error(blobs), theirs.quantization_error(blobs)
    assert abs(ours_qe - theirs_qe) <= 0.10 * theirs_qe, (ours_qe, theirs_qe)


@pytest.mark.parametrize("init", ["uniform", "sample", "pca"])
def test_same_random_state_gives_bit_identical_embedding(blobs, init):
    a = KohonenSOM((6, 6), init=init, random_state=5, epochs=2).fit(blobs[:500])
    b = KohonenSOM((6, 6), init=init, random_state=5, epochs=2).fit(blobs[:500])
    np.testing.assert_array_equal(a.embedding_, b.embedding_)
    c = KohonenSOM((6, 6), init=init, random_state=6, epochs=2).fit(blobs[:500])
    assert not np.array_equal(a.embedding_, c.embedding_)


def test_refit_restarts_from_random_state(blobs):
    som = KohonenSOM((5, 5), random_state=3)
    first = som.fit(blobs[:300]).embedding_.copy()
    np.testing.assert_array_equal(som.fit(blobs[:300]).embedding_, first)


def test_inits_place_the_grid_in_the_data(blobs):
    lo, hi = blobs.min(axis=0), blobs.max(axis=0)
    uniform = KohonenSOM((6, 6), init="uniform", random_state=0).initialize(blobs).embedding_
    assert np.all((uniform >= lo - 1e-6) & (uniform <= hi + 1e-6))
    sample = KohonenSOM((6, 6), init="sample", random_state=0).initialize(blobs).embedding_
    assert all(np.any(np.all(np.isclose(blobs, row, atol=1e-6), axis=1)) for row in sample)
    pca = KohonenSOM((6, 6), init="pca").initialize(blobs).embedding_
    # A flat sheet: rank 2 after centring, centred on the data's mean.
    assert np.linalg.matrix_rank(pca - pca.mean(axis=0), tol=1e-4) == 2
    np.testing.assert_allclose(pca.mean(axis=0), blobs.mean(axis=0), atol=1e-4)


def test_partial_fit_continues_the_schedule(blobs):
    som = KohonenSOM((5, 5), decay_samples=1000, random_state=0)
    som.partial_fit(blobs[:400]).partial_fit(blobs[400:700])
    assert som.n_samples_seen_ == 700
    eta, _ = som.schedule(som.n_samples_seen_)
    assert eta < som.learning_rate[0]


# -- bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    "X",
    [
        np.zeros(5),
        np.zeros((2, 3, 4)),
        np.zeros((0, 3)),
        np.zeros((4, 0)),
        np.array([[0.0, np.nan]]),
        np.array([[np.inf, 0.0]]),
        [["a", "b"]],
    ],
)
def test_bad_X_names_X(X):
    with pytest.raises(ValueError, match="X"):
        KohonenSOM((3, 3)).fit(X)


def test_wrong_feature_count_after_fit(fitted):
    for method in (
        fitted.winner,
        fitted.transform,
        fitted.quantization_error,
        fitted.topographic_error,
        fitted.partial_fit,
    ):
        with pytest.raises(ValueError, match="X has 4 features"):
            method(np.zeros((3, 4)))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(learning_rate=(0.0, 0.1)), "learning_rate"),
        (dict(learning_rate=(0.5, 1.5)), "learning_rate"),
        (dict(learning_rate=0.5), "learning_rate"),
        (dict(learning_rate=(0.5, float("nan"))), "learning_rate"),
        (dict(sigma=(2.0, 0.0)), "sigma"),
        (dict(sigma=(-1.0, 1.0)), "sigma"),
        (dict(sigma=("a", 1.0)), "sigma"),
        (dict(neighbourhood="box"), "neighbourhood"),
        (dict(distance="manhattan"), "distance"),
        (dict(mode="batch", neighbourhood="mexican_hat"), "mexican_hat"),
        (dict(epochs=0), "epochs"),
        (dict(init="random"), "init"),
        (dict(init=np.zeros((4, 2))), "init"),
        (dict(init=np.full((9, 2), np.nan)), "init"),
        (dict(decay_samples=0), "decay_samples"),
        (dict(decay_samples=2.5), "decay_samples"),
        (dict(grid=(0, 3)), "shape"),
        (dict(mode="sgd"), "mode"),
        (dict(mode="batch", batch_size=0), "batch_size"),
        (dict(mode="batch", batch_size=2.5), "batch_size"),
        (dict(mode="batch", batch_size=True), "batch_size"),
        (dict(batch_size=8), "batch_size"),
        (dict(mode="batch", strategy="mirrored"), "strategy"),
        (dict(strategy=tf.distribute.get_strategy()), "strategy"),
    ],
)
def test_bad_settings_name_the_setting(kwargs, name):
    grid = kwargs.pop("grid", (3, 3))
    with pytest.raises(ValueError, match=name):
        KohonenSOM(grid, **kwargs).fit(np.zeros((5, 2)))


@pytest.mark.parametrize("epochs", [0, -1, 1.5, True, "2"])
def test_bad_epochs(epochs):
    with pytest.raises(ValueError, match="epochs"):
        KohonenSOM((3, 3), epochs=epochs).fit(np.zeros((5, 2)))


def test_partial_fit_needs_decay_samples():
    with pytest.raises(ValueError, match="decay_samples"):
        KohonenSOM((3, 3)).partial_fit(np.zeros((5, 2)))


def test_unfitted_map_says_so():
    with pytest.raises(ValueError, match="not fitted"):
        KohonenSOM((3, 3)).transform(np.zeros((5, 2)))


# -- batch modes -----------------------------------------------------------------


def batch_map_epoch(X, embedding, coords, sigma, kind="exponential"):
    """One epoch of the batch map written out in float64."""
    winners = np.argmin(((X[:, None, :] - embedding[None]) ** 2).sum(axis=2), axis=1)
    h = neighbourhood(np.abs(coords[winners][:, None, :] - coords[None]).sum(axis=2), sigma, kind)
    weight = h.sum(axis=0)[:, None]
    return np.where(weight > 0, h.T @ X / np.where(weight > 0, weight, 1.0), embedding)


def test_one_batch_map_epoch_by_hand(blobs):
    init = KohonenSOM((4, 5), init="sample", random_state=0).initialize(blobs).embedding_
    som = KohonenSOM((4, 5), mode="batch", sigma=(1.5, 1.5), init=init, epochs=1).fit(blobs)
    expected = batch_map_epoch(blobs, init.astype(np.float64), som.grid_.coords, 1.5)
    np.testing.assert_allclose(som.embedding_, expected, atol=1e-5)
    assert som.n_samples_seen_ == len(blobs)


def test_batch_map_schedule_runs_from_start_to_end_radius(blobs):
    som = KohonenSOM((4, 5), mode="batch", sigma=(3.0, 0.75), random_state=0, epochs=3).fit(blobs)
    assert som.decay_samples_ == 2 * len(blobs)
    _, radii = som.schedule(len(blobs) * np.arange(3))
    np.testing.assert_allclose(radii, [3.0, 1.5, 0.75])
    # The same epochs by hand, each at the radius reached when it starts.
    embedding = KohonenSOM((4, 5), mode="batch", random_state=0).initialize(blobs).embedding_.astype(np.float64)
    for sigma in radii:
        embedding = batch_map_epoch(blobs, embedding, som.grid_.coords, sigma)
    np.testing.assert_allclose(som.embedding_, embedding, atol=1e-4)


def test_batch_map_defaults():
    som = KohonenSOM((12, 8), mode="batch", random_state=0).fit(np.random.default_rng(0).normal(size=(50, 2)))
    assert som.n_samples_seen_ == 20 * 50
    assert som.sigma_ == (6.0, 0.7)
    online = KohonenSOM((12, 8)).initialize(np.zeros((3, 2)))
    assert online.sigma_ == (3.0, 0.5)


def test_batch_map_reaches_a_fixed_point(blobs):
    """At a fixed radius the map converges: every node is the weighted mean of its data."""
    som = KohonenSOM((5, 5), mode="batch", sigma=(1.0, 1.0), decay_samples=1, epochs=40, random_state=0)
    som.fit(blobs)
    before = som.embedding_.copy()
    som.partial_fit(blobs)
    np.testing.assert_allclose(som.embedding_, before, atol=1e-5)
    fixed_point = batch_map_epoch(blobs, before.astype(np.float64), som.grid_.coords, 1.0)
    np.testing.assert_allclose(before, fixed_point, atol=1e-5)


def test_batch_map_with_a_tiny_radius_is_a_k_means_step():
    """Nodes move to the mean of the samples they win; nodes winning none stay put."""
    init = np.array([[0.0], [1.0], [2.0], [3.0]])
    X = np.array([[-0.2], [0.1], [2.8], [3.3], [3.1]])
    som = KohonenSOM((4,), mode="batch", neighbourhood="gaussian", sigma=(0.05, 0.05), init=init, epochs=1)
    som.fit(X)
    np.testing.assert_allclose(som.embedding_[:, 0], [-0.05, 1.0, 2.0, 3.0667], atol=1e-4)
    assert som.embedding_[1, 0] == 1.0 and som.embedding_[2, 0] == 2.0  # exactly: no weight


def test_batch_map_ignores_the_learning_rate_and_the_order(blobs):
    a = KohonenSOM((5, 5), mode="batch", learning_rate=(0.5, 0.01), random_state=0, epochs=3).fit(blobs)
    b = KohonenSOM((5, 5), mode="batch", learning_rate=(0.1, 0.1), random_state=0, epochs=3).fit(blobs)
    np.testing.assert_array_equal(a.embedding_, b.embedding_)
    c = KohonenSOM((5, 5), mode="batch", init=a.initialize(blobs).embedding_, epochs=3).fit(blobs[::-1])
    np.testing.assert_allclose(c.embedding_, b.embedding_, atol=1e-5)


def test_batch_map_is_translation_equivariant(blobs):
    """The winners are found on centred data, so an offset far larger than the spread does not matter."""
    offset = np.full(blobs.shape[1], 1e4)
    a = KohonenSOM((5, 5), mode="batch", init="sample", random_state=0).fit(blobs)
    b = KohonenSOM((5, 5), mode="batch", init="sample", random_state=0).fit(blobs + offset)
    np.testing.assert_allclose(b.embedding_ - offset, a.embedding_, atol=0.02)


def test_mini_batch_step_by_hand():
    """The rule of SoftSOM's "kohonen" mode (tests/test_layers.py has the same numbers)."""
    som = KohonenSOM(
        (3,),
        mode="batch",
        batch_size=2,
        learning_rate=(0.5, 0.5),
        sigma=(1.0, 1.0),
        init=[[0.0], [1.0], [2.0]],
        decay_samples=10,
        random_state=0,
    )
    x = np.array([[0.1], [1.9]])
    som.partial_fit(x)
    L = np.array([0.0, 1.0, 2.0])
    h = np.exp(-np.abs(np.arange(3)[None, :] - np.array([0, 2])[:, None]))  # winners 0 and 2
    np.testing.assert_allclose(som.embedding_[:, 0], L + 0.5 / 2 * (h * (x - L[None, :])).sum(axis=0), rtol=1e-6)
    assert som.n_samples_seen_ == 2


def test_mini_batches_of_one_are_the_online_rule(blobs):
    settings = dict(learning_rate=(0.5, 0.05), sigma=(2.0, 0.5), random_state=3)
    online = KohonenSOM((4, 4), **settings, epochs=2).fit(blobs[:300])
    mini = KohonenSOM((4, 4), mode="batch", batch_size=1, **settings, epochs=2).fit(blobs[:300])
    np.testing.assert_allclose(mini.embedding_, online.embedding_, atol=1e-4)


@pytest.mark.parametrize("batch_size", [None, 32])
def test_batch_quality_close_to_online(blobs, batch_size):
    """Default schedules, 8x8 map: QE within 5% of one online epoch's, TE at most 0.05 above."""
    online = KohonenSOM((8, 8), random_state=0).fit(blobs)
    batch = KohonenSOM((8, 8), mode="batch", batch_size=batch_size, random_state=0).fit(blobs)
    online_qe, batch_qe = online.quantization_error(blobs), batch.quantization_error(blobs)
    assert batch_qe <= 1.05 * online_qe, (batch_qe, online_qe)
    assert batch.topographic_error(blobs) <= online.topographic_error(blobs) + 0.05


@pytest.mark.parametrize("batch_size", [None, 50])
def test_batch_modes_are_deterministic(blobs, batch_size):
    def fit(seed):
        return KohonenSOM((6, 6), mode="batch", batch_size=batch_size, random_state=seed, epochs=3).fit(blobs[:500])

    np.testing.assert_array_equal(fit(5).embedding_, fit(5).embedding_)
    assert not np.array_equal(fit(5).embedding_, fit(6).embedding_)


# --- the online pass's two winner searches (issue 13) ---------------------------------------


def numpy_online_pass(embedding, samples, coords, rate, radius, horizon, kind, euclidean=False):
    """The online rule in float64 NumPy, sample by sample, as KohonenSOM's docstring writes it."""
    nodes = np.array(embedding, np.float64)
    coords = coords.astype(np.float64)
    for t, x in enumerate(np.asarray(samples, np.float64)):
        winner = np.argmin(((nodes - x) ** 2).sum(axis=1))
        if euclidean:
            d = np.linalg.norm(coords - coords[winner], axis=1)
        else:
            d = np.abs(coords - coords[winner]).sum(axis=1)
        eta, sigma = decay(*rate, t, horizon), decay(*radius, t, horizon)
        nodes += eta * neighbourhood(d, sigma, kind)[:, None] * (x - nodes)
    return nodes


@pytest.mark.parametrize(
    "n, grid, offset",
    [
        (3, (6, 5), 0.0),  # n <= 4: squared differences
        (16, (6, 5), 0.0),  # products with carried squared norms, hop matrix
        (16, (6, 5), 1e3),  # data far from the origin: centred products
        (8, (33, 32), 0.0),  # more nodes than HOP_MATRIX_NODES: hops per step
    ],
)
@pytest.mark.parametrize("gaussian", [False, True])
def test_online_pass_follows_the_rule_with_either_winner_search(n, grid, offset, gaussian):
    """The XLA loop against the rule in float64, for both ways of finding winners and of counting hops."""
    from softsom.kohonen import HOP_MATRIX_NODES, PRODUCT_WINNERS_ABOVE, _online_pass

    rng = np.random.default_rng(n)
    coords = Grid(grid).coords
    assert (n > PRODUCT_WINNERS_ABOVE) == (n != 3) and (len(coords) > HOP_MATRIX_NODES) == (grid == (33, 32))
    samples = (rng.normal(size=(400, n)) + offset).astype(np.float32)
    embedding = (rng.normal(size=(len(coords), n)) + offset).astype(np.float32)
    rate, radius = (0.5, 0.05), (2.0, 0.5)
    out = _online_pass(
        tf.constant(embedding),
        tf.constant(samples),
        tf.constant(coords),
        tf.constant(0.0, tf.float64),
        tf.constant(400.0, tf.float64),
        tf.constant(rate, tf.float64),
        tf.constant(radius, tf.float64),
        "gaussian" if gaussian else "exponential",
    ).numpy()
    expected = numpy_online_pass(
        embedding, samples, coords, rate, radius, 400, "gaussian" if gaussian else "exponential"
    )
    # float32 arithmetic over 400 steps, relative to the data's spread (1).
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-4 + 1e-6 * offset)


@pytest.mark.parametrize("n, grid", [(3, (6, 5)), (16, (6, 5)), (8, (33, 32))])
@pytest.mark.parametrize(
    "kind, euclidean", [("bubble", False), ("mexican_hat", False), ("gaussian", True), ("bubble", True)]
)
def test_online_pass_follows_the_rule_for_every_neighbourhood_and_distance(n, grid, kind, euclidean):
    """As above, for the neighbourhoods and the grid distance SoftSOM does not share."""
    from softsom.kohonen import _online_pass

    rng = np.random.default_rng(n)
    coords = Grid(grid).coords
    samples = rng.normal(size=(200, n)).astype(np.float32)
    embedding = rng.normal(size=(len(coords), n)).astype(np.float32)
    # A horizon of 197: no step's radius is a grid distance (1, sqrt(2), 2) exactly, where a bubble's
    # border would depend on the rounding of the radius.
    rate, radius, horizon = (0.3, 0.05), (2.0, 0.5), 197.0
    out = _online_pass(
        tf.constant(embedding),
        tf.constant(samples),
        tf.constant(coords),
        tf.constant(0.0, tf.float64),
        tf.constant(horizon, tf.float64),
        tf.constant(rate, tf.float64),
        tf.constant(radius, tf.float64),
        kind,
        euclidean,
    ).numpy()
    expected = numpy_online_pass(embedding, samples, coords, rate, radius, horizon, kind, euclidean)
    # The Mexican hat pushes nodes away, to hundreds of units: float32 rounding relative to that.
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)


def test_online_pass_leaves_untouched_nodes_exactly_where_they_were():
    """Far from every sample's winner (updates below half an ulp), a node keeps its float32 value bit for bit.

    The pass centres data and map on the data's mean; it adds the movement to
    the original embedding, so the centring's rounding never reaches a node.
    """
    from softsom.kohonen import _online_pass

    coords = Grid((40,)).coords
    embedding = np.linspace(0, 100, 40 * 16, dtype=np.float32).reshape(40, 16) + np.float32(1e4 / 3)
    samples = embedding[:2] + np.float32(0.01)  # won by nodes 0 and 1
    out = _online_pass(
        tf.constant(embedding),
        tf.constant(samples),
        tf.constant(coords),
        tf.constant(0.0, tf.float64),
        tf.constant(2.0, tf.float64),
        tf.constant((0.5, 0.5), tf.float64),
        tf.constant((0.5, 0.5), tf.float64),
        "gaussian",  # h = exp(-2 hops^2), below 1e-42 from 7 hops on
    ).numpy()
    np.testing.assert_array_equal(out[10:], embedding[10:])
    assert not np.array_equal(out[:2], embedding[:2])


def test_online_epoch_quality_matches_minisom_at_the_benchmark_settings():
    """The benchmark's comparison in small: one epoch of the online rule, QE within 5 % of MiniSom's train_random."""
    from benchmarks.kohonen import mixture

    X = mixture(2000, 16)
    som = MiniSom(8, 8, 16, sigma=2.0, learning_rate=0.5, neighborhood_function="gaussian", random_seed=0)
    som.random_weights_init(X)
    init = som.get_weights().reshape(64, 16).copy()
    som.train_random(X, len(X))
    ours = KohonenSOM(
        (8, 8),
        learning_rate=(0.5, 0.5 / 3),
        sigma=(2.0, 2.0 / 3),
        neighbourhood="gaussian",
        init=init,
        random_state=0,
        epochs=1,
    ).fit(X)
    assert abs(ours.quantization_error(X) / som.quantization_error(X) - 1) <= 0.05
