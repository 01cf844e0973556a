"""The numerical stress grid of tests.stress: no NaN/Inf and every error within its bound, for both paths."""

import numpy as np
import pytest
import tensorflow as tf

from experiments.checks import naive_soft_som
from softsom.ops import soft_som
from tests import stress

SMALL_GRID = dict(
    betas=(1.0, 1e4), scales=(1e-3, 1.0, 1e3), dtypes=(np.float32,), cases=("random", "on node"), precisions=("fast",)
)


@pytest.fixture(scope="module")
def grid():
    """The full grid, both paths, evaluated once (about 25 s on two cores)."""
    return stress.stress_grid()


def describe(rows):
    return [f"{r.precision} {r.dtype} {r.case} beta={r.beta:.0e} scale={r.scale:.0e}" for r in rows]


def test_print_tables(grid):
    """Shown by ``pytest -s``."""
    print("\n" + stress.format_stress_tables(grid))


def test_grid_covers_every_cell(grid):
    cells = {(r.precision, r.dtype, r.case, r.beta, r.scale) for r in grid}
    assert len(grid) == len(cells) == len(stress.BETAS) * len(stress.SCALES) * 2 * 2 * len(stress.CASES)
    assert {r.dtype for r in grid} == {"float32", "float64"}
    assert {r.precision for r in grid} == set(stress.PRECISIONS) == {"fast", "highest"}


def test_no_nan_or_inf_anywhere(grid):
    assert describe(r for r in grid if r.nonfinite) == []


def test_forward_errors_within_bounds(grid):
    assert describe(r for r in grid if not r.forward_error <= r.forward_bound) == []


def test_gradient_errors_within_bounds(grid):
    failing = [
        f"{cell} {name}: {error:.1e} > {bound:.1e}"
        for r, cell in zip(grid, describe(grid))
        for name, error, bound in r.compared()
        if not error <= bound
    ]
    assert failing == []


def test_only_kinks_are_not_compared(grid):
    """Central differences in long double resolve every differentiable cell (x86-64)."""
    skipped = {(r.case, name, reason) for r in grid for name, reason in r.not_compared.items()}
    expected = {("on node", "points", "kink"), ("on node", "embedding", "kink")}
    if stress.EPS_REFERENCE < 1e-18:
        assert skipped == expected
    else:  # long double is float64 here: some cells may be unresolved, never hidden
        assert expected <= skipped <= expected | {(c, n, "unresolved") for c, n, _ in skipped}
    for r in grid:
        assert set(r.gradient_errors) == set(stress.ARGUMENTS)
        assert all((r.gradient_errors[name] is None) == (name in r.not_compared) for name in r.gradient_errors)


def test_bounds_are_the_ops_contract():
    # Away from ties at huge beta * R, the bounds are the contract in ops.py:
    # float32 forward 2 ulps (its measured 2e-7 is 1.7), gradients 4e-6.
    assert stress.forward_bound(np.float32, 1.0, 1.0) == pytest.approx(2 * 2.0**-23, rel=1e-6)
    assert stress.forward_bound(np.float32, 1.0, 1.0) > 2e-7
    assert stress.gradient_bound(np.float32, 1.0, 1.0) == pytest.approx(4e-6, rel=1e-6)
    # The float64 distance product's logit error, eps64 * beta * R, is the only growth.
    assert stress.forward_bound(np.float64, 1e6, 1e4) == pytest.approx(2**-51 + 2**-52 * 1e10)
    assert stress.gradient_bound(np.float32, 1e6, 1e4, natural_ratio=100) == pytest.approx(4e-6 + 2**-52 * 1e12)
    # The fast path: the logit error is eps(dtype) * beta * kappa (its conditioning), not eps64 * beta * R.
    assert stress.forward_bound(np.float32, 10.0, 1e9, "fast", kappa=3.0) == pytest.approx(2 * 2.0**-23 * (1 + 15))
    assert stress.gradient_bound(np.float32, 10.0, 1e9, 2.0, "fast", kappa=3.0) == pytest.approx(1e-5 + 2.0**-23 * 60)
    with pytest.raises(ValueError, match="precision"):
        stress.forward_bound(np.float32, 1.0, 1.0, "exact")


def test_conditioning_is_what_the_module_says():
    """kappa = max over points of (R^2 + 2 R |p - mu|) / (d_1 + d_2)."""
    embedding = np.array([[-1.0, 0.0], [1.0, 0.0]])  # R = 1, mu = 0
    points = np.array([[0.0, 0.0], [0.0, 3.0], [1.0, 0.0]])
    # (1 + 0) / 2, (1 + 6) / (2 sqrt(10)), (1 + 2) / (0 + 2)
    assert stress.conditioning(points, embedding) == pytest.approx(1.5)
    assert stress.conditioning(points, embedding[:1]) == 0.0  # one node: no logit differences
    assert stress.conditioning(points[:0], embedding) == 0.0
    # Far away it tends to R (here 1): the fast path's logit error is then eps * beta * R.
    assert stress.conditioning(np.array([[0.0, 1e8]]), embedding) == pytest.approx(1.0, rel=1e-6)


# --- the cases and the reference -----------------------------------------------------------


def nearest_two(points, embedding):
    distances = np.sort(np.linalg.norm(points[:, None] - embedding, axis=-1), axis=1)
    return distances[:, 0], distances[:, 1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", stress.SCALES)
def test_cases_are_what_they_claim(scale, dtype):
    def case(name):
        points, embedding, coords, weights = stress.stress_case(name, scale)
        assert weights.shape == (len(points), coords.shape[1])
        return points.astype(dtype), embedding.astype(dtype), coords

    points, embedding, _ = case("on node")
    assert (nearest_two(points, embedding)[0] == 0).all()
    # Exact ties survive rounding to float32: the mirrored nodes are negations.
    points, embedding, _ = case("boundary")
    first, second = nearest_two(points.astype(np.longdouble), embedding.astype(np.longdouble))
    np.testing.assert_array_equal(first, second)
    points, embedding, _ = case("far")
    first, second = nearest_two(points.astype(np.longdouble), embedding.astype(np.longdouble))
    assert (first > 0.9 * stress.FAR * scale).all()
    np.testing.assert_array_equal(first[3:], second[3:])  # far and on a boundary
    _, embedding, _ = case("duplicate nodes")
    assert len(np.unique(embedding, axis=0)) == len(embedding) - 1
    assert case("K = 1")[1].shape == (1, 3)
    assert case("m = 1")[2].shape == (12, 1)
    assert case("m = 3")[2].shape == (12, 3)
    assert len(np.unique(case("m = 3")[2], axis=0)) == 12


def test_unknown_case_is_rejected():
    with pytest.raises(ValueError, match="case"):
        stress.stress_case("nowhere", 1.0)


def reference(points, embedding, coords, beta):
    centred, mean = stress.reference_soft_som(points[None], embedding[None], coords[None], np.array([beta]))
    return (centred + mean)[0]


@pytest.mark.parametrize("seed", range(3))
def test_reference_matches_the_plain_formula(seed):
    """Where the plain formula is fine, it and the long-double reference agree."""
    rng = np.random.default_rng(seed)
    points, embedding, coords = rng.normal(size=(20, 3)), rng.normal(size=(7, 3)), rng.normal(size=(7, 2))
    np.testing.assert_allclose(
        reference(points, embedding, coords, 2.0).astype(np.float64),
        naive_soft_som(points, embedding, coords, 2.0),
        rtol=0,
        atol=1e-14,
    )


def test_reference_is_exact_on_ties_and_stable_far_away():
    embedding = np.array([[-1.0, 0.3], [1.0, 0.3], [0.0, 5.0]])
    coords = np.array([[0.0], [1.0], [7.0]])
    tie = np.array([[0.0, -0.7], [0.0, -0.7 - 1e6]])  # both on the bisector; the second far down it
    # Up to long-double rounding of mean(coords) (eps_ld = 1.1e-19).
    np.testing.assert_allclose(reference(tie, embedding, coords, 1e12).astype(np.float64), 0.5, rtol=0, atol=1e-17)
    # Far beyond exp underflow of the plain formula, the nearest node still wins.
    far = np.array([[1e8, 0.3]])
    np.testing.assert_allclose(reference(far, embedding, coords, 1e6).astype(np.float64), [[1.0]], rtol=0, atol=1e-17)


# --- the report -------------------------------------------------------------------------


def table_rows(markdown, title):
    """The body rows of the table following the bold `title` line."""
    blocks = markdown.split("\n\n")
    table = blocks[[i for i, b in enumerate(blocks) if b.startswith(f"**{title}")][0] + 1]
    return [line for line in table.splitlines()[2:]]


def test_format_has_a_row_per_beta_and_a_column_per_scale():
    rows = stress.stress_grid(**SMALL_GRID)
    text = stress.format_stress_tables(rows)
    for title in ("fast, float32: forward error", "fast, float32: gradient error"):
        body = table_rows(text, title)
        assert [line.split(" | ")[0] for line in body] == ["| 1e+00", "| 1e+04"]
        assert all(line.count(" | ") == len(SMALL_GRID["scales"]) for line in body)
    header = text.split("**fast, float32: forward error**")[1].split("\n\n")[1].splitlines()[0]
    assert header == "| β | scale 1e-03 | scale 1e+00 | scale 1e+03 |"
    assert "(relative to the coords' range; bound 2 eps + eps·β·κ)" in text
    # The on-node kinks are counted in every gradient cell and listed.
    assert all(line.count("(2 n/a)") == 3 for line in table_rows(text, "fast, float32: gradient error"))
    assert table_rows(text, "Gradients not compared") == [
        "| kink | fast | float32 | on node | points | all |",
        "| kink | fast | float32 | on node | embedding | all |",
    ]
    summary = table_rows(text, "Summary")
    assert len(summary) == 1 and summary[0].startswith("| fast | float32 | 12 | 12 | 0 |")
    assert summary[0].endswith("| 36 of 48 |")


def test_both_paths_are_reported_from_one_reference():
    """Each cell's reference is evaluated once and compared with both paths."""
    small = dict(SMALL_GRID, precisions=stress.PRECISIONS, cases=("random",), betas=(1.0,))
    rows = stress.stress_grid(**small)
    assert [r.precision for r in rows] == ["fast"] * 3 + ["highest"] * 3
    for fast, highest in zip(rows[:3], rows[3:]):
        assert (fast.case, fast.beta, fast.scale) == (highest.case, highest.beta, highest.scale)
        assert fast.reference_errors == highest.reference_errors
    text = stress.format_stress_tables(rows)
    assert "**highest, float32: forward error** (relative to the coords' range; bound 2 eps + eps64·β·R)" in text
    with pytest.raises(ValueError, match="precision"):
        stress.stress_grid(**dict(small, precisions=("exact",)))


def test_main_prints_the_tables(monkeypatch, capsys):
    small = stress.stress_grid(**SMALL_GRID)
    monkeypatch.setattr(stress, "stress_grid", lambda: small)
    stress.main()
    assert capsys.readouterr().out.strip() == stress.format_stress_tables(small)


# --- beyond the grid: close nodes and a dense map ------------------------------------------


def close_pair(far):
    """Two nodes 1e-4 apart with the points between them, three more nodes `far` away.

    beta = 1e4 makes the pair share the weight (beta * spacing = 1). The mean
    node, on which the op centres its products, is 0.28 far away.
    """
    embedding = np.array([[0, 0], [1e-4, 0], [far, far], [-far, far], [far, -far]])
    points = np.array([[5e-5, 3e-5], [2e-5, -1e-5]])
    return points, embedding, np.arange(5.0)[:, None], np.ones((2, 1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("far", [1.0, 400.0])
def test_close_pair_far_from_the_mean_node(far, dtype):
    """Stress bounds near two close nodes of a wide map.

    Failed before ops.py computed the nearest nodes' distances exactly
    (error > bound): far = 1, float32: gradients w.r.t. points 1.2e-4,
    embedding 2.1e-4 (4e-6); far = 1, float64: forward 1.5e-10 (3.2e-12),
    gradients 2e-9 to 4e-9 (1.1e-9); far = 400, float32: forward 1.9e-5
    (2.4e-7), gradients w.r.t. points and embedding 0.53, coords 8e-5, beta
    7e-4 (4e-6); far = 400, float64: forward 9.5e-6 (1.3e-9), gradients 3e-5
    to 2.4e-4. Forward: the float64 dq = d_v^2 - d_min^2 carries an absolute
    error of about eps64 R^2 (R: the map's extent), which e_v = dq / (d_min +
    d_v) divides by the small distances. Backward, float32: c_v (p - l_v)
    from centred float32 products loses eps32 |x - mean node| / d_v of that
    term, and drops it below the resolution eps32 (|p - mean| + max |l -
    mean|). Now (both far): float32 forward 1.6e-8, gradients <= 1.4e-7;
    float64 forward 1.2e-17, gradients <= 5.2e-13.
    """
    row = stress.evaluate_cell(*close_pair(far), 1e4, dtype, 1e-4, f"close pair, far = {far}")
    assert row.nonfinite == 0
    failing = [f"{name}: {error:.1e} > {bound:.1e}" for name, error, bound in row.compared() if error > bound]
    if row.forward_error > row.forward_bound:
        failing.insert(0, f"forward: {row.forward_error:.1e} > {row.forward_bound:.1e}")
    assert not failing, "; ".join(failing)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("far", [1.0, 400.0])
def test_close_pair_on_the_fast_path_is_finite_and_within_its_bound(far, dtype):
    """Where the fast path is weakest: its bound, eps beta kappa, is loose there (kappa ~ R^2 / 1e-4).

    The pair's distances come from a product on data centred 0.28 (far = 1)
    or 280 (far = 400) from them: the fast path cannot resolve a spacing of
    1e-4 there, only the highest-precision path can (the test above). It
    stays finite and within the bound that says so.
    """
    row = stress.evaluate_cell(*close_pair(far), 1e4, dtype, 1e-4, f"close pair, far = {far}", precision="fast")
    assert row.nonfinite == 0
    assert row.forward_error <= row.forward_bound
    assert all(error <= bound for _, error, bound in row.compared())
    if dtype == np.float32:
        assert row.forward_bound > 1e-2  # the bound itself says: choose precision="highest" here


@pytest.mark.parametrize("precision, tolerance", [("highest", 2e-5), ("fast", 1e-3)])
@pytest.mark.parametrize("beta_times_spacing", [1.0, 10.0])
def test_float32_gradients_on_a_dense_map_agree_with_float64(beta_times_spacing, precision, tolerance):
    """The contract in ops.py on a common map: a 20 x 20 grid on the unit square.

    Highest precision: "On a dense 20 x 20 map ... to 2e-5" (same float32
    inputs): many nodes share the weight, and the float32 matrix products of
    the backward pass and the cancelling beta sum set the error. Measured:
    points 4.7e-7 / 3.4e-6, embedding 1.9e-6 / 7.9e-6, beta 7.1e-6 / 5.1e-7
    at beta * spacing = 1 / 10 (before the nearest nodes were taken out of
    the products: embedding up to 4.7e-6 / 1.2e-5, beta up to 2.4e-5). Fast
    path, to 1e-3 (measured: up to 5.1e-5 / 8.1e-5 / 1.1e-4 for points /
    embedding / beta at beta * spacing = 10): the float32 squared distances'
    error divided by distances of the order of the spacing.
    """
    rng = np.random.default_rng(0)
    side = 20
    coords = np.stack(np.meshgrid(np.arange(side * 1.0), np.arange(side * 1.0)), -1).reshape(-1, 2)
    embedding = (coords / side).astype(np.float32)
    points = rng.uniform(0, 1, size=(200, 2)).astype(np.float32)
    upstream = rng.normal(size=(200, 2))
    beta = np.float32(beta_times_spacing * side)
    grads = {}
    for dtype in (np.float32, np.float64):
        args = [tf.constant(x.astype(dtype)) for x in (points, embedding, coords)] + [tf.constant(dtype(beta))]
        with tf.GradientTape() as tape:
            tape.watch(args)
            path = precision if dtype == np.float32 else "highest"
            loss = tf.reduce_sum(soft_som(*args, precision=path) * upstream.astype(dtype))
        grads[dtype] = [g.numpy().astype(np.float64) for g in tape.gradient(loss, args)]
    errors = {
        name: np.abs(g32 - g64).max() / np.abs(g64).max()
        for name, g32, g64 in zip(stress.ARGUMENTS, grads[np.float32], grads[np.float64])
    }
    failing = [
        f"{name}: {errors[name]:.1e} > {tolerance:.0e}"
        for name in ("points", "embedding", "beta")
        if errors[name] > tolerance
    ]
    assert not failing, "; ".join(failing)


@pytest.fixture(scope="module")
def dense_errors():
    """tests.stress.dense_map_errors for both paths at every beta * spacing."""
    return {
        (precision, bs): stress.dense_map_errors(bs, precision)
        for precision in stress.PRECISIONS
        for bs in stress.DENSE_BETA_TIMES_SPACING
    }


def test_dense_64d_map_meets_the_fast_paths_targets(dense_errors):
    """Issue 13's targets for the default path on the dense 20 x 20 map in 64-d.

    Forward within 1e-4 of the coords' range at every beta * spacing from 0.1
    to 100 (measured: up to 3.3e-5), gradients within 1e-3 of their largest
    entry, except the gradient with respect to beta at beta * spacing = 100
    (nearly one-hot weights, where it is a small sum of exponentially small
    terms): 1.1e-2 measured, held to 3e-2 here and stated in ops.py. The
    highest-precision path stays within 1e-6 forward and 1e-5 for gradients.
    """
    for bs in stress.DENSE_BETA_TIMES_SPACING:
        fast, highest = dense_errors["fast", bs], dense_errors["highest", bs]
        assert fast["forward"] <= 1e-4, bs
        for name in stress.ARGUMENTS:
            limit = 3e-2 if (name, bs) == ("beta", 100.0) else 1e-3
            assert fast[name] <= limit, (bs, name, fast[name])
        assert highest["forward"] <= 1e-6
        assert max(highest[name] for name in stress.ARGUMENTS) <= 1e-5, bs
    assert dense_errors["fast", 100.0]["beta"] > 1e-3  # the miss is real: update ops.py if it goes away


def test_dense_map_is_dense():
    points, embedding, coords, spacing = stress.dense_map()
    assert points.shape == (1000, 64) and embedding.shape == (400, 64) and coords.shape == (400, 2)
    assert points.dtype == embedding.dtype == np.float32
    assert 10 < stress.conditioning(points, embedding) < 40  # extent over spacing: many nodes close together
    with pytest.raises(ValueError, match="precision"):
        stress.dense_map_errors(1.0, "exact")


@pytest.mark.parametrize("precision", stress.PRECISIONS)
def test_worst_ratios_are_the_worst_cell_over_cases(grid, precision):
    for dtype in ("float32", "float64"):
        forward = stress.worst_ratios(grid, dtype, "forward", precision)
        assert forward.shape == (len(stress.BETAS), len(stress.SCALES))
        expected = max(
            r.forward_error / r.forward_bound
            for r in grid
            if r.dtype == dtype
            and r.precision == precision
            and r.beta == stress.BETAS[-1]
            and r.scale == stress.SCALES[0]
        )
        assert forward[-1, 0] == expected
        assert 0 < stress.worst_ratios(grid, dtype, "gradient", precision).max() <= 1
    with pytest.raises(ValueError, match="kind"):
        stress.worst_ratios(grid, "float32", "backward")
    with pytest.raises(ValueError, match="precision"):
        stress.worst_ratios(grid, "float32", "forward", "exact")
