"""A fix to the pinned Sphinx 7.4, loaded by the book's build (``sphinx: extra_extensions``).

Sphinx 7.4 emits some inline scripts twice in every page's ``<head>`` (fixed
upstream in Sphinx 8.2, which Jupyter Book 1 cannot use). sphinx-thebe's
``const THEBE_JS_URL = ...`` then throws "Identifier has already been declared"
in the browser console on every page. This keeps each script once, in order.
"""

__all__ = ["setup", "unique_scripts"]


def _script_key(script):
    """What makes two script entries the same: the file, or the inline body, and the attributes."""
    attributes = getattr(script, "attributes", {})
    # An inline script is registered with filename None by some extensions and "" by others.
    return getattr(script, "filename", script) or None, tuple(sorted(attributes.items()))


def unique_scripts(app, pagename, templatename, context, doctree):
    """Drop repeated entries from the page's ``script_files``, keeping the first of each."""
    first = {}
    for script in context.get("script_files", []):
        first.setdefault(_script_key(script), script)
    if "script_files" in context:
        context["script_files"] = list(first.values())


def setup(app):
    app.connect("html-page-context", unique_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
