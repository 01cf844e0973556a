"""How the op's cost grows with B, K and n: both paths against a Dense layer's forward + backward.

One size varies at a time around ``settings.scaling_base`` (the other two
fixed), and at every size the fast path, the highest-precision path and the
matrix product with its backward pass (what a Dense layer of the same shape
costs) are timed in interleaved rounds, all in ``tf.function``.
"""

from __future__ import annotations

from benchmarks.schema import figure

from .contenders import CONTENDERS, build, op_inputs
from .timing import interleaved_times, ratios

__all__ = ["SCALING_CONTENDERS", "AXES", "scaling_shapes", "scaling_figures"]

SCALING_CONTENDERS = ("fast_function", "highest_function", "matmul_fwd_bwd")
AXES = ("B", "K", "n")


def _label(shape):
    return "x".join(str(size) for size in shape)


def scaling_shapes(settings):
    """``[(axis, size, (B, K, n)), ...]``: every point of the sweeps, axis by axis."""
    points = []
    for axis, sizes in settings.scaling_sizes:
        if axis not in AXES:
            raise ValueError(f"scaling axis must be one of {AXES}; got {axis!r}")
        for size in sizes:
            shape = list(settings.scaling_base)
            shape[AXES.index(axis)] = size
            points.append((axis, size, tuple(shape)))
    return points


def scaling_figures(settings):
    """Per sweep point: every contender's time and ours' ratio to the matrix product's.

    Figure ids read ``scaling/<axis>/<B>x<K>x<n>/<contender>/<metric>``, with
    metric ``time`` (ms) or ``ratio_to_matmul_fwd_bwd``; the section names
    the axis (see :func:`benchmarks.schema.scaling_series`).
    """
    figures = []
    base = dict(zip(AXES, settings.scaling_base))
    for axis, size, shape in scaling_shapes(settings):
        fixed = ", ".join(f"{name} = {value}" for name, value in base.items() if name != axis)
        section = f"scaling in {axis} ({fixed})"
        label = _label(shape)
        inputs = op_inputs(shape)
        times = interleaved_times(
            {name: build(name, inputs) for name in SCALING_CONTENDERS},
            settings.scaling_repeats,
            settings.scaling_warmup,
        )
        for name in SCALING_CONTENDERS:
            what = CONTENDERS[name][3]
            figures.append(
                figure(
                    f"scaling/{axis}/{label}/{name}/time",
                    section,
                    f"{what}, {axis} = {size}: time",
                    "ms",
                    [1e3 * t for t in times[name]],
                )
            )
        for name in SCALING_CONTENDERS[:2]:
            what = CONTENDERS[name][3]
            figures.append(
                figure(
                    f"scaling/{axis}/{label}/{name}/ratio_to_matmul_fwd_bwd",
                    section,
                    f"{what}, {axis} = {size} / matmul fwd+bwd",
                    "x",
                    ratios(times[name], times["matmul_fwd_bwd"]),
                )
            )
    return figures
