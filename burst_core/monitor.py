"""The job's summary: which batches succeeded, failed (and why), or never ran; Combine or CombineError.

Summarize runs once, after the last round. It reads every batch's record (not its results), and for
batches without a recorded outcome (no row, a deferred one, or one an original-contract worker wrote
that the state machine never confirmed) it reads the Map Runs' reports (:mod:`burst_core.mapruns`): a
child that failed before it could record its outcome (States.DataLimitExceeded, an EXPRESS child's
States.Timeout) is recorded as failed with that error; one that never started or was aborted, or a
batch still deferred, is unprocessed. The summary is also stored for clients (:func:`keys.summary_key`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from burst_core import keys
from burst_core.exceptions import InvalidEvent
from burst_core.job import DEFAULT_TOLERATED_PERCENTAGE_FAILURE, parse_timestamp
from burst_core.mapruns import ChildFailure, MapRunResults
from burst_core.persistence import BatchFailure, BatchRecord, BatchStatus, TasksTable, outcomes, ranges

logger = logging.getLogger(__name__)

# Budget of the combiner payload for the failed-batch list (the rest goes to S3, see summarize).
FAILED_BATCHES_INLINE_BYTES = 64 * 1024
INLINE_CAUSE_CHARS = 1000
MAX_UNPROCESSED_RANGES = 1000
NOT_RECORDED_ERROR = "Burst.BatchNotRecorded"
TOO_MANY_FAILURES = "Burst.TooManyFailures"
JOB_TIMED_OUT = "Burst.JobTimedOut"
TOLERANCE_EXCEEDED = "States.ExceedToleratedFailureThreshold"

# Why the rounds stopped (dispatchNextBatches' round.stop.reason).
STOP_DONE = "done"
STOP_DEADLINE = "deadline"
STOP_TOLERANCE = "toleranceExceeded"
STOP_MAP_RUN_FAILED = "mapRunFailed"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _field(event: Mapping[str, Any], name: str, kind: type) -> Any:
    value = event.get(name)
    if value is None or isinstance(value, bool) or not isinstance(value, kind):
        raise InvalidEvent(f"monitor event: {name} is missing or not a {kind.__name__}: {value!r}")
    return value


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


def _explains(child: ChildFailure | None, record: BatchRecord | None) -> bool:
    """Whether a child's failure report is the outcome of a batch without one: not an abort, and, for a
    deferred batch, from a child that ran after the deferral."""
    if child is None or child.aborted:
        return False
    if record is None or record.status is not BatchStatus.DEFERRED or not record.ended_at:
        return True
    try:
        return parse_timestamp(child.stopped) >= parse_timestamp(record.ended_at)
    except ValueError:
        return True


def _stop(event: Mapping[str, Any]) -> dict[str, Any]:
    round_ = event.get("round")
    stop = round_.get("stop") if isinstance(round_, Mapping) else None
    return dict(stop) if isinstance(stop, Mapping) else {"reason": STOP_DONE}


def summarize(
    event: Mapping[str, Any],
    table: TasksTable,
    map_runs: MapRunResults,
    *,
    now: Callable[[], datetime] = _utcnow,
) -> dict[str, Any]:
    """After the last round: which batches succeeded, failed, never ran, and the job's status.

    ``succeeded`` (go to Combine) when every batch ran and the failures are within the tolerated
    percentage; ``failed`` (too many failures, or a round stopped at the Map's failure threshold with
    batches never started) or ``timedOut`` (the deadline passed with batches never started) otherwise.
    """
    job_id = _field(event, "jobId", str)
    num_batches = _field(event, "numBatches", int)
    tolerated = float(event.get("toleratedPercentageFailure", DEFAULT_TOLERATED_PERCENTAGE_FAILURE))
    start = parse_timestamp(_field(event, "startTime", str))
    deadline = parse_timestamp(_field(event, "deadline", str))
    execution_name = str(event.get("executionName") or job_id)
    stop = _stop(event)

    outcome = outcomes(table.records(job_id), num_batches)
    failures = list(outcome.failed)
    succeeded = outcome.succeeded
    reported = map_runs.failures(job_id) if outcome.never_ran else {}
    ttl = int(_field(event, "rowTtl", str))  # dispatch's: the job's row expiry
    unprocessed: set[int] = set()
    for batch_id, record in outcome.never_ran.items():
        child = reported.get(batch_id)
        if child is not None and _explains(child, record):
            failures.append(BatchFailure.of(batch_id, child.error, child.cause))
            table.record_failure(job_id, batch_id, error=child.error, cause=child.cause, ttl=ttl)
        else:  # never started, stopped before it ended, or still deferred
            unprocessed.add(batch_id)
    current = now()
    timed_out = bool(unprocessed) and current >= deadline
    if unprocessed and not timed_out and stop["reason"] != STOP_TOLERANCE:
        # no deadline and no failure threshold explains them: they failed with the Map Run's error
        error = stop.get("error") or NOT_RECORDED_ERROR
        cause = stop.get("cause") or "no result or error was recorded for this batch (its child workflow never ended)"
        for batch_id in sorted(unprocessed):
            failures.append(BatchFailure.of(batch_id, error, cause))
            table.record_failure(job_id, batch_id, error=error, cause=cause, ttl=ttl)
        unprocessed = set()
    failures.sort(key=lambda failure: failure.batch_id)
    percentage = 100.0 * len(failures) / num_batches
    failed = [failure.as_dict() for failure in failures]
    inline, complete = _inline_failures(failed)
    unprocessed_ranges = ranges(sorted(unprocessed))
    summary: dict[str, Any] = {
        "numBatches": num_batches,
        "succeededBatches": succeeded,
        "failedBatchCount": len(failures),
        "failedBatches": inline,
        "unprocessedBatchCount": len(unprocessed),
        "unprocessedBatches": unprocessed_ranges[:MAX_UNPROCESSED_RANGES],
        "unprocessedBatchesS3Uri": None,
        "failurePercentage": round(percentage, 3),
        "toleratedPercentageFailure": tolerated,
        "completed": succeeded == num_batches,
        "timedOut": timed_out,
        "elapsedSecs": round((current - start).total_seconds(), 3),
        "failedBatchesS3Uri": None,
        "error": None,
    }
    if not complete:
        summary["failedBatchesS3Uri"] = table.put_json_object(keys.failed_batches_key(job_id, execution_name), failed)
    if len(unprocessed_ranges) > MAX_UNPROCESSED_RANGES:
        summary["unprocessedBatchesS3Uri"] = table.put_json_object(
            keys.unprocessed_batches_key(job_id, execution_name), unprocessed_ranges
        )
    if timed_out:
        summary.update(
            status="timedOut",
            error=JOB_TIMED_OUT,
            message=f"job {job_id} passed its deadline with {len(unprocessed)} of {num_batches} batches not started",
        )
    elif unprocessed:
        summary.update(
            status="failed",
            error=TOO_MANY_FAILURES,
            message=f"job {job_id}: {len(failures)} failed batches exceeded the tolerated {tolerated:g}% of "
            f"{num_batches}, so {len(unprocessed)} batches never ran to an end",
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
    table.put_json_object(keys.summary_key(job_id, execution_name), summary)
    logger.info("%s", summary["message"])
    return summary
