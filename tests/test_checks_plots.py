import matplotlib.pyplot as plt
import numpy as np
import pytest

from experiments.checks import gradient_check, naive_soft_som, sharpness
from experiments.figures import plane, seed_band
from softsom.ops import soft_som
from tools.tables import markdown_table


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
    np.testing.assert_allclose(
        naive_soft_som(near, embedding, coords, np.float32(2.0)),
        soft_som(near, embedding, coords, 2.0).numpy(),
        atol=1e-5,
    )
    far = np.array([[0.0, 300.0]], dtype=np.float32)
    assert np.all(np.isnan(naive_soft_som(far, embedding, coords, np.float32(1.0))))
    assert np.all(np.isfinite(soft_som(far, embedding, coords, 1.0).numpy()))


def test_sharpness_blur_falls_and_gradients_vanish_as_beta_grows_and_depend_on_beta_times_spacing():
    from softsom import Grid

    grid = Grid((3, 3))
    coords = grid.coords.astype(np.float32)
    embedding = coords / 2.0  # node spacing 0.5
    points = np.random.default_rng(0).uniform(-0.2, 1.2, size=(200, 2)).astype(np.float32)
    measured = [sharpness(points, embedding, coords, b / 0.5, 0.5, 0.01) for b in (0.1, 2.0, 20.0, 1000.0)]
    blurs, usable = zip(*measured)
    assert all(a > b for a, b in zip(blurs, blurs[1:]))
    assert usable[0] == 1.0 and usable[-1] < 0.1 and blurs[-1] < 1e-3
    scaled = sharpness(points * 100, embedding * 100, coords, 2.0 / 50.0, 50.0, 0.01)
    assert scaled == pytest.approx(measured[1], abs=1e-4)


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


def test_op_figures_and_median_bars_draw_the_bench_file():
    from benchmarks.schema import op_figures
    from experiments.figures import median_bars

    def fig(id, median):
        return {"id": id, "min": median - 1, "median": median, "max": median + 1}

    data = {
        "figures": [
            fig("op/8x4x2/ours_jit/ratio", 3.0),
            fig("op/8x4x2/ours_eager/ratio", 5.0),
            fig("op/16x4x2/ours_jit/ratio", 4.0),
            fig("op/8x4x2/ours_jit/time", 9.0),
            fig("kohonen/online/ratio", 1.0),
        ]
    }
    table = op_figures(data, "ratio")
    assert {shape: sorted(row) for shape, row in table.items()} == {
        "8x4x2": ["ours_eager", "ours_jit"],
        "16x4x2": ["ours_jit"],
    }
    _, ax = plt.subplots()
    median_bars(ax, table, target=3.0)
    heights = sorted(bar.get_height() for bar in ax.patches)
    assert heights[:3] == [3.0, 4.0, 5.0]  # the missing (16x4x2, eager) bar is a NaN gap
    plt.close("all")


def test_seed_band_holds_a_stopped_run_at_its_last_value():
    fig, ax = plt.subplots()
    seed_band(ax, [np.array([0.2, 0.4, 0.6]), np.array([0.4])], "runs", "C0")
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.3, 0.4, 0.5])
    plt.close(fig)


def test_player_is_self_contained_with_a_slider_over_every_frame():
    import matplotlib.pyplot as plt

    from experiments.figures import player

    fig, ax = plt.subplots(figsize=(1, 1), dpi=20)
    (line,) = ax.plot([0, 1], [0, 0])
    html = player(fig, lambda i: line.set_ydata([0, i]), 3)
    assert "http://" not in html and "https://" not in html and "fa-" not in html
    assert 'type="range"' in html
    assert html.count("data:image/png;base64") == 3
    with pytest.raises(ValueError, match="n_frames must be at least 2"):
        player(plt.figure(), lambda i: None, 1)
