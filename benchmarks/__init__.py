"""Benchmarks: scripts that time library code side by side and print a table.

Run from the repository root, e.g. `python -m benchmarks.bench_ppo`. Speed claims live here (and
in the experiments whose table is a timing), never in timed unit tests.
"""
