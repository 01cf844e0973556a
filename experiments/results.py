"""The spiral experiments' results files: their schemas, writing and reading them, and the regeneration check.

Three files, each written atomically after validation (so a failed run
leaves the previous file intact) and read back with a validation whose error
names the file and the path of the first wrong field (e.g.
``configurations[2].runs[0].test_accuracy``). Every file starts with
``schema_version``, ``provenance`` (:func:`tools.provenance.provenance`: mode
"full" or "quick", date, git commit, Python, versions, machine, oneDNN) and
``protocol`` (the :class:`~experiments.training.Protocol`).

``results/spiral_search.json`` (:func:`save_search`, :func:`load_search`)::

    {..., "settings": {"n_trials", "tuning_seeds", "sampler_seed", "rescored_trials", "rescoring_seeds"},
     "families": [{"name", "description", "kind": "network" | "reference",
                   "space": {knob: {"low", "high", "log"} | {"choices"}},
                   "trials": [{"number", "params": {...}, "score",
                               "val_accuracy" (networks) | "cv_accuracy" (references),
                               "test_accuracy", "learned_parameters" (int or null),
                               "epochs_run" (networks)}, ...],
                   "rescored": [{"number", "score", "val_accuracy" | "cv_accuracy",
                                 "test_accuracy", "pooled_score"}, ...]}, ...]}

  Every family holds exactly ``n_trials`` trials, numbered 0, 1, ..., and
  ``rescored_trials`` rescored ones: its best trials by score, best first
  (:func:`experiments.search.rescore_family`).

``results/spiral.json`` (:func:`save`, :func:`load`)::

    {..., "seeds": [int, ...], "classic_seeds": [int, ...] (the first seeds),
     "search": {"settings", "chosen": {family: trial number}},
     "configurations": [{"settings": {Configuration fields},
                         "runs": [{"seed", "test_accuracy", "test_log_loss", "val_accuracy",
                                   "val_log_loss", "train_accuracy", "epochs_to_100" (int or null),
                                   "best_epoch", "epochs_run", "learned_parameters",
                                   "trainable_parameters"}, ...]}, ...],
     "references": [{"settings": {"name", "description", "params"},
                     "runs": [{"seed", "test_accuracy", "train_accuracy"}, ...]}, ...],
     "classic": [{"settings": {Configuration fields},
                  "runs": [{"seed", "epochs_to_100" (int or null), "final_train_accuracy"}, ...]}, ...]}

  with one classic run per seed of "classic_seeds".

``results/spiral_studies.json`` (:func:`save_studies`, :func:`load_studies`)::

    {..., "seeds": [...], "budgets": [int, ...], "difficulties": [{"turns", "noise"}, ...],
     "budget": [{"name", "kind", "runs": [[run per seed] per budget]}, ...],
     "difficulty": [{"name", "kind", "runs": [[run per seed] per difficulty]}, ...]}

  with the runs of spiral.json's configurations ("network") or references ("reference").

Seeds are distinct ints >= 0, and each list of runs holds one run per seed, in
the order of "seeds". Only per-run numbers are stored; means, intervals and
paired differences are computed from them (:mod:`experiments.stats`). Timings
are not stored: they are not reproducible, and the files must be.
"""

from __future__ import annotations

import dataclasses

from experiments.stats import summary
from tools.jsonfile import Number, check_fields, check_object, check_provenance, load_validated, save_validated
from tools.provenance import PACKAGES, provenance, same_environment

__all__ = [
    "SCHEMA_VERSION",
    "TOLERANCE",
    "search_document",
    "evaluation_document",
    "studies_document",
    "validate",
    "validate_search",
    "validate_studies",
    "save",
    "load",
    "save_search",
    "load_search",
    "save_studies",
    "load_studies",
    "compare",
    "best_trial",
    "chosen_rescore",
    "chosen_trial",
]

SCHEMA_VERSION = 4
MODES = ("full", "quick")
COUNT = Number(integer=True, low=0)
FRACTION = Number(integer=False, low=0.0, high=1.0)
LOSS = Number(integer=False, low=0.0)
RUN_FIELDS = {
    "seed": COUNT,
    "test_accuracy": FRACTION,
    "test_log_loss": LOSS,
    "val_accuracy": FRACTION,
    "val_log_loss": LOSS,
    "train_accuracy": FRACTION,
    "epochs_to_100": Number(integer=True, low=0, nullable=True),
    "best_epoch": COUNT,
    "epochs_run": COUNT,
    "learned_parameters": COUNT,
    "trainable_parameters": COUNT,
}
REFERENCE_RUN_FIELDS = {"seed": COUNT, "test_accuracy": FRACTION, "train_accuracy": FRACTION}
CLASSIC_FIELDS = {"seed": COUNT, "epochs_to_100": RUN_FIELDS["epochs_to_100"], "final_train_accuracy": FRACTION}
TRIAL_FIELDS = {
    "network": {
        "number": COUNT,
        "params": dict,
        "score": Number(integer=False),
        "val_accuracy": FRACTION,
        "test_accuracy": FRACTION,
        "learned_parameters": COUNT,
        "epochs_run": LOSS,
    },
    "reference": {
        "number": COUNT,
        "params": dict,
        "score": Number(integer=False),
        "cv_accuracy": FRACTION,
        "test_accuracy": FRACTION,
        "learned_parameters": Number(integer=True, low=0, nullable=True),
    },
}
RESCORED_FIELDS = {
    kind: {
        "number": COUNT,
        "score": Number(integer=False),
        accuracy: FRACTION,
        "test_accuracy": FRACTION,
        "pooled_score": Number(integer=False),
    }
    for kind, accuracy in (("network", "val_accuracy"), ("reference", "cv_accuracy"))
}
# Across machines, round-off (oneDNN, CPU features) changes individual runs; the
# per-configuration means must still agree to within these.
TOLERANCE = {"test_accuracy": 0.05, "test_log_loss": 0.10}
HEADER = {"schema_version": int, "provenance": dict, "protocol": dict}


def _header(protocol, mode):
    return {"schema_version": SCHEMA_VERSION, "provenance": provenance(mode), "protocol": dataclasses.asdict(protocol)}


def _without(mapping, *keys):
    return {k: v for k, v in mapping.items() if k not in keys}


def search_document(protocol, settings, trials, mode):
    """The search's document; ``trials`` as :func:`experiments.search.search` returns them."""
    return {
        **_header(protocol, mode),
        "settings": {
            **dataclasses.asdict(settings),
            "tuning_seeds": list(settings.tuning_seeds),
            "rescoring_seeds": list(settings.rescoring_seeds),
        },
        "families": [
            {
                "name": family.name,
                "description": family.description,
                "kind": family.kind,
                "space": space,
                "trials": [_without(record, "seconds") for record in records],
                "rescored": rescored,
            }
            for family, records, rescored, space in trials
        ],
    }


def _reference_settings(reference):
    return {"name": reference.name, "description": reference.description, "params": dict(reference.params)}


def evaluation_document(protocol, seeds, classic_seeds, search, configurations, references, classic, mode):
    """The evaluation's document (spiral.json) from :func:`experiments.spirals.evaluate`'s runs.

    ``search`` is ``{"settings": the search's settings, "chosen": {family: trial number}}``.
    """
    return {
        **_header(protocol, mode),
        "seeds": list(seeds),
        "classic_seeds": list(classic_seeds),
        "search": search,
        "configurations": [
            {"settings": config.settings(), "runs": [_without(run, "seconds") for run in runs]}
            for config, runs in configurations
        ],
        "references": [{"settings": _reference_settings(ref), "runs": runs} for ref, runs in references],
        "classic": [{"settings": config.settings(), "runs": runs} for config, runs in classic],
    }


def studies_document(protocol, seeds, budgets, difficulties, budget, difficulty, mode):
    """The studies' document: ``budget`` and ``difficulty`` are ``[(name, kind, [[run per seed] per setting])]``."""

    def table(rows):
        return [
            {"name": name, "kind": kind, "runs": [[_without(run, "seconds") for run in runs] for runs in per_setting]}
            for name, kind, per_setting in rows
        ]

    return {
        **_header(protocol, mode),
        "seeds": list(seeds),
        "budgets": list(budgets),
        "difficulties": [{"turns": turns, "noise": noise} for turns, noise in difficulties],
        "budget": table(budget),
        "difficulty": table(difficulty),
    }


# --- validation -----------------------------------------------------------------------------


def _non_empty_list(where, value):
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where} must be a non-empty list; got {value!r:.60}")
    return value


def _check_header(data, fields):
    check_object("the results file", data)
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"schema_version is {data.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    check_fields("", data, {**HEADER, **fields})
    check_provenance("provenance", data["provenance"], MODES, PACKAGES)


def _check_seeds(where, seeds):
    first_use = {}
    for i, seed in enumerate(_non_empty_list(where, seeds)):
        COUNT.check(f"{where}[{i}]", seed)
        if seed in first_use:
            raise ValueError(f"{where}[{i}] repeats {where}[{first_use[seed]}] ({seed}): runs are paired by seed")
        first_use[seed] = i
    return seeds


def _check_runs(where, runs, fields, seeds, seeds_name="seeds"):
    """One run per seed, in the order of ``seeds`` (the document's ``seeds_name``), each with exactly ``fields``."""
    if not isinstance(runs, list):
        raise ValueError(f"{where} must be a list; got {type(runs).__name__}")
    if len(runs) != len(seeds):
        raise ValueError(f"{where} has {len(runs)} runs, but {seeds_name} has {len(seeds)}: one run per seed")
    for i, (run, seed) in enumerate(zip(runs, seeds)):
        at = f"{where}[{i}]"
        check_fields(at, run, fields)
        if run["seed"] != seed:
            raise ValueError(
                f"{at}.seed is {run['seed']}, but {seeds_name}[{i}] is {seed}: runs follow the order of {seeds_name}"
            )


def _check_entries(section, entries, fields, seeds, key="settings", seeds_name="seeds"):
    """Named entries, each with its runs; names unique. Returns the names in order."""
    names = {}
    for i, entry in enumerate(_non_empty_list(section, entries)):
        where = f"{section}[{i}]"
        check_fields(where, entry, {key: dict, "runs": list})
        check_fields(f"{where}.{key}", entry[key], {"name": str, "description": str}, allow_extra=True)
        name = entry[key]["name"]
        if name in names:
            raise ValueError(f"{where}.{key}.name {name!r} is already used by {section}[{names[name]}]")
        names[name] = i
        _check_runs(f"{where}.runs", entry["runs"], fields, seeds, seeds_name)
    return list(names)


def validate(data):
    """Return a spiral.json document if it follows the schema, else raise ValueError naming the first wrong field."""
    _check_header(
        data,
        {
            "seeds": list,
            "classic_seeds": list,
            "search": dict,
            "configurations": list,
            "references": list,
            "classic": list,
        },
    )
    seeds = _check_seeds("seeds", data["seeds"])
    classic_seeds = _check_seeds("classic_seeds", data["classic_seeds"])
    if classic_seeds != seeds[: len(classic_seeds)]:
        raise ValueError(f"classic_seeds must be the first seeds {seeds[: len(classic_seeds)]}; got {classic_seeds}")
    check_fields("search", data["search"], {"settings": dict, "chosen": dict})
    _check_entries("configurations", data["configurations"], RUN_FIELDS, seeds)
    _check_entries("references", data["references"], REFERENCE_RUN_FIELDS, seeds)
    _check_entries("classic", data["classic"], CLASSIC_FIELDS, classic_seeds, seeds_name="classic_seeds")
    return data


def validate_search(data):
    """Return a spiral_search.json document if it follows the schema; every family has ``n_trials`` trials."""
    _check_header(data, {"settings": dict, "families": list})
    settings = check_fields(
        "settings",
        data["settings"],
        {
            "n_trials": COUNT,
            "tuning_seeds": list,
            "sampler_seed": COUNT,
            "rescored_trials": Number(integer=True, low=1),
            "rescoring_seeds": list,
        },
    )
    _check_seeds("settings.tuning_seeds", settings["tuning_seeds"])
    _check_seeds("settings.rescoring_seeds", settings["rescoring_seeds"])
    shared = sorted(set(settings["tuning_seeds"]) & set(settings["rescoring_seeds"]))
    if shared:
        raise ValueError(f"settings.rescoring_seeds repeats tuning seeds {shared}: a rescore needs new seeds")
    names = set()
    for i, family in enumerate(_non_empty_list("families", data["families"])):
        where = f"families[{i}]"
        check_fields(
            where,
            family,
            {"name": str, "description": str, "kind": str, "space": dict, "trials": list, "rescored": list},
        )
        if family["name"] in names:
            raise ValueError(f"{where}.name {family['name']!r} is used twice")
        names.add(family["name"])
        if family["kind"] not in TRIAL_FIELDS:
            raise ValueError(f"{where}.kind must be one of {sorted(TRIAL_FIELDS)}; got {family['kind']!r}")
        trials = family["trials"]
        if len(trials) != settings["n_trials"]:
            raise ValueError(
                f"{where}.trials has {len(trials)} trials, but settings.n_trials is "
                f"{settings['n_trials']}: every family gets the same budget"
            )
        for j, trial in enumerate(trials):
            check_fields(f"{where}.trials[{j}]", trial, TRIAL_FIELDS[family["kind"]])
            if trial["number"] != j:
                raise ValueError(f"{where}.trials[{j}].number is {trial['number']}: trials are numbered in order")
        _check_rescored(where, family, min(settings["rescored_trials"], len(trials)))
    return data


def _check_rescored(where, family, count):
    """The rescored records are the family's ``count`` best trials by score, best first."""
    ranked = [t["number"] for t in sorted(family["trials"], key=lambda t: (t["score"], t["number"]))][:count]
    rescored = family["rescored"]
    for j, record in enumerate(rescored):
        check_fields(f"{where}.rescored[{j}]", record, RESCORED_FIELDS[family["kind"]])
    numbers = [record["number"] for record in rescored]
    if numbers != ranked:
        raise ValueError(
            f"{where}.rescored holds trials {numbers}, but the {count} best trials by score are {ranked}, best first"
        )


def validate_studies(data):
    """Return a spiral_studies.json document if it follows the schema."""
    _check_header(data, {"seeds": list, "budgets": list, "difficulties": list, "budget": list, "difficulty": list})
    seeds = _check_seeds("seeds", data["seeds"])
    budgets = _non_empty_list("budgets", data["budgets"])
    for i, epochs in enumerate(budgets):
        Number(integer=True, low=1).check(f"budgets[{i}]", epochs)
    difficulties = _non_empty_list("difficulties", data["difficulties"])
    for i, setting in enumerate(difficulties):
        check_fields(f"difficulties[{i}]", setting, {"turns": Number(integer=False, low=0.0), "noise": LOSS})
    for section, settings in (("budget", budgets), ("difficulty", difficulties)):
        for i, entry in enumerate(_non_empty_list(section, data[section])):
            where = f"{section}[{i}]"
            check_fields(where, entry, {"name": str, "kind": str, "runs": list})
            if entry["kind"] not in TRIAL_FIELDS:
                raise ValueError(f"{where}.kind must be one of {sorted(TRIAL_FIELDS)}; got {entry['kind']!r}")
            fields = RUN_FIELDS if entry["kind"] == "network" else REFERENCE_RUN_FIELDS
            if len(entry["runs"]) != len(settings):
                raise ValueError(
                    f"{where}.runs has {len(entry['runs'])} lists, one per setting: expected {len(settings)}"
                )
            for j, runs in enumerate(entry["runs"]):
                _check_runs(f"{where}.runs[{j}]", runs, fields, seeds)
    return data


def save(path, data):
    """Validate a spiral.json document, then write it atomically."""
    save_validated(path, data, validate)


def load(path):
    """Read and validate spiral.json; a missing or malformed file is a ValueError naming the file."""
    return load_validated(path, validate, "results")


def save_search(path, data):
    save_validated(path, data, validate_search)


def load_search(path):
    return load_validated(path, validate_search, "search results", missing_hint=": run `make reproduce`")


def save_studies(path, data):
    save_validated(path, data, validate_studies)


def load_studies(path):
    return load_validated(path, validate_studies, "studies results", missing_hint=": run `make reproduce`")


# --- the regeneration check -------------------------------------------------------------------


def _experiment(data):
    """What defines the experiment (not who ran it): a change here makes a results file stale."""
    return {
        "protocol": data["protocol"],
        "seeds": data["seeds"],
        "classic_seeds": data["classic_seeds"],
        "search": data["search"],
        "configurations": [entry["settings"] for entry in data["configurations"]],
        "references": [entry["settings"] for entry in data["references"]],
        "classic": [entry["settings"] for entry in data["classic"]],
        "mode": data["provenance"]["mode"],
    }


def compare(new, committed):
    """Differences between a regenerated spiral.json document and the committed one.

    The committed file is stale when it describes another experiment (protocol,
    seeds, chosen configurations, references or mode). On the same processor
    and software versions every number must be identical; elsewhere the
    per-configuration means of test accuracy (and, for networks, log-loss)
    must agree within :data:`TOLERANCE`.

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
    for section in ("configurations", "references", "classic"):
        for fresh, old in zip(new[section], committed[section]):
            name = fresh["settings"]["name"]
            if exact:
                if fresh["runs"] != old["runs"]:
                    problems.append(f"{section} {name}: runs differ on the same machine and versions")
                continue
            if section == "classic":
                continue
            for metric, tolerance in TOLERANCE.items():
                if metric not in fresh["runs"][0]:
                    continue
                m_new = summary(r[metric] for r in fresh["runs"])["mean"]
                m_old = summary(r[metric] for r in old["runs"])["mean"]
                if abs(m_new - m_old) > tolerance:
                    problems.append(
                        f"{name}: mean {metric} {m_new:.4f} vs committed {m_old:.4f} (tolerance {tolerance})"
                    )
    return problems


def best_trial(trials):
    """The trial record with the lowest score on the tuning seeds (the first of equals)."""
    return min(trials, key=lambda record: (record["score"], record["number"]))


def chosen_rescore(family):
    """A searched family's rescored record of lowest pooled score (ties: the lower trial number).

    ``family`` is one entry of the search document's "families" (its "trials"
    and "rescored").
    """
    return min(family["rescored"], key=lambda record: (record["pooled_score"], record["number"]))


def chosen_trial(family):
    """A searched family's chosen trial record: the trial of :func:`chosen_rescore`."""
    return family["trials"][chosen_rescore(family)["number"]]
