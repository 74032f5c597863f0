"""Write a worker as a plain function; the decorators make it a handler of docs/Interfaces.md.

    from burst_core.worker import batch_worker, item_worker

    @item_worker
    def handler(index, job_parameters):      # one index -> one result (None: nothing to report)
        return {"index": index, "score": score(index, job_parameters["mask"])}

    @batch_worker
    def handler(start, end, job_parameters):  # the batch's range [start, end) -> a list of results
        return [...]

The handler returns ``{"results": [...], "nresults": n}``, or, when the serialised results exceed
what Step Functions passes on (256 KiB; ``inline_limit_bytes``), writes them to
``s3://<resultsBucket>/results/<jobId>/<batchId>.json`` and returns ``{"resultsS3Uri": ..., "nresults": n}``.
Results that are not JSON raise InvalidWorkerOutput, recorded as the batch's error.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from burst_core.exceptions import InvalidWorkerOutput
from burst_core.persistence import JSON_MIME_TYPE, results_key

# Step Functions' state payload limit is 256 KiB; keep room for the rest of the batch's state.
DEFAULT_INLINE_LIMIT_BYTES = 200 * 1024

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def _s3_client() -> Any:
    import boto3  # noqa: PLC0415 - only workers that spill need it

    return boto3.client("s3")


def shape_results(
    event: dict[str, Any], results: Any, *, inline_limit_bytes: int = DEFAULT_INLINE_LIMIT_BYTES, s3: Any = None
) -> dict[str, Any]:
    """The worker output for ``results`` (inline, or written to S3 when too large)."""
    try:
        body = json.dumps(results, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidWorkerOutput(f"batch {event.get('batchId')}: results are not JSON: {exc}") from None
    nresults = len(results) if isinstance(results, list) else 1
    if len(body.encode()) <= inline_limit_bytes:
        return {"results": results, "nresults": nresults}
    bucket = event.get("resultsBucket")
    if not bucket:
        raise InvalidWorkerOutput(
            f"batch {event.get('batchId')}: results of {len(body)} bytes exceed "
            f"{inline_limit_bytes} and the event names no resultsBucket to store them"
        )
    key = results_key(str(event["jobId"]), int(event["batchId"]))
    (s3 or _s3_client()).put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType=JSON_MIME_TYPE)
    return {"resultsS3Uri": f"s3://{bucket}/{key}", "nresults": nresults}


def batch_worker(
    fn: Callable[[int, int, dict[str, Any]], Any] | None = None,
    *,
    inline_limit_bytes: int = DEFAULT_INLINE_LIMIT_BYTES,
) -> Any:
    """Turn ``fn(start, end, job_parameters) -> results`` into a worker handler."""

    def decorate(func: Callable[[int, int, dict[str, Any]], Any]) -> Handler:
        @functools.wraps(func)
        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            results = func(int(event["startIndex"]), int(event["endIndex"]), event.get("jobParameters") or {})
            return shape_results(event, results, inline_limit_bytes=inline_limit_bytes)

        return handler

    return decorate(fn) if fn is not None else decorate


def item_worker(
    fn: Callable[[int, dict[str, Any]], Any] | None = None,
    *,
    inline_limit_bytes: int = DEFAULT_INLINE_LIMIT_BYTES,
) -> Any:
    """Turn ``fn(index, job_parameters) -> result or None`` into a worker handler; the batch's results
    are the list of its non-None results, in index order."""

    def decorate(func: Callable[[int, dict[str, Any]], Any]) -> Handler:
        @functools.wraps(func)
        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            params = event.get("jobParameters") or {}
            found = (func(index, params) for index in range(int(event["startIndex"]), int(event["endIndex"])))
            return shape_results(event, [r for r in found if r is not None], inline_limit_bytes=inline_limit_bytes)

        return handler

    return decorate(fn) if fn is not None else decorate
