"""The local AWS endpoint: moto's server with Step Functions execution on, and Lambda functions run here.

Its command line: ``python -m burst_client.local up``, and ``burst local up`` through :func:`add_local_subcommands`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from burst_client.aws import LOCAL_CREDENTIALS
from burst_client.local.middleware import DEFAULT_REGION
from burst_client.local.runtime import DEFAULT_CONCURRENCY, DEFAULT_IDLE_TIMEOUT_SECONDS, FUNCTION_LOG
from burst_client.local.server import (
    CONCURRENCY_ENV,
    DEFAULT_PORT,
    HOST,
    EndpointConfig,
    LocalEndpoint,
    LocalEndpointError,
    concurrency_from_env,
)

LOG = logging.getLogger(__name__)


class _ConsoleFormatter(logging.Formatter):
    """Function output as is (it already carries "[function request-id]"); our own lines tagged."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name.startswith(FUNCTION_LOG.name):
            return record.getMessage()
        return f"burst-local {record.levelname.lower()}: {super().format(record)}"


class _Truncate(logging.Filter):
    """moto's interpreter logs whole state machine ASTs with its errors: keep the start of such lines."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("moto"):
            message = record.getMessage()
            if len(message) > self.limit:
                record.msg, record.args = message[: self.limit] + " [...]", None
        return True


def _configure_console(verbose: bool) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(_ConsoleFormatter("%(message)s"))
    if not verbose:
        handler.addFilter(_Truncate(500))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # werkzeug logs every request at INFO; moto and botocore are chatty at DEBUG.
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.WARNING)
    for name in ("botocore", "boto3", "urllib3", "moto", "cfnlint"):
        logging.getLogger(name).setLevel(logging.WARNING)


def add_local_subcommands(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``up`` to an argparse subparsers object (for ``burst local up``).

    The parsed command runs as ``args.func(args)`` and returns the exit status.
    """
    up: argparse.ArgumentParser = subparsers.add_parser(
        "up",
        help="run the local AWS endpoint in the foreground",
        description="Run a local AWS endpoint (moto + warm Lambda workers) on 127.0.0.1 until Ctrl-C.",
    )
    up.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on {HOST} (default {DEFAULT_PORT})")
    up.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help=f"account concurrency limit: invocations beyond it get TooManyRequestsException "
        f"(default ${CONCURRENCY_ENV} or {DEFAULT_CONCURRENCY})",
    )
    up.add_argument(
        "--max-processes",
        type=int,
        default=None,
        help="most Lambda worker processes alive at once (default: the concurrency, bounded by free memory)",
    )
    up.add_argument(
        "--idle-timeout",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT_SECONDS,
        help=f"seconds an idle worker stays warm (default {DEFAULT_IDLE_TIMEOUT_SECONDS:.0f})",
    )
    # SUPPRESS: `burst --region R local up` keeps the R given before the command
    up.add_argument(
        "--region", default=argparse.SUPPRESS, help=f"region of unsigned requests (default {DEFAULT_REGION})"
    )
    up.add_argument("-v", "--verbose", action="store_true", help="log every request and worker start")
    up.set_defaults(func=run_up)
    return up


def run_up(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM. Returns the exit status: 1, with one line on stderr, if it cannot start."""
    try:
        concurrency = args.concurrency if args.concurrency is not None else concurrency_from_env()
        if concurrency < 1:
            raise LocalEndpointError(f"--concurrency must be a positive integer, got {concurrency}")
        if args.max_processes is not None and args.max_processes < 1:
            raise LocalEndpointError(f"--max-processes must be a positive integer, got {args.max_processes}")
        config = EndpointConfig(
            port=args.port,
            concurrency=concurrency,
            max_processes=args.max_processes,
            region=getattr(args, "region", None) or DEFAULT_REGION,
            idle_timeout=args.idle_timeout,
        )
    except LocalEndpointError as exc:
        print(f"burst-local: error: {exc}", file=sys.stderr)
        return 1

    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        received.append(signum)
        stop.set()

    # before starting: a Ctrl-C during the start still stops cleanly
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    _configure_console(args.verbose)
    endpoint = LocalEndpoint(config)
    try:
        endpoint.start()
    except LocalEndpointError as exc:
        print(f"burst-local: error: {exc}", file=sys.stderr)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        return 1
    print(f"Local AWS endpoint: {endpoint.url}", flush=True)
    # AWS_DEFAULT_REGION: the AWS CLI v1 reads only this one; v2, boto3 and the Serverless Framework read it too
    print(
        f"  export AWS_ENDPOINT_URL={endpoint.url} AWS_ACCESS_KEY_ID={LOCAL_CREDENTIALS['AWS_ACCESS_KEY_ID']} "
        f"AWS_SECRET_ACCESS_KEY={LOCAL_CREDENTIALS['AWS_SECRET_ACCESS_KEY']} AWS_DEFAULT_REGION={config.region}",
        flush=True,
    )
    print("Press Ctrl-C to stop.", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        name = signal.Signals(received[0]).name if received else "exit"
        LOG.info("stopping (%s)", name)
        endpoint.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m burst_client.local up [...]``."""
    parser = argparse.ArgumentParser(prog="python -m burst_client.local", description=__doc__.split("\n")[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_local_subcommands(subparsers)
    args = parser.parse_args(argv)
    return int(args.func(args))
