"""The commands that start, follow and stop a job: dispatch, status, wait, output, results, cancel, redrive."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from burst_client.cli import common
from burst_client.errors import JobWaitTimeout
from burst_client.sdk import Job, JobState, JobStatus

# the combiner's result in `status`/`wait` text output is cut to this many characters (`burst output` prints it all)
RESULT_PREVIEW_CHARS = 500


def _status_text(status: JobStatus) -> str:
    line = (
        f"{status.job_id}: {status.state}, {status.done}/{status.num_batches} batches done, "
        f"{status.failed} failed, {status.pending} pending, {status.elapsed_secs:.1f} s"
    )
    if status.error:
        line += f"\n  {status.error}: {status.cause}"
    return line


def _report(args: argparse.Namespace, job: Job, status: JobStatus, extra: dict[str, Any] | None = None) -> int:
    """Print a job's status and, once it ended, its combiner's result; the exit code of its state."""
    output = job.output() if status.finished else None
    result = output.get("result") if output else None
    if common.wants_json(args):
        document = {**status.as_dict(), "result": result}
        print(json.dumps({**extra, "status": document} if extra is not None else document))
    else:
        print(_status_text(status))
        if output is not None:
            text = json.dumps(result)
            if len(text) > RESULT_PREVIEW_CHARS:
                text = f"{text[:RESULT_PREVIEW_CHARS]}... ({len(text):,} characters: `burst output {job.job_id}`)"
            print(f"  result: {text}")
    return common.STATE_EXIT[status.state] if status.finished else common.Exit.OK


def _follow(args: argparse.Namespace, job: Job, extra: dict[str, Any] | None = None, **wait: Any) -> int:
    quiet = wait.pop("quiet", False)
    try:
        status = job.wait(
            wait.pop("timeout", None), progress=not quiet and not common.wants_json(args) and sys.stderr.isatty()
        )
    except JobWaitTimeout as exc:
        print(f"burst: {exc}", file=sys.stderr)
        if common.wants_json(args):  # the document still says which job, and how far it got
            document = job.status().as_dict()
            print(json.dumps({**extra, "status": document} if extra is not None else document))
        return common.Exit.STILL_RUNNING
    return _report(args, job, status, extra)


def _dispatch_event(args: argparse.Namespace) -> dict[str, Any]:
    event: dict[str, Any] = {}
    if args.file:
        try:
            loaded = json.loads(args.file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise common.UsageError(f"--file {args.file}: {exc}") from None
        if not isinstance(loaded, dict):
            raise common.UsageError(f"--file {args.file}: expected a JSON object")
        event.update(loaded)
    flags = {
        "workerFunctionName": args.worker,
        "combinerFunctionName": args.combiner,
        "datasetStartIndex": args.start,
        "datasetEndIndex": args.end,
        "batchSize": args.batch_size,
        "maxParallelism": args.max_parallelism,
        "jobsTimeoutSecs": args.timeout_secs,
        "toleratedPercentageFailure": args.tolerated_failure,
        "jobParameters": args.params,
    }
    event.update({key: value for key, value in flags.items() if value is not None})
    missing = [
        flag
        for flag, key in (
            ("--worker", "workerFunctionName"),
            ("--combiner", "combinerFunctionName"),
            ("--start", "datasetStartIndex"),
            ("--end", "datasetEndIndex"),
        )
        if key not in event
    ]
    if missing:
        raise common.UsageError(f"dispatch needs {', '.join(missing)} (or a --file holding them)")
    return event


def _started(args: argparse.Namespace, job: Job, text: str) -> dict[str, Any]:
    """Announce a started job: its line (text), or on stderr while --wait --json holds the document back."""
    document = {"jobId": job.job_id, "workflowArn": job.execution_arn, **job.dispatched}
    if not common.wants_json(args):
        print(text, flush=True)
    elif args.wait:
        print(f"burst: job {job.job_id} started", file=sys.stderr, flush=True)
    else:
        print(json.dumps(document))
    return document


def cmd_dispatch(args: argparse.Namespace) -> int:
    job = common.client(args).dispatch_event(_dispatch_event(args))
    dispatched = job.dispatched
    if not common.wants_json(args) and dispatched.get("maxConcurrency", 0) < dispatched.get("maxParallelism", 0):
        print(
            f"burst: at most {dispatched['maxConcurrency']} batches run at once: {dispatched['concurrencyLimit']} "
            "(lower --max-parallelism to match, or ask AWS for a higher Lambda concurrency quota)",
            file=sys.stderr,
        )
    document = _started(args, job, job.job_id)
    return _follow(args, job, document) if args.wait else common.Exit.OK


def cmd_status(args: argparse.Namespace) -> int:
    job = common.client(args).job(args.job_id)
    _report(args, job, job.status())
    return common.Exit.OK


def cmd_wait(args: argparse.Namespace) -> int:
    return _follow(args, common.client(args).job(args.job_id), timeout=args.timeout, quiet=args.quiet)


def cmd_output(args: argparse.Namespace) -> int:
    job = common.client(args).job(args.job_id)
    status = job.status()
    if not status.finished:
        print(f"burst: job {job.job_id} is still running: no result yet (`burst wait {job.job_id}`)", file=sys.stderr)
        return common.Exit.STILL_RUNNING
    output = job.output()
    if output is None:
        if status.state is JobState.CANCELLED:
            why = "it was cancelled before its combiner ran"
        elif status.error:
            why = f"{status.error}: {status.cause}"
        else:
            why = "no combiner result was recorded"
        print(f"burst: job {job.job_id} ended without a result: {why}", file=sys.stderr)
        return common.STATE_EXIT[status.state]
    print(json.dumps(output["result"], indent=None if common.wants_json(args) else 2))
    return common.STATE_EXIT[status.state]


def cmd_results(args: argparse.Namespace) -> int:
    job = common.client(args).job(args.job_id)
    out = args.output.open("w") if args.output else sys.stdout
    count = 0
    try:
        for result in job.results():
            out.write(
                json.dumps({"batchId": result.batch_id, "nresults": result.nresults, "results": result.results}) + "\n"
            )
            count += 1
    finally:
        if args.output:
            out.close()
    if args.output:
        print(f"{count} batch results written to {args.output}", file=sys.stderr)
    return common.Exit.OK


def cmd_cancel(args: argparse.Namespace) -> int:
    job = common.client(args).job(args.job_id)
    if job.cancel():
        common.emit(
            args, {"jobId": job.job_id, "cancelled": True, "state": JobState.CANCELLED}, f"{job.job_id}: cancelled"
        )
        return common.Exit.OK
    state = job.status().state
    common.emit(
        args,
        {"jobId": job.job_id, "cancelled": False, "state": state},
        f"{job.job_id}: had already ended ({state}); nothing to cancel",
    )
    return common.Exit.ALREADY_ENDED


def cmd_redrive(args: argparse.Namespace) -> int:
    job = common.client(args).job(args.job_id).redrive(args.timeout_secs)
    document = _started(args, job, f"{job.job_id}: redrive started")
    return _follow(args, job, document) if args.wait else common.Exit.OK
