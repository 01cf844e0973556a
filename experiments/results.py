"""``results/spiral.json``: its schema, writing and reading it, and the regeneration check.

Schema (version 2)::

    {
      "schema_version": 2,
      "provenance": {see tools.provenance.provenance: mode ("full" | "quick"), date,
                     git_commit, python, versions, machine, onednn},
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
computed from them (:mod:`experiments.stats`). Timings are not stored: they
are not reproducible, and the file must be.
"""

from __future__ import annotations

import dataclasses

from experiments.stats import summary
from tools.jsonfile import Number, check_fields, check_object, check_provenance, load_validated, save_validated
from tools.provenance import PACKAGES, provenance, same_environment

__all__ = ["SCHEMA_VERSION", "TOLERANCE", "document", "validate", "load", "save", "compare"]

SCHEMA_VERSION = 2

COUNT = Number(integer=True, low=0)
FRACTION = Number(integer=False, low=0.0, high=1.0)
RUN_FIELDS = {
    "seed": COUNT,
    "test_accuracy": FRACTION,
    "test_log_loss": Number(integer=False, low=0.0),
    "val_accuracy": FRACTION,
    "train_accuracy": FRACTION,
    "epochs_to_100": Number(integer=True, low=0, nullable=True),
    "best_epoch": COUNT,
    "learned_parameters": COUNT,
    "trainable_parameters": COUNT,
}
CLASSIC_FIELDS = {"seed": COUNT, "epochs_to_100": RUN_FIELDS["epochs_to_100"], "final_train_accuracy": FRACTION}
SECTIONS = {"configurations": RUN_FIELDS, "classic": CLASSIC_FIELDS}
TOP_LEVEL = {
    "schema_version": int,
    "provenance": dict,
    "protocol": dict,
    "seeds": list,
    "configurations": list,
    "classic": list,
}
MODES = ("full", "quick")
# Across machines, round-off (oneDNN, CPU features) changes individual runs; the
# per-configuration means must still agree to within these.
TOLERANCE = {"test_accuracy": 0.05, "test_log_loss": 0.10}


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


def _non_empty_list(where, value):
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where} must be a non-empty list; got {value!r:.60}")
    return value


def _check_settings(where, settings):
    """The configuration's settings: an object with a string name and description."""
    check_fields(where, settings, {"name": str, "description": str}, allow_extra=True)
    return settings["name"]


def _check_runs(where, runs, fields, seeds):
    """One run per seed, in the order of ``seeds``, each with exactly ``fields``."""
    if not isinstance(runs, list):
        raise ValueError(f"{where} must be a list; got {type(runs).__name__}")
    if len(runs) != len(seeds):
        raise ValueError(f"{where} has {len(runs)} runs, but seeds has {len(seeds)}: one run per seed")
    for i, (run, seed) in enumerate(zip(runs, seeds)):
        at = f"{where}[{i}]"
        check_fields(at, run, fields)
        if run["seed"] != seed:
            raise ValueError(f"{at}.seed is {run['seed']}, but seeds[{i}] is {seed}: runs follow the order of seeds")


def validate(data):
    """Return ``data`` if it follows the schema, else raise ValueError naming the first wrong field.

    The message starts with the field's path, e.g. ``configurations[2].runs[0].test_accuracy``.
    """
    check_object("the results file", data)
    for field in TOP_LEVEL:
        if field not in data:
            raise ValueError(f"{field} is missing")
    if data["schema_version"] != SCHEMA_VERSION:
        raise ValueError(f"schema_version is {data['schema_version']!r}, expected {SCHEMA_VERSION}")
    check_fields("", data, TOP_LEVEL)
    check_provenance("provenance", data["provenance"], MODES, PACKAGES)
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
            check_fields(where, entry, {"settings": dict, "runs": list})
            name = _check_settings(f"{where}.settings", entry["settings"])
            if name in names:
                raise ValueError(f"{where}.settings.name {name!r} is already used by {section}[{names[name]}]")
            names[name] = i
            _check_runs(f"{where}.runs", entry["runs"], fields, seeds)
    return data


def save(path, data):
    """Validate, then write atomically: a failed run leaves the previous file intact."""
    save_validated(path, data, validate)


def load(path):
    """Read and validate a results file; a missing or malformed one is a ValueError naming the file."""
    return load_validated(path, validate, "results")


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
        return [
            "the committed results are stale: they describe another experiment "
            "(protocol, seeds, configurations or mode); run `make reproduce`"
        ]
    problems = []
    exact = same_environment(new["provenance"], committed["provenance"])
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
                        problems.append(
                            f"{name}: mean {metric} {m_new:.4f} vs committed {m_old:.4f} (tolerance {tolerance})"
                        )
    return problems
