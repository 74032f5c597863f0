"""The CPU-bound unit of work, shared by the Lambda worker and the local baselines."""

from __future__ import annotations


def spin(iterations: int) -> int:
    """Deterministic pure-Python work (about 50 ms for the iterations the benchmark calibrates)."""
    total = 0
    for i in range(iterations):
        total = (total + i * i) % 1_000_003
    return total
