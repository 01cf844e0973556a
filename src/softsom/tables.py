"""Markdown tables for notebook outputs and generated pages (no TensorFlow import)."""

__all__ = ["markdown_table"]


def markdown_table(rows, formats=None):
    """A Markdown table of a list of dicts (same keys), for ``IPython.display.Markdown``."""
    formats = formats or {}
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [format(row[c], formats.get(c, "")) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
