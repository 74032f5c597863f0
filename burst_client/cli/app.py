"""`burst`: start and follow burst-compute jobs, on AWS or on the local endpoint.

The stack <org>-burst-compute-<stage> is found from --org, --stage and --region (or BURST_ORG,
BURST_STAGE, BURST_REGION, or the config file; see `burst config`); AWS_ENDPOINT_URL points
everything at the local endpoint (`burst local up`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError as BotoClientError

from burst_client import version
from burst_client.cli import common, diagnose, jobs, reports
from burst_client.errors import BurstClientError, DispatchRejected
from burst_client.local import add_local_subcommands
from burst_client.scaffold import add_init_command
from burst_client.settings import ConfigError
from burst_core.config import DEFAULT_MAX_PARALLELISM
from burst_core.exceptions import BurstError
from burst_core.job import DEFAULT_BATCH_SIZE
from burst_core.orchestration import ExecutionType

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="burst", description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"burst {version()}")
    common.global_options(parser)
    shared = argparse.ArgumentParser(add_help=False)
    common.global_options(shared)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str, handler: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text, description=help_text, parents=[shared])
        cmd.set_defaults(func=handler)
        return cmd

    dispatch = command("dispatch", "start a job (prints its jobId)", jobs.cmd_dispatch)
    dispatch.add_argument("--file", type=Path, help="JSON file with the dispatch fields (docs/Interfaces.md)")
    dispatch.add_argument("--worker", help="worker function name or ARN")
    dispatch.add_argument("--combiner", help="combiner function name or ARN")
    dispatch.add_argument("--start", type=common.integer, help="first index (datasetStartIndex)")
    dispatch.add_argument("--end", type=common.integer, help="one past the last index (datasetEndIndex)")
    dispatch.add_argument("--batch-size", type=common.integer)
    dispatch.add_argument("--max-parallelism", type=common.integer)
    dispatch.add_argument("--timeout-secs", type=common.integer, help="job deadline in seconds (jobsTimeoutSecs)")
    dispatch.add_argument("--tolerated-failure", type=float, help="tolerated failure percentage (0-100)")
    dispatch.add_argument("--params", type=common.json_object, help="jobParameters as a JSON object")
    dispatch.add_argument("--wait", action="store_true", help="follow the job until it ends, then show its result")

    command("status", "a job's state and batch counts, and its result once it ended", jobs.cmd_status).add_argument(
        "job_id", metavar="JOB_ID"
    )
    command("output", "the combiner's result alone, as JSON", jobs.cmd_output).add_argument("job_id", metavar="JOB_ID")
    command("cancel", "stop a job: no new batch starts (exit 7 if it had already ended)", jobs.cmd_cancel).add_argument(
        "job_id", metavar="JOB_ID"
    )

    failures = command("failures", "a job's failed and never-started batches, grouped by error", diagnose.cmd_failures)
    failures.add_argument("job_id", metavar="JOB_ID")
    failures.add_argument("--all", action="store_true", help="every failed batch with its cause")

    logs = command("logs", "the worker's log lines of a batch, from CloudWatch Logs", diagnose.cmd_logs)
    logs.add_argument("job_id", metavar="JOB_ID")
    logs.add_argument("--batch", type=common.integer, action="append", metavar="N", help="this batch (repeatable)")
    logs.add_argument("--failed", action="store_true", help="the failed batches (the default without --batch)")
    logs.add_argument(
        "--limit",
        type=common.integer,
        default=diagnose.LOGS_DEFAULT_LIMIT,
        help=f"at most this many failed batches ({diagnose.LOGS_DEFAULT_LIMIT})",
    )

    wait = command(
        "wait", "wait for a job to end, with a progress bar on a terminal, then show its result", jobs.cmd_wait
    )
    wait.add_argument("job_id", metavar="JOB_ID")
    wait.add_argument("--timeout", type=float, help="give up after this many seconds (exit code 6)")
    wait.add_argument("--quiet", action="store_true", help="no progress bar")

    results = command("results", "every batch result as JSON lines", jobs.cmd_results)
    results.add_argument("job_id", metavar="JOB_ID")
    results.add_argument("-o", "--output", type=Path, help="write to this file instead of stdout")

    redrive = command("redrive", "run a finished job's failed batches again", jobs.cmd_redrive)
    redrive.add_argument("job_id", metavar="JOB_ID")
    redrive.add_argument("--timeout-secs", type=common.integer, help="deadline of the redrive (default: the job's)")
    redrive.add_argument("--wait", action="store_true", help="follow the redrive until it ends")

    timeline = command(
        "timeline", "draw a job's timeline: dispatch, rounds, every batch, monitor, combiner", reports.cmd_timeline
    )
    timeline.add_argument("job_id", metavar="JOB_ID")
    timeline.add_argument("--html", type=Path, help="self-contained HTML file (default timeline-<jobId>.html)")
    timeline.add_argument(
        "--png", type=Path, help="PNG image (default timeline-<jobId>.png, drawn when matplotlib is installed)"
    )

    cost = command("cost", "a job's cost after it ran, or an estimate before (--estimate)", reports.cmd_cost)
    cost.add_argument("job_id", metavar="JOB_ID", nargs="?", help="a job that ran (omit with --estimate)")
    cost.add_argument("--estimate", action="store_true", help="estimate a job before it runs")
    cost.add_argument("--items", type=common.integer, help="items in the job (with --estimate)")
    cost.add_argument(
        "--batch-size",
        type=common.integer,
        default=DEFAULT_BATCH_SIZE,
        help=f"items per batch (default {DEFAULT_BATCH_SIZE})",
    )
    cost.add_argument("--worker-ms", type=float, help="average worker duration per batch in ms (with --estimate)")
    cost.add_argument("--worker-mb", type=common.integer, default=1024, help="worker memory in MB (default 1024)")
    cost.add_argument(
        "--max-parallelism",
        type=common.integer,
        default=DEFAULT_MAX_PARALLELISM,
        help=f"batches per round (default {DEFAULT_MAX_PARALLELISM})",
    )
    cost.add_argument(
        "--worker-timeout-secs",
        type=common.integer,
        help="the worker's configured timeout, which decides EXPRESS or STANDARD (default 3 x --worker-ms)",
    )
    cost.add_argument(
        "--execution-type",
        choices=[member.value for member in ExecutionType],
        help="price the batches as this child workflow type (default: the one dispatch would choose)",
    )

    command("config", "the org, stage, region and profile in use, and where each comes from", reports.cmd_config)

    add_init_command(sub, parents=[shared])

    local = sub.add_parser("local", help="the local AWS endpoint", description="The local AWS endpoint.")
    add_local_subcommands(local.add_subparsers(dest="local_command", required=True, metavar="COMMAND"))
    return parser


def _run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except common.UsageError as exc:
        parser.error(str(exc))  # exits with common.Exit.USAGE
    except DispatchRejected as exc:
        print(f"burst: dispatch refused the job: {exc}", file=sys.stderr)
        return common.Exit.USAGE
    except ConfigError as exc:  # a bad --org/--stage, or a bad value in BURST_* or the config file
        print(f"burst: error: {exc}", file=sys.stderr)
        return common.Exit.USAGE
    except (BurstClientError, BurstError) as exc:  # BurstError: the shared burst_core code (e.g. a refused row query)
        print(f"burst: error: {exc}", file=sys.stderr)
        return common.Exit.ERROR
    except BotoClientError as exc:
        error = exc.response.get("Error", {})
        print(
            f"burst: error: AWS refused {exc.operation_name}: {error.get('Code')}: {error.get('Message')}",
            file=sys.stderr,
        )
        return common.Exit.ERROR
    except BotoCoreError as exc:
        print(f"burst: error: {exc}", file=sys.stderr)
        return common.Exit.ERROR


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _run(build_parser(), argv)
        sys.stdout.flush()  # here, not at exit: a closed pipe is then caught below
        return code
    except KeyboardInterrupt:
        print("burst: interrupted (a job keeps running: `burst cancel JOB_ID` stops it)", file=sys.stderr)
        return common.Exit.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`burst results JOB | head`). As Python's documentation advises (library
        # signal, "Note on SIGPIPE"), stdout is pointed at devnull so the interpreter's last flush at exit
        # does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return common.Exit.BROKEN_PIPE
