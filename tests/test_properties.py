"""Property-based tests of soft_som / hard_som: invariances and limits for random shapes and values.

Every example runs one of soft_som's two paths (drawn with the data). Tolerances
come from the stress grid's forward bound for that path (tests.stress.forward_bound:
2 ulps of the dtype plus eps64 * beta * R for ``precision="highest"``, plus
eps * beta * kappa for the fast path, relative to the coords' range), which each of
two evaluations may use up, plus an ulp of the coords' magnitude for the rounding
of the output itself. Transformations that must not change the data (shifts,
scalings) use values and factors for which they are exact in float32, so the tests
see the op's rounding only.
"""

import numpy as np
import tensorflow as tf
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from softsom.ops import PRECISIONS, hard_som, soft_som
from tests.stress import conditioning, forward_bound

# Reproducible and quick: a fixed derandomized sequence, no example database;
# 10 properties x 80 examples run in about 20 s on two cores.
PROPERTIES = settings(deadline=None, max_examples=80, derandomize=True, database=None)

# Normal float32 numbers (also exact in float64), bounded.
REALS = st.floats(-10, 10, width=32, allow_subnormal=False)
# Multiples of 2**-10 in [-8, 8]: sums with integers up to 2**10 and products
# with powers of two are exact in float32.
DYADIC = st.integers(-(2**13), 2**13).map(lambda k: k * 2.0**-10)
DTYPES = st.sampled_from([np.float32, np.float64])


@st.composite
def som_inputs(draw, values=REALS):
    """(points [B, n], embedding [K, n], coords [K, m], beta) in one float dtype, and a precision.

    ``n`` up to 6: the fast path takes its distances from the differences up
    to ``n = 4`` and from a matrix product beyond.
    """
    dtype = draw(DTYPES)
    batch, nodes, n, m = (draw(st.integers(1, top)) for top in (6, 8, 6, 3))
    points, embedding, coords = (
        draw(arrays(np.float64, shape, elements=values)).astype(dtype) for shape in ((batch, n), (nodes, n), (nodes, m))
    )
    beta = dtype(10.0 ** draw(st.floats(-2, 2)))
    return points, embedding, coords, beta, draw(st.sampled_from(PRECISIONS))


def extent(embedding):
    """R of the stress bound: the largest distance of a node from the mean node."""
    embedding = np.asarray(embedding, np.float64)
    return np.linalg.norm(embedding - embedding.mean(0), axis=1).max()


def tolerance(dtype, beta, points, embedding, coords, precision, extra_extent=0.0):
    """How far two evaluations may differ: each within the stress bound of the exact value.

    ``extra_extent``: how far the centring may move (the rounding of the mean
    node of shifted data): it adds to the extent ``R`` and, for the fast
    path, ``2 R extra_extent / (d_1 + d_2)`` to the conditioning.
    """
    coords = np.asarray(coords, np.float64)
    span = np.ptp(coords, axis=0).max() or 1.0
    kappa = conditioning(points, embedding)
    if precision == "fast" and extra_extent and kappa:
        d = np.sort(distances(points, embedding), axis=-1)[:, :2].sum(-1)
        kappa += 2 * extent(embedding) * extra_extent / max(d.min(), np.finfo(np.float64).tiny)
    bound = forward_bound(dtype, float(beta), extent(embedding) + extra_extent, precision, kappa)
    return 2 * (bound * span + np.finfo(dtype).eps * np.abs(coords).max())


def soft(*args, precision="highest"):
    return soft_som(*args, precision=precision).numpy()


def hard(*args):
    return hard_som(*args).numpy()


def distances(points, embedding):
    points, embedding = np.asarray(points, np.float64), np.asarray(embedding, np.float64)
    return np.linalg.norm(points[..., None, :] - embedding, axis=-1)


def separated(points, embedding, gap):
    """Mask of the points whose nearest node is nearer than any other by at least `gap`."""
    d = np.sort(distances(points, embedding), axis=-1)
    return np.ones(d.shape[:-1], bool) if d.shape[-1] == 1 else d[..., 1] - d[..., 0] >= gap


# --- soft_som -------------------------------------------------------------------------


@PROPERTIES
@given(som_inputs())
def test_output_is_a_convex_combination_of_coords(case):
    points, embedding, coords, beta, precision = case
    out = soft(points, embedding, coords, beta, precision=precision)
    # w @ (g - mean) + mean: rounding of a few ulps of the coords' magnitude.
    slack = 4 * np.finfo(coords.dtype).eps * np.abs(coords).max()
    assert np.all(out >= coords.min(0) - slack) and np.all(out <= coords.max(0) + slack)


@PROPERTIES
@given(som_inputs(), st.randoms(use_true_random=False))
def test_relabelling_the_nodes_changes_nothing(case, random):
    points, embedding, coords, beta, precision = case
    order = list(range(len(embedding)))
    random.shuffle(order)
    np.testing.assert_allclose(
        soft(points, embedding[order], coords[order], beta, precision=precision),
        soft(points, embedding, coords, beta, precision=precision),
        rtol=0,
        atol=tolerance(coords.dtype, beta, points, embedding, coords, precision),
    )


@PROPERTIES
@given(som_inputs(values=DYADIC), st.lists(st.integers(-(2**10), 2**10), min_size=6, max_size=6))
def test_shifting_points_and_embedding_together_changes_nothing(case, shift):
    points, embedding, coords, beta, precision = case
    shift = np.asarray(shift[: points.shape[1]], points.dtype)  # exact: see DYADIC
    # The op centres on the mean node, which is rounded by about eps64 * |shift|.
    atol = tolerance(coords.dtype, beta, points, embedding, coords, precision, extra_extent=np.abs(shift).sum())
    np.testing.assert_allclose(
        soft(points + shift, embedding + shift, coords, beta, precision=precision),
        soft(points, embedding, coords, beta, precision=precision),
        rtol=0,
        atol=atol,
    )


@PROPERTIES
@given(som_inputs(values=DYADIC), st.integers(-20, 20))
def test_scaling_data_by_s_and_beta_by_1_over_s_changes_nothing(case, power):
    points, embedding, coords, beta, precision = case
    s = points.dtype.type(2.0**power)  # a power of two: the scaled inputs are exact
    np.testing.assert_allclose(
        soft(points * s, embedding * s, coords, beta / s, precision=precision),
        soft(points, embedding, coords, beta, precision=precision),
        rtol=0,
        atol=tolerance(coords.dtype, beta, points, embedding, coords, precision),
    )


@PROPERTIES
@given(som_inputs(), st.integers(1, 3))
def test_leading_batch_dims_are_independent_points(case, rows):
    points, embedding, coords, beta, precision = case
    points = np.resize(points, (rows * len(points), points.shape[1]))
    flat = soft(points, embedding, coords, beta, precision=precision)
    stacked = soft(points.reshape(rows, -1, points.shape[1]), embedding, coords, beta, precision=precision)
    atol = tolerance(coords.dtype, beta, points, embedding, coords, precision)
    np.testing.assert_allclose(stacked, flat.reshape(rows, -1, coords.shape[1]), rtol=0, atol=atol)
    # A point's output does not depend on the rest of the batch.
    np.testing.assert_allclose(
        soft(points[-1], embedding, coords, beta, precision=precision), flat[-1], rtol=0, atol=atol
    )


@PROPERTIES
@given(som_inputs())
def test_large_beta_gives_hard_som_away_from_ties(case):
    points, embedding, coords, _, precision = case
    gap = 1e-2
    mask = separated(points, embedding, gap)
    assume(mask.any())
    # beta * gap = 100: the other nodes' weights are below K * exp(-100) ~ 1e-43.
    beta = coords.dtype.type(100 / gap)
    out = soft(points, embedding, coords, beta, precision=precision)[mask]
    nearest = np.asarray(coords)[distances(points, embedding).argmin(-1)][mask]
    np.testing.assert_array_equal(hard(points, embedding, coords)[mask], nearest)
    # Left: the rounding of (g - mean) + mean, an ulp or two of the coords' magnitude.
    np.testing.assert_allclose(out, nearest, rtol=0, atol=4 * np.finfo(coords.dtype).eps * np.abs(coords).max())


@st.composite
def hard_cases(draw):
    """som_inputs with every extreme: on a node, duplicated nodes, beta 1e-4 ... 1e6, scale 1e-6 ... 1e4."""
    points, embedding, coords, _, precision = draw(som_inputs())
    dtype = points.dtype.type
    if draw(st.booleans()):
        points[draw(st.integers(0, len(points) - 1))] = embedding[draw(st.integers(0, len(embedding) - 1))]
    if draw(st.booleans()) and len(embedding) > 1:
        embedding[-1] = embedding[0]
    scale = dtype(10.0 ** draw(st.integers(-6, 4)))
    beta = dtype(10.0 ** draw(st.floats(-4, 6)))
    return points * scale, embedding * scale, coords, beta, precision


@PROPERTIES
@given(hard_cases())
def test_gradients_are_finite_and_the_coords_gradient_sums_to_the_upstream(case):
    points, embedding, coords, beta, precision = case
    args = [tf.constant(a) for a in (points, embedding, coords, beta)]
    upstream = np.random.default_rng(0).normal(size=(len(points), coords.shape[1])).astype(coords.dtype)
    with tf.GradientTape() as tape:
        tape.watch(args)
        loss = tf.reduce_sum(soft_som(*args, precision=precision) * upstream)
    grads = [g.numpy() for g in tape.gradient(loss, args)]
    assert all(np.all(np.isfinite(g)) for g in grads)
    # Weights sum to 1, so moving every g_v by c moves each output by c:
    # sum_v dL/dg_v = sum_b U_b, up to K roundings of the weights.
    np.testing.assert_allclose(
        grads[2].sum(0),
        upstream.sum(0),
        rtol=0,
        atol=4 * len(coords) * np.finfo(coords.dtype).eps * np.abs(upstream).sum(),
    )


# --- hard_som ---------------------------------------------------------------------------


@PROPERTIES
@given(som_inputs())
def test_hard_som_returns_the_coords_of_a_nearest_node(case):
    points, embedding, coords, _, precision = case
    out = hard(points, embedding, coords)
    squared = distances(points, embedding) ** 2
    # argmin runs on float64 squared distances from centred products: nodes
    # within their rounding of the nearest one may be chosen instead.
    magnitude = (np.abs(points).max() + np.abs(embedding).max()) ** 2
    nearest = squared <= squared.min(-1, keepdims=True) + 16 * np.finfo(np.float64).eps * magnitude
    assert all(any(np.array_equal(out[b], coords[v]) for v in np.flatnonzero(nearest[b])) for b in range(len(out)))


@PROPERTIES
@given(
    som_inputs(values=DYADIC),
    st.randoms(use_true_random=False),
    st.lists(st.integers(-(2**10), 2**10), min_size=6, max_size=6),
    st.integers(-20, 20),
    st.integers(1, 3),
)
def test_hard_som_invariances_away_from_ties(case, random, shift, power, rows):
    points, embedding, coords, _, precision = case
    mask = separated(points, embedding, 1e-6)
    assume(mask.any())
    expected = hard(points, embedding, coords)[mask]
    order = list(range(len(embedding)))
    random.shuffle(order)
    np.testing.assert_array_equal(hard(points, embedding[order], coords[order])[mask], expected)
    shift = np.asarray(shift[: points.shape[1]], points.dtype)
    np.testing.assert_array_equal(hard(points + shift, embedding + shift, coords)[mask], expected)
    s = points.dtype.type(2.0**power)
    np.testing.assert_array_equal(hard(points * s, embedding * s, coords)[mask], expected)
    stacked = hard(np.stack([points] * rows), embedding, coords)
    np.testing.assert_array_equal(stacked[:, mask], np.stack([expected] * rows))


@PROPERTIES
@given(som_inputs())
def test_hard_som_gradient_routes_the_upstream_to_the_nearest_node(case):
    points, embedding, coords, _, precision = case
    points = points[separated(points, embedding, 1e-6)]  # nearest node unambiguous
    assume(len(points))
    args = [tf.constant(a) for a in (points, embedding, coords)]
    upstream = np.random.default_rng(1).normal(size=(len(points), coords.shape[1])).astype(coords.dtype)
    with tf.GradientTape() as tape:
        tape.watch(args)
        loss = tf.reduce_sum(hard_som(*args) * upstream)
    d_points, d_embedding, d_coords = tape.gradient(loss, args)
    assert d_points is None and d_embedding is None  # piecewise constant
    expected = np.zeros_like(coords)
    np.add.at(expected, distances(points, embedding).argmin(-1), upstream)
    # A sum of at most 6 upstream rows per node, rounded.
    np.testing.assert_allclose(
        tf.convert_to_tensor(d_coords).numpy(),
        expected,
        rtol=0,  # from IndexedSlices
        atol=8 * np.finfo(coords.dtype).eps * np.abs(upstream).sum(),
    )
