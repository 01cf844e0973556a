"""Project machinery outside the ``softsom`` wheel.

``provenance``, ``atomic``, ``jsonfile`` and ``tables`` serve every generated
file (results, benchmarks, the book's pages); ``tools.book`` builds and checks the book.
"""
