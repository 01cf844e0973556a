"""The spiral chapter's tables and verdicts, computed from a results document."""

from __future__ import annotations

import numpy as np

from experiments.stats import paired_difference, summary

__all__ = ["comparison", "comparison_rows", "classic_rows", "describe_difference"]


def describe_difference(difference):
    """Words for a paired difference: what its 95% interval allows one to say."""
    if difference["ci_low"] > 0:
        return "higher than"
    if difference["ci_high"] < 0:
        return "lower than"
    return "not distinguishable from"


def comparison(data, reference="pure_nn"):
    """Per configuration: accuracy and log-loss summaries, and the paired accuracy
    difference against ``reference`` (the same seeds).

    Returns
    -------
    dict
        ``{name: {"settings", "accuracy", "log_loss", "difference", "reached_100", "runs"}}``
        in the file's order.
    """
    entries = {entry["settings"]["name"]: entry for entry in data["configurations"]}
    baseline = [run["test_accuracy"] for run in entries[reference]["runs"]]
    return {
        name: {
            "settings": entry["settings"],
            "accuracy": summary(run["test_accuracy"] for run in entry["runs"]),
            "log_loss": summary(run["test_log_loss"] for run in entry["runs"]),
            "difference": paired_difference([run["test_accuracy"] for run in entry["runs"]], baseline),
            "reached_100": sum(run["epochs_to_100"] is not None for run in entry["runs"]),
            "runs": entry["runs"],
        }
        for name, entry in entries.items()
    }


def comparison_rows(data, reference="pure_nn"):
    """The chapter's results table, one row (dict of formatted cells) per configuration."""
    rows = []
    for name, c in comparison(data, reference).items():
        a, l, d = c["accuracy"], c["log_loss"], c["difference"]
        rows.append(
            {
                "configuration": c["settings"]["description"],
                "parameters": c["runs"][0]["learned_parameters"],
                "test accuracy": f"{a['mean']:.3f} ± {a['std']:.3f} [{a['ci_low']:.3f}, {a['ci_high']:.3f}]",
                "test log-loss": f"{l['mean']:.3f} ± {l['std']:.3f}",
                "100% train (runs)": f"{c['reached_100']}/{len(c['runs'])}",
                f"Δ accuracy vs {reference}": ""
                if name == reference
                else f"{d['mean']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}], p = {d['p_value']:.2g}",
            }
        )
    return rows


def classic_rows(data):
    """The classic task's table: how many runs reached 100% training accuracy, and how fast."""
    rows = []
    for entry in data["classic"]:
        epochs = [run["epochs_to_100"] for run in entry["runs"]]
        reached = [e for e in epochs if e is not None]
        rows.append(
            {
                "configuration": entry["settings"]["description"],
                "reached 100%": f"{len(reached)}/{len(epochs)}",
                "median epochs (runs that reached it)": f"{np.median(reached):.0f}" if reached else "-",
                "final training accuracy": f"{np.mean([run['final_train_accuracy'] for run in entry['runs']]):.3f}",
            }
        )
    return rows
