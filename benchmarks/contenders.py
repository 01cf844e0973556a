"""The computations the op benchmarks time and measure: ours (both paths), a matrix product, a broadcast.

Every contender is a forward (and backward) pass on the same float32 inputs;
the loss is the sum of the output, so the upstream gradient is all ones. The
fwd+bwd contenders return the loss with the gradients: otherwise graph
optimisation drops the forward matrix product of the matmul, whose gradients
do not need its output. ``soft_som`` runs as ``precision="fast"`` (the
default) and ``"highest"``, each eagerly, in ``tf.function`` and in
``tf.function(jit_compile=True)``; its gradients are taken with respect to
all four arguments.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf

from softsom.ops import soft_som

__all__ = ["CONTENDERS", "OURS", "PRECISION_OF", "op_inputs", "build", "broadcast_bytes"]

BETA = 1.0  # inverse temperature; the cost of the op does not depend on it


def op_inputs(shape, seed=0):
    """float32 inputs of shape (B, K, n): points, node embedding, 2-d grid coordinates, beta."""
    batch, nodes, dim = shape
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(nodes)))
    coords = np.stack(np.unravel_index(np.arange(nodes), (side, side)), axis=1)
    return {
        "points": tf.constant(rng.normal(size=(batch, dim)), tf.float32),
        "embedding": tf.constant(rng.normal(size=(nodes, dim)), tf.float32),
        "coords": tf.constant(coords, tf.float32),
        "beta": tf.constant(BETA, tf.float32),
    }


def broadcast_bytes(shape):
    """Size of the broadcast contender's [B, K, n] float32 difference tensor."""
    batch, nodes, dim = shape
    return 4 * batch * nodes * dim


def _loss_and_gradients(function, *args):
    with tf.GradientTape() as tape:
        tape.watch(args)
        loss = tf.reduce_sum(function(*args))
    return loss, tape.gradient(loss, args)


def _broadcast_soft_som(points, embedding, coords, beta):
    """The straightforward formula: [B, K, n] differences, their norms, a softmax."""
    distances = tf.norm(points[:, None, :] - embedding[None], axis=-1)
    return tf.matmul(tf.nn.softmax(-beta * distances, axis=1), coords)


def _matmul(points, embedding):
    return tf.matmul(points, embedding, transpose_b=True)


def _fast_fwd_bwd(points, embedding, coords, beta):
    return _loss_and_gradients(functools.partial(soft_som, precision="fast"), points, embedding, coords, beta)


def _highest_fwd_bwd(points, embedding, coords, beta):
    return _loss_and_gradients(functools.partial(soft_som, precision="highest"), points, embedding, coords, beta)


def _matmul_fwd_bwd(points, embedding):
    return _loss_and_gradients(_matmul, points, embedding)


def _broadcast_fwd_bwd(points, embedding, coords, beta):
    return _loss_and_gradients(_broadcast_soft_som, points, embedding, coords, beta)


_OP_ARGUMENTS = ("points", "embedding", "coords", "beta")
_MODES = {"eager": "eager", "function": "tf.function", "jit": "tf.function(jit_compile=True)"}

# name: (function, its arguments, how it runs, description)
CONTENDERS = {
    f"{precision}_{mode}": (function, _OP_ARGUMENTS, mode, f"soft_som fwd+bwd, {precision}, {described}")
    for precision, function in (("fast", _fast_fwd_bwd), ("highest", _highest_fwd_bwd))
    for mode, described in _MODES.items()
}
CONTENDERS.update(
    {
        "matmul_fwd": (_matmul, ("points", "embedding"), "function", "matmul [B,n]x[n,K] fwd"),
        "matmul_fwd_bwd": (_matmul_fwd_bwd, ("points", "embedding"), "function", "matmul [B,n]x[n,K] fwd+bwd"),
        "broadcast": (
            _broadcast_fwd_bwd,
            ("points", "embedding", "coords", "beta"),
            "function",
            "broadcast soft SOM fwd+bwd, tf.function",
        ),
    }
)
OURS = tuple(name for name in CONTENDERS if name.startswith(("fast_", "highest_")))
"""The soft_som contenders: fast_eager, fast_function, fast_jit, highest_eager, ..."""
PRECISION_OF = {name: name.split("_")[0] for name in OURS}


def build(name, inputs):
    """A no-argument callable running contender ``name`` on ``inputs`` (from :func:`op_inputs`)."""
    if name not in CONTENDERS:
        raise ValueError(f"contender must be one of {sorted(CONTENDERS)}; got {name!r}")
    function, arg_names, runs, _ = CONTENDERS[name]
    if runs != "eager":
        function = tf.function(function, jit_compile=runs == "jit")
    args = [inputs[arg] for arg in arg_names]
    return lambda: function(*args)
