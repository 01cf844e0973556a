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

Seeds are distinct ints >= 0, and each "runs" list holds one run per seed, in
the order of "seeds"; counts and epochs are ints >= 0, accuracies numbers in
[0, 1], log-losses numbers >= 0. :func:`validate` (run by :func:`load` and
:func:`save`) names the path of the first field that breaks these rules.

Only per-run numbers are stored; means, intervals and paired differences are
computed from them (:func:`summary`, :func:`paired_difference`). Timings are
not stored: they are not reproducible, and the file must be.
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np
from scipy import stats

from .jsonfile import load_validated, save_validated

__all__ = [
    "SCHEMA_VERSION", "TOLERANCE", "provenance", "document", "validate", "load", "save",
    "summary", "paired_difference", "compare", "comparison", "comparison_rows", "classic_rows",
]

SCHEMA_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Number:
    """A numeric field: an int (or any number if not ``integer``) in [low, high], or null if ``nullable``."""

    integer: bool
    low: float = 0.0
    high: float = math.inf
    nullable: bool = False

    def __str__(self):
        kind = "an int" if self.integer else "a number"
        bound = f"in [{self.low:g}, {self.high:g}]" if math.isfinite(self.high) else f">= {self.low:g}"
        return f"{kind} {bound}{' or null' if self.nullable else ''}"

    def check(self, where, value):
        """Raise ValueError naming ``where`` unless ``value`` is such a number."""
        if value is None and self.nullable:
            return
        kinds = int if self.integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise ValueError(f"{where} has the wrong type: expected {self}; got {value!r}")
        if not math.isfinite(value):  # JSON allows NaN and Infinity
            raise ValueError(f"{where} is not finite: {value!r}")
        if not self.low <= value <= self.high:
            raise ValueError(f"{where} is out of range: expected {self}; got {value!r}")


COUNT = Number(integer=True)
FRACTION = Number(integer=False, high=1.0)
RUN_FIELDS = {
    "seed": COUNT, "test_accuracy": FRACTION, "test_log_loss": Number(integer=False),
    "val_accuracy": FRACTION, "train_accuracy": FRACTION,
    "epochs_to_100": Number(integer=True, nullable=True), "best_epoch": COUNT,
    "learned_parameters": COUNT, "trainable_parameters": COUNT,
}
CLASSIC_FIELDS = {"seed": COUNT, "epochs_to_100": RUN_FIELDS["epochs_to_100"], "final_train_accuracy": FRACTION}
SECTIONS = {"configurations": RUN_FIELDS, "classic": CLASSIC_FIELDS}
PROVENANCE_FIELDS = ("softsom", "tensorflow", "keras", "numpy", "python", "mode", "machine")
MODES = ("full", "quick")
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


def _get(where, mapping, key):
    """``mapping[key]``, or a ValueError naming the missing field's path."""
    if key not in mapping:
        raise ValueError(f"{where}.{key} is missing" if where else f"{key} is missing")
    return mapping[key]


def _object(where, value):
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a JSON object; got {type(value).__name__}")
    return value


def _non_empty_list(where, value):
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where} must be a non-empty list; got {value!r:.60}")
    return value


def _check_settings(where, settings):
    """The configuration's settings: an object with a string name and description."""
    _object(where, settings)
    for key in ("name", "description"):
        if not isinstance(_get(where, settings, key), str):
            raise ValueError(f"{where}.{key} must be a string; got {settings[key]!r}")
    return settings["name"]


def _check_runs(where, runs, fields, seeds):
    """One run per seed, in the order of ``seeds``, each with exactly ``fields``."""
    if not isinstance(runs, list):
        raise ValueError(f"{where} must be a list; got {type(runs).__name__}")
    if len(runs) != len(seeds):
        raise ValueError(f"{where} has {len(runs)} runs, but seeds has {len(seeds)}: one run per seed")
    for i, (run, seed) in enumerate(zip(runs, seeds)):
        at = f"{where}[{i}]"
        _object(at, run)
        for field, number in fields.items():
            number.check(f"{at}.{field}", _get(at, run, field))
        if run["seed"] != seed:
            raise ValueError(f"{at}.seed is {run['seed']}, but seeds[{i}] is {seed}: runs follow the order of seeds")
        extra = set(run) - set(fields)
        if extra:
            raise ValueError(f"{at} has unknown fields {sorted(extra)}")


def validate(data):
    """Return ``data`` if it follows the schema, else raise ValueError naming the first wrong field.

    The message starts with the field's path, e.g. ``configurations[2].runs[0].test_accuracy``.
    """
    _object("the results file", data)
    for field in ("schema_version", "provenance", "protocol", "seeds", "configurations", "classic"):
        _get("", data, field)
    if data["schema_version"] != SCHEMA_VERSION:
        raise ValueError(f"schema_version is {data['schema_version']!r}, expected {SCHEMA_VERSION}")
    provenance = _object("provenance", data["provenance"])
    for field in PROVENANCE_FIELDS:
        _get("provenance", provenance, field)
    if provenance["mode"] not in MODES:
        raise ValueError(f"provenance.mode must be one of {MODES}; got {provenance['mode']!r}")
    _object("protocol", data["protocol"])
    seeds = _non_empty_list("seeds", data["seeds"])
    first_use = {}
    for i, seed in enumerate(seeds):
        COUNT.check(f"seeds[{i}]", seed)
        if seed in first_use:
            raise ValueError(f"seeds[{i}] repeats seeds[{first_use[seed]}] ({seed}): runs are paired by seed")
        first_use[seed] = i
    for section, fields in SECTIONS.items():
        names = {}
        for i, entry in enumerate(_non_empty_list(section, data[section])):
            where = f"{section}[{i}]"
            _object(where, entry)
            name = _check_settings(f"{where}.settings", _get(where, entry, "settings"))
            if name in names:
                raise ValueError(f"{where}.settings.name {name!r} is already used by {section}[{names[name]}]")
            names[name] = i
            _check_runs(f"{where}.runs", _get(where, entry, "runs"), fields, seeds)
    return data


def save(path, data):
    """Validate, then write atomically: a failed run leaves the previous file intact."""
    save_validated(path, data, validate)


def load(path):
    """Read and validate a results file; a missing or malformed one is a ValueError naming the file."""
    return load_validated(path, validate, "results")


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
