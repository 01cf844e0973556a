"""The "Reproduce this book" page, written by the runner at build time.

Everything on the page is read from the build itself: the package versions
installed in the interpreter that runs the build, the machine, the git commit,
how long each notebook took in this build, and the last recorded wall times of
``make book`` and ``make test`` on this machine (see :mod:`tools.book.walltime`).
"""

import os
from importlib import metadata

from tools import provenance
from tools.book import walltime
from tools.tables import markdown_table

__all__ = ["installed_packages", "page", "timing_rows"]

# The packages a reader asks about first; the full list follows in a dropdown.
KEY_PACKAGES = (
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "numpy",
    "scipy",
    "matplotlib",
    "papermill",
    "jupyter-book",
    "myst-nb",
    "sphinx",
    "minisom",
)


def installed_packages():
    """``{name: version}`` of every distribution visible to this interpreter, by name."""
    found = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found[name.lower().replace("_", "-")] = dist.version
    return dict(sorted(found.items()))


def timing_rows(runs, with_status=False):
    """One row per executed notebook (notebook, mode, seconds, and status if asked), then the total."""
    rows = [
        {
            "notebook": run.notebook,
            "mode": run.mode,
            "seconds": f"{run.seconds:.1f}",
            **({"status": run.status} if with_status else {}),
        }
        for run in runs
    ]
    rows.append(
        {
            "notebook": "total",
            "mode": "",
            "seconds": f"{sum(run.seconds for run in runs):.1f}",
            **({"status": ""} if with_status else {}),
        }
    )
    return rows


def _walltimes_table(records):
    rows = []
    for command in ("make book", "make test"):
        entry = records.get(command)
        if entry is None:
            entry = {"seconds": None, "status": None, "finished": ""}
        outcome = {None: "not recorded on this machine yet", 0: "passed"}.get(
            entry["status"], f"failed (exit status {entry['status']})"
        )
        rows.append(
            {
                "command": f"`{command}`",
                "wall time": "" if entry["seconds"] is None else walltime.format_seconds(entry["seconds"]),
                "outcome": outcome,
                "finished (UTC)": entry["finished"],
            }
        )
    return markdown_table(rows)


def page(runs, walltime_records):
    """The page's MyST Markdown.

    Parameters
    ----------
    runs : list of tools.book.runner.NotebookRun
        The notebooks executed for this build, with their times.
    walltime_records : dict
        As returned by :func:`tools.book.walltime.load`.
    """
    build = provenance.provenance("quick" if any(run.mode == "quick" for run in runs) else "full")
    packages = installed_packages()
    machine = build["machine"]
    memory = machine["total_memory_bytes"]
    key_rows = [{"package": name, "version": packages[name]} for name in KEY_PACKAGES if name in packages]
    all_rows = [{"package": name, "version": version} for name, version in packages.items() if name != "softsom"]
    commit = build["git_commit"] or "not a git checkout"
    machine_rows = [
        {"": "CPU", "value": machine["cpu_model"]},
        {"": "logical cores", "value": str(machine["logical_cores"])},
        {"": "memory", "value": f"{memory / 2**30:.1f} GiB" if memory is not None else "unknown"},
        {"": "platform", "value": machine["platform"]},
        {"": "Python", "value": build["python"]},
        {"": "TF_ENABLE_ONEDNN_OPTS", "value": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset (oneDNN on)")},
    ]
    return "\n".join(
        [
            "(reproduce)=",
            "# Reproduce this book",
            "",
            "This page is written while the book is built, from the build itself.",
            "",
            "## Two commands",
            "",
            "From a clone of the repository, on Linux with Python 3.10 or newer, `make` and `apt`:",
            "",
            "```bash",
            "make book   # creates .venv from requirements.txt, executes every chapter, builds _build/html",
            "make test   # the whole test suite, including every notebook, the book and a browser check",
            "```",
            "",
            "Wall times last recorded on this machine:",
            "",
            _walltimes_table(walltime_records),
            "",
            "## This build",
            "",
            f"Built from git commit `{commit}` (`+dirty`: with uncommitted changes) "
            f"with softsom {packages.get('softsom', 'not installed')}. "
            "Each notebook was executed by papermill, in this order:",
            "",
            markdown_table(timing_rows(runs)),
            "",
            "## Machine",
            "",
            markdown_table(machine_rows),
            "",
            "## Software",
            "",
            "The main packages, as installed in the environment that built this page "
            "(`requirements.txt` pins all of them):",
            "",
            markdown_table(key_rows),
            "",
            ":::{dropdown} Every installed package",
            "",
            markdown_table(all_rows),
            ":::",
            "",
        ]
    )
