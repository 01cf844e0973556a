import numpy as np

from softsom.checks import gradient_check, naive_soft_som
from softsom.tables import markdown_table
from softsom.ops import soft_som
from softsom.plots import plane


def test_gradient_check_rows_are_small_errors():
    rows = gradient_check(n_cases=3, seed=1)
    assert [row["case"] for row in rows] == [1, 2, 3]
    for row in rows:
        assert 0.2 <= row["β"] <= 5.0
        for name in ("points", "embedding", "coords", "beta"):
            assert 0 <= row[name] < 1e-6, (name, row)


def test_naive_formula_agrees_near_the_map_and_fails_far_from_it():
    rng = np.random.default_rng(0)
    embedding = rng.normal(size=(6, 2)).astype(np.float32)
    coords = rng.integers(0, 3, size=(6, 2)).astype(np.float32)
    near = rng.normal(size=(5, 2)).astype(np.float32)
    np.testing.assert_allclose(naive_soft_som(near, embedding, coords, np.float32(2.0)),
                               soft_som(near, embedding, coords, 2.0).numpy(), atol=1e-5)
    far = np.array([[0.0, 300.0]], dtype=np.float32)
    assert np.all(np.isnan(naive_soft_som(far, embedding, coords, np.float32(1.0))))
    assert np.all(np.isfinite(soft_som(far, embedding, coords, 1.0).numpy()))


def test_markdown_table():
    table = markdown_table([{"a": 1.23456, "b": "x"}, {"a": 2.0, "b": "y"}], {"a": ".2f"})
    assert table.splitlines() == ["| a | b |", "|---|---|", "| 1.23 | x |", "| 2.00 | y |"]


def test_plane_is_row_major():
    xs, ys, points = plane((0.0, 1.0, 10.0, 12.0), resolution=3)
    np.testing.assert_allclose(xs, [0.0, 0.5, 1.0])
    np.testing.assert_allclose(ys, [10.0, 11.0, 12.0])
    grid = points.reshape(3, 3, 2)
    np.testing.assert_allclose(grid[2, 1], [xs[1], ys[2]])
    assert points.dtype == np.float32
