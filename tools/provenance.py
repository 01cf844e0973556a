"""Where a set of numbers came from: versions, git commit, machine, date.

One helper for every generated file (``results/spiral.json``,
``results/bench.json``) and for the book's "Reproduce this book" page. It
imports no TensorFlow: versions are read from the installed distributions,
whichever of them provides the ``tensorflow`` module (``tensorflow``,
``tensorflow-cpu``, a GPU or macOS build).
"""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

__all__ = ["PACKAGES", "package_version", "git_commit", "machine", "provenance", "same_environment"]

# Import names whose versions decide the numbers; a TensorFlow of any
# distribution is recorded under "tensorflow".
PACKAGES = ("softsom", "tensorflow", "keras", "numpy")
ROOT = Path(__file__).resolve().parents[1]


def package_version(module):
    """Version of the installed distribution that provides the import name ``module``, or None."""
    for distribution in metadata.packages_distributions().get(module, [module]):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return None


def git_commit(where=ROOT):
    """HEAD's commit, with "+dirty" when tracked files have uncommitted changes; None outside git."""

    def git(*args):
        return subprocess.run(["git", *args], capture_output=True, text=True, check=True, cwd=where).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def _cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _total_memory_bytes():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not every platform has these names
        return None


def machine():
    """``{"cpu_model", "logical_cores", "total_memory_bytes", "platform"}`` of this machine."""
    return {
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "total_memory_bytes": _total_memory_bytes(),
        "platform": platform.platform(),
    }


def provenance(mode, extra_packages=()):
    """The record a results file carries.

    Returns
    -------
    dict
        ``{"mode", "date" (ISO 8601, UTC), "git_commit", "python", "versions"
        ({import name: version} for :data:`PACKAGES` and ``extra_packages``),
        "machine" (:func:`machine`), "onednn" (TF_ENABLE_ONEDNN_OPTS, or null
        for TensorFlow's default, on)}``.
    """
    return {
        "mode": mode,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "versions": {name: package_version(name) for name in (*PACKAGES, *extra_packages)},
        "machine": machine(),
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
    }


def same_environment(a, b):
    """Whether two provenance records describe the same software on the same machine.

    Runs that agree here must give identical numbers for the same seeds. The
    processor and the software decide the round-off; the date, the commit, the
    mode, the kernel's build string and the memory size do not.
    """
    keys = ("python", "versions", "onednn")
    cpu = ("cpu_model", "logical_cores")
    return all(a.get(key) == b.get(key) for key in keys) and all(
        a["machine"].get(key) == b["machine"].get(key) for key in cpu
    )
