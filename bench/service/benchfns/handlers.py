"""Benchmark worker and combiner (raw contract of docs/Interfaces.md)."""

from __future__ import annotations

from typing import Any

from benchfns.work import spin


def noop(event: dict[str, Any], context: Any) -> list[int]:
    return []


def cpu(event: dict[str, Any], context: Any) -> list[int]:
    iterations = int(event["jobParameters"]["iterations"])
    return [spin(iterations) for _ in range(event["startIndex"], event["endIndex"])]


def combine(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"succeededBatches": event["succeededBatches"], "failedBatchCount": event["failedBatchCount"]}
