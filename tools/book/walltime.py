"""Time a top-level command (``make book``, ``make test``) and record how long it took.

The Makefile runs its two main commands through this module::

    python -m tools.book.walltime "make test" -- python -m pytest

It runs the command, prints its wall time, stores it in ``_build/walltimes.json``
(one entry per name: seconds, exit status, finish time) and exits with the
command's status. The "Reproduce this book" page shows these records.
"""

import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from tools.atomic import write_json_atomically

__all__ = ["RECORDS", "load", "record", "format_seconds"]

RECORDS = Path("_build") / "walltimes.json"


def load(path=RECORDS):
    """The recorded wall times, ``{name: {"seconds", "status", "finished"}}``; empty if none."""
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def record(name, seconds, status, path=RECORDS):
    """Store the wall time of the command called ``name``, replacing its previous record."""
    records = load(path)
    records[name] = {
        "seconds": round(seconds, 1),
        "status": status,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_json_atomically(path, records)


def format_seconds(seconds):
    """``"4m37s"`` style, or ``"12.3 s"`` under a minute."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m tools.book.walltime NAME -- COMMAND [ARG ...]", file=sys.stderr)
        return 2
    name, command = argv[0], argv[2:]
    start = time.perf_counter()
    status = subprocess.call(command)
    seconds = time.perf_counter() - start
    record(name, seconds, status)
    outcome = "succeeded" if status == 0 else f"failed (exit status {status})"
    print(f"\n{name} {outcome} in {format_seconds(seconds)}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
