"""`burst`: start and follow burst-compute jobs, on AWS or on the local endpoint.

The stack <org>-burst-compute-<stage> is found from --org, --stage and --region (or BURST_ORG,
BURST_STAGE, BURST_REGION, or the config file; see `burst config`); AWS_ENDPOINT_URL points
everything at the local endpoint (`burst local up`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError as BotoClientError

from burst_client import cost, timeline, version
from burst_client.aws import Clients
from burst_client.errors import BatchNotFound, BurstClientError, DispatchRejected, JobWaitTimeout, LogsNotFound
from burst_client.local import add_local_subcommands
from burst_client.logs import BatchLogs, batch_logs, failed_batch_ids
from burst_client.scaffold import add_init_command
from burst_client.sdk import CANCELLED, FAILED, SUCCEEDED, TIMED_OUT, BatchFailure, BurstClient, Job, JobStatus
from burst_client.settings import ENV, ConfigError, Settings, config_path, resolve
from burst_core.config import DEFAULT_MAX_PARALLELISM
from burst_core.exceptions import BurstError
from burst_core.job import DEFAULT_BATCH_SIZE, iso_timestamp
from burst_core.monitor import ranges
from burst_core.orchestration import ExecutionType


class Exit(IntEnum):
    """The exit status of a `burst` command (listed in `burst --help`)."""

    OK = 0
    JOB_FAILED = 1
    USAGE = 2
    JOB_TIMED_OUT = 3
    JOB_CANCELLED = 4
    ERROR = 5
    STILL_RUNNING = 6
    ALREADY_ENDED = 7
    INTERRUPTED = 130  # Ctrl-C: 128 + SIGINT, as shells report it
    BROKEN_PIPE = 141  # the reader of stdout went away (`burst results JOB | head`): 128 + SIGPIPE


STATE_EXIT = {SUCCEEDED: Exit.OK, FAILED: Exit.JOB_FAILED, TIMED_OUT: Exit.JOB_TIMED_OUT, CANCELLED: Exit.JOB_CANCELLED}
# the combiner's result in `status`/`wait` text output is cut to this many characters (`burst output` prints it all)
RESULT_PREVIEW_CHARS = 500
# `burst logs JOB --failed` shows the lines of at most this many failed batches unless --limit says otherwise
LOGS_DEFAULT_LIMIT = 10

EPILOG = """\
examples:
  export BURST_ORG=myorg BURST_STAGE=prod   # or --org/--stage on each command, or `burst config`
  burst dispatch --worker myorg-search-prod-worker --combiner myorg-search-prod-combiner \\
      --start 0 --end 100000 --batch-size 100 --params '{"threshold": 0.8}' --wait
  burst dispatch --file job.json            # fields as in docs/Interfaces.md
  burst status 5f0c6d1e-...                 # state, batches done / failed / pending, the result
  burst wait 5f0c6d1e-... --timeout 600     # progress bar; exit code tells the outcome
  burst output 5f0c6d1e-...                 # the combiner's result alone, as JSON
  burst results 5f0c6d1e-... -o results.jsonl
  burst failures 5f0c6d1e-...               # failed and never-started batches, grouped by error
  burst logs 5f0c6d1e-... --failed          # the worker's log lines of the failed batches
  burst cancel 5f0c6d1e-...
  burst redrive 5f0c6d1e-... --wait         # run only the failed batches again
  burst timeline 5f0c6d1e-...               # timeline-<jobId>.html (works offline) and .png
  burst cost 5f0c6d1e-...                   # what the job cost, from its measured durations
  burst cost --estimate --items 1000000 --batch-size 100 --worker-ms 2000 --worker-mb 1024
  burst local up --port 4566                # the local AWS endpoint
  burst init my-search                      # a new worker/combiner service to deploy beside the stack

settings: --org, --stage, --region, --profile and --json go before or after the command; org, stage,
  region and profile also come from BURST_ORG, BURST_STAGE, BURST_REGION, BURST_PROFILE or the config
  file ($BURST_CONFIG or ~/.config/burst/config.toml); `burst config` shows what is used and why.

exit codes:
  0 success / job succeeded      1 job failed          2 usage error
  3 job timed out                4 job cancelled       5 error (stack not deployed, job not found,
  6 still running after --timeout                        credentials missing, endpoint unreachable)
  7 nothing to do: the job had already ended (cancel)
  130 interrupted (Ctrl-C)       141 stdout closed early (e.g. `| head`)
"""


class UsageError(Exception):
    """A command-line value is wrong (exit code 2)."""


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None


def _json_object(value: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return parsed


def _global_options(parser: argparse.ArgumentParser) -> None:
    """The options every command takes, before or after the command's name. Their defaults are
    SUPPRESS at both levels, so a value given at either level survives; `_settings` resolves the rest."""
    parser.add_argument(
        "--org", default=argparse.SUPPRESS, help=f"organisation the stack was deployed with (${ENV['org']}; janelia)"
    )
    parser.add_argument(
        "-s", "--stage", default=argparse.SUPPRESS, help=f"stage the stack was deployed with (${ENV['stage']}; dev)"
    )
    parser.add_argument(
        "--region", default=argparse.SUPPRESS, help=f"AWS region (${ENV['region']}; else the profile's or AWS_REGION)"
    )
    parser.add_argument("--profile", default=argparse.SUPPRESS, help=f"AWS profile (${ENV['profile']}; AWS_PROFILE)")
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output: one JSON document"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="burst", description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"burst {version()}")
    _global_options(parser)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, handler: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text, description=help_text, parents=[common])
        cmd.set_defaults(func=handler)
        return cmd

    dispatch = command("dispatch", "start a job (prints its jobId)", cmd_dispatch)
    dispatch.add_argument("--file", type=Path, help="JSON file with the dispatch fields (docs/Interfaces.md)")
    dispatch.add_argument("--worker", help="worker function name or ARN")
    dispatch.add_argument("--combiner", help="combiner function name or ARN")
    dispatch.add_argument("--start", type=_int, help="first index (datasetStartIndex)")
    dispatch.add_argument("--end", type=_int, help="one past the last index (datasetEndIndex)")
    dispatch.add_argument("--batch-size", type=_int)
    dispatch.add_argument("--max-parallelism", type=_int)
    dispatch.add_argument("--timeout-secs", type=_int, help="job deadline in seconds (jobsTimeoutSecs)")
    dispatch.add_argument("--tolerated-failure", type=float, help="tolerated failure percentage (0-100)")
    dispatch.add_argument("--params", type=_json_object, help="jobParameters as a JSON object")
    dispatch.add_argument("--wait", action="store_true", help="follow the job until it ends, then show its result")

    command("status", "a job's state and batch counts, and its result once it ended", cmd_status).add_argument(
        "job_id", metavar="JOB_ID"
    )
    command("output", "the combiner's result alone, as JSON", cmd_output).add_argument("job_id", metavar="JOB_ID")
    command("cancel", "stop a job: no new batch starts (exit 7 if it had already ended)", cmd_cancel).add_argument(
        "job_id", metavar="JOB_ID"
    )

    failures = command("failures", "a job's failed and never-started batches, grouped by error", cmd_failures)
    failures.add_argument("job_id", metavar="JOB_ID")
    failures.add_argument("--all", action="store_true", help="every failed batch with its cause")

    logs = command("logs", "the worker's log lines of a batch, from CloudWatch Logs", cmd_logs)
    logs.add_argument("job_id", metavar="JOB_ID")
    logs.add_argument("--batch", type=_int, action="append", metavar="N", help="this batch (repeatable)")
    logs.add_argument("--failed", action="store_true", help="the failed batches (the default without --batch)")
    logs.add_argument(
        "--limit",
        type=_int,
        default=LOGS_DEFAULT_LIMIT,
        help=f"at most this many failed batches ({LOGS_DEFAULT_LIMIT})",
    )

    wait = command("wait", "wait for a job to end, with a progress bar on a terminal, then show its result", cmd_wait)
    wait.add_argument("job_id", metavar="JOB_ID")
    wait.add_argument("--timeout", type=float, help="give up after this many seconds (exit code 6)")
    wait.add_argument("--quiet", action="store_true", help="no progress bar")

    results = command("results", "every batch result as JSON lines", cmd_results)
    results.add_argument("job_id", metavar="JOB_ID")
    results.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")

    redrive = command("redrive", "run a finished job's failed batches again", cmd_redrive)
    redrive.add_argument("job_id", metavar="JOB_ID")
    redrive.add_argument("--timeout-secs", type=_int, help="deadline of the redrive (default: the job's)")
    redrive.add_argument("--wait", action="store_true", help="follow the redrive until it ends")

    timeline = command(
        "timeline", "draw a job's timeline: dispatch, rounds, every batch, monitor, combiner", cmd_timeline
    )
    timeline.add_argument("job_id", metavar="JOB_ID")
    timeline.add_argument("--html", type=Path, help="self-contained HTML file (default timeline-<jobId>.html)")
    timeline.add_argument(
        "--png", type=Path, help="PNG image (default timeline-<jobId>.png, drawn when matplotlib is installed)"
    )

    cost = command("cost", "a job's cost after it ran, or an estimate before (--estimate)", cmd_cost)
    cost.add_argument("job_id", metavar="JOB_ID", nargs="?", help="a job that ran (omit with --estimate)")
    cost.add_argument("--estimate", action="store_true", help="estimate a job before it runs")
    cost.add_argument("--items", type=_int, help="items in the job (with --estimate)")
    cost.add_argument(
        "--batch-size", type=_int, default=DEFAULT_BATCH_SIZE, help=f"items per batch (default {DEFAULT_BATCH_SIZE})"
    )
    cost.add_argument("--worker-ms", type=float, help="average worker duration per batch in ms (with --estimate)")
    cost.add_argument("--worker-mb", type=_int, default=1024, help="worker memory in MB (default 1024)")
    cost.add_argument(
        "--max-parallelism",
        type=_int,
        default=DEFAULT_MAX_PARALLELISM,
        help=f"batches per round (default {DEFAULT_MAX_PARALLELISM})",
    )
    cost.add_argument(
        "--worker-timeout-secs",
        type=_int,
        help="the worker's configured timeout, which decides EXPRESS or STANDARD (default 3 x --worker-ms)",
    )
    cost.add_argument(
        "--execution-type",
        choices=[member.value for member in ExecutionType],
        help="price the batches as this child workflow type (default: the one dispatch would choose)",
    )

    command("config", "the org, stage, region and profile in use, and where each comes from", cmd_config)

    add_init_command(sub, parents=[common])

    local = sub.add_parser("local", help="the local AWS endpoint", description="The local AWS endpoint.")
    add_local_subcommands(local.add_subparsers(dest="local_command", required=True, metavar="COMMAND"))
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    return resolve({key: getattr(args, key, None) for key in ("org", "stage", "region", "profile")})


def _client(args: argparse.Namespace) -> BurstClient:
    settings = _settings(args)
    return BurstClient(settings.org, settings.stage, clients=Clients(region=settings.region, profile=settings.profile))


def _json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def _print(args: argparse.Namespace, data: Any, text: str, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    print(json.dumps(data) if _json(args) else text, file=stream)


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
    if _json(args):
        document = {**status.as_dict(), "result": result}
        print(json.dumps({**extra, "status": document} if extra is not None else document))
    else:
        print(_status_text(status))
        if output is not None:
            text = json.dumps(result)
            if len(text) > RESULT_PREVIEW_CHARS:
                text = f"{text[:RESULT_PREVIEW_CHARS]}... ({len(text):,} characters: `burst output {job.job_id}`)"
            print(f"  result: {text}")
    return STATE_EXIT[status.state] if status.finished else Exit.OK


def _follow(args: argparse.Namespace, job: Job, extra: dict[str, Any] | None = None, **wait: Any) -> int:
    quiet = wait.pop("quiet", False)
    try:
        status = job.wait(wait.pop("timeout", None), progress=not quiet and not _json(args) and sys.stderr.isatty())
    except JobWaitTimeout as exc:
        print(f"burst: {exc}", file=sys.stderr)
        if _json(args):  # the document still says which job, and how far it got
            document = job.status().as_dict()
            print(json.dumps({**extra, "status": document} if extra is not None else document))
        return Exit.STILL_RUNNING
    return _report(args, job, status, extra)


def _dispatch_event(args: argparse.Namespace) -> dict[str, Any]:
    event: dict[str, Any] = {}
    if args.file:
        try:
            loaded = json.loads(args.file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UsageError(f"--file {args.file}: {exc}") from None
        if not isinstance(loaded, dict):
            raise UsageError(f"--file {args.file}: expected a JSON object")
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
        raise UsageError(f"dispatch needs {', '.join(missing)} (or a --file holding them)")
    return event


def _started(args: argparse.Namespace, job: Job, text: str) -> dict[str, Any]:
    """Announce a started job: its line (text), or on stderr while --wait --json holds the document back."""
    document = {"jobId": job.job_id, "workflowArn": job.execution_arn, **job.dispatched}
    if not _json(args):
        print(text, flush=True)
    elif args.wait:
        print(f"burst: job {job.job_id} started", file=sys.stderr, flush=True)
    else:
        print(json.dumps(document))
    return document


def cmd_dispatch(args: argparse.Namespace) -> int:
    job = _client(args).dispatch_event(_dispatch_event(args))
    dispatched = job.dispatched
    if not _json(args) and dispatched.get("maxConcurrency", 0) < dispatched.get("maxParallelism", 0):
        print(
            f"burst: at most {dispatched['maxConcurrency']} batches run at once: {dispatched['concurrencyLimit']} "
            "(lower --max-parallelism to match, or ask AWS for a higher Lambda concurrency quota)",
            file=sys.stderr,
        )
    document = _started(args, job, job.job_id)
    return _follow(args, job, document) if args.wait else Exit.OK


def cmd_status(args: argparse.Namespace) -> int:
    job = _client(args).job(args.job_id)
    _report(args, job, job.status())
    return Exit.OK


def cmd_wait(args: argparse.Namespace) -> int:
    return _follow(args, _client(args).job(args.job_id), timeout=args.timeout, quiet=args.quiet)


def cmd_output(args: argparse.Namespace) -> int:
    job = _client(args).job(args.job_id)
    status = job.status()
    if not status.finished:
        print(f"burst: job {job.job_id} is still running: no result yet (`burst wait {job.job_id}`)", file=sys.stderr)
        return Exit.STILL_RUNNING
    output = job.output()
    if output is None:
        if status.state == CANCELLED:
            why = "it was cancelled before its combiner ran"
        elif status.error:
            why = f"{status.error}: {status.cause}"
        else:
            why = "no combiner result was recorded"
        print(f"burst: job {job.job_id} ended without a result: {why}", file=sys.stderr)
        return STATE_EXIT[status.state]
    print(json.dumps(output["result"], indent=None if _json(args) else 2))
    return STATE_EXIT[status.state]


def cmd_results(args: argparse.Namespace) -> int:
    job = _client(args).job(args.job_id)
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
    return Exit.OK


def _format_ranges(pairs: Sequence[Sequence[int]]) -> str:
    """[first, next) ranges of batch ids as "3, 5-9, 12"."""
    return ", ".join(str(first) if after == first + 1 else f"{first}-{after - 1}" for first, after in pairs)


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
    job = _client(args).job(args.job_id)
    failures = job.failures()
    never = job.never_started()
    never_count = sum(after - first for first, after in never)
    groups = _failure_groups(failures)
    if _json(args):
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
        return Exit.OK
    if not failures and not never:
        print(f"{job.job_id}: no failed batches, none left unstarted")
        return Exit.OK
    print(f"{job.job_id}: {len(failures)} of {job.num_batches} batches failed, {never_count} never started")
    width = max((len(str(group["count"])) for group in groups), default=1)
    for group in groups:
        more = f" ({group['distinctMessages']} different messages)" if group["distinctMessages"] > 1 else ""
        print(f"  {group['count']:>{width}} x {group['error']}: {group['example']}{more}")
        print(f"  {'':>{width}}   batches {_format_ranges(ranges(sorted(group['batchIds'])))}")
    if never:
        print(f"  {never_count:>{width}} x never started: batches {_format_ranges(never)}")
    if args.all:
        for failure in failures:
            print(f"batch {failure.batch_id}: {failure.error}: {failure.cause}")
    elif any(group["distinctMessages"] > 1 for group in groups):
        print(f"(every cause: burst failures {job.job_id} --all)")
    return Exit.OK


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
    job = _client(args).job(args.job_id)
    if args.limit < 1:
        raise UsageError(f"--limit: expected a positive integer, got {args.limit}")
    batch_ids = list(args.batch or [])
    failed: list[int] = []
    if not batch_ids or args.failed:
        failed = failed_batch_ids(job)
        if len(failed) > args.limit and not _json(args):
            print(f"burst: {len(failed)} batches failed: the first {args.limit} shown (--limit)", file=sys.stderr)
        batch_ids += [batch_id for batch_id in failed[: args.limit] if batch_id not in batch_ids]
        if not batch_ids:
            _print(args, {"jobId": job.job_id, "batches": [], "missing": []}, f"{job.job_id}: no failed batches")
            return Exit.OK
    found: list[BatchLogs] = []
    missing: list[dict[str, Any]] = []
    for batch_id in batch_ids:
        try:
            found.append(batch_logs(job, batch_id))
        except (LogsNotFound, BatchNotFound) as exc:  # one batch without logs does not hide the others'
            if len(batch_ids) == 1:
                raise
            missing.append({"batchId": batch_id, "reason": str(exc)})
    if _json(args):
        document = {
            "jobId": job.job_id,
            "failedCount": len(failed),
            "truncated": len(failed) > args.limit,
            "batches": [_batch_logs_document(f) for f in found],
            "missing": missing,
        }
        print(json.dumps(document))
        return Exit.OK if found else Exit.ERROR
    for logs in found:
        print(f"== batch {logs.batch_id}: {logs.log_group} {logs.log_stream} (request {logs.request_id})")
        for line in logs.lines:
            print(f"{iso_timestamp(line.timestamp)} {line.message}")
        if not logs.complete:
            print("(no REPORT line yet: the invocation is running, or its last lines are not ingested yet)")
    for gap in missing:
        print(f"== batch {gap['batchId']}: {gap['reason']}")
    return Exit.OK if found else Exit.ERROR


def cmd_cancel(args: argparse.Namespace) -> int:
    job = _client(args).job(args.job_id)
    if job.cancel():
        _print(args, {"jobId": job.job_id, "cancelled": True, "state": CANCELLED}, f"{job.job_id}: cancelled")
        return Exit.OK
    state = job.status().state
    _print(
        args,
        {"jobId": job.job_id, "cancelled": False, "state": state},
        f"{job.job_id}: had already ended ({state}); nothing to cancel",
    )
    return Exit.ALREADY_ENDED


def cmd_redrive(args: argparse.Namespace) -> int:
    job = _client(args).job(args.job_id).redrive(args.timeout_secs)
    document = _started(args, job, f"{job.job_id}: redrive started")
    return _follow(args, job, document) if args.wait else Exit.OK


def cmd_timeline(args: argparse.Namespace) -> int:
    job = _client(args).job(args.job_id)
    built = timeline.build_timeline(job)
    html = timeline.render_html(built, args.html or Path(f"timeline-{job.job_id}.html"))
    png: Path | None = None
    if args.png is not None or importlib.util.find_spec("matplotlib") is not None:
        png = timeline.render_png(built, args.png or Path(f"timeline-{job.job_id}.png"))
        text = f"timeline written to {html} and {png}"
    else:  # the HTML needs nothing more; the PNG only when asked for, or when matplotlib is there anyway
        text = f"timeline written to {html} (for a PNG too: pip install 'burst-compute[plot]')"
    _print(args, {"html": str(html), "png": str(png) if png else None, **built.as_dict()}, text)
    return Exit.OK


def cmd_cost(args: argparse.Namespace) -> int:
    if args.estimate:
        if args.items is None or args.worker_ms is None:
            raise UsageError("cost --estimate needs --items and --worker-ms")
        report = cost.estimate(
            args.items,
            args.batch_size,
            args.worker_ms,
            args.worker_mb,
            max_parallelism=args.max_parallelism,
            worker_timeout_secs=args.worker_timeout_secs,
            execution_type=args.execution_type,
        )
    else:
        if not args.job_id:
            raise UsageError("cost needs a JOB_ID, or --estimate with --items and --worker-ms")
        report = cost.actual(_client(args).job(args.job_id))
    _print(args, report.as_dict(), report.table())
    return Exit.OK


def cmd_config(args: argparse.Namespace) -> int:
    settings = _settings(args)
    lines = [
        f"{key:<8} {value if value is not None else '(boto3 default)':<24} from {settings.sources[key]}"
        for key, value in (
            ("org", settings.org),
            ("stage", settings.stage),
            ("region", settings.region),
            ("profile", settings.profile),
        )
    ]
    lines.append(f"stack    {settings.org}-burst-compute-{settings.stage}")
    lines.append(f"config file: {config_path()}{'' if config_path().exists() else ' (none)'}")
    _print(args, {**settings.as_dict(), "configFile": str(config_path())}, "\n".join(lines))
    return Exit.OK


def _run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        parser.error(str(exc))  # exits with Exit.USAGE
    except DispatchRejected as exc:
        print(f"burst: dispatch refused the job: {exc}", file=sys.stderr)
        return Exit.USAGE
    except ConfigError as exc:  # a bad --org/--stage, or a bad value in BURST_* or the config file
        print(f"burst: error: {exc}", file=sys.stderr)
        return Exit.USAGE
    except (BurstClientError, BurstError) as exc:  # BurstError: the shared burst_core code (e.g. a refused row query)
        print(f"burst: error: {exc}", file=sys.stderr)
        return Exit.ERROR
    except BotoClientError as exc:
        error = exc.response.get("Error", {})
        print(
            f"burst: error: AWS refused {exc.operation_name}: {error.get('Code')}: {error.get('Message')}",
            file=sys.stderr,
        )
        return Exit.ERROR
    except BotoCoreError as exc:
        print(f"burst: error: {exc}", file=sys.stderr)
        return Exit.ERROR


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _run(build_parser(), argv)
        sys.stdout.flush()  # here, not at exit: a closed pipe is then caught below
        return code
    except KeyboardInterrupt:
        print("burst: interrupted (a job keeps running: `burst cancel JOB_ID` stops it)", file=sys.stderr)
        return Exit.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`burst results JOB | head`). As Python's documentation advises (library
        # signal, "Note on SIGPIPE"), stdout is pointed at devnull so the interpreter's last flush at exit
        # does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return Exit.BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
