"""Execute the book's notebooks with papermill, then build the book from them.

Usage::

    python -m tools.book.runner                 # every chapter, full mode, then the HTML
    python -m tools.book.runner --quick         # small sizes, for tests
    python -m tools.book.runner --only 02_kohonen_algorithm --no-build
    python -m tools.book.runner -p seed=3 -p 02_kohonen_algorithm:epochs=2

The notebooks listed in ``_toc.yml`` are executed in order, each in its own
directory (so relative paths work as in Jupyter) with the project's pinned
kernel, into ``OUT/_build/executed/`` next to a copy of the book's
configuration and prose. Jupyter Book then renders that staged copy with
execution switched off, so each page shows exactly what papermill produced
and every notebook runs once per build: the HTML site, and the whole book on
one page, which Chromium prints to the site's PDF (:mod:`tools.book.pdf`).
``notebooks/`` is never written.

A failing notebook does not stop the others: at the end every failure is
listed (notebook, cell, exception) and the exit status is 1.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import papermill
import yaml

from tools.atomic import write_json_atomically, write_text_atomically
from tools.book import pdf, reproduce, walltime
from tools.tables import text_table

__all__ = [
    "RunnerError",
    "NotebookRun",
    "toc_entries",
    "toc_notebooks",
    "parse_parameter",
    "notebook_parameters",
    "check_kernel",
    "describe_failure",
    "hide_injected_parameters",
    "stderr_to",
    "execute",
    "stage",
    "build",
    "timing_table",
    "check_writable",
    "run",
]

KERNEL = "softsom"
BOOK_FILES = ("_config.yml", "_toc.yml")
BOOK_DIRS = ("book",)
VENDOR_DIR = "_vendor"
# Generated at build time from the build itself; listed in _toc.yml, absent from book/.
REPRODUCE_PAGE = "book/reproduce.md"
INJECTED_TAG = "injected-parameters"
# Seconds a cell may run before it counts as hung. Chapter 6's full evaluation is one cell of about 20
# minutes on a 2-core machine; the bound is the 45 minutes the whole test suite may take.
CELL_TIMEOUT = 2700


class RunnerError(Exception):
    """A problem found before any notebook runs (bad arguments, missing files)."""


@dataclasses.dataclass
class NotebookRun:
    """What happened to one notebook."""

    notebook: str
    seconds: float
    error: str | None = None
    mode: str = "full"

    @property
    def status(self):
        return "ok" if self.error is None else "FAILED"


def toc_entries(root):
    """Every page ``root/_toc.yml`` lists (root, chapters, back matter), in reading order, as written there."""
    toc_path = Path(root) / "_toc.yml"
    if not toc_path.is_file():
        raise RunnerError(f"no table of contents at {toc_path}")
    try:
        toc = yaml.safe_load(toc_path.read_text())
    except yaml.YAMLError as err:
        raise RunnerError(f"{toc_path} is not valid YAML: {err}") from None

    def files(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("root", "file"):
                    yield value
                else:
                    yield from files(value)
        elif isinstance(node, list):
            for item in node:
                yield from files(item)

    return list(files(toc))


def toc_notebooks(root):
    """Notebooks listed in ``root/_toc.yml``, in reading order, as paths relative to root."""
    notebooks = []
    for entry in toc_entries(root):
        if f"{entry}.md" == REPRODUCE_PAGE:
            continue  # written at build time
        candidates = [Path(entry)] if Path(entry).suffix else [Path(f"{entry}{suffix}") for suffix in (".ipynb", ".md")]
        found = [path for path in candidates if (Path(root) / path).is_file()]
        if not found:
            raise RunnerError(f"_toc.yml lists {entry}, but no such notebook or page exists")
        if found[0].suffix == ".ipynb":
            notebooks.append(found[0])
    return notebooks


def parse_parameter(text):
    """``[notebook:]name=value`` with a Python literal value (strings may be bare, unless they
    start like a literal: a digit, sign, bracket or quote)."""
    target, sep, value = text.partition("=")
    if not sep or not target:
        raise RunnerError(f"parameter {text!r} must look like name=value or notebook:name=value")
    notebook, _, name = target.rpartition(":")
    if not name.isidentifier():
        raise RunnerError(f"parameter name {name!r} in {text!r} is not a Python identifier")
    if not value:
        raise RunnerError(f"parameter {name!r} in {text!r} has no value (write {name}='' for an empty string)")
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        # A value that starts like a number, list, dict or quoted string is a typo ("[1, 2"), not a bare string.
        if value.lstrip().startswith(tuple("[({'\"+-0123456789")):
            raise RunnerError(
                f"parameter {name!r}: {value!r} is not a valid Python literal (quote it if it is meant as a string)"
            ) from None
        parsed = value
    return notebook or None, name, parsed


def notebook_parameters(notebook, parameters, quick):
    """The parameters to inject into ``notebook``, checked against its parameters cell."""
    try:
        declared = papermill.inspect_notebook(str(notebook))
    except Exception as err:  # nbformat and papermill raise many kinds for a malformed file
        raise RunnerError(f"cannot read the parameters of {notebook}: {type(err).__name__}: {err}") from None
    if "quick" not in declared:
        raise RunnerError(
            f"{notebook} has no `quick` in a cell tagged 'parameters' "
            "(every chapter needs one: True for small test-sized runs)"
        )
    chosen = {"quick": quick}
    for target, name, value in parameters:
        if target is not None and target != notebook.stem:
            continue
        if name not in declared:
            raise RunnerError(
                f"unknown parameter {name!r} for {notebook}: its parameters cell declares {', '.join(sorted(declared))}"
            )
        chosen[name] = value
    return chosen


def check_kernel():
    """Make sure the ``softsom`` kernel runs this very Python (the project's venv)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        raise RunnerError(
            f"no Jupyter kernel named {KERNEL!r}: run `make venv` (it installs the kernel "
            f"into the virtual environment), or `{sys.executable} -m ipykernel install "
            f"--sys-prefix --name {KERNEL}`"
        ) from None
    if os.path.abspath(spec.argv[0]) != os.path.abspath(sys.executable):
        raise RunnerError(
            f"the {KERNEL!r} kernel runs {spec.argv[0]}, not this Python ({sys.executable}): "
            f"reinstall it with `{sys.executable} -m ipykernel install --sys-prefix --name {KERNEL}`"
        )


def describe_failure(error, output_path):
    """One line saying which cell failed and how, numbering cells from 1 as in the source."""
    if isinstance(error, papermill.PapermillExecutionError):
        what = f"{error.ename}: {error.evalue}"
    else:
        lines = str(error).strip().splitlines()
        what = f"{type(error).__name__}: {lines[0] if lines else ''}"
    cells = nbformat.read(output_path, as_version=4).cells if output_path.is_file() else []
    cell_index = getattr(error, "cell_index", None)
    if cell_index is None:
        # Timeouts and dead kernels carry no cell index: the culprit is the last cell started.
        started = [i for i, cell in enumerate(cells) if cell.metadata.get("papermill", {}).get("start_time")]
        cell_index = started[-1] if started else None
    if cell_index is None:
        return what
    # The executed copy holds papermill's injected cell, which the source notebook does not.
    injected = sum(INJECTED_TAG in cell.metadata.get("tags", []) for cell in cells[:cell_index])
    return f"cell {cell_index - injected + 1}: {what}"


def hide_injected_parameters(output_path):
    """Keep papermill's injected-parameters cell out of the rendered page."""
    nb = nbformat.read(output_path, as_version=4)
    for cell in nb.cells:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if INJECTED_TAG in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    nbformat.write(nb, output_path)


@contextlib.contextmanager
def stderr_to(path):
    """Send this process's standard error, which kernels inherit, to ``path``.

    Kernels write TensorFlow's start-up log and their own warnings there: kept in
    a file next to the executed notebook instead of drowning the runner's report.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(path, "w") as log:
            os.dup2(log.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def execute(root, notebooks, stage_dir, parameters=(), quick=False, timeout=CELL_TIMEOUT):
    """Execute ``notebooks`` (paths relative to ``root``) into ``stage_dir``.

    Returns
    -------
    list of NotebookRun
        One per notebook, in order; failures carry their description.
    """
    root = Path(root).resolve()
    chosen = {nb: notebook_parameters(root / nb, parameters, quick) for nb in notebooks}
    check_kernel()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    runs = []
    for notebook in notebooks:
        source = root / notebook
        output = Path(stage_dir).resolve() / notebook
        output.parent.mkdir(parents=True, exist_ok=True)
        log = output.with_suffix(".stderr.log")
        mode = "quick" if chosen[notebook]["quick"] else "full"
        print(f"[runner] {notebook} ({mode})", flush=True)
        start = time.perf_counter()
        error = None
        try:
            with stderr_to(log):
                papermill.execute_notebook(
                    str(source),
                    str(output),
                    parameters=chosen[notebook],
                    kernel_name=KERNEL,
                    cwd=str(source.parent),
                    execution_timeout=timeout,
                    progress_bar=False,
                    log_output=False,
                )
            hide_injected_parameters(output)
        except Exception as exc:  # any failure is reported, the other notebooks still run
            error = f"{describe_failure(exc, output)} (kernel log: {log})"
        runs.append(NotebookRun(str(notebook), time.perf_counter() - start, error, mode))
    return runs


def stage(root, stage_dir):
    """Copy the book's configuration and prose next to the executed notebooks."""
    root, stage_dir = Path(root).resolve(), Path(stage_dir)
    stage_dir.mkdir(parents=True, exist_ok=True)
    for name in BOOK_FILES:
        shutil.copy2(root / name, stage_dir / name)
    for name in BOOK_DIRS:
        shutil.rmtree(stage_dir / name, ignore_errors=True)
        shutil.copytree(root / name, stage_dir / name)
    vendor = stage_dir / VENDOR_DIR
    if vendor.is_symlink() or vendor.exists():
        vendor.unlink()
    if not (root / VENDOR_DIR / "mathjax").is_dir():
        raise RunnerError(f"{root / VENDOR_DIR / 'mathjax'} is missing: run `make mathjax`")
    vendor.symlink_to(root / VENDOR_DIR, target_is_directory=True)


def _jupyter_book(stage_dir, out_root, builder):
    command = [
        str(Path(sys.executable).parent / "jupyter-book"),
        "build",
        str(stage_dir),
        "--path-output",
        str(out_root),
        "--builder",
        builder,
        "-W",
        "-n",
        "--keep-going",
    ]
    completed = subprocess.run(command)
    if completed.returncode != 0:
        raise RunnerError(f"jupyter-book build --builder {builder} failed (exit status {completed.returncode})")


def build(stage_dir, out_root):
    """Render the staged book with Jupyter Book, and its PDF into the site; return the path of index.html.

    The HTML site goes to ``_build/html``; the single-page HTML to
    ``_build/singlehtml``, printed by Chromium to ``_build/html/`` + :data:`pdf.PDF_NAME`.
    """
    build_dir = Path(out_root) / "_build"
    for name in ("html", "singlehtml", ".doctrees", "jupyter_execute"):
        shutil.rmtree(build_dir / name, ignore_errors=True)
    _jupyter_book(stage_dir, out_root, "html")
    index = build_dir / "html" / "index.html"
    if not index.is_file():
        raise RunnerError(f"jupyter-book build wrote no {index}")
    _jupyter_book(stage_dir, out_root, "singlehtml")
    root_doc = toc_entries(stage_dir)[0]  # the table of contents' root: singlehtml's only page
    pdf.print_book(build_dir / "singlehtml", build_dir / "html" / pdf.PDF_NAME, root_doc)
    return index.resolve()


def timing_table(runs):
    """The runs' times as plain text, for the terminal."""
    return text_table(reproduce.timing_rows(runs, with_status=True), right=("seconds",))


def check_writable(out_root, stage_dir):
    """Create ``stage_dir`` and make sure files can be written there, before any notebook runs."""
    try:
        stage_dir.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=stage_dir).close()
    except OSError as err:
        raise RunnerError(f"cannot write to the output folder {out_root} (--out): {err}") from None


def run(root=".", out_root=None, quick=False, only=(), parameters=(), timeout=CELL_TIMEOUT, build_html=True):
    """Execute the chapters and build the book; return the process exit status."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < float("inf"):
        raise RunnerError(f"timeout must be a positive number of seconds allowed per cell; got {timeout!r}")
    root = Path(root).resolve()
    out_root = Path(out_root).resolve() if out_root is not None else root
    stage_dir = out_root / "_build" / "executed"
    notebooks = toc_notebooks(root)
    if only:
        unknown = set(only) - {nb.stem for nb in notebooks}
        if unknown:
            raise RunnerError(
                f"--only names {', '.join(sorted(unknown))}, not in _toc.yml "
                f"(chapters: {', '.join(nb.stem for nb in notebooks)})"
            )
        notebooks = [nb for nb in notebooks if nb.stem in only]
    parsed = [parse_parameter(p) for p in parameters]
    stems = {nb.stem for nb in notebooks}
    for target, name, _ in parsed:
        if target is not None and target not in stems:
            raise RunnerError(f"parameter {target}:{name} names no notebook being run")
    check_writable(out_root, stage_dir)
    runs = execute(root, notebooks, stage_dir, parsed, quick=quick, timeout=timeout)
    write_json_atomically(
        stage_dir / "timings.json",
        [dataclasses.asdict(run) for run in runs],
    )
    failures = [run for run in runs if run.error]
    index = None
    if build_html and not failures:
        stage(root, stage_dir)
        write_text_atomically(stage_dir / REPRODUCE_PAGE, reproduce.page(runs, walltime.load(root / walltime.RECORDS)))
        index = build(stage_dir, out_root)
    print(f"\n{timing_table(runs)}", flush=True)
    if failures:
        print(f"\n{len(failures)} of {len(runs)} notebooks failed:", file=sys.stderr)
        for failed in failures:
            print(f"  {failed.notebook}: {failed.error}", file=sys.stderr)
        return 1
    if index is not None:
        print(f"\nThe book is built; open this file in a browser:\n{index}", flush=True)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.book.runner", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="run every chapter with quick=True")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NOTEBOOK",
        help="run only this chapter (file stem); repeatable; implies --no-build",
    )
    parser.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        metavar="[NB:]NAME=VALUE",
        help="set a parameter of every chapter (or of chapter NB)",
    )
    parser.add_argument(
        "--timeout", type=float, default=CELL_TIMEOUT, help=f"seconds allowed per cell (default {CELL_TIMEOUT})"
    )
    parser.add_argument("--root", default=".", help="the book's folder, holding _toc.yml (default: .)")
    parser.add_argument("--out", default=None, help="folder that receives _build/ (default: the project root)")
    parser.add_argument("--no-build", action="store_true", help="execute the notebooks, do not build the HTML")
    args = parser.parse_args(argv)
    try:
        return run(
            root=args.root,
            out_root=args.out,
            quick=args.quick,
            only=args.only,
            parameters=args.parameter,
            timeout=args.timeout,
            build_html=not (args.no_build or args.only),
        )
    except RunnerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
