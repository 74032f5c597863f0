"""The persist step: turn a worker's output (or its error) into the batch's row.

The state machine calls the ``persist`` Lambda after every batch with::

    {"jobId", "batchId", "startedAt", "endedAt", "output": <the worker's return value>}

or, when the worker failed for good::

    {"jobId", "batchId", "startedAt", "endedAt", "error": "...", "cause": "..."}

Worker outputs (see docs/Interfaces.md):

- ``null``: a worker of the original contract that wrote its own row; the row is kept.
- an object with ``results`` (any JSON, or a string when ``resultsMimeType`` is not JSON), optional
  ``resultsMimeType`` and ``nresults``;
- an object with ``resultsS3Uri`` for results the worker wrote to S3 itself;
- any other JSON value: it is the batch's results.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from burst_core.exceptions import InvalidEvent, InvalidWorkerOutput
from burst_core.persistence import JSON_MIME_TYPE, RowTimes, TasksTable

logger = logging.getLogger(__name__)

WORKER_OUTPUT_ERROR = "Burst.InvalidWorkerOutput"
MAX_CAUSE_CHARS = 32 * 1024


def _require(event: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = event.get(name)
    if value is None or isinstance(value, bool) or not isinstance(value, kind):
        raise InvalidEvent(f"persist event: {name} is missing or not a {kind}: {value!r}")
    return value


def _shape_results(output: Any) -> tuple[bytes | None, str | None, str, int]:
    """(body, s3_uri, mime type, nresults) of a worker's non-null output."""
    if isinstance(output, dict) and ("results" in output or "resultsS3Uri" in output):
        mime = output.get("resultsMimeType", JSON_MIME_TYPE)
        if not isinstance(mime, str) or not mime:
            raise InvalidWorkerOutput(f"resultsMimeType must be a non-empty string, got {mime!r}")
        nresults = output.get("nresults")
        if nresults is not None and (isinstance(nresults, bool) or not isinstance(nresults, int)):
            raise InvalidWorkerOutput(f"nresults must be an integer, got {nresults!r}")
        if "resultsS3Uri" in output:
            uri = output["resultsS3Uri"]
            if not isinstance(uri, str) or not uri.startswith("s3://") or "/" not in uri[5:]:
                raise InvalidWorkerOutput(f"resultsS3Uri must look like s3://bucket/key, got {uri!r}")
            return None, uri, mime, nresults if nresults is not None else 0
        results = output["results"]
    else:
        mime, nresults, results = JSON_MIME_TYPE, None, output
    if mime == JSON_MIME_TYPE:
        body = json.dumps(results, separators=(",", ":"), ensure_ascii=False).encode()
    elif isinstance(results, str):
        body = results.encode()
    else:
        raise InvalidWorkerOutput(f"results of type {mime} must be a string, got {type(results).__name__}")
    if nresults is None:
        nresults = len(results) if isinstance(results, list) else 1
    return body, None, mime, nresults


def persist_batch(
    event: Mapping[str, Any],
    table: TasksTable,
    *,
    ttl_days: int,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Write the row for one batch. Idempotent: the same event twice leaves the same one row."""
    if not isinstance(event, Mapping):
        raise InvalidEvent(f"persist event: expected an object, got {type(event).__name__}")
    job_id = _require(event, "jobId", str)
    batch_id = _require(event, "batchId", int)
    started_at, ended_at = event.get("startedAt"), event.get("endedAt")
    ttl = int(clock()) + ttl_days * 86400
    times = RowTimes(
        ttl=ttl,
        started_at=started_at if isinstance(started_at, str) else None,
        ended_at=ended_at if isinstance(ended_at, str) else None,
    )
    if "error" in event:
        cause = str(event.get("cause") or "")
        logger.info("job %s batch %s failed: %s", job_id, batch_id, event["error"])
        return table.put_failure(
            job_id, batch_id, error=str(event["error"]), cause=cause[:MAX_CAUSE_CHARS], times=times
        )
    if "output" not in event:
        raise InvalidEvent("persist event: expected either 'output' (worker result) or 'error'")
    output = event["output"]
    if output is None:
        return table.mark_self_persisted(job_id, batch_id, times)
    try:
        body, uri, mime, nresults = _shape_results(output)
    except InvalidWorkerOutput as exc:
        logger.warning("job %s batch %s: invalid worker output: %s", job_id, batch_id, exc)
        return table.put_failure(job_id, batch_id, error=WORKER_OUTPUT_ERROR, cause=str(exc), times=times)
    return table.put_results(job_id, batch_id, body, mime_type=mime, nresults=nresults, times=times, uri=uri)
