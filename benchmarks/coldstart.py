"""The first training in a fresh process: ``python -m benchmarks.coldstart {ours,minisom} SEED ROWS COLS EPOCHS``.

What a new user meets: scikit-learn's digits (1 797 samples, 64 features),
a ROWS x COLS map, EPOCHS epochs, every other setting at its default, timed
from the map's construction to the end of training, in a process that has
imported the library and loaded the data but trained nothing yet, so that
tracing and XLA compilation are included. Ours is
``KohonenSOM((ROWS, COLS), random_state=SEED, epochs=EPOCHS).fit(X)``
(online rule); MiniSom's is ``MiniSom(ROWS, COLS, 64, random_seed=SEED)``,
``random_weights_init(X)`` and ``train(X, EPOCHS, use_epochs=True)``.

Prints one JSON line: ``{"seconds": float, "quantization_error": float}``
(the mean distance of the samples to their winners, computed by each library,
which both define that way). The defaults differ (MiniSom's radius 1 and
asymptotic decay, ours a radius from a quarter of the grid down to 0.5), so
the two errors are reported, not compared with a target.
"""

from __future__ import annotations

import json
import sys
import time

from softsom._validation import check_positive_int

__all__ = ["CONTENDERS", "run"]

CONTENDERS = ("ours", "minisom")


def _train_ours(X, seed, grid, epochs):
    from softsom import KohonenSOM

    def train():
        return KohonenSOM(grid, random_state=seed, epochs=epochs).fit(X)

    return train


def _train_minisom(X, seed, grid, epochs):
    from minisom import MiniSom

    def train():
        som = MiniSom(*grid, X.shape[1], random_seed=seed)
        som.random_weights_init(X)
        som.train(X, epochs, use_epochs=True)
        return som

    return train


def run(which, seed, grid, epochs):
    """Time the first training of ``which`` in this process; return the JSON record as a dict."""
    if which not in CONTENDERS:
        raise ValueError(f"contender must be one of {CONTENDERS}; got {which!r}")
    from sklearn.datasets import load_digits

    X = load_digits().data
    train = (_train_ours if which == "ours" else _train_minisom)(X, seed, grid, epochs)  # imports, untimed
    start = time.perf_counter()
    som = train()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "quantization_error": float(som.quantization_error(X))}


def main(argv):
    if len(argv) != 5:
        raise ValueError(f"usage: python -m benchmarks.coldstart {{ours,minisom}} SEED ROWS COLS EPOCHS; got {argv!r}")
    which = argv[0]
    try:
        seed, rows, cols, epochs = (int(value) for value in argv[1:])
    except ValueError:
        raise ValueError(f"SEED, ROWS, COLS and EPOCHS must be integers; got {argv[1:]!r}") from None
    for name, value in (("ROWS", rows), ("COLS", cols), ("EPOCHS", epochs)):
        check_positive_int(name, value)
    print(json.dumps(run(which, seed, (rows, cols), epochs)))


if __name__ == "__main__":
    main(sys.argv[1:])
