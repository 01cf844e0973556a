r"""Numerical stress grid of the soft SOM op: extreme ``beta``, scales and special points.

:func:`stress_grid` evaluates :func:`~softsom.ops.soft_som` and its gradients
with respect to all four arguments over every combination of

* ``beta`` in :data:`BETAS` (1e-4 ... 1e6),
* input scale in :data:`SCALES` (1e-6 ... 1e4; points and embedding are
  multiplied by it, the integer grid coordinates are not),
* dtype float32 and float64,
* the op's two paths, ``precision="fast"`` and ``"highest"`` (:data:`PRECISIONS`),
* the special cases in :data:`CASES` (see :func:`stress_case`),

and compares each cell with an independent long-double reference
(:func:`reference_soft_som`) evaluated on the *same, already rounded* inputs,
so that the errors measure the op, not the rounding of the data to float32
(that limit is documented in ``ops.py`` and tested in ``tests/test_ops.py``).
The op runs inside ``tf.function``, forward and backward, as in training.
``python -m tests.stress`` prints the tables of :func:`format_stress_tables`.

Errors and bounds
-----------------
``β R`` below is ``beta`` times the extent ``R`` of the map (the largest
distance of a node from the mean node), the size of the logits before the
nearest node's is subtracted. The highest-precision path forms the
squared-distance differences in float64 whatever the dtype (as
:mod:`softsom.ops` states), so its logits carry an error of about
``eps64 β R``. That matters only where nodes share the weight, i.e. on a
Voronoi boundary, and there it is below what rounding the *data* to float64
already does to the output.

The fast path forms them in the dtype itself, by one matrix product on data
centred on the mean node: ``d_v^2 - d_1^2`` then carries an absolute error of
about ``eps (R^2 + 2 R |p - mu|)``, which divided by ``d_1 + d_v`` is the
error of the logit difference. Its bounds replace ``eps64 β R`` by
``eps β κ`` with the *conditioning* ``κ = max_p (R^2 + 2 R |p - mu|) / (d_1 +
d_2)`` of the cell (:func:`conditioning`; ``d_1 <= d_2`` the distances of a
point to its two nearest nodes, ``mu`` the mean node), the number the fast
path's accuracy rests on: about ``R`` for points far from the map, the
map's extent over its node spacing for points among the nodes.

Forward error
    ``max |out - reference|`` divided by the coords' range (largest per-axis
    range, 1 if all coords are equal). Bound (:func:`forward_bound`):
    ``FORWARD_ULPS * eps(dtype) + eps64 β R`` for the highest-precision
    path, the float32 contract of :mod:`softsom.ops` ("a few ulps of the
    logits that matter"). The ``eps64 β R`` term covers the exact ties, where
    the float64 distance differences decide how the weight is shared. Fast
    path: ``FORWARD_ULPS * eps(dtype) + eps(dtype) β κ``.

Gradient error
    For the loss ``L = sum(U * out)`` with fixed random weights ``U``:
    ``max |analytic - reference|`` over an argument's entries, divided by
    its largest reference entry, floored at :data:`GRADIENT_FLOOR` of the
    argument's *natural scale*: what the gradient reaches when nodes share
    the weight (up to factors of order one), ``β span u`` for points and
    embedding, ``u`` for coords and ``span u min(1/β, scale)`` for ``beta``,
    with ``u = sum_b max|U_b|`` and ``span`` the coords' range. Smaller
    gradients are cancellations (duplicated nodes pulling opposite ways;
    one-hot weights, where ``out - g_nearest`` is rounding) or ``exp(-z)``
    tails; their absolute error is a few ``eps`` of the natural scale
    whatever their size, which relative to themselves means nothing. Bound
    (:func:`gradient_bound`): ``GRADIENT_TOLERANCE[dtype]`` plus the
    ``eps64 β R`` logit error, as a fraction of the natural scale (fast path:
    ``FAST_GRADIENT_TOLERANCE[dtype]`` plus ``eps(dtype) β κ``).

Reference gradients
    Central differences of the long-double reference, all entries of an
    argument in one batched evaluation. The step is a power of two (so
    ``x ± h`` is exact in long double) near ``cbrt(eps_ld)`` times the length
    on which the loss varies (``min(1/β, scale)`` for points and embedding,
    ``beta`` for beta; coords, in which the loss is linear, get a long step),
    and at least 8 long-double ulps of the largest input. A gradient is
    *compared* only where central differences are trustworthy; the others
    are reported as not compared ("n/a"), with the reason:

    * ``"kink"``: a point exactly on a node (the "on node" case), for the
      gradients with respect to points and embedding. The distance is not
      differentiable there; the op returns a subgradient, checked in
      ``tests/test_ops.py``.
    * ``"unresolved"``: the reference's error estimate, the change of the
      central differences from step ``h`` to ``2h`` (relative as above),
      exceeds :data:`REFERENCE_FRACTION` of the bound. None on x86-64, where
      long double has a 64-bit mantissa; where it is plain float64, some
      float64 cells will be.

NaN and Inf are counted in the op's output and in all four gradients of every
cell, compared or not.

Beyond the grid
    A tight cluster in a wide map, two nodes much closer to each other than
    to the mean node with points between them, is a case the grid of scales
    cannot express. There the float64 ``dq`` carries an absolute error
    ``eps64 R^2`` that would be divided by the small distances, and centred
    float32 products would lose the second node's gradient term; the op
    computes the distances and gradient terms of each point's nearest nodes
    from exact difference vectors instead. ``tests/test_stress.py``
    (``test_close_pair_far_from_the_mean_node``) evaluates that case with
    :func:`evaluate_cell` and holds it to the same bounds as the grid.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf

from experiments.checks import ARGUMENTS
from softsom.ops import soft_som
from tools.tables import markdown_table

__all__ = [
    "BETAS",
    "SCALES",
    "DTYPES",
    "PRECISIONS",
    "CASES",
    "FAR",
    "FORWARD_ULPS",
    "GRADIENT_FLOOR",
    "GRADIENT_TOLERANCE",
    "FAST_GRADIENT_TOLERANCE",
    "REFERENCE_FRACTION",
    "conditioning",
    "StressRow",
    "stress_case",
    "reference_soft_som",
    "forward_bound",
    "gradient_bound",
    "evaluate_cell",
    "stress_grid",
    "DENSE_SIDE",
    "DENSE_BETA_TIMES_SPACING",
    "dense_map",
    "dense_map_errors",
    "worst_ratios",
    "format_stress_tables",
    "main",
]

BETAS = (1e-4, 1e-2, 1.0, 1e2, 1e4, 1e6)
SCALES = (1e-6, 1e-3, 1.0, 1e3, 1e4)
DTYPES = (np.float32, np.float64)
PRECISIONS = ("fast", "highest")
"""The op's two paths, ``soft_som(..., precision=...)``."""
CASES = ("random", "on node", "boundary", "far", "duplicate nodes", "K = 1", "m = 1", "m = 3")
FAR = 1e4
"""How far the "far" points are from the map, in units of the scale (as in tests/test_ops.py)."""

EPS64 = float(np.finfo(np.float64).eps)
EPS_REFERENCE = float(np.finfo(np.longdouble).eps)
"""Of the reference: 1.1e-19 for the 80-bit long double of x86-64."""

FORWARD_ULPS = 2
"""Forward bound, in ulps of the dtype, besides the ``eps64 β R`` term."""

GRADIENT_TOLERANCE = {np.float32: 4e-6, np.float64: 1e-9}
"""Gradient bound besides the ``eps64 β R`` term. float32: the contract in ops.py
(within 4e-6 of the largest entry). float64: what the reference resolves, not the
op's accuracy: its central differences are good to ~2e-11 (``eps_ld ** (2/3)``
times the curvature), and a comparison needs 1/REFERENCE_FRACTION times that."""

GRADIENT_FLOOR = 1e-2
"""The largest gradient entry is floored at this fraction of its natural scale.
Measured: absolute errors are below 0.3 eps32 of the natural scale, so relative to
1% of it float32 stays within 4e-6."""

FAST_GRADIENT_TOLERANCE = {np.float32: 1e-5, np.float64: 1e-9}
"""Fast path: gradient bound besides the ``eps(dtype) β κ`` term."""

REFERENCE_FRACTION = 0.1
"""A gradient is compared only where the reference's estimated error is below this
fraction of the bound, so that the reference's own error cannot hide or fake a failure."""

_POINTS_PER_CASE = 6


# --- the cases --------------------------------------------------------------


def _base_map(rng):
    """A 4 x 3 map in 3-d with integer grid coords; columns 0 and 1 are mirror images.

    Nodes sit at x in {-0.5, 0.5, 1.5, 2.5}, y in {0, 1, 2}, with small random
    heights z, equal in columns x = -0.5 and x = 0.5 so that every point with
    x = 0 is *exactly* equidistant from a mirrored pair of nodes, in any
    precision and at any scale (negation is exact). The mean node is at
    x = 1, so the op's centred products do not see the symmetry.
    """
    heights = 0.1 * rng.normal(size=(4, 3))
    heights[0] = heights[1]
    embedding = np.stack([np.repeat([-0.5, 0.5, 1.5, 2.5], 3), np.tile([0.0, 1.0, 2.0], 4), heights.ravel()], axis=-1)
    coords = np.stack(np.meshgrid(np.arange(4.0), np.arange(3.0), indexing="ij"), -1).reshape(-1, 2)
    return embedding, coords


def _unit_rows(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def stress_case(case, scale, seed=0):
    """Points, embedding, coords and loss weights of one case, in float64.

    Parameters
    ----------
    case : str
        One of :data:`CASES`:

        * ``"random"``: points spread over the map (K = 12, n = 3, m = 2).
        * ``"on node"``: points exactly on four of the nodes.
        * ``"boundary"``: points on the plane x = 0, exactly equidistant
          from the two nearest nodes (a mirrored pair).
        * ``"far"``: points :data:`FAR` scales away from the map, half of
          them in random directions from a node, half on the plane x = 0
          (far *and* on a boundary).
        * ``"duplicate nodes"``: two identical rows in the embedding (with
          different coords), points around them.
        * ``"K = 1"``: a single node.
        * ``"m = 1"``, ``"m = 3"``: 1-d and 3-d grid coords for the 12 nodes.
    scale : float
        Multiplies points and embedding (not coords).
    seed : int
        The same seed gives the same geometry at every scale.

    Returns
    -------
    points [B, n], embedding [K, n], coords [K, m], loss_weights [B, m] : ndarray
    """
    if case not in CASES:
        raise ValueError(f"case must be one of {CASES}; got {case!r}")
    rng = np.random.default_rng(seed)
    embedding, coords = _base_map(rng)
    size = _POINTS_PER_CASE
    spread = np.c_[rng.uniform(-1.0, 3.0, size), rng.uniform(-0.5, 2.5, size), 0.1 * rng.normal(size=size)]
    on_plane = np.c_[np.zeros(size), rng.uniform(-0.5, 2.5, size), 0.1 * rng.normal(size=size)]
    points = spread
    if case == "on node":
        points = embedding[[0, 4, 7, 11]]
    elif case == "boundary":
        points = on_plane
    elif case == "far":
        half = size // 2
        away = embedding[rng.integers(0, 12, half)] + FAR * _unit_rows(rng.normal(size=(half, 3)))
        # Moved along -y or +y, points on the plane x = 0 stay on it and the
        # mirrored pair of the first or last row stays nearest: exact ties.
        along = on_plane[:half] + FAR * np.c_[np.zeros(half), (-1.0) ** np.arange(1, half + 1), np.zeros(half)]
        points = np.r_[away, along]
    elif case == "duplicate nodes":
        embedding[6] = embedding[5]
        points = embedding[5] + 0.3 * rng.normal(size=(size, 3))
    elif case == "K = 1":
        embedding, coords = embedding[:1], coords[:1]
    elif case == "m = 1":
        coords = np.arange(12.0)[:, None]
    elif case == "m = 3":
        coords = np.stack(np.meshgrid(np.arange(3.0), np.arange(2.0), np.arange(2.0), indexing="ij"), -1).reshape(-1, 3)
    loss_weights = rng.normal(size=(len(points), coords.shape[1]))
    return points * scale, embedding * scale, coords, loss_weights


# --- the long-double reference ------------------------------------------------


def reference_soft_som(points, embedding, coords, beta):
    """Soft SOM in long double, batched over a leading axis of S samples.

    Independent of the op's formulation (no matrix product, no centring):
    the excess distances ``e_v = d_v - d_u`` over the nearest node ``u`` come
    from the exact identity ``d_v^2 - d_u^2 = (l_v - l_u) . (l_v + l_u - 2p)``,
    so they keep their relative precision for points far away or near a tie;
    the softmax is shifted to the nearest node (logits ``-beta e <= 0``) and
    written with ``expm1`` around the uniform weights,
    ``out = mean(g) + sum_v y_v (g_v - mean(g)) / (K + sum_u y_u)`` with
    ``y_v = expm1(-beta e_v)``, so that small ``beta e`` keep their precision
    too (central differences need it).

    Parameters
    ----------
    points : ndarray [S or 1, B, n]
    embedding : ndarray [S or 1, K, n]
    coords : ndarray [S or 1, K, m]
    beta : ndarray [S or 1]

    Returns
    -------
    centred_output : ndarray [S, B, m]
        ``out - mean(coords)``.
    coords_mean : ndarray [S or 1, 1, m]
    """
    points, embedding, coords, beta = (np.asarray(x, np.longdouble) for x in (points, embedding, coords, beta))
    nodes = embedding[:, None]  # [S, 1, K, n]
    distances = np.sqrt(((points[:, :, None] - nodes) ** 2).sum(-1))  # [S, B, K]
    nearest = distances.argmin(-1)[..., None]  # [S, B, 1]
    nearest_node = np.take_along_axis(nodes, nearest[..., None], axis=2)  # [S, B, 1, n]
    nearest_distance = np.take_along_axis(distances, nearest, axis=2)
    difference = ((nodes - nearest_node) * (nodes + nearest_node - 2 * points[:, :, None])).sum(-1)
    denominator = distances + nearest_distance
    # 0/0 only where the point is on both nodes: equal distances.
    excess = np.where(denominator > 0, difference / np.where(denominator > 0, denominator, 1), 0)
    y = np.expm1(-beta[:, None, None] * excess)
    coords_mean = coords.mean(axis=1, keepdims=True)
    centred = np.einsum("sbk,skm->sbm", y, coords - coords_mean)
    return centred / (coords.shape[1] + y.sum(-1))[..., None], coords_mean


def _reference_loss(args, loss_weights):
    """``sum(U * out)`` per sample, as the (centred part, mean part) pair."""
    centred, coords_mean = reference_soft_som(*args)
    return (centred * loss_weights).sum((-1, -2)), (coords_mean * loss_weights.sum(0)).sum((-1, -2))


def _central_differences(args, loss_weights, index, step):
    """Reference d loss / d args[index] at steps ``step`` and ``2 step``, all entries at once."""
    base = np.asarray(args[index])
    size = base.size
    offsets = np.concatenate([s * step * np.eye(size, dtype=np.longdouble) for s in (1, -1, 2, -2)])
    stacked = [a[None] for a in args]
    stacked[index] = (base.reshape(-1) + offsets).reshape(4 * size, *base.shape)
    parts = [np.broadcast_to(part, (4 * size,)).reshape(4, size) for part in _reference_loss(stacked, loss_weights)]
    # Each part is differenced on its own: the mean part is exactly constant
    # unless coords move, and adding it first would round the change.
    at_h, at_2h = (sum(part[i] - part[i + 1] for part in parts) for i in (0, 2))
    return at_h / (2 * step), at_2h / (4 * step)


def _power_of_two_step(target, largest_input):
    """A power of two near ``target``, and at least 8 long-double ulps of the largest input."""
    step = max(target, 8 * float(np.spacing(np.longdouble(largest_input))))
    return np.longdouble(2.0) ** math.ceil(math.log2(step))


# --- bounds -------------------------------------------------------------------


def _check_precision(precision):
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}")


def conditioning(points, embedding):
    """``κ = max_p (R^2 + 2 R |p - mu|) / (d_1 + d_2)``, the fast path's sensitivity (see the module notes).

    ``R`` is the map's extent (largest distance of a node from the mean node
    ``mu``), ``d_1 <= d_2`` a point's distances to its two nearest nodes
    (duplicated nodes count twice). 0 for a single node or an empty batch.
    """
    points, embedding = np.asarray(points, np.float64), np.asarray(embedding, np.float64)
    if len(embedding) < 2 or len(points) == 0:
        return 0.0
    mu = embedding.mean(axis=0)
    extent = np.linalg.norm(embedding - mu, axis=1).max()
    nearest_two = np.sort(np.linalg.norm(points[:, None] - embedding, axis=-1), axis=1)[:, :2].sum(axis=1)
    spread = extent * (extent + 2 * np.linalg.norm(points - mu, axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(nearest_two > 0, spread / np.where(nearest_two > 0, nearest_two, 1.0), 0.0)
    return float(ratio.max())


def forward_bound(dtype, beta, extent, precision="highest", kappa=0.0):
    """Forward error bound relative to the coords' range.

    ``FORWARD_ULPS eps(dtype) + eps64 beta R`` (highest precision, ``R`` the
    map's extent) or ``FORWARD_ULPS eps(dtype) + eps(dtype) beta kappa``
    (fast path, ``kappa`` from :func:`conditioning`).
    """
    _check_precision(precision)
    eps = float(np.finfo(dtype).eps)
    if precision == "fast":
        return FORWARD_ULPS * eps + eps * beta * kappa
    return FORWARD_ULPS * eps + EPS64 * beta * extent


def gradient_bound(dtype, beta, extent, natural_ratio=1.0, precision="highest", kappa=0.0):
    """Gradient error bound relative to the (floored) largest entry.

    ``GRADIENT_TOLERANCE[dtype] + eps64 beta R natural_ratio``: the op's logit
    error ``eps64 beta R`` moves the gradient by that fraction of its natural
    scale, and ``natural_ratio`` (natural scale / floored largest entry, at
    most ``1 / GRADIENT_FLOOR``) expresses it relative to the largest entry.
    Fast path: ``FAST_GRADIENT_TOLERANCE[dtype] + eps(dtype) beta kappa
    natural_ratio``.
    """
    _check_precision(precision)
    if precision == "fast":
        return FAST_GRADIENT_TOLERANCE[dtype] + float(np.finfo(dtype).eps) * beta * kappa * natural_ratio
    return GRADIENT_TOLERANCE[dtype] + EPS64 * beta * extent * natural_ratio


# --- the grid -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class StressRow:
    """One cell of the grid: a case at one ``beta``, scale, dtype and precision (the op's path).

    ``gradient_errors[argument]`` is None where the gradient was not compared,
    and ``not_compared[argument]`` then says why (``"kink"`` or
    ``"unresolved"``). ``gradient_bounds`` and ``reference_errors`` (the
    reference's estimated error, relative as the gradient error) are given
    for every argument but kinks.
    """

    precision: str
    dtype: str
    case: str
    beta: float
    scale: float
    nonfinite: int
    forward_error: float
    forward_bound: float
    gradient_errors: dict
    gradient_bounds: dict
    reference_errors: dict
    not_compared: dict

    def compared(self):
        """(argument, error, bound) of the gradients that were compared."""
        return [
            (name, error, self.gradient_bounds[name])
            for name, error in self.gradient_errors.items()
            if error is not None
        ]

    @property
    def ok(self):
        """Finite everywhere and every error within its bound."""
        return (
            self.nonfinite == 0
            and self.forward_error <= self.forward_bound
            and all(error <= bound for _, error, bound in self.compared())
        )


def _output_and_gradients(points, embedding, coords, beta, loss_weights, precision):
    with tf.GradientTape() as tape:
        tape.watch([points, embedding, coords, beta])
        out = soft_som(points, embedding, coords, beta, precision=precision)
        loss = tf.reduce_sum(out * loss_weights)
    return out, tape.gradient(loss, [points, embedding, coords, beta])


_COMPILED = {}


def _compiled(dtype, precision):
    """The op's forward and backward pass as one graph per dtype and path (fast to call 240 times)."""
    if (dtype, precision) not in _COMPILED:
        matrix = tf.TensorSpec([None, None], dtype)
        _COMPILED[dtype, precision] = tf.function(
            lambda *args: _output_and_gradients(*args, precision),
            input_signature=[matrix, matrix, matrix, tf.TensorSpec([], dtype), matrix],
        )
    return _COMPILED[dtype, precision]


def _gradient_scales(beta, scale, spread, loss_weights):
    """Per argument: natural scale of the gradient and length on which the loss varies."""
    u = float(np.abs(loss_weights).max(axis=1).sum())
    natural = [beta * spread * u, beta * spread * u, u, spread * u * min(1 / beta, scale)]
    # The loss is linear in coords: no truncation error, so a long step.
    lengths = [min(1 / beta, scale), min(1 / beta, scale), 2.0**-10 / EPS_REFERENCE ** (1 / 3) * spread, beta]
    return natural, lengths


def evaluate_cell(points, embedding, coords, loss_weights, beta, dtype, scale, case="custom", precision="highest"):
    """Evaluate the op on one set of inputs and compare it with the reference.

    The building block of :func:`stress_grid`, usable on any data.

    Parameters
    ----------
    points [B, n], embedding [K, n], coords [K, m], loss_weights [B, m] : ndarray
        Float64 values; all but the loss weights are rounded to ``dtype``
        first, and the reference sees the rounded values.
    beta : float
    dtype : {np.float32, np.float64}
    scale : float
        The data's length scale (the spacing of the nodes near the points):
        sets the central-difference steps and the natural scale of the
        gradient with respect to ``beta``.
    case : str
        Label for the row.
    precision : {"fast", "highest"}
        The op's path.

    Returns
    -------
    StressRow
    """
    return _evaluate(points, embedding, coords, loss_weights, beta, dtype, scale, case, (precision,))[0]


def _evaluate(points, embedding, coords, loss_weights, beta, dtype, scale, case, precisions):
    """:func:`evaluate_cell` for several precisions, against one evaluation of the reference."""
    for precision in precisions:
        _check_precision(precision)
    data = [np.asarray(x).astype(dtype) for x in (points, embedding, coords)]
    rounded_beta = dtype(beta)
    args = [x.astype(np.longdouble) for x in data] + [np.longdouble(rounded_beta)]
    weights = np.asarray(loss_weights, np.longdouble)
    centred, coords_mean = reference_soft_som(*[a[None] for a in args[:3]], args[3][None])
    reference_out = centred[0] + coords_mean[0]
    spread = float(np.ptp(data[2], axis=0).max()) or 1.0
    extent = float(np.linalg.norm(data[1] - data[1].astype(np.float64).mean(0), axis=1).max())
    kappa = conditioning(data[0], data[1])
    natural, lengths = _gradient_scales(beta, scale, spread, loss_weights)
    largest_input = [float(np.abs(np.r_[data[0].ravel(), data[1].ravel()]).max())] * 2 + [
        float(np.abs(data[2]).max()),
        float(rounded_beta),
    ]
    on_node = bool((args[0][:, None] == args[1][None]).all(-1).any())
    references = {}  # argument -> (central differences at h, estimated error, floored largest entry)
    for index, name in enumerate(ARGUMENTS):
        if on_node and name in ("points", "embedding"):
            continue
        step = _power_of_two_step(EPS_REFERENCE ** (1 / 3) * lengths[index], largest_input[index])
        at_h, at_2h = (
            g.reshape(data[index].shape if index < 3 else ()) for g in _central_differences(args, weights, index, step)
        )
        denominator = max(float(np.abs(at_h).max()), GRADIENT_FLOOR * natural[index])
        references[name] = (at_h, float(np.abs(at_h - at_2h).max()) / denominator, denominator)

    rows = []
    for precision in precisions:
        out, grads = _compiled(dtype, precision)(*data, rounded_beta, np.asarray(loss_weights).astype(dtype))
        out, grads = out.numpy(), [g.numpy() for g in grads]
        nonfinite = sum(int(np.size(x) - np.isfinite(x).sum()) for x in [out, *grads])
        errors, bounds, reference_errors, not_compared = {}, {}, {}, {}
        for index, name in enumerate(ARGUMENTS):
            if name not in references:
                errors[name], not_compared[name] = None, "kink"
                continue
            at_h, reference_errors[name], denominator = references[name]
            bounds[name] = gradient_bound(dtype, beta, extent, natural[index] / denominator, precision, kappa)
            if reference_errors[name] > REFERENCE_FRACTION * bounds[name]:
                errors[name], not_compared[name] = None, "unresolved"
            else:
                errors[name] = float(np.abs(grads[index] - at_h).max()) / denominator
        rows.append(
            StressRow(
                precision=precision,
                dtype=np.dtype(dtype).name,
                case=case,
                beta=float(beta),
                scale=float(scale),
                nonfinite=nonfinite,
                forward_error=float(np.abs(out - reference_out).max()) / spread,
                forward_bound=forward_bound(dtype, beta, extent, precision, kappa),
                gradient_errors=errors,
                gradient_bounds=bounds,
                reference_errors=reference_errors,
                not_compared=not_compared,
            )
        )
    return rows


def stress_grid(betas=BETAS, scales=SCALES, dtypes=DTYPES, cases=CASES, seed=0, precisions=PRECISIONS):
    """Evaluate the op and its gradients over betas x scales x dtypes x cases, for each precision.

    The full grid takes about 25 s on two cores (the reference, the slow
    part, is evaluated once per cell for both paths).

    Parameters
    ----------
    betas, scales : sequence of float
    dtypes : sequence of {np.float32, np.float64}
    cases : sequence of str
        Names from :data:`CASES`.
    seed : int
        Geometry of the cases (the same at every scale, beta and dtype).
    precisions : sequence of {"fast", "highest"}
        The op's paths (:data:`PRECISIONS`).

    Returns
    -------
    list of StressRow
        One per cell, in the order precision, dtype, case, beta, scale.
    """
    rows = [
        _evaluate(*stress_case(case, scale, seed), beta, dtype, scale, case, tuple(precisions))
        for dtype in dtypes
        for case in cases
        for beta in betas
        for scale in scales
    ]
    return [cell[i] for i in range(len(precisions)) for cell in rows]


# --- beyond the grid: the dense map -------------------------------------------------

DENSE_SIDE = 20
"""The dense map is a DENSE_SIDE x DENSE_SIDE grid."""

DENSE_BETA_TIMES_SPACING = (0.1, 1.0, 10.0, 100.0)
"""``beta`` times the node spacing at which the dense map is evaluated: from nearly uniform
weights (0.1) to a few nodes sharing the weight (10) to nearly one-hot (100)."""


def dense_map(seed=4, points=1000, dim=64):
    """A dense 20 x 20 map in 64-d with points among its nodes, in float32.

    The nodes lie on a plane of the 64-d space (a random orthonormal basis),
    spaced ``1 / 20`` apart, plus noise of 5 % of the spacing in all 64
    dimensions; the points are uniform over the plane's unit square with the
    same noise. Nodes are close together compared with the map's extent, the
    case where squared-distance differences from a matrix product lose the
    most (:func:`conditioning` is about 19).

    Returns
    -------
    points [points, dim], embedding [400, dim], coords [400, 2] : float32 ndarray
    spacing : float
    """
    rng = np.random.default_rng(seed)
    spacing = 1 / DENSE_SIDE
    coords = np.stack(np.meshgrid(np.arange(DENSE_SIDE * 1.0), np.arange(DENSE_SIDE * 1.0)), -1).reshape(-1, 2)
    basis = np.linalg.qr(rng.normal(size=(dim, 2)))[0]
    embedding = (coords * spacing) @ basis.T + rng.normal(size=(len(coords), dim)) * spacing * 0.05
    x = rng.uniform(0, 1, size=(points, 2)) @ basis.T + rng.normal(size=(points, dim)) * spacing * 0.05
    return tuple(a.astype(np.float32) for a in (x, embedding, coords)) + (spacing,)


def dense_map_errors(beta_times_spacing, precision, seed=4):
    """Errors of the float32 op on :func:`dense_map`, against float64 on the same (float32) inputs.

    Forward: ``max |out - out64|`` relative to the coords' range. Gradients of
    ``sum(U * out)`` (fixed random ``U``) with respect to the four arguments:
    ``max |g - g64|`` relative to the largest entry of ``g64``. The float64
    evaluation uses ``precision="highest"`` (its own error is below 1e-9).

    Returns
    -------
    dict
        ``{"forward": float, "points": float, "embedding": float, "coords": float, "beta": float}``.
    """
    _check_precision(precision)
    points, embedding, coords, spacing = dense_map(seed)
    upstream = np.random.default_rng(seed + 1).normal(size=(len(points), coords.shape[1]))
    beta = np.float32(beta_times_spacing / spacing)
    results = {}
    for dtype, path in ((np.float32, precision), (np.float64, "highest")):
        args = [tf.constant(x.astype(dtype)) for x in (points, embedding, coords)] + [tf.constant(dtype(beta))]
        with tf.GradientTape() as tape:
            tape.watch(args)
            out = soft_som(*args, precision=path)
            loss = tf.reduce_sum(out * upstream.astype(dtype))
        results[dtype] = [out.numpy().astype(np.float64)] + [
            g.numpy().astype(np.float64) for g in tape.gradient(loss, args)
        ]
    (out32, *grads32), (out64, *grads64) = results[np.float32], results[np.float64]
    span = float(np.ptp(coords, axis=0).max())
    errors = {"forward": float(np.abs(out32 - out64).max()) / span}
    for name, g32, g64 in zip(ARGUMENTS, grads32, grads64):
        errors[name] = float(np.abs(g32 - g64).max() / np.abs(g64).max())
    return errors


# --- report ---------------------------------------------------------------------


def _worst_table(rows, value):
    """Markdown table: one row per beta, one column per scale, the worst ``value`` over the cell."""
    betas = sorted({r.beta for r in rows})
    scales = sorted({r.scale for r in rows})
    table = []
    for beta in betas:
        line = {"β": f"{beta:.0e}"}
        for scale in scales:
            line[f"scale {scale:.0e}"] = value([r for r in rows if r.beta == beta and r.scale == scale])
        table.append(line)
    return markdown_table(table)


def _worst_forward(cell):
    return f"{max(r.forward_error for r in cell):.1e}"


def _worst_gradient(cell):
    compared = [e for r in cell for e in r.gradient_errors.values() if e is not None]
    skipped = sum(len(r.not_compared) for r in cell)
    text = f"{max(compared):.1e}" if compared else "n/a"
    return f"{text} ({skipped} n/a)" if skipped else text


def worst_ratios(rows, dtype, kind, precision="highest"):
    """Worst error / bound per (beta, scale) cell, shape [len(BETAS), len(SCALES)].

    ``kind`` is ``"forward"`` or ``"gradient"`` (over the compared gradients);
    cells with nothing compared are 0. Only the rows of ``dtype`` and
    ``precision``.
    """
    if kind not in ("forward", "gradient"):
        raise ValueError(f"kind must be 'forward' or 'gradient'; got {kind!r}")
    _check_precision(precision)
    betas = sorted({r.beta for r in rows})
    scales = sorted({r.scale for r in rows})
    ratio = np.zeros((len(betas), len(scales)))
    for r in rows:
        if r.dtype != dtype or r.precision != precision:
            continue
        if kind == "forward":
            worst = r.forward_error / r.forward_bound
        else:
            worst = max([error / bound for _, error, bound in r.compared()], default=0.0)
        cell = betas.index(r.beta), scales.index(r.scale)
        ratio[cell] = max(ratio[cell], worst)
    return ratio


def _bound_text(precision, dtype, kind):
    if kind == "forward":
        term = "eps·β·κ" if precision == "fast" else "eps64·β·R"
        return f"bound {FORWARD_ULPS} eps + {term}"
    tolerance = (FAST_GRADIENT_TOLERANCE if precision == "fast" else GRADIENT_TOLERANCE)[np.dtype(dtype).type]
    term = "eps·β·κ" if precision == "fast" else "eps64·β·R"
    return f"bound {tolerance:.0e} + {term}·natural scale / largest entry"


def format_stress_tables(rows):
    """The grid as Markdown: worst forward and gradient errors per (beta, scale), per precision and dtype.

    Each table cell is the worst error over the cases (and, for gradients,
    the four arguments) at that beta and scale; "(k n/a)" counts the
    (case, argument) gradients not compared there. A summary gives the
    cells within bounds, the NaN/Inf count and the worst errors and
    error/bound ratios per precision and dtype; a last table the gradients
    not compared.

    Parameters
    ----------
    rows : list of StressRow
        From :func:`stress_grid`.

    Returns
    -------
    str
        Markdown, for printing or ``IPython.display.Markdown``.
    """
    groups = list(dict.fromkeys((r.precision, r.dtype) for r in rows))
    parts, summary = [], []
    for precision, dtype in groups:
        of_dtype = [r for r in rows if r.dtype == dtype and r.precision == precision]
        compared = [(error, bound) for r in of_dtype for _, error, bound in r.compared()]
        parts += [
            f"**{precision}, {dtype}: forward error** (relative to the coords' range; "
            f"{_bound_text(precision, dtype, 'forward')})",
            _worst_table(of_dtype, _worst_forward),
            f"**{precision}, {dtype}: gradient error** (relative to the largest entry; "
            f"{_bound_text(precision, dtype, 'gradient')})",
            _worst_table(of_dtype, _worst_gradient),
        ]
        summary.append(
            {
                "precision": precision,
                "dtype": dtype,
                "cells": len(of_dtype),
                "within bounds": sum(r.ok for r in of_dtype),
                "NaN/Inf": sum(r.nonfinite for r in of_dtype),
                "worst forward": f"{max(r.forward_error for r in of_dtype):.1e}",
                "forward / bound": f"{max(r.forward_error / r.forward_bound for r in of_dtype):.2f}",
                "worst gradient": f"{max(e for e, _ in compared):.1e}" if compared else "n/a",
                "gradient / bound": f"{max(e / b for e, b in compared):.2f}" if compared else "n/a",
                "gradients compared": f"{len(compared)} of {4 * len(of_dtype)}",
            }
        )
    parts += ["**Summary**", markdown_table(summary)]
    skipped = {}
    for r in rows:
        for name, reason in r.not_compared.items():
            skipped.setdefault((reason, r.precision, r.dtype, r.case, name), []).append(r)
    if skipped:
        cells_per_case = len({(r.beta, r.scale) for r in rows})
        parts += [
            "**Gradients not compared** (kink: points on a node, not differentiable there; "
            "unresolved: the reference's central differences not accurate enough)",
            markdown_table(
                [
                    {
                        "reason": reason,
                        "precision": precision,
                        "dtype": dtype,
                        "case": case,
                        "argument": name,
                        "(β, scale)": "all"
                        if len(cell) == cells_per_case
                        else ", ".join(f"({r.beta:.0e}, {r.scale:.0e})" for r in cell),
                    }
                    for (reason, precision, dtype, case, name), cell in skipped.items()
                ]
            ),
        ]
    return "\n\n".join(parts)


def main():
    """Print the stress tables (``python -m tests.stress``)."""
    print(format_stress_tables(stress_grid()))


if __name__ == "__main__":
    main()
