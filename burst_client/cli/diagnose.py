"""The commands that say what went wrong in a job: failures (grouped by error) and logs (a batch's lines)."""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from burst_client.cli import common
from burst_client.errors import BatchNotFound, LogsNotFound
from burst_client.logs import BatchLogs, batch_logs, failed_batch_ids
from burst_client.sdk import BatchFailure
from burst_core.job import iso_timestamp
from burst_core.persistence import ranges

# `burst logs JOB --failed` shows the lines of at most this many failed batches unless --limit says otherwise
LOGS_DEFAULT_LIMIT = 10


def _message(cause: str) -> str:
    """The readable part of a cause: a Lambda error payload's errorMessage, else its first line."""
    try:
        parsed = json.loads(cause)
    except (json.JSONDecodeError, TypeError):
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("errorMessage"), str):
        cause = parsed["errorMessage"]
    line = cause.strip().splitlines()[0] if cause.strip() else ""
    return line if len(line) <= 160 else line[:157] + "..."


def _failure_groups(failures: Sequence[BatchFailure]) -> list[dict[str, Any]]:
    grouped: dict[str, list[BatchFailure]] = defaultdict(list)
    for failure in failures:
        grouped[failure.error].append(failure)
    groups = [
        {
            "error": error,
            "count": len(members),
            "batchIds": [member.batch_id for member in members],
            "example": _message(members[0].cause),
            "distinctMessages": len({_message(member.cause) for member in members}),
        }
        for error, members in grouped.items()
    ]
    return sorted(groups, key=lambda group: (-group["count"], group["error"]))


def cmd_failures(args: argparse.Namespace) -> int:
    job = common.client(args).job(args.job_id)
    failures = job.failures()
    never = job.never_started()
    never_count = sum(after - first for first, after in never)
    groups = _failure_groups(failures)
    if common.wants_json(args):
        document = {
            "jobId": job.job_id,
            "numBatches": job.num_batches,
            "failedCount": len(failures),
            "groups": groups,
            "neverStartedCount": never_count,
            "neverStarted": [list(pair) for pair in never],
        }
        if args.all:
            document["failed"] = [failure.as_dict() for failure in failures]
        print(json.dumps(document))
        return common.Exit.OK
    if not failures and not never:
        print(f"{job.job_id}: no failed batches, none left unstarted")
        return common.Exit.OK
    print(f"{job.job_id}: {len(failures)} of {job.num_batches} batches failed, {never_count} never started")
    width = max((len(str(group["count"])) for group in groups), default=1)
    for group in groups:
        more = f" ({group['distinctMessages']} different messages)" if group["distinctMessages"] > 1 else ""
        print(f"  {group['count']:>{width}} x {group['error']}: {group['example']}{more}")
        print(f"  {'':>{width}}   batches {common.format_ranges(ranges(sorted(group['batchIds'])))}")
    if never:
        print(f"  {never_count:>{width}} x never started: batches {common.format_ranges(never)}")
    if args.all:
        for failure in failures:
            print(f"batch {failure.batch_id}: {failure.error}: {failure.cause}")
    elif any(group["distinctMessages"] > 1 for group in groups):
        print(f"(every cause: burst failures {job.job_id} --all)")
    return common.Exit.OK


def _batch_logs_document(found: BatchLogs) -> dict[str, Any]:
    return {
        "batchId": found.batch_id,
        "requestId": found.request_id,
        "logGroup": found.log_group,
        "logStream": found.log_stream,
        "complete": found.complete,
        "lines": [{"timestamp": iso_timestamp(line.timestamp), "message": line.message} for line in found.lines],
    }


def cmd_logs(args: argparse.Namespace) -> int:
    job = common.client(args).job(args.job_id)
    if args.limit < 1:
        raise common.UsageError(f"--limit: expected a positive integer, got {args.limit}")
    batch_ids = list(args.batch or [])
    failed: list[int] = []
    if not batch_ids or args.failed:
        failed = failed_batch_ids(job)
        if len(failed) > args.limit and not common.wants_json(args):
            print(f"burst: {len(failed)} batches failed: the first {args.limit} shown (--limit)", file=sys.stderr)
        batch_ids += [batch_id for batch_id in failed[: args.limit] if batch_id not in batch_ids]
        if not batch_ids:
            common.emit(args, {"jobId": job.job_id, "batches": [], "missing": []}, f"{job.job_id}: no failed batches")
            return common.Exit.OK
    found: list[BatchLogs] = []
    missing: list[dict[str, Any]] = []
    for batch_id in batch_ids:
        try:
            found.append(batch_logs(job, batch_id))
        except (LogsNotFound, BatchNotFound) as exc:  # one batch without logs does not hide the others'
            if len(batch_ids) == 1:
                raise
            missing.append({"batchId": batch_id, "reason": str(exc)})
    if common.wants_json(args):
        document = {
            "jobId": job.job_id,
            "failedCount": len(failed),
            "truncated": len(failed) > args.limit,
            "batches": [_batch_logs_document(f) for f in found],
            "missing": missing,
        }
        print(json.dumps(document))
        return common.Exit.OK if found else common.Exit.ERROR
    for logs in found:
        print(f"== batch {logs.batch_id}: {logs.log_group} {logs.log_stream} (request {logs.request_id})")
        for line in logs.lines:
            print(f"{iso_timestamp(line.timestamp)} {line.message}")
        if not logs.complete:
            print("(no REPORT line yet: the invocation is running, or its last lines are not ingested yet)")
    for gap in missing:
        print(f"== batch {gap['batchId']}: {gap['reason']}")
    return common.Exit.OK if found else common.Exit.ERROR
