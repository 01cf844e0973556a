"""The test suite (``make test``; ``make check`` is its fast tier) and the op's stress reference, tests.stress."""
