"""The softsom benchmark suite: ``python -m benchmarks`` (``make bench``).

Measures the soft SOM op against a matrix product and a broadcast
implementation (time and peak memory) and the Kohonen training loops against
MiniSom, and writes ``results/bench.json`` (schema: :mod:`benchmarks.schema`).
See ``benchmarks/README.md``.
"""
