"""``results/bench.json``: the benchmark suite's schema, its writer and its readers.

``python -m benchmarks`` (``make bench``) measures the soft SOM op (both of
its paths, at four shapes and in sweeps over B, K and n) and the Kohonen
training loops (and their cold start) and writes the file with
:func:`save_bench`; the book reads it with :func:`load_bench` and shows it
with :func:`bench_table`, :func:`op_figures` and :func:`scaling_series`.

Schema (version 2)::

    {
      "schema_version": 2,
      "provenance": {see tools.provenance.provenance: mode ("full" | "quick"), date,
                     git_commit, python, versions (minisom's and sklearn's too), machine,
                     onednn},
      "figures": [
        {"id": str (unique), "section": str, "description": str, "unit": str,
         "repeats": int,
         "min", "median", "max": float, or null when skipped,
         "target": null or {"comparison": "<=" | ">=", "value": float,
                            "checked_against": str},
         "met": bool (median against the target), or null without a target or when skipped,
         "skipped": null, or why the figure was not measured}, ...
      ]
    }

Every figure is a statistic over ``repeats`` repeated measurements; a target
is met when the median satisfies it.
"""

from __future__ import annotations

import numpy as np

from tools.jsonfile import check_fields, check_object, check_provenance, load_validated, save_validated
from tools.provenance import PACKAGES
from tools.tables import markdown_table

__all__ = [
    "SCHEMA_VERSION",
    "figure",
    "skipped_figure",
    "validate",
    "save_bench",
    "load_bench",
    "bench_table",
    "op_figures",
    "scaling_series",
]

SCHEMA_VERSION = 2
MODES = ("full", "quick")
EXTRA_PACKAGES = ("minisom", "sklearn")  # recorded in the provenance besides tools.provenance.PACKAGES
COMPARISONS = {"<=": lambda value, bound: value <= bound, ">=": lambda value, bound: value >= bound}
TOP_LEVEL = {"schema_version": int, "provenance": dict, "figures": list}
FIGURE_FIELDS = {
    "id": str,
    "section": str,
    "description": str,
    "unit": str,
    "repeats": int,
    "min": (float, type(None)),
    "median": (float, type(None)),
    "max": (float, type(None)),
    "target": (dict, type(None)),
    "met": (bool, type(None)),
    "skipped": (str, type(None)),
}


def figure(figure_id, section, description, unit, values, target=None):
    """A measured figure: min / median / max of ``values``, judged against ``target``.

    Parameters
    ----------
    figure_id : str
        Unique key, e.g. ``"op/4096x400x64/function/ratio_to_matmul_fwd_bwd"``.
    section, description, unit : str
        Grouping, one-line meaning and unit (``"ms"``, ``"x"``, ``"MiB"``, ...).
    values : sequence of float
        One value per repeat, at least one.
    target : (str, float, str) or None
        ``(comparison, value, checked_against)``: e.g. ``("<=", 3.0, "matmul_fwd_bwd")``.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"figure {figure_id}: values must be a non-empty list of finite numbers; got {values!r}")
    median = float(np.median(values))
    record = _record(
        figure_id,
        section,
        description,
        unit,
        repeats=int(values.size),
        low=float(values.min()),
        median=median,
        high=float(values.max()),
        target=target,
    )
    if record["target"] is not None:
        record["met"] = COMPARISONS[record["target"]["comparison"]](median, record["target"]["value"])
    return record


def skipped_figure(figure_id, section, description, unit, reason, target=None):
    """A figure that was not measured, with the reason (e.g. a tensor too large for memory)."""
    if not reason:
        raise ValueError(f"figure {figure_id}: a skipped figure needs a reason")
    record = _record(figure_id, section, description, unit, repeats=0, low=None, median=None, high=None, target=target)
    record["skipped"] = str(reason)
    return record


def _record(figure_id, section, description, unit, *, repeats, low, median, high, target):
    if target is not None:
        comparison, value, checked_against = target
        if comparison not in COMPARISONS:
            raise ValueError(
                f"figure {figure_id}: target comparison must be one of {sorted(COMPARISONS)}; got {comparison!r}"
            )
        target = {"comparison": comparison, "value": float(value), "checked_against": str(checked_against)}
    return {
        "id": str(figure_id),
        "section": str(section),
        "description": str(description),
        "unit": str(unit),
        "repeats": repeats,
        "min": low,
        "median": median,
        "max": high,
        "target": target,
        "met": None,
        "skipped": None,
    }


# --- validation -------------------------------------------------------------


def _check_figure(where, fig):
    check_fields(where, fig, FIGURE_FIELDS)
    target = fig["target"]
    if target is not None:
        check_fields(f"{where}.target", target, {"comparison": str, "value": float, "checked_against": str})
        if target["comparison"] not in COMPARISONS:
            raise ValueError(
                f"{where}.target.comparison must be one of {sorted(COMPARISONS)}; got {target['comparison']!r}"
            )
    stats = [fig[key] for key in ("min", "median", "max")]
    if fig["skipped"] is not None:
        if any(s is not None for s in stats) or fig["met"] is not None or fig["repeats"] != 0:
            raise ValueError(f"{where} is skipped but has measurements (min/median/max, met, repeats)")
        return
    if any(s is None for s in stats):
        raise ValueError(f"{where}: min, median and max must be numbers unless the figure is skipped")
    if fig["repeats"] < 1:
        raise ValueError(f"{where}.repeats must be >= 1; got {fig['repeats']}")
    if not stats[0] <= stats[1] <= stats[2]:
        raise ValueError(f"{where}: min <= median <= max does not hold: {stats}")
    if (target is None) != (fig["met"] is None):
        raise ValueError(f"{where}.met must be a bool exactly when there is a target")
    if target is not None and fig["met"] != COMPARISONS[target["comparison"]](fig["median"], target["value"]):
        raise ValueError(f"{where}.met disagrees with the median and the target")


def validate(data):
    """Raise ValueError naming the first field that does not follow the schema; return ``data``."""
    check_object("the benchmark file", data)
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"schema_version is {data.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    check_fields("", data, TOP_LEVEL)
    check_provenance("provenance", data["provenance"], MODES, (*PACKAGES, *EXTRA_PACKAGES))
    if not data["figures"]:
        raise ValueError("figures must be a non-empty list")
    seen = set()
    for i, fig in enumerate(data["figures"]):
        where = f"figures[{i}]"
        _check_figure(where, fig)
        if fig["id"] in seen:
            raise ValueError(f"{where}.id {fig['id']!r} is a duplicate")
        seen.add(fig["id"])
    return data


def save_bench(path, data):
    """Validate, then write atomically: a failed or invalid run leaves the previous file intact."""
    save_validated(path, data, validate)


def load_bench(path):
    """Read and validate a benchmark file; problems are ValueErrors naming the file and the field."""
    return load_validated(path, validate, "benchmark", missing_hint=": run `make bench`")


# --- presentation -------------------------------------------------------------


def _number(value):
    if value is None:
        return "-"
    magnitude = abs(value)
    if magnitude != 0 and (magnitude >= 1e5 or magnitude < 1e-3):
        return f"{value:.3g}"
    return f"{value:.3f}" if magnitude < 10 else f"{value:.1f}"


def _target_cell(fig):
    target = fig["target"]
    if target is None:
        return ""
    return f"{target['comparison']} {_number(target['value'])} vs {target['checked_against']}"


def _met_cell(fig):
    if fig["skipped"] is not None:
        return f"skipped: {fig['skipped']}"
    return {None: "", True: "yes", False: "**no**"}[fig["met"]]


def _section_table(figures):
    rows = [
        {
            "figure": fig["description"],
            "unit": fig["unit"],
            "min": _number(fig["min"]),
            "median": _number(fig["median"]),
            "max": _number(fig["max"]),
            "target": _target_cell(fig),
            "met": _met_cell(fig),
        }
        for fig in figures
    ]
    return markdown_table(rows, align={"min": "right", "median": "right", "max": "right"})


def bench_table(data, section=None):
    """The figures as Markdown: one table per section, each under its name in bold.

    Parameters
    ----------
    data : dict
        A validated benchmark document (:func:`load_bench`).
    section : str or None
        Only this section (the table without its title); None for all of them.
    """
    sections = list(dict.fromkeys(f["section"] for f in data["figures"]))
    if section is not None:
        if section not in sections:
            raise ValueError(f"section must be one of {sections} or None; got {section!r}")
        return _section_table([f for f in data["figures"] if f["section"] == section])
    return "\n\n".join(
        f"**{name}**\n\n" + _section_table([f for f in data["figures"] if f["section"] == name]) for name in sections
    )


def op_figures(data, metric):
    """The op section's figures for one metric, as ``{shape: {variant: figure}}``.

    Figure ids read ``op/<B>x<K>x<n>/<variant>/<metric>``, e.g.
    ``op_figures(data, "ratio_to_matmul_fwd_bwd")["4096x400x64"]["fast_jit"]``.
    """
    table = {}
    for fig in data["figures"]:
        parts = fig["id"].split("/")
        if parts[0] == "op" and parts[-1] == metric:
            table.setdefault(parts[1], {})[parts[2]] = fig
    return table


def scaling_series(data, axis, metric="time"):
    """One sweep of the scaling figures as plottable series, ``{contender: (sizes, figures)}``.

    Figure ids read ``scaling/<axis>/<B>x<K>x<n>/<contender>/<metric>`` (see
    :mod:`benchmarks.scaling`); ``sizes`` are the values of ``axis`` (one of
    ``"B"``, ``"K"``, ``"n"``) in increasing order and ``figures`` the
    matching figure records. Raises ValueError for an axis with no figures.
    """
    index = {"B": 0, "K": 1, "n": 2}.get(axis)
    if index is None:
        raise ValueError(f"axis must be one of 'B', 'K', 'n'; got {axis!r}")
    points = {}
    for fig in data["figures"]:
        parts = fig["id"].split("/")
        if parts[0] == "scaling" and parts[1] == axis and parts[-1] == metric:
            size = int(parts[2].split("x")[index])
            points.setdefault(parts[3], []).append((size, fig))
    if not points:
        raise ValueError(f"no scaling figures for axis {axis!r} and metric {metric!r}: run `make bench`")
    return {name: tuple(map(list, zip(*sorted(rows, key=lambda row: row[0])))) for name, rows in points.items()}
