import numpy as np
import pytest

from experiments.manifold import pca, rank_correlation
from softsom.datasets import spiral_curve, two_spirals


def test_spiral_curve_is_seeded_and_sorted():
    X, t = spiral_curve(200, turns=0.8, noise=0.02, seed=3)
    X2, t2 = spiral_curve(200, turns=0.8, noise=0.02, seed=3)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(t, t2)
    assert X.shape == (200, 2) and np.all(np.diff(t) >= 0)
    assert not np.array_equal(X, spiral_curve(200, turns=0.8, noise=0.02, seed=4)[0])
    # Noise-free points lie at radius 1 + t.
    X0, t0 = spiral_curve(50, noise=0.0, seed=0)
    np.testing.assert_allclose(np.linalg.norm(X0, axis=1), 1 + t0)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n=0), "n"),
        (dict(n=2.5), "n"),
        (dict(n=10, turns=0), "turns"),
        (dict(n=10, noise=-1), "noise"),
        (dict(n=10, noise=float("nan")), "noise"),
    ],
)
def test_spiral_curve_bad_input(kwargs, name):
    n = kwargs.pop("n")
    with pytest.raises(ValueError, match=name):
        spiral_curve(n, **kwargs)


def test_pca_recovers_a_line():
    rng = np.random.default_rng(0)
    s = rng.normal(size=100)
    X = np.stack([s, 2 * s, -s], axis=1) + 1.0
    scores, rebuilt = pca(X, m=1)
    np.testing.assert_allclose(rebuilt, X, atol=1e-10)
    assert abs(rank_correlation(s, scores[:, 0])) == pytest.approx(1.0)


def test_rank_correlation_against_definition():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=50), rng.normal(size=50)
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    expected = 1 - 6 * np.sum((ra - rb) ** 2) / (50 * (50**2 - 1))
    assert rank_correlation(a, b) == pytest.approx(expected)
    assert rank_correlation(a, np.exp(a)) == pytest.approx(1.0)
    assert rank_correlation(a, -a) == pytest.approx(-1.0)
    # Ties share their mean rank.
    assert rank_correlation([1, 2, 2, 3], [1, 2, 2, 3]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="constant"):
        rank_correlation([1, 1, 1], [1, 2, 3])
    with pytest.raises(ValueError, match="same length"):
        rank_correlation([1, 2], [1, 2, 3])


def test_classic_two_spirals():
    data = two_spirals()
    X, y = data.train
    assert X.shape == (194, 2) and np.bincount(y).tolist() == [97, 97]
    assert len(data.validation[0]) == 0 and len(data.test[0]) == 0
    # The CMU generator: point i of class 0, and class 1 its negation.
    for i in (0, 1, 48, 96):
        theta, r = i * np.pi / 16, 6.5 * (104 - i) / 104
        np.testing.assert_allclose(X[i], [r * np.sin(theta), r * np.cos(theta)], atol=1e-12)
        np.testing.assert_allclose(X[97 + i], -X[i])


def test_generated_two_spirals_depend_only_on_the_seed():
    a = two_spirals(200, turns=2.0, noise=0.1, seed=4)
    b = two_spirals(200, turns=2.0, noise=0.1, seed=4)
    c = two_spirals(200, turns=2.0, noise=0.1, seed=5)
    for part_a, part_b in zip((a.train, a.validation, a.test), (b.train, b.validation, b.test)):
        np.testing.assert_array_equal(part_a[0], part_b[0])
        np.testing.assert_array_equal(part_a[1], part_b[1])
    assert not np.array_equal(a.train[0], c.train[0])
    assert [len(p[0]) for p in (a.train, a.validation, a.test)] == [240, 80, 80]
    # Noise-free points lie on the arms: radius falls linearly with the angle.
    X, y = two_spirals(50, turns=1.5, noise=0.0, seed=0, fractions=(1, 0, 0)).train
    radius = np.linalg.norm(X, axis=1)
    assert np.all((radius >= 6.5 * 8 / 104 - 1e-9) & (radius <= 6.5 + 1e-9))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n_per_class=0), "n_per_class"),
        (dict(n_per_class=2.5), "n_per_class"),
        (dict(n_per_class=10, turns=-1), "turns"),
        (dict(n_per_class=10, noise=-0.1), "noise"),
        (dict(n_per_class=10, fractions=(0.5, 0.5)), "fractions"),
        (dict(n_per_class=10, fractions=(0.5, 0.6, -0.1)), "fractions"),
    ],
)
def test_two_spirals_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        two_spirals(**kwargs)
