r"""The soft SOM op of S. Barnes, "Embedding Self-Organizing Maps into Neural Networks".

A self-organizing map has ``K`` nodes; node ``v`` sits at grid coordinates
``g_v`` (a row of ``coords``, shape ``[K, m]``) and has an embedding ``l_v`` in
input space (a row of ``embedding``, shape ``[K, n]``). The classical map
sends a point ``p`` to the grid coordinates of its nearest node
(:func:`~softsom.hard_som`); the soft map replaces that argmin by a softmax
over the negated, *non-squared* Euclidean distances
(:func:`~softsom.soft_som`)::

    Output(p) = sum_v g_v exp(-beta ||p - l_v||) / sum_v exp(-beta ||p - l_v||)

:func:`~softsom.soft_som` is differentiable in all four arguments, with a
backward pass in closed form (``tf.custom_gradient``); at a point exactly on a
node, where the norm has no derivative, that node's term uses the
subgradient 0. Both ops take any leading batch shape, and run the same
whether called eagerly, inside ``tf.function`` or under
``jit_compile=True`` (the forward and backward pass are XLA-compiled
functions in every case; each new batch size is compiled once).

**Two paths.** ``soft_som(..., precision="fast")``, the default, and
``precision="highest"`` compute the same formula with the same checks and
range, and differ in how they form the distances:

* ``"fast"`` computes in the computation dtype alone: for float32, float16
  and bfloat16 points no float64 tensor appears in the forward or backward
  graph (a test traces both and checks every nested function), so it runs
  at full speed where float64 is slow (GPUs) or absent (TPUs). The squared
  distances come from one ``[B, n] x [n, K]`` matrix product on data centred
  on the mean node (for ``n <= 4``, from the difference vectors); each
  point's nearest node is found by a row minimum and its distance computed
  from the exact difference vector; the backward pass is one pass over
  ``[B, K]`` and two matrix products of the forward's size.
* ``"highest"`` forms the squared-distance differences in float64 whatever
  the dtype, and the distances and gradient terms of each point's
  ``min(K, 4)`` nearest nodes from their exact difference vectors, so that
  points on or near a node, nodes close together and maps far from the
  origin keep full precision. It costs about twice the fast path's time
  (``make bench`` measures both).

**Numerics.** What the op guarantees, for a batch of ``B`` points (errors
relative to the range of ``coords``; ``eps32 = 2**-23``, ``eps64 =
2**-52``; ``R`` is the map's extent, the largest distance of a node from the
mean node ``mu``):

* *Computation dtype.* Float64 for float64 ``points``, float32 otherwise
  (float16 and bfloat16 points are computed in float32 and the result cast
  back); ``embedding``, ``coords`` and ``beta`` are cast to it (NumPy and
  Python values are converted to it directly).
* *Range.* Coordinates of ``points`` and ``embedding`` up to
  ``sqrt(max / (16 n))`` in magnitude, ``max`` the computation dtype's
  largest value: about 4.6e18 / sqrt(n) for float32, 3.4e153 / sqrt(n) for
  float64 (:func:`~softsom.hard_som`: always the float64 bound), so that squared
  distances fit; ``beta`` up to ``max``. Known values beyond the range
  raise ``ValueError`` naming the argument (never a NaN or a wrong
  answer); symbolic ones are not checked and give NaN there.
* *No overflow, no 0/0.* For finite inputs in that range and any positive
  ``beta`` finite in the computation dtype, the output and all four
  gradients are finite, however large ``beta`` and however far a point lies
  from the map: every distance is taken relative to the nearest node's, so
  the largest logit is exactly 0.
* *Non-finite inputs.* NaN or infinity in ``points``, ``embedding`` or
  ``coords`` raises ``ValueError`` when the values are known when the op is
  called (Python and NumPy values, eager tensors, graph constants), as does
  a ``beta`` that is not positive and finite. Symbolic values (inside
  ``tf.function``) are not checked for NaN, which would cost a pass over
  the data: a non-finite point then gives NaN in its own output, a
  non-finite node or grid coordinate NaN in every output. A symbolic
  ``beta`` is checked at run time (``tf.errors.InvalidArgumentError``),
  except under XLA, which drops run-time assertions.
* *Float32 accuracy, highest precision.* Against a float64 evaluation *of
  the same float32 inputs*, the output agrees to a few float32 ulps of the
  logits that matter, ``2 eps32 + eps64 beta R``, for ``beta`` from 1e-4 to
  1e6 and data scales from 1e-6 to 1e4, with points on a node, on a Voronoi
  boundary and far from the map, and within 1e-5 on dense maps (many nodes
  close together compared with the map's extent). Gradients with respect to
  points, embedding and ``beta`` agree with float64 ones to 4e-6 of their
  largest entry; where many nodes share the weight (dense maps), 2e-5.
* *Float32 accuracy, fast path.* The product's rounding, about ``eps32 (R^2
  + 2 R |p - mu|)`` in a squared distance, divided by the distances, errs
  the logits by about ``eps32 beta kappa`` with ``kappa = (R^2 + 2 R |p -
  mu|) / (d_1 + d_2)`` (``d_1 <= d_2`` the point's distances to its two
  nearest nodes): about ``R`` for points far from the map, the map's extent
  over its node spacing among the nodes. Measured on the stress grid of
  ``tests/stress.py`` (the same as above; the numerical-stress appendix
  shows it): away from exact ties the output within 1.2e-6 of the range and
  gradients within 2e-5 of their largest entry; on exact ties (points on a
  Voronoi boundary, near the map or far from it) at ``beta`` times the data's
  scale of 1e2 and more the products cannot tell the tied nodes apart and
  the weight splits arbitrarily between them, up to 0.17 of the range in the
  output and errors of the order of the gradients themselves, which is also
  what rounding the data to float32 does there (*Float32 inputs are the
  limit*, below). On a dense 20 x
  20 map in 64-d (``kappa`` about 19), at ``beta`` times the node spacing
  from 0.1 to 100: the output within 3.3e-5 of the range, gradients with
  respect to points, embedding and coords within 2.7e-4 of their largest
  entry, with respect to ``beta`` within 2.3e-5 up to ``beta`` times the
  spacing 10 and 1.1e-2 at 100 (nearly one-hot weights).
* *Which path.* The fast one unless ``eps32 beta kappa`` matters: many
  nodes close together compared with the map's extent at ``beta`` times
  their spacing of 10 or more (dense maps; a pair of close nodes far from
  the map's centre), a trained ``beta`` at large ``beta``, or results to
  better than about 1e-5 of the range near ties. There ``"highest"`` keeps
  the bounds above, at about twice the time and with float64 arithmetic.
* *Float32 inputs are the limit.* Rounding data to float32 moves each
  distance by up to about ``eps32 * max|x|`` (``max|x|``: the largest
  coordinate magnitude of the point and nodes involved, uncentred). Within
  about ``1 / beta`` of a Voronoi boundary, where several nodes share the
  weight, the float32 result can therefore differ from the float64 *data*'s
  by up to ``beta * eps32 * max|x| / 2``: 1e-5 of the range needs
  ``beta * max|x| < ~170`` there. Away from boundaries the weights are
  one-hot and the result exact. The float32 output itself is rounded to
  ``eps32 / 2 * |output|``, which exceeds 1e-5 of the range only for
  ``coords`` offset from the origin by more than about 80 times their range.
* *Float64.* Highest precision: results agree with an exact evaluation to
  within 1e-9 of the range of ``coords`` over the same ranges of ``beta`` and
  scale. Fast path: ``2 eps64 + eps64 beta kappa``, at most 4.1e-7 on the
  stress grid (exact ties at ``beta`` times the scale of 1e10).
* *Memory.* ``O(B K)`` on both paths: the distances come from one ``[B, n] x
  [n, K]`` matrix product, and the working memory is a few ``[B, K]``
  matrices and ``[B, n]`` (highest: ``[B, min(K, 4), n]``) gathers; the
  ``[B, K, n]`` tensor of all difference vectors is never formed. The
  gradients are matrix products of the same sizes.
"""

import numbers

import numpy as np
import tensorflow as tf

__all__ = ["soft_som", "hard_som", "PRECISIONS"]

PRECISIONS = ("fast", "highest")
"""The values of ``soft_som``'s ``precision`` argument (and ``SoftSOM``'s)."""


def soft_som(points, embedding, coords, beta, precision="fast"):
    r"""Soft SOM: softmax-weighted grid coordinates of the nodes.

    .. math::

        \mathrm{soft\_som}(p) = \sum_v g_v\,
        \frac{\exp(-\beta \lVert p - l_v \rVert_2)}
             {\sum_u \exp(-\beta \lVert p - l_u \rVert_2)}

    Differentiable in all four arguments, with a closed-form backward pass
    (:mod:`softsom.ops` states the numerics it guarantees). As
    ``beta -> inf`` it tends to :func:`hard_som` away from Voronoi
    boundaries, as ``beta -> 0`` to the mean of ``coords``.

    Parameters
    ----------
    points : array_like or tf.Tensor, shape [..., n]
        Points to map; any number of leading batch dimensions, including none
        (shape ``[n]``) and empty ones (shape ``[0, n]``). Float dtype.
    embedding : array_like or tf.Tensor, shape [K, n]
        Node positions ``l_v`` in input space, ``K >= 1``. Float dtype.
    coords : array_like or tf.Tensor, shape [K, m]
        Node grid coordinates ``g_v``. Float dtype (cast integer grid indices
        first).
    beta : float or scalar tf.Tensor
        Inverse temperature, positive and finite in the computation dtype
        (at most 3.4e38 for float32 computation). A Python ``int`` or
        ``float`` is accepted; arrays and tensors must be floating point.
    precision : {"fast", "highest"}, default "fast"
        ``"fast"``: everything in the computation dtype (no float64 tensor
        for float32, float16 or bfloat16 points), logits accurate to about
        ``eps32 beta kappa``. ``"highest"``: the distance differences in
        float64 and the nearest nodes' distances from exact difference
        vectors, about twice the time. :mod:`softsom.ops` states what each
        guarantees and when to choose which.

    Returns
    -------
    tf.Tensor, shape [..., m]
        In the dtype of ``points``.

    Raises
    ------
    ValueError
        For a ``precision`` other than ``"fast"`` or ``"highest"``, wrong
        ranks or mismatched ``n`` / ``K`` (when the shapes are known when the
        op is built), ``K == 0``, a non-float dtype, NaN or
        infinity in ``points``, ``embedding`` or ``coords``, or a ``beta``
        that is not positive and finite, when the values are known (Python
        number, NumPy value, eager tensor, graph constant; symbolic values
        are not checked for NaN).
    tf.errors.InvalidArgumentError
        At run time, for a symbolic ``beta`` (e.g. inside ``tf.function``)
        that is not positive and finite, and for mismatched dimensions only
        known at run time. XLA (``jit_compile=True``) drops these run-time
        assertions; the static checks still apply.

    Notes
    -----
    Computation dtype: float64 for float64 ``points``, float32 otherwise
    (float16/bfloat16 points are computed in float32 and the result cast
    back). ``embedding``, ``coords`` and ``beta`` are cast to it. The fast
    path computes the distances in that dtype; the highest-precision path
    forms their differences in float64 whatever the dtype (see
    :mod:`softsom.ops` for the accuracy of each). Memory grows as ``B K``
    for ``B`` points, not ``B K n``, on both paths.
    """
    flat_op = _check_precision(precision)
    points, dtype = _check_points(points)
    embedding, coords, checks = _check_nodes(points, embedding, coords, dtype)
    _check_range(points, embedding, dtype)
    beta, beta_checks = _check_beta(beta, dtype)
    with tf.control_dependencies(checks + beta_checks):
        flat, batch_shape = _flatten(points, dtype, tf.shape(embedding)[1])
    out = flat_op(flat, embedding, coords, beta)
    return _unflatten(out, batch_shape, points, coords)


def hard_som(points, embedding, coords):
    r"""Classical SOM output: the grid coordinates of the nearest node.

    .. math::

        \mathrm{hard\_som}(p) = g_{v^*}, \quad
        v^* = \arg\min_v \lVert p - l_v \rVert_2

    Not differentiable in ``points`` or ``embedding`` (piecewise constant:
    TensorFlow returns ``None`` gradients for them); the gradient with
    respect to ``coords`` is that of a gather. Ties between equidistant
    nodes, and nodes closer to each other than float64 rounding of the
    squared distances can separate, are resolved arbitrarily.

    Parameters
    ----------
    points : array_like or tf.Tensor, shape [..., n]
        Points to map; any leading batch shape, including none or empty.
    embedding : array_like or tf.Tensor, shape [K, n]
        Node positions in input space, ``K >= 1``.
    coords : array_like or tf.Tensor, shape [K, m]
        Node grid coordinates.

    Returns
    -------
    tf.Tensor, shape [..., m]
        In the dtype of ``points``.

    Raises
    ------
    ValueError, tf.errors.InvalidArgumentError
        As for :func:`soft_som` (without ``beta``).
    """
    points, dtype = _check_points(points)
    embedding, coords, checks = _check_nodes(points, embedding, coords, dtype)
    _check_range(points, embedding, tf.float64)  # its squared distances are float64
    with tf.control_dependencies(checks):
        flat, batch_shape = _flatten(points, dtype, tf.shape(embedding)[1])
    out = tf.gather(coords, tf.argmin(_shifted_sq_dists(flat, embedding), axis=1))
    return _unflatten(out, batch_shape, points, coords)


# --- input checks --------------------------------------------------------


def _float_tensor(x, name, dtype=None):
    """``x`` as a tensor, which must have a floating-point dtype.

    With ``dtype``, NumPy and Python values are checked and converted straight
    to it, so that a float32 graph holds no float64 constant of them.
    """
    if dtype is not None and isinstance(x, (np.ndarray, np.generic, list, tuple)):
        try:
            value = np.asarray(x)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} must be a float array or tensor ({err})") from None
        if value.dtype.kind != "f":
            raise ValueError(f"{name} must have a floating-point dtype, got {value.dtype.name}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} contains NaN or infinity")
        with np.errstate(over="ignore"):  # overflow to infinity is reported by the finiteness check
            return tf.constant(value.astype(dtype.as_numpy_dtype))
    try:
        x = tf.convert_to_tensor(x)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a float array or tensor ({err})") from None
    if not x.dtype.is_floating:
        raise ValueError(f"{name} must have a floating-point dtype, got {x.dtype.name}")
    return x


def _check_finite(x, name):
    """Reject NaN or infinity in ``x`` where its value is known now (eager or NumPy inputs).

    Symbolic values go unchecked: a run-time check would cost a pass over the data.
    """
    value = tf.get_static_value(x)
    if value is not None and not np.all(np.isfinite(value)):
        raise ValueError(f"{name} contains NaN or infinity")


def _largest_value(dtype, n):
    """The largest coordinate magnitude the op guarantees for ``n`` features in ``dtype``.

    ``sqrt(max / (16 n))``, ``max`` the dtype's largest finite value (about
    4.6e18 / sqrt(n) for float32, 3.4e153 / sqrt(n) for float64): squared
    distances then stay within a quarter of ``max``.
    """
    return float(np.sqrt(np.finfo(tf.as_dtype(dtype).as_numpy_dtype).max / (16 * n)))


def _check_range(points, embedding, dtype):
    """Reject known ``points`` or ``embedding`` values whose squared distances would overflow ``dtype``."""
    n = embedding.shape[1]
    if not n:
        return
    limit = _largest_value(dtype, n)
    for x, name in ((points, "points"), (embedding, "embedding")):
        value = tf.get_static_value(x)
        largest = float(np.abs(value).max()) if value is not None and value.size else 0.0
        if largest > limit:
            raise ValueError(
                f"{name} values must be at most {limit:.3g} in magnitude ({dtype.name} computation, n = {n}), "
                f"so that squared distances fit; got {largest:.3g}: rescale the data (and beta inversely)"
            )


def _check_precision(precision):
    """The flat op of ``precision``, one of :data:`PRECISIONS`."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}; got {precision!r}")
    return _fast_soft_som_flat if precision == "fast" else _soft_som_flat


def _check_points(points):
    points = _float_tensor(points, "points")
    _check_finite(points, "points")
    if points.shape.rank == 0:
        raise ValueError("points must have rank >= 1 [..., n], got a scalar")
    dtype = tf.float64 if points.dtype == tf.float64 else tf.float32
    return points, dtype


def _matrix(x, name, dims, dtype=None):
    """``x`` as a float tensor of rank 2, checked at run time if its rank is unknown."""
    x = _float_tensor(x, name, dtype)
    message = f"{name} must be rank 2 {dims}, got shape {x.shape}"
    if x.shape.rank is None:
        with tf.control_dependencies([tf.debugging.assert_rank(x, 2, message=message)]):
            x = tf.identity(x)
        x.set_shape([None, None])
    elif x.shape.rank != 2:
        raise ValueError(message)
    _check_finite(x, name)
    return x


def _check_nodes(points, embedding, coords, dtype):
    """Validate embedding/coords against points; return them cast to ``dtype``.

    Static shapes are checked now; dimensions unknown until run time get
    ``tf.debugging`` assertions, returned for use as control dependencies.
    """
    embedding = _matrix(embedding, "embedding", "[K, n]", dtype)
    coords = _matrix(coords, "coords", "[K, m]", dtype)
    checks = []

    def require_equal(static_a, static_b, dynamic_a, dynamic_b, message):
        if static_a is None or static_b is None:
            checks.append(tf.debugging.assert_equal(dynamic_a, dynamic_b, message=message))
        elif static_a != static_b:
            raise ValueError(message)

    n_points = points.shape[-1] if points.shape.rank is not None else None
    emb_shape = embedding.shape.as_list()
    k_coords = coords.shape[0]
    require_equal(
        n_points,
        emb_shape[1],
        tf.shape(points)[-1],
        tf.shape(embedding)[1],
        f"points [..., n] and embedding [K, n] must have the same n, got shapes {points.shape} and {embedding.shape}",
    )
    require_equal(
        emb_shape[0],
        k_coords,
        tf.shape(embedding)[0],
        tf.shape(coords)[0],
        f"embedding [K, n] and coords [K, m] must have the same K, got shapes {embedding.shape} and {coords.shape}",
    )
    empty_map = f"embedding must have at least one node (K >= 1), got shape {embedding.shape}"
    if emb_shape[0] == 0:
        raise ValueError(empty_map)
    if emb_shape[0] is None:
        checks.append(tf.debugging.assert_positive(tf.shape(embedding)[0], message=empty_map))
    return tf.cast(embedding, dtype), tf.cast(coords, dtype), checks


def _check_beta_value(value, dtype):
    """Reject a known ``beta`` that is not positive and finite, also once rounded to ``dtype``."""
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"beta must be positive and finite, got {value}")
    # Finite in the computation dtype too: 1e39 is infinity in float32.
    if float(value) > float(np.finfo(dtype.as_numpy_dtype).max):
        raise ValueError(f"beta must be at most {np.finfo(dtype.as_numpy_dtype).max:.3g} ({dtype.name}), got {value}")
    if not dtype.as_numpy_dtype(value) > 0:
        raise ValueError(f"beta must not round to 0 in {dtype.name}, got {value}")


def _check_beta(beta, dtype):
    """Validate ``beta``; return it cast to ``dtype`` and any run-time assertions."""
    if isinstance(beta, numbers.Real) and not isinstance(beta, (bool, np.bool_)):
        # A plain Python int is a fine inverse temperature. Checked as a
        # float64, then a constant of the computation dtype straight away: no
        # float64 tensor in a float32 graph.
        _check_beta_value(float(beta), dtype)
        return tf.constant(float(beta), dtype), []
    beta = _float_tensor(beta, "beta")
    if beta.shape.rank != 0:
        raise ValueError(f"beta must be a scalar, got shape {beta.shape}")
    value = tf.get_static_value(beta)
    if value is not None:
        _check_beta_value(value, dtype)
        return tf.cast(beta, dtype), []
    valid = tf.logical_and(tf.math.is_finite(tf.cast(beta, dtype)), beta > 0)
    return tf.cast(beta, dtype), [tf.debugging.Assert(valid, ["beta must be positive and finite, got", beta])]


def _flatten(points, dtype, n):
    """``points`` as ``[B, n]`` in ``dtype``, and the leading batch shape (None if already ``[B, n]``).

    Called under the caller's control dependencies (its run-time checks),
    so it always creates an op.
    """
    if points.shape.rank == 2:
        # Nothing to reshape (nor to record on a gradient tape).
        return tf.identity(tf.cast(points, dtype)), None
    batch_shape = tf.shape(points)[:-1]
    flat = tf.reshape(tf.cast(points, dtype), tf.stack([tf.reduce_prod(batch_shape), n]))
    return flat, batch_shape


def _unflatten(out, batch_shape, points, coords):
    """``[B, m]`` back to ``[..., m]`` in the dtype of ``points``."""
    if batch_shape is not None:
        out = tf.reshape(out, tf.concat([batch_shape, tf.shape(coords)[1:]], axis=0))
    out.set_shape(points.shape[:-1].concatenate(coords.shape[1:]))
    return tf.cast(out, points.dtype)


# --- the computation -----------------------------------------------------


def _shifted_sq_dists(points, embedding):
    """``q[b, v] = ||p_b - l_v||^2 - ||p_b - mu||^2`` in float64, ``[B, K]``.

    One matrix product on data centred on the mean node ``mu``; float64
    because callers subtract nearly equal entries of ``q``.
    """
    p = tf.cast(points, tf.float64)
    nodes = tf.cast(embedding, tf.float64)
    mu = tf.reduce_mean(nodes, axis=0)
    nodes = nodes - mu
    return tf.matmul(p - mu, -2.0 * nodes, transpose_b=True) + tf.reduce_sum(nodes * nodes, axis=1)


def _norm_and_unit(x):
    """Euclidean norms ``[...]`` and unit vectors ``[..., n]`` along the last axis of ``x``.

    Vectors are scaled by their largest entry first, so tiny or huge
    differences neither underflow nor overflow when squared; zero vectors (and
    the empty ones of n = 0, whose max is -inf) give norm 0 and unit vector 0.
    """
    scale = tf.maximum(tf.reduce_max(tf.abs(x), axis=-1, keepdims=True), 0.0)
    x = x / tf.where(scale > 0, scale, tf.ones_like(scale))
    norm = tf.norm(x, axis=-1, keepdims=True)
    return tf.squeeze(scale * norm, axis=-1), x / tf.where(norm > 0, norm, tf.ones_like(norm))


# How many nearest nodes get exact distances (steps 2 and 3 in _forward):
# enough for a cluster of close nodes; the [B, k, n] differences stay small
# next to the [B, K] matrices.
NEAREST = 4


def _nearest_nodes(dq):
    """Indices ``[B, k]`` of the ``k = min(K, NEAREST)`` nodes of smallest ``dq >= 0``, nearest first.

    Selected on ``dq`` rounded to float32, where XLA's CPU ``top_k`` is a
    dedicated kernel (in float64 it sorts whole rows, far slower); ``dq >= 0``
    keeps its relative precision when rounded, so only near-ties may swap.
    """
    k = tf.minimum(tf.shape(dq)[1], NEAREST)
    return tf.math.top_k(-tf.cast(dq, tf.float32), k, sorted=True).indices


def _scatter_rows(matrix, columns, values):
    """``matrix`` ``[B, K]`` with ``matrix[b, columns[b, j]] = values[b, j]``."""
    rows = tf.broadcast_to(tf.range(tf.shape(columns)[0])[:, None], tf.shape(columns))
    return tf.tensor_scatter_nd_update(matrix, tf.stack([rows, columns], axis=-1), values)


# Forward and backward are XLA-compiled whatever the caller's mode (eager,
# tf.function or an outer jit_compile=True): XLA fuses the chains of
# elementwise [B, K] operations into single passes. reduce_retracing: a new
# batch size is compiled, but not traced into yet another graph each time.
_xla = tf.function(jit_compile=True, reduce_retracing=True, autograph=False)


@_xla
def _forward(points, embedding, coords, beta):
    r"""The output and what the backward pass reuses (see :func:`_soft_som_flat`).

    Written naively the formula breaks in floating point: ``exp`` underflows
    to ``0/0`` for points far from every node, the difference tensor
    ``p - l_v`` costs ``[B, K, n]`` memory, and distances from a matrix
    product lose all precision near a node. So, for a batch of ``B`` points:

    1. ``q_v = ||l_v - mu||^2 - 2 (p - mu) . (l_v - mu)``, i.e. ``d_v^2``
       minus ``||p - mu||^2``, by one ``[B, n] x [n, K]`` matrix product.
       ``mu`` is the mean node: distances are shift invariant, and centring
       keeps the products as small as the data's spread instead of its
       offset from the origin. The product and ``dq_v = q_v - min_u q_u >=
       0`` run in float64 even for float32 inputs: ``dq_v = d_v^2 -
       d_min^2`` is a small difference of large numbers wherever nodes are
       close together compared with the map's extent, and in float32 its
       rounding error (about ``eps32 R^2`` for a map of radius ``R``)
       exceeds a 1e-5 output tolerance on dense maps. (A split float32
       product, exact leading bits plus a correction, is as accurate but no
       faster.)
    2. The ``k = min(K, NEAREST)`` nearest nodes (smallest ``dq``) are
       gathered, ``[B, k, n]``, and their distances ``d_v = ||p - l_v||``
       computed exactly from the difference vectors, overflow/underflow-safe,
       so points on or very near a node are exact.
    3. The softmax only needs distances relative to the nearest node,
       ``e_v = d_v - d_min >= 0``. For the other nodes it comes without
       cancellation from the identity ``d_v^2 = d_min^2 + dq_v``::

           e_v = dq_v / (d_min + sqrt(d_min^2 + dq_v))

       (``0/0 := 0``: the point is on the node). There the absolute error of
       ``dq_v``, about ``eps64 R^2``, is divided by ``d_v``: harmless for
       nodes far from ``p``, but not for a cluster of close nodes on a wide
       map. For the ``k`` nearest nodes, ``dq_v = (l_min - l_v) . (2 p -
       l_min - l_v)`` is therefore recomputed in float64 from the nodes
       themselves, whose difference is exact, and ``e_v = dq_v / (d_min +
       d_v)`` with the exact distances. The logits ``-beta e_v`` are ``<= 0``
       and exactly ``0`` for the nearest node, so the softmax never sees
       ``0/0`` or overflow, whatever ``beta`` and however far the point is;
       and near-ties far from the map are resolved to the precision of the
       node spacing, not of the (large) distance.
    """
    dtype = points.dtype
    # dq = d_v^2 - d_min^2 >= 0 relative to the node of smallest q: the
    # cancellation happens here, in float64.
    q = _shifted_sq_dists(points, embedding)
    dq = q - tf.reduce_min(q, axis=1, keepdims=True)
    nearest = _nearest_nodes(dq)
    nodes = tf.gather(embedding, nearest)
    d_nearest, _ = _norm_and_unit(points[:, None, :] - nodes)
    d_min = d_nearest[:, :1]
    # The other nodes: e_v = d_v - d_min as the root of e^2 + 2 d_min e - dq
    # = 0 without cancellation.
    dq = tf.cast(dq, dtype)
    excess = tf.math.divide_no_nan(dq, d_min + tf.sqrt(d_min * d_min + dq))
    # The nearest ones: e_v = dq_v / (d_min + d_v) with dq_v = (l_min - l_v) .
    # (2 p - l_min - l_v) from the nodes themselves, in float64 (exact
    # differences of float32 data): no eps64 R^2 error from the centred
    # product, nor eps32 d from differencing two rounded distances. Clamped
    # at 0 where rounding of q misordered near-ties (the argmin of q did too).
    p64, nodes64 = tf.cast(points, tf.float64)[:, None, :], tf.cast(nodes, tf.float64)
    dq_nearest = tf.reduce_sum((nodes64[:, :1] - nodes64) * (2.0 * p64 - nodes64[:, :1] - nodes64), axis=2)
    e_nearest = tf.math.divide_no_nan(tf.maximum(tf.cast(dq_nearest, dtype), 0.0), d_min + d_nearest)
    excess = _scatter_rows(excess, nearest, e_nearest)
    # A softmax without its max subtraction: the logits -beta e are <= 0 and
    # exactly 0 at the nearest node, so exp never overflows and total >= 1.
    unnormalized = tf.exp(-beta * excess)
    total = tf.reduce_sum(unnormalized, axis=1, keepdims=True)
    # Centred coords: the output error is then relative to the coords' spread.
    coords_mean = tf.reduce_mean(coords, axis=0)
    out_c = tf.matmul(unnormalized, coords - coords_mean) / total
    return out_c + coords_mean, (excess, unnormalized, total, out_c, d_min, nearest)


@_xla
def _backward(upstream, points, embedding, coords, beta, saved):
    """Gradients with respect to points, embedding, coords and beta.

    With weights ``w = softmax(-beta d)`` ``[B, K]``, output ``o = w G``,
    upstream gradient ``U`` ``[B, m]`` and ``t_v = U . (g_v - o)``:

    * ``dL/dd_v = a_v = -beta w_v t_v`` and ``c_v = a_v / d_v``;
    * ``dL/dp = sum_v c_v (p - l_v) = (sum_v c_v) p - c L``;
    * ``dL/dl_v = -sum_b c_bv (p_b - l_v) = (sum_b c_bv) l_v - c^T P``;
    * ``dL/dbeta = -sum w t d = -sum w t e`` (as ``sum_v w_v t_v = 0``,
      which also removes the large common part ``d_min`` of far points);
    * ``dL/dG = w^T U``.

    The matrix-product forms run on centred data. The ``k`` nearest nodes'
    terms are taken out of them and added as ``a_v * unit(p - l_v)`` from
    the exact difference vectors, because there ``c_v`` is large and
    ``p - l_v`` small: the centred float32 products would lose
    ``eps32 |x - mu| / d_v`` of such a term. At a point exactly on a node the
    norm is not differentiable and the subgradient ``0`` is used for that
    node's term. The cancelling ``beta`` sum is accumulated in float64.
    """
    excess, unnormalized, total, out_c, d_min, nearest = saved
    dtype = points.dtype
    coords_c = coords - tf.reduce_mean(coords, axis=0)
    # t_v = U . (g_v - out). As a broadcast product over the m grid axes (not
    # a [B, m] x [m, K] matrix product) XLA fuses it into the [B, K] loops.
    upstream_out = tf.reduce_sum(upstream * out_c, axis=1, keepdims=True)
    t = tf.reduce_sum(upstream[:, None, :] * coords_c, axis=2) - upstream_out
    # dz = dL/dlogits = w t; a = dL/dd = -beta w t.
    dz = unnormalized * t / total
    # sum w t e cancels (sum_v w_v t_v = 0): accumulated in float64.
    d_beta = tf.cast(-tf.reduce_sum(tf.cast(dz, tf.float64) * tf.cast(excess, tf.float64)), dtype)
    a = -beta * dz
    # c_v = a_v / d_v for every node but the nearest ones, whose terms are
    # added from their exact unit vectors. Below `resolution` the centred
    # products cannot resolve the direction p - l_v: use the subgradient 0
    # as at d = 0 (also keeps c finite).
    mu = tf.reduce_mean(embedding, axis=0)
    points_c = points - mu
    nodes_c = embedding - mu
    resolution = np.finfo(dtype.as_numpy_dtype).eps * (
        tf.norm(points_c, axis=1, keepdims=True) + tf.reduce_max(tf.norm(nodes_c, axis=1))
    )
    dist = d_min + excess
    use = dist > resolution
    c = tf.where(use, a / tf.where(use, dist, tf.ones_like(dist)), tf.zeros_like(a))
    c = _scatter_rows(c, nearest, tf.zeros_like(nearest, dtype))
    # Recomputed rather than saved: [B, k, n] is cheap to rebuild.
    _, unit = _norm_and_unit(points[:, None, :] - tf.gather(embedding, nearest))
    nearest_terms = tf.gather(a, nearest, axis=1, batch_dims=1)[:, :, None] * unit
    d_points = (
        tf.reduce_sum(nearest_terms, axis=1)
        + tf.reduce_sum(c, axis=1, keepdims=True) * points_c
        - tf.matmul(c, nodes_c)
    )
    d_embedding = (
        tf.reduce_sum(c, axis=0)[:, None] * nodes_c
        - tf.matmul(c, points_c, transpose_a=True)
        - tf.math.unsorted_segment_sum(
            tf.reshape(nearest_terms, [-1, tf.shape(points)[1]]), tf.reshape(nearest, [-1]), tf.shape(embedding)[0]
        )
    )
    d_coords = tf.matmul(unnormalized, upstream / total, transpose_a=True)
    return d_points, d_embedding, d_coords, d_beta


@tf.custom_gradient
def _soft_som_flat(points, embedding, coords, beta):
    """``soft_som`` on ``points [B, n]``, all arguments in one float dtype."""
    # stop_gradient: under an eager GradientTape, TensorFlow would otherwise
    # compile a slower variant of _forward that also returns every
    # intermediate for its own gradient, which `grad` replaces.
    out, saved = _forward(*(tf.stop_gradient(x) for x in (points, embedding, coords, beta)))

    def grad(upstream):
        return _backward(upstream, points, embedding, coords, beta, saved)

    return out, grad


# --- the fast path (precision="fast") -------------------------------------
#
# Everything in the computation dtype (float32 for float32, float16 and
# bfloat16 points): one [B, n] x [n, K] product for the squared distances, the
# nearest node of each point by a row minimum and its distance from the exact
# difference vector, then single fused passes over [B, K]; the backward pass is
# two products of the same size, one [B, K] pass and a [B, n] scatter-add of
# the nearest nodes' terms. No top-k, no float64. (Non-finite symbolic inputs:
# XLA clamps the gathers' and skips the scatter's out-of-range indices, so NaN
# stays in the rows it belongs to, as documented.)


def _grid_products(upstream, coords_c):
    """``U_b . g_v`` ``[B, K]``: ``m`` broadcast products when ``m`` is static (XLA fuses them)."""
    m = coords_c.shape[1]
    if m is None:
        return tf.reduce_sum(upstream[:, None, :] * coords_c, axis=2)
    if m == 0:
        return tf.zeros([tf.shape(upstream)[0], tf.shape(coords_c)[0]], upstream.dtype)
    return tf.add_n([upstream[:, i : i + 1] * coords_c[None, :, i] for i in range(m)])


def _fast_excess(dq, d_min):
    """``e = d - d_min`` from ``dq = d^2 - d_min^2 >= 0`` without cancellation (``0/0 := 0``)."""
    root = tf.sqrt(d_min * d_min + dq)
    # The denominator is 0 only where dq is 0 too: the point is on the node.
    return dq / tf.maximum(d_min + root, np.finfo(dq.dtype.as_numpy_dtype).tiny), root


# Up to this many input dimensions, the fast path's squared distances come
# from the difference vectors, in one fused pass: exact to rounding, and faster
# than XLA's matrix product with so short a contraction.
DIRECT_DIMENSIONS = 4


def _fast_sq_dists(points, embedding):
    """``q[b, v] = ||p_b - l_v||^2`` up to a shift per point, ``[B, K]``, in the dtype of the inputs.

    For ``n > DIRECT_DIMENSIONS`` (or ``n`` unknown when traced), ``||l_v -
    mu||^2 - 2 (p_b - mu) . (l_v - mu)`` by one matrix product on data centred
    on the mean node ``mu`` (shifted by ``||p_b - mu||^2``), the squared norms
    as one more column of the product; otherwise the sum of the ``n`` squared
    coordinate differences.
    """
    n = points.shape[1]
    if n is not None and n <= DIRECT_DIMENSIONS:
        if n == 0:
            return tf.zeros([tf.shape(points)[0], tf.shape(embedding)[0]], points.dtype)
        return tf.add_n([tf.square(points[:, i : i + 1] - embedding[None, :, i]) for i in range(n)])
    mu = tf.reduce_mean(embedding, axis=0)
    nodes_c = embedding - mu
    # [p - mu, 1] [-2 (l - mu), ||l - mu||^2]^T: the squared norms ride in the
    # product, which then writes q in one pass (no separate broadcast add).
    left = tf.concat([points - mu, tf.ones_like(points[:, :1])], axis=1)
    right = tf.concat([-2.0 * nodes_c, tf.reduce_sum(nodes_c * nodes_c, axis=1, keepdims=True)], axis=1)
    return tf.matmul(left, right, transpose_b=True)


@_xla
def _fast_forward(points, embedding, coords, beta):
    r"""The output and what :func:`_fast_backward` reuses; all in the dtype of ``points``.

    1. ``q_v = ||l_v - mu||^2 - 2 (p - mu) . (l_v - mu)`` (``d_v^2`` minus
       ``||p - mu||^2``) by one matrix product on data centred on the mean
       node ``mu`` (for ``n <= DIRECT_DIMENSIONS``: ``d_v^2`` from the
       differences); ``dq_v = q_v - min_u q_u >= 0``.
    2. The nearest node (smallest ``q``; the first of exact ties) and its
       distance ``d_min`` from the exact difference vector, so that points on
       or very near a node keep their precision.
    3. ``e_v = d_v - d_min = dq_v / (d_min + sqrt(d_min^2 + dq_v))`` without
       cancellation: the logits ``-beta e_v`` are ``<= 0`` and exactly 0 at
       the nearest node, so the softmax never overflows nor divides 0 by 0.
       The rounding of ``dq`` (about ``eps (|p - mu| + R) R`` for a map of
       extent ``R``) is what limits the accuracy (see :func:`soft_som`).
    4. Output and normaliser from one product of the weights with
       ``[coords - mean(coords), 1]``.
    """
    q = _fast_sq_dists(points, embedding)
    q_min = tf.reduce_min(q, axis=1, keepdims=True)
    # The first node attaining the minimum: a plain (vectorised) min over
    # indices, several times faster than XLA's argmin on the CPU.
    k = tf.shape(q)[1]
    index = tf.cast(tf.range(k), q.dtype)
    nearest = tf.cast(tf.reduce_min(tf.where(q <= q_min, index[None, :], tf.cast(k, q.dtype)), axis=1), tf.int32)
    # A plain norm: squares cannot overflow in the checked range, and one that
    # underflows (a point within 1e-19 of its node) changes no logit.
    d_min = tf.norm(points - tf.gather(embedding, nearest), axis=1, keepdims=True)
    excess, _ = _fast_excess(tf.maximum(q - q_min, 0.0), d_min)
    unnormalized = tf.exp(-beta * excess)
    coords_mean = tf.reduce_mean(coords, axis=0)
    sums = tf.matmul(unnormalized, tf.concat([coords - coords_mean, tf.ones_like(coords[:, :1])], axis=1))
    inverse_total = 1.0 / sums[:, -1:]  # total >= 1: the nearest node's term is exp(0)
    out_c = sums[:, :-1] * inverse_total
    return out_c + coords_mean, (q, q_min, unnormalized, inverse_total, out_c, d_min, nearest)


@_xla
def _fast_backward(upstream, points, embedding, coords, beta, saved):
    """Gradients with respect to points, embedding, coords and beta (see :func:`_backward` for the formulas).

    ``c_v = -beta w_v t_v / d_v`` in one pass over ``[B, K]`` (``d_v`` from
    the saved ``q``), then ``dL/dp`` and ``dL/dl`` from two matrix products
    with ``[nodes, 1]`` and ``[points, 1]`` (the extra column gives the sums
    of ``c``). The nearest node's term comes from its exact unit vector, as
    in the highest-precision path; ``dL/dbeta = -sum w t e``.
    """
    q, q_min, unnormalized, inverse_total, out_c, d_min, nearest = saved
    dtype = points.dtype
    coords_c = coords - tf.reduce_mean(coords, axis=0)
    upstream_out = tf.reduce_sum(upstream * out_c, axis=1, keepdims=True)
    mu = tf.reduce_mean(embedding, axis=0)
    points_c = points - mu
    nodes_c = embedding - mu
    # Below `resolution` the products cannot resolve the direction p - l_v:
    # the subgradient 0 is used, as at d = 0.
    resolution = np.finfo(dtype.as_numpy_dtype).eps * (
        tf.norm(points_c, axis=1, keepdims=True) + tf.reduce_max(tf.norm(nodes_c, axis=1))
    )
    excess, dist = _fast_excess(tf.maximum(q - q_min, 0.0), d_min)
    # The nearest node is left out: its term is added from the exact
    # difference vector below.
    not_nearest = tf.range(tf.shape(q)[1])[None, :] != nearest[:, None]
    use = tf.logical_and(not_nearest, dist > resolution)
    t = _grid_products(upstream, coords_c) - upstream_out
    dz = inverse_total * unnormalized * t  # dL/dlogits = w t; a = dL/dd = -beta w t
    c = tf.where(use, -beta * dz / tf.where(use, dist, tf.ones_like(dist)), tf.zeros_like(dz))
    # Row sums by a product with a column of ones: XLA's CPU backend runs it
    # faster than the reduction of the whole [B, K] matrix.
    d_beta = -tf.reduce_sum(tf.matmul(dz * excess, tf.ones_like(coords[:, :1])))
    by_nodes = tf.matmul(c, tf.concat([nodes_c, tf.ones_like(nodes_c[:, :1])], axis=1))
    # As ([points, 1]^T c)^T: XLA's CPU product is faster with the thin factor first.
    by_points = tf.transpose(
        tf.matmul(tf.concat([points_c, tf.ones_like(points_c[:, :1])], axis=1), c, transpose_a=True)
    )
    _, unit = _norm_and_unit(points - tf.gather(embedding, nearest))
    t_nearest = tf.reduce_sum(upstream * tf.gather(coords_c, nearest), axis=1, keepdims=True) - upstream_out
    nearest_terms = (-beta * inverse_total * t_nearest) * unit
    d_points = nearest_terms + by_nodes[:, -1:] * points_c - by_nodes[:, :-1]
    d_embedding = (
        by_points[:, -1:] * nodes_c
        - by_points[:, :-1]
        - tf.math.unsorted_segment_sum(nearest_terms, nearest, tf.shape(embedding)[0])
    )
    d_coords = tf.transpose(tf.matmul(upstream * inverse_total, unnormalized, transpose_a=True))
    return d_points, d_embedding, d_coords, d_beta


@tf.custom_gradient
def _fast_soft_som_flat(points, embedding, coords, beta):
    """``soft_som(..., precision="fast")`` on ``points [B, n]``, all arguments in one float dtype."""
    out, saved = _fast_forward(*(tf.stop_gradient(x) for x in (points, embedding, coords, beta)))

    def grad(upstream):
        return _fast_backward(upstream, points, embedding, coords, beta, saved)

    return out, grad
