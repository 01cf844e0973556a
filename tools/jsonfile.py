"""Validated JSON documents on disk (``results/spiral.json``, ``results/bench.json``).

Saving validates first and writes atomically, so a failed or invalid run
leaves the previous file intact; loading names the file and, through the
validator, the field that is wrong. The field checks below are shared by the
schemas, so that every file reports a wrong field the same way: its path
(``configurations[2].runs[0].test_accuracy``) and what was expected.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from tools.atomic import write_json_atomically

__all__ = ["Number", "check_fields", "check_object", "check_provenance", "save_validated", "load_validated"]


@dataclasses.dataclass(frozen=True)
class Number:
    """A numeric field: an int (or any number if not ``integer``) in [low, high], or null if ``nullable``."""

    integer: bool
    low: float = -math.inf
    high: float = math.inf
    nullable: bool = False

    def __str__(self):
        kind = "an int" if self.integer else "a number"
        if math.isfinite(self.low) and math.isfinite(self.high):
            bound = f" in [{self.low:g}, {self.high:g}]"
        elif math.isfinite(self.low):
            bound = f" >= {self.low:g}"
        else:
            bound = ""
        return f"{kind}{bound}{' or null' if self.nullable else ''}"

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


def _type_names(kinds):
    return " or ".join(
        "null"
        if k is type(None)
        else {dict: "object", list: "list", str: "a string", bool: "a bool", int: "an int"}.get(k, k.__name__)
        for k in kinds
    )


def check_object(where, value):
    """``value`` itself, if it is a JSON object; else a ValueError naming ``where``."""
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a JSON object; got {type(value).__name__}")
    return value


def check_fields(where, mapping, fields, allow_extra=False):
    """Check that ``mapping`` has exactly ``fields``, each a :class:`Number` or a type (or tuple of types).

    A bool never passes for a number, and a float may be written as an int.
    """
    check_object(where, mapping)
    for field, kind in fields.items():
        at = f"{where}.{field}" if where else field
        if field not in mapping:
            raise ValueError(f"{at} is missing")
        value = mapping[field]
        if isinstance(kind, Number):
            kind.check(at, value)
            continue
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and not isinstance(value, bool) and isinstance(value, (int, float)):
            if not math.isfinite(value):
                raise ValueError(f"{at} is not finite: {value!r}")
        elif isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            if kinds in ((dict,), (list,)):
                what = "a JSON object" if kinds == (dict,) else "a list"
                raise ValueError(f"{at} must be {what}; got {type(value).__name__}")
            raise ValueError(f"{at} has the wrong type: expected {_type_names(kinds)}; got {value!r:.60}")
    extra = set(mapping) - set(fields)
    if extra and not allow_extra:
        raise ValueError(f"{where or 'the document'} has unknown fields {sorted(extra)}")
    return mapping


PROVENANCE_FIELDS = {
    "mode": str,
    "date": str,
    "git_commit": (str, type(None)),
    "python": str,
    "versions": dict,
    "machine": dict,
    "onednn": (str, type(None)),
}
MACHINE_FIELDS = {
    "cpu_model": str,
    "logical_cores": (int, type(None)),
    "total_memory_bytes": (int, type(None)),
    "platform": str,
}


def check_provenance(where, record, modes, packages):
    """A record made by :func:`tools.provenance.provenance`: its fields, its mode and its versions."""
    check_fields(where, record, PROVENANCE_FIELDS)
    if record["mode"] not in modes:
        raise ValueError(f"{where}.mode must be one of {tuple(modes)}; got {record['mode']!r}")
    check_fields(f"{where}.versions", record["versions"], dict.fromkeys(packages, str))
    check_fields(f"{where}.machine", record["machine"], MACHINE_FIELDS)
    return record


def save_validated(path, data, validate):
    """Write ``validate(data)`` to ``path`` atomically."""
    write_json_atomically(path, validate(data))


def load_validated(path, validate, kind, missing_hint=""):
    """Read ``path`` and return ``validate(data)``.

    Raises
    ------
    ValueError
        ``"{kind} file {path} ..."``: missing (followed by ``missing_hint``),
        not valid JSON, or the validator's message.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{kind} file {path} is missing{missing_hint}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{kind} file {path} is not valid JSON: {err}") from None
    try:
        return validate(data)
    except ValueError as err:
        raise ValueError(f"{kind} file {path}: {err}") from None
