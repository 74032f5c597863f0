"""Write a worker as a plain function; the decorators make it a handler of docs/Interfaces.md.

    from burst_core.worker import batch_worker, item_worker

    @item_worker
    def handler(index, job_parameters):      # one index -> one result (None: nothing to report)
        return {"index": index, "score": score(index, job_parameters["mask"])}

    @batch_worker
    def handler(start, end, job_parameters):  # the batch's range [start, end) -> a list of results
        return [...]

The handler returns ``{"results": [...], "nresults": n}``, or, when the results would not fit in the
batch's Step Functions state, writes them to ``s3://<resultsBucket>/results/<jobId>/<batchId>.json``
and returns ``{"resultsS3Uri": ..., "nresults": n}``. Results that are not JSON raise
InvalidWorkerOutput, recorded as the batch's error.

What fits is computed from the event itself (:func:`inline_limit`): the worker's output joins the
batch's state (the event's fields, job parameters included) under Step Functions' 256 KiB limit, and
is then written to the row as a JSON string, which must fit too. An output over the limit fails its
batch with States.DataLimitExceeded.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from burst_core.exceptions import InvalidWorkerOutput
from burst_core.job import STATE_PAYLOAD_LIMIT_BYTES, state_room
from burst_core.keys import results_key
from burst_core.storage import encode_json, put_json

# Room for what the batch's state holds beside the event's fields and the output: the Lambda
# invocation's response metadata, the retry state, the last error of a retried attempt, timestamps.
STATE_OVERHEAD_BYTES = 8 * 1024
# Room for the row write's other parameters (table, key, expression) beside the output string.
ROW_WRITE_OVERHEAD_BYTES = 4 * 1024

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def _s3_client() -> Any:
    import boto3  # noqa: PLC0415 - only workers that spill need it

    return boto3.client("s3")


def inline_limit(event: dict[str, Any]) -> int:
    """How many bytes of output (as compact JSON) fit in the state of the batch that ``event`` is for."""
    return state_room(event, STATE_OVERHEAD_BYTES)


def _fits(event: dict[str, Any], output: bytes) -> bool:
    """Whether an output (compact JSON) fits in the batch's state, and as a JSON string in the row write."""
    as_string = json.dumps(output.decode())  # how the row write carries it: quotes and backslashes escaped
    return (
        len(output) <= inline_limit(event)
        and len(as_string.encode()) <= STATE_PAYLOAD_LIMIT_BYTES - ROW_WRITE_OVERHEAD_BYTES
    )


def fits_inline(event: dict[str, Any], output: Any) -> bool:
    """Whether ``output`` fits in the batch's state, and as a JSON string in the row write."""
    return _fits(event, encode_json(output))


def shape_results(
    event: dict[str, Any], results: Any, *, inline_limit_bytes: int | None = None, s3: Any = None
) -> dict[str, Any]:
    """The worker output for ``results``: inline when it fits the batch's state (and is at most
    ``inline_limit_bytes``, when given), else written to S3. The results are serialised once."""
    try:
        body = encode_json(results, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidWorkerOutput(f"batch {event.get('batchId')}: results are not JSON: {exc}") from None
    nresults = len(results) if isinstance(results, list) else 1
    # the output {"results": ..., "nresults": n} as compact JSON, without serialising the results again
    inline = b'{"results":' + body + b',"nresults":' + str(nresults).encode() + b"}"
    if _fits(event, inline) and (inline_limit_bytes is None or len(body) <= inline_limit_bytes):
        return {"results": results, "nresults": nresults}
    bucket = event.get("resultsBucket")
    if not bucket:
        raise InvalidWorkerOutput(
            f"batch {event.get('batchId')}: results of {len(body)} bytes do not fit in the batch's state "
            "and the event names no resultsBucket to store them"
        )
    uri = put_json(s3 or _s3_client(), bucket, results_key(str(event["jobId"]), int(event["batchId"])), body)
    return {"resultsS3Uri": uri, "nresults": nresults}


def batch_worker(
    fn: Callable[[int, int, dict[str, Any]], Any] | None = None,
    *,
    inline_limit_bytes: int | None = None,
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
    inline_limit_bytes: int | None = None,
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
