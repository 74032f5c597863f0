"""`burst`: start and follow burst-compute jobs, on AWS or on the local endpoint.

The stack is found from --org and --stage (default janelia / dev) in --region; AWS_ENDPOINT_URL
points everything at the local endpoint (`burst local up`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError as BotoClientError

from burst_client import cost, timeline
from burst_client.aws import Clients
from burst_client.errors import ClientError, DispatchRejected, JobWaitTimeout
from burst_client.local import add_local_subcommands
from burst_client.sdk import CANCELLED, FAILED, SUCCEEDED, TIMED_OUT, BurstClient, Job, JobStatus
from burst_core.config import DEFAULT_MAX_PARALLELISM
from burst_core.exceptions import BurstError
from burst_core.job import DEFAULT_BATCH_SIZE
from burst_core.orchestration import ExecutionType

# Exit codes
EXIT_OK = 0
EXIT_JOB_FAILED = 1
EXIT_USAGE = 2
EXIT_JOB_TIMED_OUT = 3
EXIT_JOB_CANCELLED = 4
EXIT_ERROR = 5
EXIT_STILL_RUNNING = 6

STATE_EXIT = {SUCCEEDED: EXIT_OK, FAILED: EXIT_JOB_FAILED, TIMED_OUT: EXIT_JOB_TIMED_OUT, CANCELLED: EXIT_JOB_CANCELLED}

EPILOG = """\
examples:
  burst dispatch --worker myorg-search-prod-worker --combiner myorg-search-prod-combiner \\
      --start 0 --end 100000 --batch-size 100 --params '{"threshold": 0.8}' --wait
  burst dispatch --file job.json            # fields as in docs/Interfaces.md
  burst status 5f0c6d1e-...                 # state, batches done / failed / pending
  burst wait 5f0c6d1e-... --timeout 600     # progress bar; exit code tells the outcome
  burst results 5f0c6d1e-... -o results.jsonl
  burst failures 5f0c6d1e-...
  burst cancel 5f0c6d1e-...
  burst redrive 5f0c6d1e-... --wait         # run only the failed batches again
  burst timeline 5f0c6d1e-...               # timeline-<jobId>.html (works offline) and .png
  burst cost 5f0c6d1e-...                   # what the job cost, from its measured durations
  burst cost --estimate --items 1000000 --batch-size 100 --worker-ms 2000 --worker-mb 1024
  burst local up --port 4566                # the local AWS endpoint

exit codes:
  0 success / job succeeded      1 job failed          2 usage error
  3 job timed out                4 job cancelled       5 error (stack not deployed, job not found,
  6 still running after --timeout                        credentials missing, endpoint unreachable)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="burst", description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--org", default="janelia", help="organisation the stack was deployed with (default janelia)")
    common.add_argument("-s", "--stage", default="dev", help="stage the stack was deployed with (default dev)")
    common.add_argument("--region", help="AWS region (default: the profile's or AWS_DEFAULT_REGION)")
    common.add_argument("--profile", help="AWS profile")
    common.add_argument("--json", action="store_true", help="machine-readable JSON output")
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
    dispatch.add_argument("--wait", action="store_true", help="follow the job until it ends")

    for name, text, handler in (
        ("status", "a job's state and batch counts", cmd_status),
        ("failures", "a job's failed batches with error and cause", cmd_failures),
        ("cancel", "stop a job: no new batch starts", cmd_cancel),
    ):
        command(name, text, handler).add_argument("job_id", metavar="JOB_ID")

    wait = command("wait", "wait for a job to end, with a progress bar on a terminal", cmd_wait)
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

    local = sub.add_parser("local", help="the local AWS endpoint", description="The local AWS endpoint.")
    add_local_subcommands(local.add_subparsers(dest="local_command", required=True, metavar="COMMAND"))
    return parser


def _client(args: argparse.Namespace) -> BurstClient:
    return BurstClient(args.org, args.stage, clients=Clients(region=args.region, profile=args.profile))


def _print(args: argparse.Namespace, data: Any, text: str, out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    print(json.dumps(data) if args.json else text, file=stream)


def _status_text(status: JobStatus) -> str:
    line = (
        f"{status.job_id}: {status.state}, {status.done}/{status.num_batches} batches done, "
        f"{status.failed} failed, {status.pending} pending, {status.elapsed_secs:.1f} s"
    )
    if status.error:
        line += f"\n  {status.error}: {status.cause}"
    return line


def _follow(args: argparse.Namespace, job: Job, timeout: float | None = None, quiet: bool = False) -> int:
    progress = not quiet and not args.json and sys.stderr.isatty()
    try:
        status = job.wait(timeout, progress=progress)
    except JobWaitTimeout as exc:
        print(f"burst: {exc}", file=sys.stderr)
        return EXIT_STILL_RUNNING
    _print(args, status.as_dict(), _status_text(status))
    return STATE_EXIT[status.state]


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


def cmd_dispatch(args: argparse.Namespace) -> int:
    event = _dispatch_event(args)
    job = _client(args).dispatch_event(event)
    dispatched = job.dispatched
    if not args.json and dispatched.get("maxConcurrency", 0) < dispatched.get("maxParallelism", 0):
        print(
            f"burst: at most {dispatched['maxConcurrency']} batches run at once: {dispatched['concurrencyLimit']} "
            "(lower --max-parallelism to match, or ask AWS for a higher Lambda concurrency quota)",
            file=sys.stderr,
        )
    _print(args, {"jobId": job.job_id, "workflowArn": job.execution_arn, **dispatched}, job.job_id)
    return _follow(args, job) if args.wait else EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    status = _client(args).job(args.job_id).status()
    _print(args, status.as_dict(), _status_text(status))
    return EXIT_OK


def cmd_wait(args: argparse.Namespace) -> int:
    return _follow(args, _client(args).job(args.job_id), args.timeout, args.quiet)


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
    return EXIT_OK


def cmd_failures(args: argparse.Namespace) -> int:
    failures = _client(args).job(args.job_id).failures()
    if args.json:
        print(json.dumps([failure.as_dict() for failure in failures]))
    elif not failures:
        print("no failed batches")
    else:
        for failure in failures:
            cause = failure.cause if len(failure.cause) <= 200 else failure.cause[:200] + "..."
            print(f"batch {failure.batch_id}: {failure.error}: {cause}")
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    job = _client(args).job(args.job_id)
    job.cancel()
    _print(args, {"jobId": job.job_id, "state": CANCELLED}, f"{job.job_id}: cancelled")
    return EXIT_OK


def cmd_redrive(args: argparse.Namespace) -> int:
    job = _client(args).job(args.job_id).redrive(args.timeout_secs)
    _print(args, {"jobId": job.job_id, "workflowArn": job.execution_arn}, f"{job.job_id}: redrive started")
    return _follow(args, job) if args.wait else EXIT_OK


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
    return EXIT_OK


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
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except UsageError as exc:
        parser.error(str(exc))  # exits with EXIT_USAGE
    except DispatchRejected as exc:
        print(f"burst: dispatch refused the job: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ClientError, BurstError) as exc:  # BurstError: the shared burst_core code (e.g. a refused row query)
        print(f"burst: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BotoClientError as exc:
        error = exc.response.get("Error", {})
        print(
            f"burst: error: AWS refused {exc.operation_name}: {error.get('Code')}: {error.get('Message')}",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except BotoCoreError as exc:
        print(f"burst: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("burst: interrupted (the job keeps running; `burst cancel JOB_ID` stops it)", file=sys.stderr)
        return 130
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
