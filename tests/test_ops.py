"""Tests of softsom.ops: soft_som / hard_som against an independent NumPy reference.

Most tests run both of soft_som's paths, ``precision="fast"`` (the default) and
``"highest"``; where their contracts differ, each is held to its own.
"""

import functools

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import function_def_to_graph

from softsom.ops import PRECISIONS, hard_som, soft_som
from tests import stress

EPS32 = float(np.finfo(np.float32).eps)


def soft_som_with(precision):
    """``soft_som`` with its ``precision`` fixed, for tests that take the op as a function."""
    return functools.partial(soft_som, precision=precision)


# --- independent float64 reference (broadcasts the [..., K, n] differences) ---


def reference_distances(points, embedding):
    points = np.asarray(points, np.float64)
    embedding = np.asarray(embedding, np.float64)
    return np.sqrt(((points[..., None, :] - embedding) ** 2).sum(axis=-1))


def reference_soft_som(points, embedding, coords, beta):
    logits = -float(beta) * reference_distances(points, embedding)
    logits -= logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits)
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights @ np.asarray(coords, np.float64)


def reference_hard_som(points, embedding, coords):
    nearest = reference_distances(points, embedding).argmin(axis=-1)
    return np.asarray(coords, np.float64)[nearest]


def coords_range(coords):
    spread = np.max(coords, axis=0) - np.min(coords, axis=0)
    return np.where(spread > 0, spread, 1.0)


def random_case(seed, batch_shape, num_nodes, n, m, scale=1.0):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(*batch_shape, n)) * scale
    embedding = rng.normal(size=(num_nodes, n)) * scale
    coords = rng.integers(0, 10, size=(num_nodes, m)).astype(np.float64)
    return points, embedding, coords, float(rng.uniform(0.2, 5.0) / scale)


def grads_of(fn, *args):
    """Output and gradients of sum(out * fixed pseudo-random signs) for every argument."""
    args = [tf.constant(a) for a in args]
    with tf.GradientTape() as tape:
        tape.watch(args)
        out = fn(*args)
        signs = tf.reshape(tf.cast(tf.range(tf.size(out)) % 3 - 1, out.dtype), tf.shape(out))
        loss = tf.reduce_sum(out * signs)
    return out, tape.gradient(loss, args)


# --- values ---------------------------------------------------------------

SHAPES = [  # (batch_shape, K, n, m)
    ((), 5, 3, 2),
    ((0,), 4, 2, 2),
    ((0, 3), 4, 2, 1),
    ((7,), 1, 3, 2),
    ((7,), 6, 1, 1),
    ((2, 3), 9, 4, 3),
    ((16,), 25, 8, 2),
    ((3, 1, 2), 3, 2, 3),
]


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("batch_shape, num_nodes, n, m", SHAPES)
@pytest.mark.parametrize("seed", range(3))
def test_soft_som_matches_reference_float64(batch_shape, num_nodes, n, m, seed, precision):
    points, embedding, coords, beta = random_case(seed, batch_shape, num_nodes, n, m)
    out = soft_som(points, embedding, coords, beta, precision=precision)
    assert out.dtype == tf.float64
    assert out.shape == (*batch_shape, m)
    np.testing.assert_allclose(
        out.numpy(),
        reference_soft_som(points, embedding, coords, beta),
        rtol=0,
        atol=1e-12 * coords_range(coords).max(),
    )


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("batch_shape, num_nodes, n, m", SHAPES)
@pytest.mark.parametrize("seed", range(3))
def test_soft_som_float32_within_1e_5_of_float64(batch_shape, num_nodes, n, m, seed, precision):
    points, embedding, coords, beta = (
        np.asarray(x, np.float32) for x in random_case(seed, batch_shape, num_nodes, n, m)
    )
    out = soft_som(points, embedding, coords, beta, precision=precision)
    assert out.dtype == tf.float32
    err = np.abs(out.numpy() - reference_soft_som(points, embedding, coords, beta)) / coords_range(coords)
    assert err.size == 0 or err.max() < 1e-5


@pytest.mark.parametrize("batch_shape, num_nodes, n, m", SHAPES)
def test_hard_som_matches_reference(batch_shape, num_nodes, n, m):
    points, embedding, coords, _ = random_case(11, batch_shape, num_nodes, n, m)
    for dtype in (np.float32, np.float64):
        out = hard_som(points.astype(dtype), embedding.astype(dtype), coords.astype(dtype))
        assert out.dtype == dtype and out.shape == (*batch_shape, m)
        np.testing.assert_array_equal(out.numpy(), reference_hard_som(points, embedding, coords))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_mixed_dtypes_follow_points(precision):
    points, embedding, coords, beta = random_case(0, (4,), 5, 3, 2)
    out = soft_som(
        points.astype(np.float32), embedding, coords.astype(np.float16), np.float64(beta), precision=precision
    )
    assert out.dtype == tf.float32
    half = soft_som(points.astype(np.float16), embedding, coords, beta, precision=precision)
    assert half.dtype == tf.float16
    brain = soft_som(tf.constant(points, tf.bfloat16), embedding, coords, beta, precision=precision)
    assert brain.dtype == tf.bfloat16
    np.testing.assert_allclose(half.numpy(), out.numpy(), atol=2e-2 * coords_range(coords).max())


def test_variables_are_accepted_and_differentiated():
    points, embedding, coords, beta = random_case(1, (6,), 5, 3, 2)
    embedding_var, coords_var, beta_var = tf.Variable(embedding), tf.Variable(coords), tf.Variable(beta)
    with tf.GradientTape() as tape:
        out = soft_som(points, embedding_var, coords_var, beta_var)
    grads = tape.gradient(out, [embedding_var, coords_var, beta_var])
    np.testing.assert_allclose(out.numpy(), reference_soft_som(points, embedding, coords, beta), atol=1e-12)
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)


# --- limits of beta -----------------------------------------------------------


def separated_case(seed):
    """Nodes on a unit-spaced 4x4 grid in 3-d, points within 0.3 of a node."""
    rng = np.random.default_rng(seed)
    coords = np.stack(np.meshgrid(np.arange(4.0), np.arange(4.0)), -1).reshape(-1, 2)
    embedding = np.c_[coords, np.zeros(16)] + rng.uniform(-0.05, 0.05, size=(16, 3))
    offsets = rng.normal(size=(50, 3))
    offsets *= rng.uniform(0, 0.3, size=(50, 1)) / np.linalg.norm(offsets, axis=1, keepdims=True)
    return embedding[rng.integers(0, 16, size=50)] + offsets, embedding, coords


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(3))
def test_large_beta_gives_hard_som(dtype, seed, precision):
    points, embedding, coords = (x.astype(dtype) for x in separated_case(seed))
    hard = hard_som(points, embedding, coords).numpy()
    np.testing.assert_array_equal(hard, reference_hard_som(points, embedding, coords))
    soft = soft_som(points, embedding, coords, 1e6, precision=precision).numpy()
    np.testing.assert_allclose(soft, hard, rtol=0, atol=1e-12)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_beta_gives_mean_of_coords(dtype, precision):
    points, embedding, coords = (x.astype(dtype) for x in separated_case(0))
    out = soft_som(points, embedding, coords, 1e-8, precision=precision).numpy()
    # The weights deviate from uniform by about beta * (distance spread) ~ 1e-8.
    np.testing.assert_allclose(out, np.broadcast_to(coords.mean(axis=0), out.shape), rtol=0, atol=1e-6)


# --- gradients ------------------------------------------------------------------

GRAD_CASES = [  # (batch_shape, K, n, m)
    ((), 4, 3, 2),
    ((5,), 1, 2, 2),
    ((5,), 6, 1, 1),
    ((2, 3), 5, 3, 3),
    ((6,), 8, 2, 2),
    ((4,), 3, 5, 1),
]


def numerical_gradient_error(fn, args):
    """Per argument: max |analytic - central difference| / max(1, max |central difference|)."""
    theoretical, numerical = tf.test.compute_gradient(fn, [tf.constant(a) for a in args], delta=1e-6)
    return [
        np.max(np.abs(t - n), initial=0.0) / max(1.0, np.max(np.abs(n), initial=0.0))
        for t, n in zip(theoretical, numerical)
    ]


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("batch_shape, num_nodes, n, m", GRAD_CASES)
@pytest.mark.parametrize("seed", range(3))
def test_gradients_match_central_differences(batch_shape, num_nodes, n, m, seed, precision):
    points, embedding, coords, beta = random_case(100 + seed, batch_shape, num_nodes, n, m)
    errors = numerical_gradient_error(soft_som_with(precision), [points, embedding, coords, np.float64(beta)])
    assert max(errors) < 1e-6, dict(zip(["points", "embedding", "coords", "beta"], errors))


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("where", ["near_node", "far", "near_boundary", "large_offset"])
def test_gradients_in_hard_places(where, precision):
    rng = np.random.default_rng(7)
    embedding = rng.normal(size=(6, 3))
    coords = rng.normal(size=(6, 2))
    beta = 3.0
    if where == "near_node":  # 1e-3 from a node: c = a / d is large there
        points = embedding[:3] + 1e-3 * rng.normal(size=(3, 3))
    elif where == "far":  # all weights underflow in a naive exp
        points = 300.0 * rng.normal(size=(3, 3))
    elif where == "near_boundary":  # equidistant nodes share the weight at high beta
        points = 0.5 * (embedding[:3] + embedding[3:]) + 1e-4 * rng.normal(size=(3, 3))
        beta = 200.0
    else:  # data far from the origin: centring must not lose precision
        embedding += 1e3
        points = embedding[:3] + rng.normal(size=(3, 3))
    errors = numerical_gradient_error(soft_som_with(precision), [points, embedding, coords, np.float64(beta)])
    assert max(errors) < 1e-5, dict(zip(["points", "embedding", "coords", "beta"], errors))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_gradient_on_a_node_is_finite_subgradient(precision):
    op = soft_som_with(precision)
    embedding = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    coords = np.array([[0.0], [1.0], [2.0]])
    on_node = embedding[1:2]
    _, grads = grads_of(op, on_node, embedding, coords, 1.5)
    for g in grads:
        assert np.all(np.isfinite(g.numpy()))
    # The norm's kink at the node contributes +-a_1 (p - l_1)/|p - l_1| on the
    # two sides; the subgradient 0 used at the node is their average.
    step = np.array([[1e-7, 0.0]])
    sides = [grads_of(op, on_node + s * step, embedding, coords, 1.5)[1][0].numpy() for s in (1, -1)]
    np.testing.assert_allclose(grads[0].numpy(), 0.5 * (sides[0] + sides[1]), atol=1e-6)
    assert np.abs(sides[0] - sides[1]).max() > 0.1  # the kink is really there


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("dtype, tiny", [(np.float32, 1e-30), (np.float64, 1e-200)])
def test_gradient_a_hair_from_a_node_keeps_its_direction(dtype, tiny, precision):
    """Squared, such distances underflow; the gradient must still see the direction."""
    op = soft_som_with(precision)
    embedding = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]], dtype)
    coords = np.array([[0.0], [1.0], [2.0]], dtype)
    direction = np.array([[0.6, 0.8]], dtype)
    _, (hair, *_) = grads_of(op, tiny * direction, embedding, coords, dtype(1.5))
    _, (close, *_) = grads_of(op, dtype(1e-6) * direction, embedding, coords, dtype(1.5))
    np.testing.assert_allclose(hair.numpy(), close.numpy(), atol=1e-5)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_empty_batch_gradients(precision):
    points, embedding, coords, beta = random_case(0, (0,), 4, 3, 2)
    out, grads = grads_of(soft_som_with(precision), points, embedding, coords, beta)
    assert out.shape == (0, 2)
    assert grads[0].shape == (0, 3)
    for g in grads[1:]:
        np.testing.assert_array_equal(g.numpy(), 0.0)


# --- stability grid ---------------------------------------------------------------

BETAS = [1e-4, 1e-2, 1.0, 1e2, 1e4, 1e6]
SCALES = [1e-6, 1e-3, 1.0, 1e3, 1e4]


def stability_case(scale):
    """Random nodes and points at `scale`, plus a point on a node and one far away."""
    rng = np.random.default_rng(2024)
    embedding = rng.normal(size=(12, 3))
    points = rng.normal(size=(40, 3))
    direction = rng.normal(size=3)
    far = embedding[0] + 1e4 * direction / np.linalg.norm(direction)
    points = np.vstack([points, embedding[5], far]) * scale
    coords = np.stack(np.meshgrid(np.arange(4.0), np.arange(3.0)), -1).reshape(-1, 2)
    return points, embedding * scale, coords


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("beta", BETAS)
def test_stability_grid(beta, scale, precision):
    """Finite everywhere, and float32 within its path's bound (tests.stress) of float64.

    Highest precision: forward within 1e-5, gradients within 1e-4 of their
    largest entry. Fast path: the stress grid's bounds, whose logit error
    eps32 beta kappa grows with beta times the data's scale.
    """
    op = soft_som_with(precision)
    data64 = stability_case(scale)
    data32 = [x.astype(np.float32) for x in data64]
    beta32 = np.float32(beta)
    out32, grads32 = grads_of(op, *data32, beta32)
    # float64 on the same float32-rounded inputs, to compare gradients with.
    same64, grads_same64 = grads_of(op, *[x.astype(np.float64) for x in data32], np.float64(beta32))
    out64 = op(*data64, beta)
    assert (out32.dtype, same64.dtype, out64.dtype) == (tf.float32, tf.float64, tf.float64)
    for value in [out32, *grads32, out64, *grads_same64]:
        assert np.all(np.isfinite(value.numpy()))
    span = coords_range(data64[2])
    # float64 against the reference on the same data.
    assert np.abs(out64.numpy() - reference_soft_som(*data64, beta)).max() < 1e-9 * span.min()
    # float32 against a float64 evaluation of the same (float32-rounded) inputs.
    kappa = stress.conditioning(data32[0], data32[1])
    if precision == "fast":
        logit_error = EPS32 * beta * kappa
    else:
        logit_error = 0.0
    err32 = np.abs(out32.numpy() - reference_soft_som(*data32, beta32)) / span
    assert err32.max() < 1e-5 + logit_error
    # Against the float64 data, float32 input rounding adds up to the
    # documented beta * eps32 * max|x| / 2 near Voronoi boundaries.
    err_data = np.abs(out32.numpy() - reference_soft_som(*data64, beta)) / span
    magnitude = np.maximum(np.abs(data64[0]).max(axis=1), np.abs(data64[1]).max())
    assert np.all(err_data.max(axis=1) < 1e-5 + logit_error + beta * EPS32 * magnitude / 2)
    # float32 gradients against float64 ones, relative to the largest entry
    # (fast path: plus the logit error times the gradient's natural scale, as
    # in tests.stress); the coords' gradient w^T U relative to its bound
    # sum_b |U_b| instead, as it cancels to nearly 0 when the weights are
    # nearly uniform.
    g32 = [g.numpy() for g in grads32]
    g64 = [g.numpy() for g in grads_same64]
    u = len(data64[0])  # the loss weights are 0 or +-1
    natural = {0: beta * span.max() * u, 1: beta * span.max() * u, 3: span.max() * u * min(1 / beta, scale)}
    for i, name in ((0, "points"), (1, "embedding"), (3, "beta")):
        assert np.abs(g32[i] - g64[i]).max() <= 1e-4 * np.abs(g64[i]).max() + logit_error * natural[i], name
    assert np.abs(g32[2] - g64[2]).max() <= (1e-5 + logit_error) * len(data64[0]), "coords"


@pytest.mark.parametrize("precision, tolerance", [("highest", 1e-5), ("fast", 1e-4)])
@pytest.mark.parametrize("beta_times_spacing", stress.DENSE_BETA_TIMES_SPACING)
def test_float32_dense_map(beta_times_spacing, precision, tolerance):
    """A 20x20 map in 64-d (tests.stress.dense_map): nodes close together compared with the map's extent.

    Highest precision within 1e-5 of the coords' range, fast path within
    1e-4 (measured: 1.1e-7, 4.6e-7, 3.1e-6, 3.3e-5 at beta * spacing = 0.1 ...
    100; the float32 product's eps32 * extent^2 error in the squared
    distances, divided by distances of the order of the node spacing).
    """
    points, embedding, coords, spacing = stress.dense_map()
    beta = np.float32(beta_times_spacing / spacing)
    out = soft_som(points, embedding, coords, beta, precision=precision).numpy()
    err = np.abs(out - reference_soft_som(points, embedding, coords, beta)) / coords_range(coords)
    assert err.max() < tolerance


@pytest.mark.parametrize("precision", PRECISIONS)
def test_float32_data_and_coords_far_from_the_origin(precision):
    """Centring: offsets of data and coords must not cost float32 precision."""
    op = soft_som_with(precision)
    points, embedding, coords, beta = random_case(9, (50,), 16, 3, 2)
    points, embedding, coords = points + 1e3, embedding + 1e3, coords + 1e4
    data32 = [x.astype(np.float32) for x in (points, embedding, coords)]
    out32, grads32 = grads_of(op, *data32, np.float32(beta))
    data64 = [x.astype(np.float64) for x in data32]
    out64, grads64 = grads_of(op, *data64, np.float64(np.float32(beta)))
    np.testing.assert_allclose(out64.numpy(), reference_soft_som(*data32, np.float32(beta)), atol=1e-8)
    # The float32 output itself is only resolved to an ulp of ~1e4.
    out_ulp = np.spacing(np.abs(out32.numpy()))
    assert np.all(np.abs(out32.numpy() - out64.numpy()) <= 1e-5 * coords_range(coords) + out_ulp)
    for g32, g64, name in zip(grads32, grads64, ["points", "embedding", "coords", "beta"]):
        assert np.abs(g32.numpy() - g64.numpy()).max() <= 1e-4 * np.abs(g64.numpy()).max(), name


@pytest.mark.parametrize("precision", PRECISIONS)
def test_float32_input_rounding_bound_near_a_tie(precision):
    """The documented limit: near a Voronoi boundary float32 inputs decide the output."""
    rng = np.random.default_rng(3)
    embedding = np.array([[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]) + 100.0
    coords = np.array([[0.0], [1.0]])
    for beta in (1e1, 1e3, 1e5):
        points = 100.0 + np.c_[rng.uniform(-1, 1, size=(200, 1)) / beta, rng.normal(size=(200, 2))]
        data32 = (x.astype(np.float32) for x in (points, embedding, coords))
        out = soft_som(*data32, beta, precision=precision).numpy()
        err = np.abs(out - reference_soft_som(points, embedding, coords, beta)).max()
        assert err < beta * EPS32 * np.abs(points).max() / 2
        if beta >= 1e3:  # the limit is real: 1e-5 is out of reach here
            assert err > 1e-5


# --- execution modes ------------------------------------------------------------------


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_eager_function_and_jit_agree(dtype, precision):
    points, embedding, coords, beta = (np.asarray(x, dtype) for x in random_case(5, (2, 3), 7, 4, 2))

    def forward_backward(p, l, g, b):
        with tf.GradientTape() as tape:
            tape.watch([p, l, g, b])
            out = soft_som(p, l, g, b, precision=precision)
            loss = tf.reduce_sum(out * out)
        return [out, *tape.gradient(loss, [p, l, g, b])]

    args = [tf.constant(x) for x in (points, embedding, coords, beta)]
    eager = forward_backward(*args)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for jit in (False, True):
        compiled = tf.function(forward_backward, jit_compile=jit)(*args)
        for e, c in zip(eager, compiled):
            np.testing.assert_allclose(c.numpy(), e.numpy(), rtol=tol, atol=tol)
    hard_jit = tf.function(hard_som, jit_compile=True)(*args[:3])
    np.testing.assert_array_equal(hard_jit.numpy(), hard_som(*args[:3]).numpy())


def test_static_shape_inside_function():
    spec = tf.TensorSpec([None, None, 3], tf.float32)
    embedding = np.zeros((4, 3), np.float32)
    coords = np.zeros((4, 2), np.float32)
    soft = tf.function(lambda p: soft_som(p, embedding, coords, 1.0), input_signature=[spec])
    hard = tf.function(lambda p: hard_som(p, embedding, coords), input_signature=[spec])
    assert soft.get_concrete_function().structured_outputs.shape.as_list() == [None, None, 2]
    assert hard.get_concrete_function().structured_outputs.shape.as_list() == [None, None, 2]


# --- the two paths ---------------------------------------------------------------------


def float64_tensors(concrete_function):
    """Names of the ops producing float64 tensors in a traced function and every function it calls.

    The graph's own ops and, through its function library, those of the
    nested functions (the op's XLA-compiled forward and backward passes and
    the gradient functions).
    """
    found = [op.name for op in concrete_function.graph.get_operations() if tf.float64 in [t.dtype for t in op.outputs]]
    for function in concrete_function.graph.as_graph_def().library.function:
        graph = function_def_to_graph.function_def_to_graph(function)
        found += [
            f"{function.signature.name}/{op.name}"
            for op in graph.get_operations()
            if tf.float64 in [t.dtype for t in op.outputs]
        ]
    return found


def traced_forward_backward(precision, dtype, python_beta=False, numpy_coords=False):
    """The op's forward and backward pass traced for ``dtype`` inputs (watched, all four)."""
    coords = np.arange(8.0).reshape(4, 2)  # float64 NumPy, as Grid.coords are

    def forward_backward(points, embedding, coords_arg, beta):
        beta = 2.5 if python_beta else beta
        coords_arg = coords if numpy_coords else coords_arg
        with tf.GradientTape() as tape:
            watched = [x for x in (points, embedding, coords_arg, beta) if tf.is_tensor(x)]
            tape.watch(watched)
            loss = tf.reduce_sum(soft_som(points, embedding, coords_arg, beta, precision=precision))
        return loss, tape.gradient(loss, watched)

    specs = [tf.TensorSpec([None, 3], dtype), tf.TensorSpec([4, 3], dtype), tf.TensorSpec([4, 2], dtype)]
    return tf.function(forward_backward).get_concrete_function(*specs, tf.TensorSpec([], dtype))


@pytest.mark.parametrize("dtype", [tf.float32, tf.float16, tf.bfloat16])
@pytest.mark.parametrize("python_beta, numpy_coords", [(False, False), (True, True)])
def test_fast_path_has_no_float64_tensor_anywhere(dtype, python_beta, numpy_coords):
    """The default path, forward and backward, for float32 / float16 / bfloat16 inputs: no float64 at all.

    Also with a Python ``beta`` and float64 NumPy ``coords`` (converted
    straight to the computation dtype), as ``SoftSOM`` and typical calls pass.
    """
    concrete = traced_forward_backward("fast", dtype, python_beta, numpy_coords)
    assert float64_tensors(concrete) == []
    assert len(concrete.graph.as_graph_def().library.function) >= 2  # the nested XLA functions were looked into


def test_highest_precision_path_does_use_float64():
    """The check above can see a float64 tensor: the highest-precision path has them, inside its XLA functions."""
    found = float64_tensors(traced_forward_backward("highest", tf.float32))
    assert found and all("/" in name for name in found)


@pytest.mark.parametrize("precision", [None, "exact", "FAST", 1, ("fast",)])
def test_unknown_precision_is_a_value_error_naming_it(precision):
    with pytest.raises(ValueError, match="precision must be one of"):
        soft_som(P, L, G, 1.0, precision=precision)


def test_default_precision_is_fast():
    points, embedding, coords, beta = (np.asarray(x, np.float32) for x in random_case(3, (40,), 25, 8, 2))
    default = soft_som(points, embedding, coords, beta).numpy()
    np.testing.assert_array_equal(default, soft_som(points, embedding, coords, beta, precision="fast").numpy())
    assert PRECISIONS == ("fast", "highest")


@pytest.mark.parametrize("n", [2, 4, 5, 16])
def test_paths_agree_on_ordinary_data(n):
    """Both paths (fast: direct differences for n <= 4, a product beyond) against the reference."""
    points, embedding, coords, beta = (np.asarray(x, np.float32) for x in random_case(8, (300,), 30, n, 2))
    reference = reference_soft_som(points, embedding, coords, beta)
    span = coords_range(coords)
    for precision in PRECISIONS:
        out, grads = grads_of(soft_som_with(precision), points, embedding, coords, beta)
        assert np.abs(out.numpy() - reference).max() / span.max() < 1e-6, precision
        assert all(np.all(np.isfinite(g.numpy())) for g in grads)
    _, fast = grads_of(soft_som_with("fast"), points, embedding, coords, beta)
    _, highest = grads_of(soft_som_with("highest"), points, embedding, coords, beta)
    for name, f, h in zip(stress.ARGUMENTS, fast, highest):
        assert np.abs(f.numpy() - h.numpy()).max() <= 1e-4 * np.abs(h.numpy()).max(), name


def test_numpy_float64_nodes_are_rounded_like_a_cast():
    """float64 NumPy embedding / coords with float32 points: the same as casting them first."""
    points, embedding, coords, beta = random_case(4, (20,), 9, 3, 2)
    points = points.astype(np.float32)
    direct = soft_som(points, embedding, coords, beta).numpy()
    cast = soft_som(points, embedding.astype(np.float32), coords.astype(np.float32), beta).numpy()
    np.testing.assert_array_equal(direct, cast)


def test_beta_that_rounds_to_zero_in_float32_is_rejected():
    with pytest.raises(ValueError, match="beta must not round to 0 in float32"):
        soft_som(P.astype(np.float32), L, G, 1e-50)
    assert np.all(np.isfinite(soft_som(P, L, G, 1e-50).numpy()))  # fine in float64


@pytest.mark.parametrize("precision", PRECISIONS)
def test_layer_passes_its_precision_to_the_op_and_saves_it(precision, tmp_path):
    """SoftSOM(precision=...): the op's path, in get_config and through a saved model."""
    import keras

    from softsom import SoftSOM

    layer = SoftSOM((3, 4), beta=3.0, embedding_update="frozen", precision=precision)
    points = np.random.default_rng(0).normal(size=(16, 5)).astype(np.float32)
    out = layer(points).numpy()
    expected = soft_som(points, layer.embedding.numpy(), layer.grid.coords, 3.0, precision=precision).numpy()
    np.testing.assert_array_equal(out, expected)
    assert layer.get_config()["precision"] == precision
    assert SoftSOM.from_config(layer.get_config()).precision == precision
    model = keras.Sequential([keras.Input((5,)), layer])
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert loaded.layers[-1].precision == precision
    np.testing.assert_array_equal(loaded(points).numpy(), out)


def test_layer_precision_defaults_to_fast_and_is_validated():
    from softsom import SoftSOM

    assert SoftSOM((2, 2)).precision == "fast"
    config = SoftSOM((2, 2)).get_config()
    del config["precision"]  # a layer saved before the argument existed
    assert SoftSOM.from_config(config).precision == "fast"
    for bad in ("exact", None, 2):
        with pytest.raises(ValueError, match="precision must be one of"):
            SoftSOM((2, 2), precision=bad)


# --- input validation -------------------------------------------------------------------

P = np.zeros((5, 3))
L = np.zeros((4, 3))
G = np.zeros((4, 2))

BAD_INPUTS = [  # (points, embedding, coords, beta, argument named in the message)
    (np.float64(1.0), L, G, 1.0, "points"),
    (P.astype(np.int32), L, G, 1.0, "points"),
    (P.astype(bool), L, G, 1.0, "points"),
    (np.full((5, 3), "x"), L, G, 1.0, "points"),
    (P, L[0], G, 1.0, "embedding"),
    (P, L[None], G, 1.0, "embedding"),
    (P, L.astype(np.int64), G, 1.0, "embedding"),
    (P, L[:, :2], G, 1.0, "points .* and embedding"),
    (P, L[:0], G[:0], 1.0, "embedding must have at least one node"),
    (P, L, G[0], 1.0, "coords"),
    (P, L, G[None], 1.0, "coords"),
    (P, L, G[:3], 1.0, "embedding .* and coords"),
    (P, L, G.astype(np.int64), 1.0, "coords"),
    (P, L, G, 0.0, "beta"),
    (P, L, G, -1, "beta"),
    (P, L, G, float("nan"), "beta"),
    (P, L, G, float("inf"), "beta"),
    (P, L, G, np.float32(-2.0), "beta"),
    (P, L, G, tf.constant(0.0), "beta"),
    (P, L, G, tf.Variable(-1.0), "beta"),
    (P, L, G, np.array([1.0, 2.0]), "beta"),
    (P, L, G, np.array(2, np.int64), "beta"),
    (P, L, G, True, "beta"),
    (P, L, G, "1.0", "beta"),
]


@pytest.mark.parametrize("points, embedding, coords, beta, name", BAD_INPUTS)
def test_bad_input_raises_value_error_naming_it(points, embedding, coords, beta, name):
    with pytest.raises(ValueError, match=name):
        soft_som(points, embedding, coords, beta)
    if name != "beta":
        with pytest.raises(ValueError, match=name):
            hard_som(points, embedding, coords)


def test_bad_input_raises_at_trace_time_in_function():
    with pytest.raises(ValueError, match="coords"):
        tf.function(lambda p: soft_som(p, L, G[:3], 1.0))(tf.constant(P))


@pytest.mark.parametrize("beta", [0.0, -3.0, float("nan"), float("inf")])
def test_symbolic_beta_checked_at_run_time(beta):
    function = tf.function(lambda b: soft_som(P, L, G, b))
    with pytest.raises(tf.errors.InvalidArgumentError, match="beta"):
        function(tf.constant(beta, tf.float64))
    assert np.all(np.isfinite(function(tf.constant(2.0, tf.float64)).numpy()))


def test_dimensions_known_only_at_run_time_are_checked():
    spec = tf.TensorSpec([None, None], tf.float64)
    function = tf.function(lambda p, l, g: soft_som(p, l, g, 1.0), input_signature=[spec] * 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match="embedding"):
        function(P, L[:, :2], G)
    with pytest.raises(tf.errors.InvalidArgumentError, match="coords"):
        function(P, L, G[:3])
    with pytest.raises(tf.errors.InvalidArgumentError, match="embedding must have at least one node"):
        function(P, L[:0], G[:0])
    unknown_rank = tf.function(
        lambda p, l, g: soft_som(p, l, g, 1.0), input_signature=[tf.TensorSpec(None, tf.float64)] * 3
    )
    np.testing.assert_allclose(unknown_rank(P, L, G).numpy(), reference_soft_som(P, L, G, 1.0), atol=1e-6)
    with pytest.raises(tf.errors.InvalidArgumentError, match="embedding must be rank 2"):
        unknown_rank(P, L[None], G)
