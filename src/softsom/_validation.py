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
    "as_real_array",
    "RealNumberError",
    "FLOAT32",
]

# The computation dtype of the Kohonen rules and of the layer by default.
FLOAT32 = np.finfo(np.float32)


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
    argument was wrong. A bool is not a seed (NumPy would take ``True`` as 1).
    """
    if isinstance(seed, (bool, np.bool_)):
        raise ValueError(f"{name} must be None, a non-negative int or a numpy Generator; got the bool {seed!r}")
    try:
        return np.random.default_rng(seed)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{name} must be None, a non-negative int or a numpy Generator; got {seed!r} ({err})"
        ) from None


def check_pair(name, value, upper=None, lower=None):
    """Validate a (start, end) schedule of positive floats.

    Both values must lie in ``[lower, upper]`` (default: positive and at most
    float32's largest value, the schedules' computation dtype), so that
    neither rounds to 0 or infinity there. Strings, bools and anything that
    is not two real numbers are rejected.
    """
    try:
        if isinstance(value, (str, bytes)) or any(isinstance(v, (bool, np.bool_, str, bytes)) for v in value):
            raise TypeError
        start, end = (_real(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (start, end) pair of floats; got {value!r}") from None
    top = float(FLOAT32.max) if upper is None else upper
    for v in (start, end):
        if not np.isfinite(v) or v <= 0 or v > top or (lower is not None and v < lower):
            low = "(0" if lower is None else f"[{lower:.3g}"
            raise ValueError(f"{name} values must be in {low}, {top:.3g}]; got {value!r}")
    return start, end


def _real(value):
    """``value`` as a float if it is a real number (NumPy scalars included), else TypeError."""
    if not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError
    return float(value)


class RealNumberError(ValueError, TypeError):
    """An array of objects holding an element that is not a number.

    A ValueError, as every argument check of the package raises, and a
    TypeError, as scikit-learn's estimator checks expect for data of the
    wrong type.
    """


# Object elements rejected even though NumPy would read them: it parses
# strings and bytes of digits, takes bools as 0 and 1 and None as NaN.
_NOT_NUMBERS = (str, bytes, bool, np.bool_, complex, np.complexfloating, type(None))


def as_real_array(name, value, dtype=np.float64, objects=False):
    """``value`` as an array of real numbers in ``dtype``, or a ValueError naming ``name``.

    Ragged nested lists, strings (even of digits), bytes, objects, complex
    numbers and bools are rejected with a message that names ``name``,
    where NumPy would raise an anonymous error, parse strings, or drop an
    imaginary part with a mere warning. ``objects``: an array of dtype object
    is accepted if every element is a real number (not a bool, string or
    complex number), as scikit-learn estimators accept; an element NumPy
    cannot read as a number raises :class:`RealNumberError`.
    """
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{name} must be an array of real numbers; got a value NumPy cannot read as one ({err})"
        ) from None
    if objects and array.dtype.kind == "O":
        odd = [v for v in array.flat if isinstance(v, _NOT_NUMBERS)][:1]
        if odd:
            raise ValueError(f"{name} must be an array of real numbers; got objects, among them {odd[0]!r}")
        try:
            return array.astype(dtype)
        except (TypeError, ValueError) as err:
            raise RealNumberError(
                f"{name} must be an array of real numbers; got objects NumPy cannot read as numbers ({err})"
            ) from None
    if array.dtype.kind == "c":
        # scikit-learn's estimator checks look for "Complex data not supported".
        raise ValueError(
            f"{name} must be an array of real numbers; got complex numbers (dtype {array.dtype}): "
            "Complex data not supported"
        )
    if array.dtype.kind not in "iuf":
        kind = {"b": "bools", "c": "complex numbers", "U": "strings", "S": "bytes", "O": "objects"}.get(
            array.dtype.kind, f"dtype {array.dtype}"
        )
        raise ValueError(f"{name} must be an array of real numbers; got {kind} (dtype {array.dtype})")
    return array.astype(dtype)
