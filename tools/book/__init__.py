"""The book's machinery: ``runner`` (papermill, then Jupyter Book), the generated
``reproduce`` page, ``walltime`` records, a Sphinx fix, and the ``browser`` check."""
