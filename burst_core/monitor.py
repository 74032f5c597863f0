"""Watching a job: progress between rounds and the summary that decides Combine vs CombineError."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from burst_core.config import BATCH_FILES_PREFIX
from burst_core.exceptions import InvalidEvent
from burst_core.job import parse_timestamp
from burst_core.persistence import STATUS_FAILED, BatchRecord, TasksTable

logger = logging.getLogger(__name__)

# Budget of the combiner payload for the failed-batch list (the rest goes to S3, see summarize).
FAILED_BATCHES_INLINE_BYTES = 64 * 1024
INLINE_CAUSE_CHARS = 1000
MAX_UNPROCESSED_RANGES = 1000
NOT_RECORDED_ERROR = "Burst.BatchNotRecorded"
TOO_MANY_FAILURES = "Burst.TooManyFailures"
JOB_TIMED_OUT = "Burst.JobTimedOut"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _field(event: Mapping[str, Any], name: str, kind: type) -> Any:
    value = event.get(name)
    if value is None or isinstance(value, bool) or not isinstance(value, kind):
        raise InvalidEvent(f"monitor event: {name} is missing or not a {kind.__name__}: {value!r}")
    return value


def progress(event: Mapping[str, Any], table: TasksTable, *, now: Callable[[], datetime] = _utcnow) -> dict[str, Any]:
    """Between rounds: how many batches are recorded and whether the deadline has passed."""
    job_id = _field(event, "jobId", str)
    start = parse_timestamp(_field(event, "startTime", str))
    deadline = parse_timestamp(_field(event, "deadline", str))
    current = now()
    completed = table.count(job_id)
    return {
        "completed": completed,
        "numBatches": _field(event, "numBatches", int),
        "timedOut": current >= deadline,
        "elapsedSecs": round((current - start).total_seconds(), 3),
    }


def _ranges(ids: Iterable[int]) -> list[list[int]]:
    """Sorted ids as [first, next) ranges."""
    out: list[list[int]] = []
    for batch_id in ids:
        if out and out[-1][1] == batch_id:
            out[-1][1] = batch_id + 1
        else:
            out.append([batch_id, batch_id + 1])
    return out


def _inline_failures(failures: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    """The failed batches that fit the inline budget (causes shortened), and whether all did."""
    inline: list[dict[str, Any]] = []
    used = 2
    for failure in failures:
        short = {**failure, "cause": failure["cause"][:INLINE_CAUSE_CHARS]}
        size = len(json.dumps(short)) + 1
        if used + size > FAILED_BATCHES_INLINE_BYTES:
            return inline, False
        inline.append(short)
        used += size
    return inline, True


def summarize(event: Mapping[str, Any], table: TasksTable, *, now: Callable[[], datetime] = _utcnow) -> dict[str, Any]:
    """After the last round (or at the deadline): which batches succeeded, failed, never ran.

    The tolerated failure percentage decides the job's status from these records:
    ``succeeded`` (go to Combine), ``failed`` or ``timedOut`` (go to CombineError).
    """
    job_id = _field(event, "jobId", str)
    num_batches = _field(event, "numBatches", int)
    tolerated = float(event.get("toleratedPercentageFailure", 10))
    start = parse_timestamp(_field(event, "startTime", str))
    deadline = parse_timestamp(_field(event, "deadline", str))

    recorded: set[int] = set()
    failures: list[dict[str, Any]] = []
    succeeded = 0
    for record in table.records(job_id):
        recorded.add(record.batch_id)
        if record.status == STATUS_FAILED:
            failures.append(_failure(record))
        else:
            succeeded += 1
    missing = [batch_id for batch_id in range(num_batches) if batch_id not in recorded]
    current = now()
    timed_out = bool(missing) and current >= deadline
    unprocessed: list[int] = []
    if timed_out:
        unprocessed = missing  # never started: the deadline passed first
    else:
        failures.extend(
            {
                "batchId": b,
                "error": NOT_RECORDED_ERROR,
                "cause": "no result or error was recorded for this batch (its map iteration failed)",
            }
            for b in missing
        )
        failures.sort(key=lambda failure: int(failure["batchId"]))
    percentage = 100.0 * len(failures) / num_batches
    inline, complete = _inline_failures(failures)
    summary: dict[str, Any] = {
        "numBatches": num_batches,
        "succeededBatches": succeeded,
        "failedBatchCount": len(failures),
        "failedBatches": inline,
        "unprocessedBatchCount": len(unprocessed),
        "unprocessedBatches": _ranges(unprocessed)[:MAX_UNPROCESSED_RANGES],
        "failurePercentage": round(percentage, 3),
        "toleratedPercentageFailure": tolerated,
        "completed": succeeded == num_batches,
        "timedOut": timed_out,
        "elapsedSecs": round((current - start).total_seconds(), 3),
        "failedBatchesS3Uri": None,
        "error": None,
    }
    if not complete:
        key = f"{BATCH_FILES_PREFIX}{job_id}/failed-batches.json"
        summary["failedBatchesS3Uri"] = table.put_json_object(key, failures)
    if timed_out:
        summary.update(
            status="timedOut",
            error=JOB_TIMED_OUT,
            message=f"job {job_id} passed its deadline with {len(unprocessed)} of {num_batches} batches not started",
        )
    elif percentage > tolerated:
        summary.update(
            status="failed",
            error=TOO_MANY_FAILURES,
            message=f"job {job_id}: {len(failures)} of {num_batches} batches failed "
            f"({percentage:.2f}% > tolerated {tolerated:g}%)",
        )
    else:
        summary.update(
            status="succeeded",
            message=f"job {job_id}: {succeeded} of {num_batches} batches succeeded, {len(failures)} failed",
        )
    logger.info("%s", summary["message"])
    return summary


def _failure(record: BatchRecord) -> dict[str, Any]:
    return {"batchId": record.batch_id, "error": record.error or "Unknown", "cause": record.cause or ""}
