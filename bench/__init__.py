"""Benchmarks: `make bench` (python -m bench) prints the figures of issue 7 as a table."""
