"""Tables of rows (dicts with the same keys): Markdown for pages, plain text for terminals."""

from __future__ import annotations

__all__ = ["markdown_table", "text_table"]

_RULES = {"left": "---", "right": "---:", "center": ":---:"}


def _cells(rows, formats):
    formats = formats or {}
    columns = list(rows[0])
    return columns, [[format(row[c], formats.get(c, "")) for c in columns] for row in rows]


def markdown_table(rows, formats=None, align=None):
    """A Markdown table, for ``IPython.display.Markdown`` or a generated page.

    Parameters
    ----------
    rows : non-empty list of dict
        One dict per row, all with the same keys (the header, in order).
    formats : dict, optional
        ``{column: format spec}``, e.g. ``{"error": ".1e"}``.
    align : dict, optional
        ``{column: "left" | "right" | "center"}``; left by default.

    A ``|`` inside a cell is escaped, so it cannot split the row.
    """
    if not rows:
        raise ValueError("rows must be a non-empty list of dicts")
    columns, cells = _cells(rows, formats)
    align = align or {}
    unknown = set(align.values()) - set(_RULES)
    if unknown:
        raise ValueError(f"align values must be one of {sorted(_RULES)}; got {sorted(unknown)}")

    def line(values):
        return "| " + " | ".join(str(v).replace("|", "\\|") for v in values) + " |"

    rule = "|" + "|".join(_RULES[align.get(c, "left")] for c in columns) + "|"
    return "\n".join([line(columns), rule, *(line(row) for row in cells)])


def text_table(rows, formats=None, right=()):
    """The rows as aligned plain text (a header, a rule, one line per row); ``right`` columns right-aligned."""
    if not rows:
        raise ValueError("rows must be a non-empty list of dicts")
    columns, cells = _cells(rows, formats)
    widths = [max(len(str(c)), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]

    def line(values):
        return "  ".join(
            f"{v:>{w}}" if c in right else f"{v:<{w}}" for c, v, w in zip(columns, values, widths)
        ).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(row) for row in cells)])
