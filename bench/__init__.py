"""Benchmarks (not collected by pytest): each writes its section of docs/benchmarks.md."""
