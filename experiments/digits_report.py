"""What the digits chapter reads from ``results/digits.json``: summaries, the table, the verdicts."""

from __future__ import annotations

import numpy as np

from experiments import report
from experiments.digits import CURVE_STEP, MLP, contrasts
from experiments.stats import summary

__all__ = ["accuracies", "verdicts", "chosen_rows", "answer", "edge_knobs", "total_minutes", "curves"]


def accuracies(document):
    """``{family: summary of its test accuracy over the evaluation seeds}``, in the file's order."""
    return {e["name"]: summary([r["test_accuracy"] for r in e["runs"]]) for e in document["families"]}


def verdicts(document):
    """The planned contrasts (:func:`experiments.digits.contrasts`) with a "verdict" in words each."""
    return [dict(row, verdict=report.describe_difference(row)) for row in contrasts(document)]


def _chosen(entry):
    return entry["trials"][entry["chosen"]]


def edge_knobs(document, margin=0.02):
    """``[(family, knob)]`` whose chosen value lies within ``margin`` of an end of its searched range."""
    return [
        (entry["name"], key)
        for entry in document["families"]
        for key, value in sorted(_chosen(entry)["params"].items())
        if report.on_boundary(value, entry["space"][key], margin)
    ]


def chosen_rows(document):
    """One table row per family: its tuned knobs, learned parameters, test accuracy and difference with the MLP."""
    summaries = accuracies(document)
    differences = {row["a"]: row for row in contrasts(document)}
    mlp_runs = {r["seed"]: r["test_accuracy"] for e in document["families"] if e["name"] == MLP for r in e["runs"]}
    rows = []
    for entry in document["families"]:
        name = entry["name"]
        knobs = ", ".join(f"{key} {report._knob(value)}" for key, value in sorted(_chosen(entry)["params"].items()))
        runs = entry["runs"]
        if name in differences:
            row = differences[name]
            versus = f"{report._interval(row)}; Holm p {row['p_holm']:.2g}"
        elif name == MLP:
            versus = "(reference)"
        else:  # a classical reference: the interval only, outside the planned comparisons
            row = summary([r["test_accuracy"] - mlp_runs[r["seed"]] for r in runs])
            versus = f"{report._interval(row)} (not in the Holm family)"
        rows.append(
            {
                "family": name,
                "tuned configuration": knobs,
                "learned parameters": f"{runs[0]['learned_parameters']:,}" if "learned_parameters" in runs[0] else "-",
                "test accuracy [95% interval]": report._interval(summaries[name]),
                "minus the MLP [95% interval]": versus,
            }
        )
    return rows


def answer(rows):
    """A sentence on the planned contrasts' verdicts (``rows`` from :func:`verdicts`)."""
    lower = [row["a"] for row in rows if row["verdict"] == "lower than"]
    higher = [row["a"] for row in rows if row["verdict"] == "higher than"]
    if len(lower) == len(rows):
        return "every soft-SOM variant is lower than the plain MLP"
    if len(higher) == len(rows):
        return "every soft-SOM variant is higher than the plain MLP"
    parts = []
    if higher:
        parts.append(f"higher than the plain MLP: {', '.join(higher)}")
    if lower:
        parts.append(f"lower than it: {', '.join(lower)}")
    rest = [row["a"] for row in rows if row["a"] not in higher + lower]
    if rest:
        parts.append(f"not distinguishable from it: {', '.join(rest)}")
    return "; ".join(parts)


def total_minutes(document):
    """The search and the evaluation, each summed over the families, in minutes."""
    seconds = [entry["seconds"] for entry in document["families"]]
    return sum(s["search"] for s in seconds) / 60, sum(s["evaluation"] for s in seconds) / 60


def curves(entry):
    """A network family's validation-accuracy curves (one per seed, a point every CURVE_STEP epochs)
    and the median epoch of its runs' checkpoints, in the curves' units (CURVE_STEP epochs)."""
    runs = entry["runs"]
    checkpoint = float(np.median([r["best_epoch"] for r in runs])) / CURVE_STEP
    return [np.asarray(r["curve"]) for r in runs], checkpoint
