"""Validated JSON documents on disk (results/spiral.json, results/bench.json).

Saving validates first and writes atomically, so a failed or invalid run
leaves the previous file intact; loading names the file and, through the
validator, the field that is wrong.
"""

import json
from pathlib import Path

from .atomic import write_json_atomically

__all__ = ["save_validated", "load_validated"]


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
