"""Soft SOM op benchmarks: both paths' time against a matrix product and a broadcast, and peak memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmarks.schema import figure, skipped_figure

from .contenders import CONTENDERS, OURS, PRECISION_OF, broadcast_bytes, build, op_inputs
from .timing import interleaved_times, ratios

__all__ = ["time_figures", "memory_figures", "floor_target", "HIGHEST_BEFORE"]

# Like for like: a Dense layer's forward and backward (its product and the
# product's two backward products). Issue 13's targets for the fast path: at
# most 2x at the ratio shape (4096, 400, 64), at most 2.5x at every shape.
FAST_FLOOR_AT_RATIO_SHAPE = 2.0
FAST_FLOOR = 2.5
# The highest-precision path is the op as it was before issue 13: its target is
# to be no slower than then, as a multiple of the same matrix product. These
# are the medians of results/bench.json at commit 55b7ca4 (measured on
# 2026-11-28 on the 2-core build machine, from commit 25c8c9e), per shape and
# way of running.
HIGHEST_BEFORE = {
    "4096x400x64": {"eager": 9.37, "function": 7.08, "jit": 6.19},
    "1024x4096x256": {"eager": 3.79, "function": 3.45, "jit": 3.42},
    "65536x100x2": {"eager": 11.21, "function": 10.1, "jit": 9.78},
    "256x10000x32": {"eager": 7.88, "function": 6.01, "jit": 5.54},
}
BROADCAST_TARGET = (">=", 20.0, "broadcast")
# Ours keeps a few [B, K] arrays alive (distances, weights, their gradient); a
# [B, K, n] tensor alone would be n of them.
MEMORY_TARGET = ("<=", 16.0, "4 B K bytes")
MIB = 2**20
ROOT = Path(__file__).resolve().parents[1]


def _label(shape):
    return "x".join(str(size) for size in shape)


def _too_large(shape, settings):
    size = broadcast_bytes(shape)
    if size > settings.broadcast_limit_bytes:
        return (
            f"its [B,K,n] float32 tensor would take {size / 2**30:.1f} GiB "
            f"(limit {settings.broadcast_limit_bytes / 2**30:.1f} GiB)"
        )
    return None


def floor_target(name, shape, settings):
    """The target of contender ``name``'s ratio to the matmul forward + backward at ``shape``, or None.

    Fast path: :data:`FAST_FLOOR_AT_RATIO_SHAPE` at the ratio shape,
    :data:`FAST_FLOOR` elsewhere. Highest precision: its ratio before issue
    13 (:data:`HIGHEST_BEFORE`), at the shapes that were measured then.
    """
    mode = CONTENDERS[name][2]
    if PRECISION_OF[name] == "fast":
        bound = FAST_FLOOR_AT_RATIO_SHAPE if shape == settings.ratio_shape else FAST_FLOOR
        return ("<=", bound, "matmul_fwd_bwd")
    before = HIGHEST_BEFORE.get(_label(shape), {}).get(mode)
    if before is None:
        return None
    return ("<=", before, "matmul_fwd_bwd ratio before issue 13")


def time_figures(settings):
    """Times of every contender at every shape, and the ratios that have targets."""
    figures = []
    for shape in settings.op_shapes:
        label = _label(shape)
        section = f"op {label} (B x K x n)"
        inputs = op_inputs(shape)
        skip_broadcast = _too_large(shape, settings)
        names = [name for name in CONTENDERS if not (name == "broadcast" and skip_broadcast)]
        times = interleaved_times({name: build(name, inputs) for name in names}, settings.repeats, settings.warmup)
        for name in CONTENDERS:
            description = f"{CONTENDERS[name][3]}: time"
            if name in times:
                figures.append(
                    figure(f"op/{label}/{name}/time", section, description, "ms", [1e3 * t for t in times[name]])
                )
            else:
                figures.append(skipped_figure(f"op/{label}/{name}/time", section, description, "ms", skip_broadcast))
        for name in OURS:
            what = CONTENDERS[name][3]
            figures.append(
                figure(
                    f"op/{label}/{name}/ratio_to_matmul_fwd_bwd",
                    section,
                    f"{what} / matmul fwd+bwd",
                    "x",
                    ratios(times[name], times["matmul_fwd_bwd"]),
                    target=floor_target(name, shape, settings),
                )
            )
            figures.append(
                figure(
                    f"op/{label}/{name}/ratio_to_matmul_fwd",
                    section,
                    f"{what} / matmul fwd only",
                    "x",
                    ratios(times[name], times["matmul_fwd"]),
                )
            )
            fast = PRECISION_OF[name] == "fast"
            target = BROADCAST_TARGET if shape == settings.ratio_shape and fast else None
            fig_id = f"op/{label}/{name}/speedup_over_broadcast"
            description = f"speed-up of {what} over broadcast"
            if skip_broadcast:
                figures.append(skipped_figure(fig_id, section, description, "x", skip_broadcast, target))
            else:
                figures.append(
                    figure(fig_id, section, description, "x", ratios(times["broadcast"], times[name]), target=target)
                )
    return figures


def _peak_memory(names, shape, repeats):
    """Per contender, :func:`benchmarks.memory.measure`'s figures, each from a fresh process.

    Memory is per process, so the processes run at the same time.
    """
    processes = {
        name: subprocess.Popen(
            [sys.executable, "-m", "benchmarks.memory", name, *map(str, shape), str(repeats)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for name in names
    }
    measured = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"memory measurement of {name} at {shape} failed:\n{stderr}")
        measured[name] = json.loads(stdout.strip().splitlines()[-1])
    return measured


def memory_figures(settings):
    """Peak memory of ours (both paths), the matmul and the broadcast, each in its own process.

    Two measures: the process's peak resident memory (compilation included;
    the target applies to it) and TensorFlow's allocator peak per call.
    """
    shape = settings.memory_shape
    label = _label(shape)
    section = f"peak memory {label} (B x K x n)"
    batch_by_nodes = 4 * shape[0] * shape[1]
    names = ("fast_function", "highest_function", "matmul_fwd_bwd", "broadcast")
    skips = {name: _too_large(shape, settings) if name == "broadcast" else None for name in names}
    measured = _peak_memory([name for name in names if not skips[name]], shape, settings.repeats)
    figures = []
    for name in names:
        for key, what, target in (
            ("rss_peak", "peak resident memory", MEMORY_TARGET if name in OURS else None),
            ("allocator_peak", "TF allocator peak per call", None),
        ):
            description = f"{CONTENDERS[name][3]}: {what}"
            fig_id = f"memory/{label}/{name}/{key}"
            per_bk = (f"{fig_id}_per_bk", section, f"{description} / (4 B K bytes)", "x")
            if skips[name]:
                figures.append(skipped_figure(fig_id, section, description, "MiB", skips[name]))
                figures.append(skipped_figure(*per_bk, skips[name], target))
                continue
            values = np.ravel(measured[name][f"{key}_bytes"])  # one peak per process, or one per call
            figures.append(figure(fig_id, section, description, "MiB", values / MIB))
            figures.append(figure(*per_bk, values / batch_by_nodes, target=target))
    return figures
