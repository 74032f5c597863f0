"""Worker: score every image of the batch against the mask (docs/Interfaces.md, via burst_core.worker)."""

from __future__ import annotations

from typing import Any

from burst_core.worker import batch_worker
from mask_search.imaging import search


@batch_worker
def handler(start: int, end: int, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The batch's best ``topK`` matches (results too large for the batch's state go to S3 by themselves)."""
    return search(start, end, params["mask"], int(params.get("topK", 10)), float(params.get("threshold", 0.0)))
