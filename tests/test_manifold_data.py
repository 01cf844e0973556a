import numpy as np
import pytest

from softsom.data import spiral_curve
from softsom.manifold import pca, rank_correlation


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


@pytest.mark.parametrize("kwargs, name", [
    (dict(n=0), "n"), (dict(n=2.5), "n"), (dict(n=10, turns=0), "turns"),
    (dict(n=10, noise=-1), "noise"), (dict(n=10, noise=float("nan")), "noise"),
])
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
