"""Interleaved wall-clock timing: contenders share the machine's noise round by round."""

from __future__ import annotations

import time

import numpy as np

__all__ = ["interleaved_times", "ratios"]


def interleaved_times(contenders, repeats, warmup):
    """Seconds per call of every contender, measured in interleaved rounds.

    Each round calls every contender once, in an order rotated from round to
    round so that none always runs right after the same other one. The first
    ``warmup`` rounds (tracing, XLA compilation, allocator growth) are not
    timed. On the CPU, TensorFlow runs eagerly and synchronously, so a call
    has finished its work when it returns.

    Parameters
    ----------
    contenders : dict of str to callable
        No-argument callables.
    repeats, warmup : int
        Timed and untimed rounds.

    Returns
    -------
    dict of str to list of float
        ``repeats`` times per contender; entry ``i`` of every list comes from round ``i``.
    """
    names = list(contenders)
    times = {name: [] for name in names}
    for round_index in range(warmup + repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            contenders[name]()
            elapsed = time.perf_counter() - start
            if round_index >= warmup:
                times[name].append(elapsed)
    return times


def ratios(numerator, denominator):
    """Round-by-round ratios of two lists of times from :func:`interleaved_times`."""
    return list(np.asarray(numerator) / np.asarray(denominator))
