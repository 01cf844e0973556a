"""Argument checks shared by the package: each raises ValueError naming the argument."""

from __future__ import annotations

import math
import numbers

__all__ = ["is_int", "check_positive_int", "check_positive_number"]


def is_int(value):
    """An integer, but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_int(name, value):
    """Return ``value`` as an int >= 1, or raise ValueError naming ``name``."""
    if not is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return int(value)


def check_positive_number(name, value):
    """Return ``value`` as a positive finite float, or raise ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (0 < value < math.inf):
        raise ValueError(f"{name} must be a positive finite number; got {value!r}")
    return float(value)
