"""What the digits chapter reads from ``results/digits.json``: summaries, the table, the verdicts."""

from __future__ import annotations

import numpy as np

from experiments import report
from experiments.digits import CURVE_STEP, MLP, MLP_MATCHED, MLPS, SOM_FAMILIES, chosen_parameters, contrasts
from experiments.stats import summary

__all__ = [
    "accuracies",
    "verdicts",
    "chosen_rows",
    "answer",
    "size_words",
    "cap_family",
    "edge_knobs",
    "total_minutes",
    "curves",
]


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
    """One table row per family: its tuned knobs, learned parameters, test accuracy and differences with the MLPs.

    The SOM families' differences are the planned comparisons (with Holm's p); a
    reference's difference with the MLP is context, outside them.
    """
    summaries = accuracies(document)
    differences = {(row["a"], row["b"]): row for row in contrasts(document)}
    mlp_runs = {r["seed"]: r["test_accuracy"] for e in document["families"] if e["name"] == MLP for r in e["runs"]}
    rows = []
    for entry in document["families"]:
        name = entry["name"]
        knobs = ", ".join(f"{key} {report._knob(value)}" for key, value in sorted(_chosen(entry)["params"].items()))
        runs = entry["runs"]
        versus = dict.fromkeys(MLPS, "")
        if name in MLPS:
            versus[name] = "(reference)"
        elif entry["kind"] == "reference":
            row = summary([r["test_accuracy"] - mlp_runs[r["seed"]] for r in runs])
            versus[MLP] = f"{report._interval(row)} (not in the Holm family)"
        for baseline in versus:
            if (name, baseline) in differences:
                row = differences[name, baseline]
                versus[baseline] = f"{report._interval(row)}; Holm p {row['p_holm']:.2g}"
        rows.append(
            {
                "family": name,
                "tuned configuration": knobs,
                "learned parameters": f"{runs[0]['learned_parameters']:,}" if "learned_parameters" in runs[0] else "-",
                "test accuracy [95% interval]": report._interval(summaries[name]),
                "minus the MLP [95% interval]": versus[MLP] or "-",
                "minus the matched MLP [95% interval]": versus[MLP_MATCHED] or "-",
            }
        )
    return rows


def answer(rows, baseline=MLP):
    """A sentence on the verdicts of the planned contrasts with ``baseline`` (``rows`` from :func:`verdicts`)."""
    against = "the plain MLP" if baseline == MLP else "the parameter-matched MLP"
    rows = [row for row in rows if row["b"] == baseline]
    if not rows:
        raise ValueError(f"rows holds no planned contrast with {baseline!r}")
    lower = [row["a"] for row in rows if row["verdict"] == "lower than"]
    higher = [row["a"] for row in rows if row["verdict"] == "higher than"]
    if len(lower) == len(rows):
        return f"every soft-SOM variant is lower than {against}"
    if len(higher) == len(rows):
        return f"every soft-SOM variant is higher than {against}"
    rest = [row["a"] for row in rows if row["a"] not in higher + lower]
    parts = []
    for words, names in (("higher than", higher), ("lower than", lower), ("not distinguishable from", rest)):
        if names:
            parts.append(f"{words} {'it' if parts else against}: {', '.join(names)}")
    return "; ".join(parts)


def size_words(document, rows):
    """A sentence on whether the SOM models' deficit is their size (``rows`` from :func:`verdicts`).

    It says so only when the matched MLP is no larger than every chosen SOM
    model and each SOM family is lower than it; otherwise it states the verdicts.
    """
    families = {entry["name"]: entry for entry in document["families"]}
    smallest_som = min(chosen_parameters(families[name]) for name in SOM_FAMILIES if name in families)
    below = all(row["verdict"] == "lower than" for row in rows if row["b"] == MLP_MATCHED)
    if chosen_parameters(families[MLP_MATCHED]) <= smallest_som and below:
        return (
            "So the SOM models' deficit is not their size: "
            "an MLP with no more parameters than any of them beats each one."
        )
    return f"Held to the SOM models' size, the MLP's lead changes: {answer(rows, MLP_MATCHED)}."


def cap_family(document):
    """The SOM family whose chosen model set the matched MLP's parameter cap."""
    families = {entry["name"]: entry for entry in document["families"]}
    cap = families[MLP_MATCHED]["max_parameters"]
    return next(name for name in SOM_FAMILIES if name in families and chosen_parameters(families[name]) == cap)


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
