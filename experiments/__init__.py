"""What the book's chapters compute and draw, outside the ``softsom`` wheel.

The spiral experiment: ``spirals`` (its three steps, search, evaluate and studies,
and ``python -m experiments.spirals``, which runs them without the book
toolchain), ``training`` (data, models, the training loop), ``search`` (the same
Optuna search for every family), ``references`` (the classical methods),
``results`` (the files' schemas), ``stats`` and ``report`` (tables, contrasts,
verdicts). ``checks``, ``manifold``, ``figures`` and ``diagram`` are the smaller
analyses and the drawing code of the chapters.
"""
