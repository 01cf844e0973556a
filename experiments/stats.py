"""Statistics of paired runs: means with Student-t intervals and paired differences."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["summary", "paired_difference", "holm"]


def summary(values, confidence=0.95):
    """Mean, sample standard deviation and Student-t confidence interval of the mean."""
    values = np.asarray([v for v in values if v is not None], dtype=np.float64)
    n = len(values)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "ci_low": None, "ci_high": None}
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if n > 1 else 0.0
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * std / np.sqrt(n)) if n > 1 else float("nan")
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half}


def paired_difference(a, b, confidence=0.95):
    """Mean of ``a - b`` over paired seeds, its Student-t interval and the paired t-test p-value."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    differences = a - b
    result = summary(differences, confidence)
    if np.allclose(differences, differences[0], rtol=0.0, atol=1e-12):
        # No spread: the t statistic is 0/0 (no difference) or infinite.
        result["p_value"] = 1.0 if abs(differences[0]) <= 1e-12 else 0.0
    else:
        result["p_value"] = float(stats.ttest_rel(a, b).pvalue)
    return result


def holm(p_values):
    """Holm's step-down adjustment of ``p_values`` for multiple comparisons, in their order.

    The adjusted value of the i-th smallest of m p-values is the running maximum
    of ``(m - j) p_(j)`` for j <= i, capped at 1; rejecting where it is below
    alpha controls the family-wise error rate at alpha.
    """
    p = np.asarray(p_values, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()
