"""``results/spiral.json``: its schema, provenance, statistics and the regeneration check.

Schema (version 1)::

    {
      "schema_version": 1,
      "provenance": {
        "softsom", "tensorflow", "keras", "numpy", "python": versions,
        "git_commit": str or null ("+dirty" when tracked files had changes),
        "mode": "full" | "quick",
        "machine": {"platform", "processor", "cpu_count"},
        "onednn": value of TF_ENABLE_ONEDNN_OPTS or null (TensorFlow's default, on)
      },
      "protocol": {Protocol fields},
      "seeds": [int, ...],
      "configurations": [
        {"settings": {Configuration fields},
         "runs": [{"seed", "test_accuracy", "test_log_loss", "val_accuracy",
                   "train_accuracy", "epochs_to_100" (int or null), "best_epoch",
                   "learned_parameters", "trainable_parameters"}, ...]}, ...
      ],
      "classic": [
        {"settings": {Configuration fields},
         "runs": [{"seed", "epochs_to_100" (int or null), "final_train_accuracy"}, ...]}, ...
      ]
    }

Only per-run numbers are stored; means, intervals and paired differences are
computed from them (:func:`summary`, :func:`paired_difference`). Timings are
not stored: they are not reproducible, and the file must be.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np
from scipy import stats

from .atomic import write_json_atomically

__all__ = [
    "SCHEMA_VERSION", "TOLERANCE", "provenance", "document", "validate", "load", "save",
    "summary", "paired_difference", "compare", "comparison", "comparison_rows", "classic_rows",
]

SCHEMA_VERSION = 1
RUN_FIELDS = {
    "seed": int, "test_accuracy": float, "test_log_loss": float, "val_accuracy": float,
    "train_accuracy": float, "epochs_to_100": (int, type(None)), "best_epoch": int,
    "learned_parameters": int, "trainable_parameters": int,
}
CLASSIC_FIELDS = {"seed": int, "epochs_to_100": (int, type(None)), "final_train_accuracy": float}
# Across machines, round-off (oneDNN, CPU features) changes individual runs; the
# per-configuration means must still agree to within these.
TOLERANCE = {"test_accuracy": 0.05, "test_log_loss": 0.10}


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit():
    """HEAD's commit, with "+dirty" when tracked files have uncommitted changes."""
    def git(*args):
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).resolve().parent).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def provenance(mode):
    """Versions, commit and machine of this run."""
    versions = {name: metadata.version(dist) for name, dist in
                [("softsom", "softsom"), ("tensorflow", "tensorflow-cpu"), ("keras", "keras"), ("numpy", "numpy")]}
    return {
        **versions,
        "python": platform.python_version(),
        "git_commit": _git_commit(),
        "mode": mode,
        "machine": {"platform": platform.platform(), "processor": _cpu_model(), "cpu_count": os.cpu_count()},
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
    }


def document(protocol, seeds, configurations, classic, mode):
    """Assemble the results document from the experiment's outputs."""
    return {
        "schema_version": SCHEMA_VERSION,
        "provenance": provenance(mode),
        "protocol": dataclasses.asdict(protocol),
        "seeds": list(seeds),
        "configurations": [
            {"settings": config.settings(), "runs": [_without(run, "seconds") for run in runs]}
            for config, runs in configurations
        ],
        "classic": [{"settings": config.settings(), "runs": runs} for config, runs in classic],
    }


def _without(mapping, key):
    return {k: v for k, v in mapping.items() if k != key}


def _check_runs(where, runs, fields, seeds):
    if not isinstance(runs, list):
        raise ValueError(f"{where}.runs must be a list")
    if [run.get("seed") if isinstance(run, dict) else None for run in runs] != seeds:
        raise ValueError(f"{where}.runs must hold one run per seed, in the order of 'seeds'")
    for i, run in enumerate(runs):
        for field, kind in fields.items():
            if field not in run:
                raise ValueError(f"{where}.runs[{i}].{field} is missing")
            value = run[field]
            if isinstance(value, bool) or not isinstance(value, kind if kind is not float else (int, float)):
                raise ValueError(f"{where}.runs[{i}].{field} has the wrong type: {value!r}")
            if isinstance(value, float) and not np.isfinite(value):
                raise ValueError(f"{where}.runs[{i}].{field} is not finite: {value!r}")
        extra = set(run) - set(fields)
        if extra:
            raise ValueError(f"{where}.runs[{i}] has unknown fields {sorted(extra)}")


def validate(data):
    """Raise ValueError naming the first field that does not follow the schema."""
    if not isinstance(data, dict):
        raise ValueError("the results file must hold a JSON object")
    for field in ("schema_version", "provenance", "protocol", "seeds", "configurations", "classic"):
        if field not in data:
            raise ValueError(f"field '{field}' is missing")
    if data["schema_version"] != SCHEMA_VERSION:
        raise ValueError(f"schema_version is {data['schema_version']!r}, expected {SCHEMA_VERSION}")
    for field in ("softsom", "tensorflow", "keras", "numpy", "python", "mode", "machine"):
        if field not in data["provenance"]:
            raise ValueError(f"provenance.{field} is missing")
    if data["provenance"]["mode"] not in ("full", "quick"):
        raise ValueError(f"provenance.mode must be 'full' or 'quick'; got {data['provenance']['mode']!r}")
    seeds = data["seeds"]
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise ValueError("seeds must be a non-empty list of ints")
    for section, fields in (("configurations", RUN_FIELDS), ("classic", CLASSIC_FIELDS)):
        entries = data[section]
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"{section} must be a non-empty list")
        names = []
        for i, entry in enumerate(entries):
            where = f"{section}[{i}]"
            if not isinstance(entry, dict) or "settings" not in entry or "runs" not in entry:
                raise ValueError(f"{where} needs 'settings' and 'runs'")
            if "name" not in entry["settings"]:
                raise ValueError(f"{where}.settings.name is missing")
            names.append(entry["settings"]["name"])
            _check_runs(where, entry["runs"], fields, seeds)
        if len(set(names)) != len(names):
            raise ValueError(f"{section} has duplicate names")
    return data


def save(path, data):
    """Validate, then write atomically: a failed run leaves the previous file intact."""
    write_json_atomically(path, validate(data))


def load(path):
    """Read and validate a results file; a missing or malformed one is a ValueError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"results file {path} is missing")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"results file {path} is not valid JSON: {err}") from None
    try:
        return validate(data)
    except ValueError as err:
        raise ValueError(f"results file {path}: {err}") from None


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


def _same_environment(p, q):
    keys = ("softsom", "tensorflow", "keras", "numpy", "python", "onednn")
    return all(p.get(k) == q.get(k) for k in keys) and p["machine"] == q["machine"]


def _experiment(data):
    """What defines the experiment (not who ran it): a change here makes a results file stale."""
    return {
        "protocol": data["protocol"],
        "seeds": data["seeds"],
        "configurations": [entry["settings"] for entry in data["configurations"]],
        "classic": [entry["settings"] for entry in data["classic"]],
        "mode": data["provenance"]["mode"],
    }


def compare(new, committed):
    """Differences between a regenerated results document and the committed one.

    The committed file is stale when it describes another experiment (protocol,
    seeds, configurations or mode). On the same machine and software versions
    every number must be identical; elsewhere the per-configuration means of
    test accuracy and log-loss must agree within :data:`TOLERANCE`.

    Returns
    -------
    list of str
        Empty when the two agree.
    """
    if _experiment(new) != _experiment(committed):
        return ["the committed results are stale: they describe another experiment "
                "(protocol, seeds, configurations or mode); run `make reproduce`"]
    problems = []
    exact = _same_environment(new["provenance"], committed["provenance"])
    for section in ("configurations", "classic"):
        for fresh, old in zip(new[section], committed[section]):
            name = fresh["settings"]["name"]
            if exact:
                if fresh["runs"] != old["runs"]:
                    problems.append(f"{section} {name}: runs differ on the same machine and versions")
            elif section == "configurations":
                for metric, tolerance in TOLERANCE.items():
                    m_new = summary(r[metric] for r in fresh["runs"])["mean"]
                    m_old = summary(r[metric] for r in old["runs"])["mean"]
                    if abs(m_new - m_old) > tolerance:
                        problems.append(f"{name}: mean {metric} {m_new:.4f} vs committed {m_old:.4f} "
                                        f"(tolerance {tolerance})")
    return problems



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
        rows.append({
            "configuration": c["settings"]["description"],
            "parameters": c["runs"][0]["learned_parameters"],
            "test accuracy": f"{a['mean']:.3f} ± {a['std']:.3f} [{a['ci_low']:.3f}, {a['ci_high']:.3f}]",
            "test log-loss": f"{l['mean']:.3f} ± {l['std']:.3f}",
            "100% train (runs)": f"{c['reached_100']}/{len(c['runs'])}",
            f"Δ accuracy vs {reference}": "" if name == reference else
                f"{d['mean']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}], p = {d['p_value']:.2g}",
        })
    return rows


def classic_rows(data):
    """The classic task's table: how many runs reached 100% training accuracy, and how fast."""
    rows = []
    for entry in data["classic"]:
        epochs = [run["epochs_to_100"] for run in entry["runs"]]
        reached = [e for e in epochs if e is not None]
        rows.append({
            "configuration": entry["settings"]["description"],
            "reached 100%": f"{len(reached)}/{len(epochs)}",
            "median epochs (runs that reached it)": f"{np.median(reached):.0f}" if reached else "-",
            "final training accuracy": f"{np.mean([run['final_train_accuracy'] for run in entry['runs']]):.3f}",
        })
    return rows
