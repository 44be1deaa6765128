"""Benchmarks behind `portal bench`: scratch databases, printed figures."""
