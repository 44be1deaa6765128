"""Benchmarks run by `portal bench ...`: scratch databases, printed figures."""
