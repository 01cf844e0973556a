"""Files that are either the old version or the complete new one, never half-written."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

__all__ = ["write_text_atomically", "write_json_atomically"]


def write_text_atomically(path, text):
    """Write ``text`` to ``path`` through a temporary file in the same folder.

    The temporary file is flushed to disk and then renamed over ``path``, so a
    crash or an interrupt leaves either the previous file or the new one.
    """
    path = Path(path)
    # mkstemp makes the file private (0600); keep the old file's mode, or the usual 0644.
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_json_atomically(path, data):
    """Write ``data`` as indented JSON, atomically (see :func:`write_text_atomically`)."""
    write_text_atomically(path, json.dumps(data, indent=2) + "\n")
