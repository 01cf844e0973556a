"""``python -m benchmarks [--quick] [--output PATH]``: run the suite, print the table, write the JSON.

Full mode writes ``results/bench.json``; ``--quick`` runs tiny shapes only
to check that the suite works (a few seconds of measuring) and needs
``--output``, so that it never overwrites the real results.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

# Before TensorFlow is imported (also by the memory subprocesses, which inherit it).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks.schema import EXTRA_PACKAGES, SCHEMA_VERSION, bench_table, save_bench  # noqa: E402
from tools.provenance import provenance  # noqa: E402

from .kohonen import coldstart_figures, kohonen_figures  # noqa: E402
from .op import memory_figures, time_figures  # noqa: E402
from .scaling import scaling_figures  # noqa: E402
from .settings import FULL, QUICK  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = ROOT / "results" / "bench.json"


def parse_args(argv):
    """The command line as (settings, output path); ValueError names a bad argument."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny shapes: check that the suite runs")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"where to write the JSON (default {DEFAULT_OUTPUT.relative_to(ROOT)}; required with --quick)",
    )
    args = parser.parse_args(argv)
    if args.quick and args.output is None:
        raise ValueError("--output is required with --quick, so that results/bench.json keeps full-mode figures")
    output = (args.output or DEFAULT_OUTPUT).resolve()
    if output.is_dir():
        raise ValueError(f"--output must be a file path, not a directory: {output}")
    if not output.parent.is_dir():
        raise ValueError(f"--output's directory does not exist: {output.parent}")
    return (QUICK if args.quick else FULL), output


def document(settings, figures):
    """The results document (schema: :mod:`benchmarks.schema`) with this run's provenance."""
    return {
        "schema_version": SCHEMA_VERSION,
        "provenance": provenance(settings.mode, EXTRA_PACKAGES),
        "figures": figures,
    }


def main(argv=None):
    settings, output = parse_args(sys.argv[1:] if argv is None else argv)
    start = time.perf_counter()
    figures = []
    for name, part in (
        ("op timings", time_figures),
        ("op scaling in B, K, n", scaling_figures),
        ("peak memory", memory_figures),
        ("Kohonen training", kohonen_figures),
        ("Kohonen cold start", coldstart_figures),
    ):
        part_start = time.perf_counter()
        figures += part(settings)
        print(f"{name}: {time.perf_counter() - part_start:.0f} s", file=sys.stderr, flush=True)
    data = document(settings, figures)
    save_bench(output, data)
    print(bench_table(data))
    print(f"\n{settings.mode} run: {time.perf_counter() - start:.0f} s; written to {output}")


if __name__ == "__main__":
    main()
