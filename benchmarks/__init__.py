"""Benchmarks: figures as ratios against a baseline measured in the same process.

Run all with ``make bench`` (``python -m benchmarks``). They are never tests: nothing here
asserts on time; each figure is printed with its goal beside it.
"""
