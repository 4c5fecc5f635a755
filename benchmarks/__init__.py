"""The benchmark suite: ``python benchmarks/run.py`` (see README.md, "Benchmarks")."""
