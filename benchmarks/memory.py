"""Peak memory of one op contender, run alone: ``python -m benchmarks.memory NAME B K n REPEATS``.

Prints one JSON line with two measurements:

``rss_peak_bytes``
    Peak resident set size over the first call (tracing and XLA compilation
    included) and ``REPEATS`` more, minus the resident size once TensorFlow
    is imported and the inputs exist. Linux: the peak is reset to the current
    size through ``/proc/self/clear_refs`` and read from ``/proc/self/status``.
``allocator_peak_bytes``
    Per repeated call, the peak of TensorFlow's CPU allocator during the call
    minus its use just before: the working memory of one training step,
    without the compiler's memory and whatever the allocator keeps cached
    between calls.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import tensorflow as tf

from softsom._validation import check_positive_int

from .contenders import build, op_inputs

DEVICE = "CPU:0"


def _resident_bytes(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return 1024 * int(line.split()[1])  # reported in KiB
    raise RuntimeError(f"/proc/self/status has no {field} line")


def measure(call, repeats):
    """``{"rss_peak_bytes": int, "allocator_peak_bytes": [int] * repeats}`` of ``call``."""
    Path("/proc/self/clear_refs").write_text("5")  # peak (VmHWM) := current size (VmRSS)
    baseline = _resident_bytes("VmRSS")
    call()
    allocator_peaks = []
    for _ in range(repeats):
        tf.config.experimental.reset_memory_stats(DEVICE)
        before = tf.config.experimental.get_memory_info(DEVICE)["current"]
        call()
        allocator_peaks.append(tf.config.experimental.get_memory_info(DEVICE)["peak"] - before)
    return {"rss_peak_bytes": _resident_bytes("VmHWM") - baseline, "allocator_peak_bytes": allocator_peaks}


def _positive_int(name, text):
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be a positive int; got {text!r}") from None
    return check_positive_int(name, value)


def main(argv):
    if len(argv) != 5:
        raise ValueError(f"usage: python -m benchmarks.memory NAME B K n REPEATS; got {argv!r}")
    name = argv[0]
    shape = tuple(_positive_int(arg, value) for arg, value in zip(("B", "K", "n"), argv[1:4]))
    repeats = _positive_int("REPEATS", argv[4])
    call = build(name, op_inputs(shape))
    print(json.dumps(measure(call, repeats)))


if __name__ == "__main__":
    main(sys.argv[1:])
