"""Argument checks shared by the package: each raises ValueError naming the argument."""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "is_int",
    "check_positive_int",
    "check_positive_number",
    "check_non_negative_number",
    "rng_from_seed",
    "check_pair",
]


def is_int(value):
    """An integer, but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_int(name, value):
    """Return ``value`` as an int >= 1, or raise ValueError naming ``name``."""
    if not is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return int(value)


def _check_real(name, value, requirement, accept):
    """Return ``value`` as a float if it is a real number (not a bool) that ``accept``s."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not accept(value):
        raise ValueError(f"{name} must be {requirement}; got {value!r}")
    return float(value)


def check_positive_number(name, value):
    """Return ``value`` as a positive finite float, or raise ValueError naming ``name``."""
    return _check_real(name, value, "a positive finite number", lambda v: 0 < v < math.inf)


def check_non_negative_number(name, value):
    """Return ``value`` as a finite float >= 0, or raise ValueError naming ``name``."""
    return _check_real(name, value, "a finite number >= 0", lambda v: 0 <= v < math.inf)


def rng_from_seed(name, seed):
    """``np.random.default_rng(seed)``, or a ValueError naming ``name`` for a seed it rejects.

    NumPy's own errors (a TypeError from ``SeedSequence`` for ``"abc"`` or
    ``1.5``, "expected non-negative integer" for ``-1``) do not say which
    argument was wrong.
    """
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{name} must be None, a non-negative int or a numpy Generator; got {seed!r} ({err})"
        ) from None


def check_pair(name, value, upper=None):
    """Validate a (start, end) schedule of positive floats."""
    try:
        start, end = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (start, end) pair of floats; got {value!r}") from None
    for v in (start, end):
        if not np.isfinite(v) or v <= 0 or (upper is not None and v > upper):
            bound = f"in (0, {upper}]" if upper is not None else "positive and finite"
            raise ValueError(f"{name} values must be {bound}; got {value!r}")
    return start, end
