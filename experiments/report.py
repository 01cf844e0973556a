"""The spiral chapter's tables, contrasts and verdicts, computed from the results documents."""

from __future__ import annotations

import math

import numpy as np

from experiments.results import chosen_rescore, chosen_trial
from experiments.stats import holm, paired_difference, summary

__all__ = [
    "REFERENCE",
    "CONTRASTS",
    "SLIDES_CONTRASTS",
    "ALPHA",
    "contenders",
    "contrasts",
    "describe_difference",
    "evaluation_rows",
    "chosen_rows",
    "classic_rows",
    "on_boundary",
    "edge_knobs",
    "time_limited",
    "TIME_LIMITED",
    "budget_table",
    "difficulty_table",
    "trial_counts",
    "shared_range",
    "NATURAL_BOUNDS",
    "SOM_DESIGNS",
    "answer",
    "convergence",
    "EARLY_EPOCH",
    "LATE_FRACTION",
    "budget_contrast",
]

REFERENCE = "pure_nn_1"  # the tuned one-hidden-layer network every SOM family is compared with
ALPHA = 0.05
# The planned comparisons of the tuned families: (a, b, the question a - b answers).
CONTRASTS = [
    ("som_pre_soft", "pure_nn_1", "SOM preprocessing (soft) against a pure network"),
    ("som_pre_hard", "pure_nn_1", "SOM preprocessing (hard) against a pure network"),
    ("interposed_kohonen", "pure_nn_1", "the interposed SOM (Kohonen rule) against a pure network"),
    ("interposed_kohonen", "pure_nn_2", "the interposed SOM against a pure network of its Dense depth"),
    ("interposed_kohonen", "bottleneck", "the interposed SOM against a 2-unit Dense layer in its place"),
    ("interposed_kohonen", "interposed_frozen", "the Kohonen rule against a frozen random map"),
    ("interposed_backprop", "interposed_kohonen", "backprop against the Kohonen rule for the embedding"),
    ("pure_nn_2", "pure_nn_1", "a second hidden layer for the pure network"),
]
# The slides' SOM designs among the tuned families: the talk's question is whether any beats REFERENCE.
SOM_DESIGNS = ["som_pre_soft", "som_pre_hard", "interposed_kohonen"]
# Knob values no range could go beyond (k = 1 neighbour, one SOM epoch, an end rate equal to the start):
# a choice there is not a sign of a too-narrow range.
NATURAL_BOUNDS = {"n_neighbors": 1, "som_epochs": 1, "som_rate_end_ratio": 1.0}
# Knobs whose range ends where running time does (a SuSi fit's time grows in proportion to its iterations).
TIME_LIMITED = {("susi_som", "n_iter_supervised"), ("susi_som", "n_iter_unsupervised")}
# A run's checkpoint before this epoch was taken near the start (stopped early, perhaps before it learnt);
# one in the last LATE_FRACTION of the epoch cap was still improving when the cap ended it.
EARLY_EPOCH = 100
LATE_FRACTION = 0.05
# The slides' untuned setting, compared within itself.
SLIDES_CONTRASTS = [
    ("slides_som_pre", "slides_pure_nn", "the slides' setting: SOM preprocessing against the pure network"),
    ("slides_interposed", "slides_pure_nn", "the slides' setting: interposed SOM against the pure network"),
]


def contenders(document):
    """``{name: {"kind", "description", "settings", "runs", "accuracy" (summary)}}`` of every contender.

    ``kind`` is "tuned" (a searched family's chosen trial), "slides" (the slides'
    untuned setting) or "reference" (a classical method).
    """
    out = {}
    for entry in document["configurations"]:
        name = entry["settings"]["name"]
        kind = "slides" if name.startswith("slides_") else "tuned"
        out[name] = {
            "kind": kind,
            "description": entry["settings"]["description"],
            "settings": entry["settings"],
            "runs": entry["runs"],
            "accuracy": summary(run["test_accuracy"] for run in entry["runs"]),
        }
    for entry in document["references"]:
        name = entry["settings"]["name"]
        out[name] = {
            "kind": "reference",
            "description": entry["settings"]["description"],
            "settings": entry["settings"],
            "runs": entry["runs"],
            "accuracy": summary(run["test_accuracy"] for run in entry["runs"]),
        }
    return out


def describe_difference(difference, alpha=ALPHA):
    """Words for a paired difference: "higher than", "lower than" or "not distinguishable from".

    Uses the Holm-adjusted p-value (``p_holm``) when there is one, else the
    95% interval.
    """
    if "p_holm" in difference:
        if difference["p_holm"] >= alpha:
            return "not distinguishable from"
        return "higher than" if difference["mean"] > 0 else "lower than"
    if difference["ci_low"] > 0:
        return "higher than"
    if difference["ci_high"] < 0:
        return "lower than"
    return "not distinguishable from"


def _accuracies(entry):
    return [run["test_accuracy"] for run in entry["runs"]]


def contrasts(document, planned=CONTRASTS):
    """The paired differences in test accuracy of ``planned`` comparisons, Holm-adjusted together.

    Returns
    -------
    list of dict
        Per comparison: "a", "b", "question", the paired difference's "mean",
        "ci_low", "ci_high" (95%, per comparison), "p_value" (paired t-test),
        "p_holm" (adjusted over ``planned``) and "verdict" (a is ... b).
    """
    found = contenders(document)
    rows = []
    for a, b, question in planned:
        difference = paired_difference(_accuracies(found[a]), _accuracies(found[b]))
        rows.append({"a": a, "b": b, "question": question, **difference})
    for row, adjusted in zip(rows, holm([row["p_value"] for row in rows])):
        row["p_holm"] = adjusted
        row["verdict"] = describe_difference(row)
    return rows


def _interval(s, digits=3):
    return f"{s['mean']:.{digits}f} [{s['ci_low']:.{digits}f}, {s['ci_high']:.{digits}f}]"


def evaluation_rows(document, reference=REFERENCE):
    """The chapter's table: one row per contender, tuned families first, then the slides' setting and references."""
    found = contenders(document)
    base = _accuracies(found[reference])
    order = {"tuned": 0, "reference": 1, "slides": 2}
    rows = []
    for name, c in sorted(found.items(), key=lambda item: order[item[1]["kind"]]):
        runs = c["runs"]
        d = paired_difference(_accuracies(c), base)
        networks = "epochs_run" in runs[0]
        rows.append(
            {
                "contender": name,
                "what": c["description"],
                "kind": c["kind"],
                "learned parameters": str(runs[0]["learned_parameters"]) if networks else "-",
                "test accuracy [95% CI]": _interval(c["accuracy"]),
                "sd": f"{c['accuracy']['std']:.3f}",
                "median epochs run": f"{np.median([run['epochs_run'] for run in runs]):.0f}" if networks else "-",
                f"difference vs {reference}": ""
                if name == reference
                else f"{d['mean']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]",
            }
        )
    return rows


def on_boundary(value, searched, margin=0.02):
    """Whether a chosen numeric ``value`` lies within ``margin`` of an end of its ``searched`` range.

    The range's position is measured on a log scale when it was searched on one.
    Categorical knobs are never on a boundary.
    """
    if "choices" in searched:
        return False
    low, high = searched["low"], searched["high"]
    scale = math.log if searched["log"] else float
    span = scale(high) - scale(low)
    position = (scale(value) - scale(low)) / span if span else 0.5
    return position < margin or position > 1 - margin


def _knob(value):
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _chosen_knobs(entry):
    """A searched family's chosen knobs: ``[(key, value, mark)]``, mark "natural bound", "edge" or ""."""
    out = []
    for key, value in sorted(chosen_trial(entry)["params"].items()):
        if NATURAL_BOUNDS.get(key) == value:
            mark = "natural bound"
        else:
            mark = "edge" if on_boundary(value, entry["space"][key]) else ""
        out.append((key, value, mark))
    return out


def edge_knobs(search_document):
    """``[(family, knob, value)]``: the chosen knobs marked "(edge)" in :func:`chosen_rows`."""
    return [
        (entry["name"], key, value)
        for entry in search_document["families"]
        for key, value, mark in _chosen_knobs(entry)
        if mark == "edge"
    ]


def time_limited(edges):
    """Whether any of ``edges`` (from :func:`edge_knobs`) is a knob in :data:`TIME_LIMITED`."""
    return any((family, knob) in TIME_LIMITED for family, knob, _ in edges)


def chosen_rows(search_document):
    """Per family: its trials, the chosen trial (its rank by score, its score and pooled score) and its knobs.

    A knob within 2% of an end of its searched range is marked "(edge)", one at
    a value in :data:`NATURAL_BOUNDS` "(natural bound)".
    """
    rows = []
    for entry in search_document["families"]:
        rescore = chosen_rescore(entry)
        chosen = entry["trials"][rescore["number"]]
        knobs = [f"{key} {_knob(value)}{f' ({mark})' if mark else ''}" for key, value, mark in _chosen_knobs(entry)]
        rows.append(
            {
                "family": entry["name"],
                "trials": len(entry["trials"]),
                "chosen trial": chosen["number"],
                "rank by score": [r["number"] for r in entry["rescored"]].index(chosen["number"]) + 1,
                "score": f"{chosen['score']:.4f}",
                "pooled score": f"{rescore['pooled_score']:.4f}",
                "chosen": ", ".join(knobs),
            }
        )
    return rows


def trial_counts(search_document):
    """``{family: number of trials}``: equal for every family by the schema."""
    return {entry["name"]: len(entry["trials"]) for entry in search_document["families"]}


def shared_range(search_document, knob):
    """The searched range of ``knob``, the same in every family that has it (a ``ValueError`` if not)."""
    ranges = [entry["space"][knob] for entry in search_document["families"] if knob in entry["space"]]
    if not ranges:
        raise ValueError(f"knob {knob!r} is searched by no family")
    if any(other != ranges[0] for other in ranges):
        raise ValueError(f"knob {knob!r} has different ranges in different families: {ranges}")
    return ranges[0]


def classic_rows(document):
    """The classic task's table: how many runs reached 100% training accuracy, and how fast."""
    rows = []
    for entry in document["classic"]:
        epochs = [run["epochs_to_100"] for run in entry["runs"]]
        reached = [e for e in epochs if e is not None]
        rows.append(
            {
                "configuration": entry["settings"]["name"],
                "reached 100%": f"{len(reached)}/{len(epochs)}",
                "median epochs (runs that reached it)": f"{np.median(reached):.0f}" if reached else "-",
                "final training accuracy": f"{np.mean([run['final_train_accuracy'] for run in entry['runs']]):.3f}",
            }
        )
    return rows


def budget_table(studies):
    """``{family: [accuracy summary per budget]}`` and the budgets, from the studies document."""
    table = {
        entry["name"]: [summary(run["test_accuracy"] for run in runs) for runs in entry["runs"]]
        for entry in studies["budget"]
    }
    return studies["budgets"], table


def difficulty_table(studies):
    """``{family: [accuracy summary per (turns, noise)]}`` and the settings, from the studies document."""
    table = {
        entry["name"]: [summary(run["test_accuracy"] for run in runs) for runs in entry["runs"]]
        for entry in studies["difficulty"]
    }
    return [(s["turns"], s["noise"]) for s in studies["difficulties"]], table


def answer(planned):
    """The talk's question answered from the planned contrasts: ``(wins, compared, sentence)``.

    ``compared`` are the contrasts of :data:`SOM_DESIGNS` against
    :data:`REFERENCE`, ``wins`` the designs whose difference survives Holm's
    adjustment upwards, ``sentence`` the answer in words (naming, too, the
    designs whose difference survives it downwards).
    """
    compared = [row for row in planned if row["b"] == REFERENCE and row["a"] in SOM_DESIGNS]
    wins = [row["a"] for row in compared if row["verdict"] == "higher than"]
    losses = [row["a"] for row in compared if row["verdict"] == "lower than"]
    setting = "on this task, once every contender is tuned alike and trained to convergence, "
    if wins:
        sentence = setting + f"{' and '.join(wins)} classify better than the tuned pure network"
    else:
        sentence = setting + (
            "neither of the slides' designs (SOM preprocessing, the interposed SOM with the Kohonen rule) "
            "classifies better than a tuned pure network"
        )
    if losses:
        sentence += f"; {' and '.join(losses)} classif{'ies' if len(losses) == 1 else 'y'} measurably worse than it"
    elif not wins:
        sentence += ": there, the SOM adds nothing measurable"
    return wins, compared, sentence


def budget_contrast(studies, a, b, budget_index=0):
    """The paired difference ``a - b`` in test accuracy at one budget of the budget study."""
    runs = {entry["name"]: entry["runs"][budget_index] for entry in studies["budget"]}
    return paired_difference(
        [run["test_accuracy"] for run in runs[a]],
        [run["test_accuracy"] for run in runs[b]],
    )


def convergence(document):
    """Per tuned network: how many runs took their checkpoint early or at the epoch cap.

    Returns ``[{"name", "runs", "early", "late", "patience"}]`` for the tuned
    networks with any such run: ``early`` counts checkpoints before
    :data:`EARLY_EPOCH`, ``late`` those in the last :data:`LATE_FRACTION` of
    the protocol's ``max_epochs`` (still improving when training ended).
    """
    cap = document["protocol"]["max_epochs"]
    out = []
    for name, entry in contenders(document).items():
        if entry["kind"] != "tuned":
            continue
        best = [run["best_epoch"] for run in entry["runs"]]
        early = sum(epoch < EARLY_EPOCH for epoch in best)
        late = sum(epoch > (1 - LATE_FRACTION) * cap for epoch in best)
        if early or late:
            out.append(
                {
                    "name": name,
                    "runs": len(best),
                    "early": early,
                    "late": late,
                    "patience": entry["settings"].get("patience"),
                }
            )
    return out
