"""A worker whose results have a chosen size (the results-memory benchmark), written with burst_core's
helpers from the framework's layer: results too large for the batch's state go to S3."""

from __future__ import annotations

from typing import Any

from burst_core.worker import batch_worker

LINE = 100  # bytes of one result, quotes included


@batch_worker
def handler(start: int, end: int, params: dict[str, Any]) -> list[str]:
    """About ``bytes`` of results per batch, and ``s3Bytes`` for every ``s3Every``-th batch."""
    size = int(params["s3Bytes"]) if start % int(params["s3Every"]) == 0 else int(params["bytes"])
    return [f"{start}:{i}:".ljust(LINE - 2, "x") for i in range(max(size // LINE, 1))]
