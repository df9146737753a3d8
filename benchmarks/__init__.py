"""The benchmark and reproduction scripts. Each runs from a checkout of the repository as
``python benchmarks/<name>.py ...`` or ``python -m benchmarks.<name> ...``; their shared data
(the papers' published numbers, ``paper_results.csv``) is read by :mod:`benchmarks.paper`."""
