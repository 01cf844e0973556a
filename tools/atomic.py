"""Files that are either the old version or the complete new one, never half-written.

A write goes to a temporary file ``.NAME.XXXXXXXX.tmp`` in the target's folder,
which is flushed to disk and then renamed over ``NAME``: the rename is atomic,
so readers see the old file or the new one.

Interrupts: in the main thread, SIGINT (Ctrl-C) and SIGTERM (``kill``) that
arrive during a write are held until the write has finished, then delivered
as usual (a KeyboardInterrupt, or the process ends): an interrupted run
leaves the complete new file and no temporary file. Any other exception
during the write removes the temporary file and leaves the old one.

SIGKILL, a crash of the interpreter or a power cut cannot be handled: they
leave the old (or new) file intact, but may also leave the temporary file.
Its name starts with a dot and ends in ``.tmp``, so it never shadows the
target: readers open ``NAME`` only, and the next write makes a new one. It
can be deleted at any time no write is running.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import threading
from pathlib import Path

__all__ = ["write_bytes_atomically", "write_text_atomically", "write_json_atomically", "TEMPORARY_PATTERN"]

# Glob for the temporary files of the writes to a file named NAME: TEMPORARY_PATTERN.format(name=NAME).
TEMPORARY_PATTERN = ".{name}.*.tmp"
# Held in this order and released in the reverse one: SIGINT's usual handler raises
# KeyboardInterrupt, which must not strike while the other handler is still swapped
# out, and a pending SIGTERM is delivered before a pending SIGINT could cut it off.
DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def _signals_deferred():
    """Hold SIGINT and SIGTERM until the block ends, then deliver them to the previous handlers.

    Only the main thread can install signal handlers, and Python runs them only
    there; in other threads, and when a handler was installed outside Python
    (``signal.getsignal`` gives None, so it could not be restored), the block
    runs unprotected: an exception still removes the temporary file.
    """
    previous = {signum: signal.getsignal(signum) for signum in DEFERRED_SIGNALS}
    if threading.current_thread() is not threading.main_thread() or None in previous.values():
        yield
        return
    received = set()

    def hold(signum, frame):
        received.add(signum)

    try:
        for signum in DEFERRED_SIGNALS:
            signal.signal(signum, hold)
        yield
    finally:
        released = tuple(reversed(DEFERRED_SIGNALS))
        for signum in released:
            signal.signal(signum, previous[signum])
        for signum in released:
            if signum in received:
                signal.raise_signal(signum)


def write_bytes_atomically(path, data):
    """Write ``data`` (bytes) to ``path`` through a temporary file in the same folder.

    The temporary file is flushed to disk and then renamed over ``path``, so a
    crash or an interrupt leaves either the previous file or the new one (see
    the module docstring for which signals are held until the write is done).
    """
    path = Path(path)
    # mkstemp makes the file private (0600); keep the old file's mode, or the usual 0644.
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    prefix, suffix = TEMPORARY_PATTERN.format(name=path.name).split("*")
    with _signals_deferred():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
        try:
            os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise


def write_text_atomically(path, text):
    """Write ``text`` to ``path`` as UTF-8, atomically (see :func:`write_bytes_atomically`)."""
    write_bytes_atomically(path, text.encode("utf-8"))


def write_json_atomically(path, data):
    """Write ``data`` as indented JSON, atomically (see :func:`write_text_atomically`).

    The JSON text is made before anything is written, so unserialisable data
    leaves the old file untouched.
    """
    write_text_atomically(path, json.dumps(data, indent=2) + "\n")
