"""What the book's chapters compute and draw, outside the ``softsom`` wheel.

``spirals`` is the spiral experiment (``python -m experiments.spirals`` regenerates
``results/spiral.json`` without the book toolchain); ``results``, ``stats`` and
``report`` are its results file, its statistics and its tables. ``checks``,
``manifold``, ``figures`` and ``diagram`` are the smaller analyses and the
drawing code of chapters 1 to 5.
"""
