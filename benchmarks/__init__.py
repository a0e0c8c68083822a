"""Benchmarks, printed as JSON ('safecode bench ...' and python -m benchmarks.X)."""
