"""The local AWS endpoint: moto's server with Step Functions execution on, and Lambda functions run here.

Requests go to a threaded werkzeug server on 127.0.0.1. A WSGI middleware answers
``POST /2015-03-31/functions/{name}/invocations`` itself (from any client, moto's state machine interpreter
included) by running the deployed code in :class:`~burst_client.local.lambda_runtime.LambdaRuntime`, and
passes everything else to moto.
"""

from __future__ import annotations

import argparse
import errno
import io
import json
import logging
import os
import re
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from burst_client.local.function_logs import FunctionLogs, MotoLogs
from burst_client.local.lambda_runtime import (
    DEFAULT_CONCURRENCY,
    DEFAULT_IDLE_TIMEOUT_SECONDS,
    FUNCTION_LOG,
    FunctionSpec,
    Invocation,
    InvokeResult,
    LambdaRuntime,
    LocalLambdaError,
)
from burst_client.local.layers import moto_layer_content

LOG = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_PORT = 4566
DEFAULT_REGION = "us-east-1"
LISTEN_BACKLOG = 1024
CONCURRENCY_ENV = "BURST_LOCAL_CONCURRENCY"

_INVOKE_PATH = re.compile(r"^/(?P<api>[0-9-]+)/functions/(?P<name>[^/]+)/invocations/?$")
_CREDENTIAL = re.compile(r"Credential=(?P<key>[^/]*)/\d{8}/(?P<region>[^/]+)/")
_PYTHON_RUNTIMES = re.compile(r"^python3\.\d+$")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_REASONS = {
    200: "OK",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class LocalEndpointError(Exception):
    """Root of the local endpoint's errors."""


class PortInUseError(LocalEndpointError):
    def __init__(self, port: int) -> None:
        super().__init__(
            f"port {port} on {HOST} is already in use; stop whatever listens there "
            f"(another local endpoint?) or choose another port with --port"
        )
        self.port = port


def concurrency_from_env(default: int = DEFAULT_CONCURRENCY) -> int:
    """The concurrency limit from $BURST_LOCAL_CONCURRENCY, else ``default``."""
    raw = os.environ.get(CONCURRENCY_ENV)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise LocalEndpointError(f"{CONCURRENCY_ENV} must be a positive integer, got {raw!r}") from exc
    if value < 1:
        raise LocalEndpointError(f"{CONCURRENCY_ENV} must be a positive integer, got {raw!r}")
    return value


@dataclass
class EndpointConfig:
    port: int = DEFAULT_PORT  # 0: any free port
    concurrency: int = field(default_factory=concurrency_from_env)
    max_processes: int | None = None  # default: bounded by free memory, see default_max_processes
    region: str = DEFAULT_REGION
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT_SECONDS
    python: str | None = None  # interpreter of the Lambda workers (default: this one)
    work_dir: Path | None = None  # where deployment packages are unpacked (default: a temporary directory)


def _region_and_key(environ: dict[str, Any], default_region: str) -> tuple[str, str]:
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match is None:
        return default_region, ""
    return match["region"], match["key"]


def _account_id(environ: dict[str, Any], access_key: str) -> str:
    """The account moto serves this request from (same precedence as moto.core.responses)."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return str(environ["HTTP_X_MOTO_ACCOUNT_ID"])
    from moto.iam.models import get_account_id_from  # noqa: PLC0415 - moto loads lazily

    return get_account_id_from(access_key)


def function_spec(fn: Any) -> FunctionSpec:
    """Describe a moto ``LambdaFunction`` for the runtime."""
    unqualified_arn = f"arn:{fn.partition}:lambda:{fn.region}:{fn.account_id}:function:{fn.function_name}"
    logging_config = getattr(fn, "logging_config", None) or {}
    return FunctionSpec(
        account_id=fn.account_id,
        region=fn.region,
        name=fn.function_name,
        function_arn=unqualified_arn,
        version=str(fn.version),
        handler=fn.handler or "",
        runtime=fn.run_time or "",
        timeout=int(fn.timeout),
        memory_size=int(fn.memory_size),
        code_sha256=fn.code_sha_256,
        environment=tuple(sorted((str(k), str(v)) for k, v in (fn.environment_vars or {}).items())),
        log_level=logging_config.get("ApplicationLogLevel") if isinstance(logging_config, dict) else None,
        layers=tuple(str(layer["Arn"]) for layer in getattr(fn, "layers", None) or ()),
    )


def _lookup_function(account_id: str, region: str, name: str, qualifier: str | None) -> Any | None:
    """moto's ``LambdaFunction`` for name (or ARN) and qualifier, None if it has no such function."""
    from moto.awslambda.models import lambda_backends  # noqa: PLC0415 - moto loads lazily
    from moto.core.exceptions import ServiceException  # noqa: PLC0415
    from werkzeug.exceptions import HTTPException  # noqa: PLC0415

    try:
        return lambda_backends[account_id][region].get_function(name, qualifier)
    except (HTTPException, ServiceException, ValueError, KeyError):  # moto's ResourceNotFound & co.
        return None


def _is_deployed(spec: FunctionSpec) -> bool:
    """Whether moto still has the function version ``spec`` describes, unchanged."""
    qualifier = None if spec.version == "$LATEST" else spec.version
    fn = _lookup_function(spec.account_id, spec.region, spec.name, qualifier)
    return fn is not None and function_spec(fn) == spec


class LambdaInvokeMiddleware:
    """WSGI middleware: Lambda Invoke runs the deployed code here; every other request goes to ``app``."""

    def __init__(self, app: WSGIApp, runtime: LambdaRuntime, default_region: str = DEFAULT_REGION) -> None:
        self.app = app
        self.runtime = runtime
        self.default_region = default_region

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "")
        if method == "POST":
            match = _INVOKE_PATH.match(path)
            if match is not None:
                return self._invoke(environ, start_response, unquote(match["name"]))
        elif method == "GET" and path.startswith("/2016-08-19/account-settings"):
            return self._account_settings(environ, start_response)
        if self.runtime.function_logs is not None and environ.get("HTTP_X_AMZ_TARGET", "").startswith("Logs_"):
            self.runtime.function_logs.flush()  # a CloudWatch Logs request sees what returned invocations logged
        return self.app(environ, start_response)

    def _account_settings(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        from burst_client.local import workarounds  # noqa: PLC0415 - it imports moto

        if not workarounds.ACCOUNT_SETTINGS_PATH.match(environ.get("PATH_INFO", "")):
            return self.app(environ, start_response)
        region, key = _region_and_key(environ, self.default_region)
        settings = workarounds.lambda_account_settings(_account_id(environ, key), region, self.runtime.concurrency)
        return _respond(
            start_response, InvokeResult(200, {"Content-Type": "application/json"}, json.dumps(settings).encode())
        )

    def _invoke(self, environ: dict[str, Any], start_response: StartResponse, name: str) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(payload)  # for moto, if it answers after all
        query = parse_qs(environ.get("QUERY_STRING", ""))
        region, key = _region_and_key(environ, self.default_region)
        result = self.invoke(
            name,
            query.get("Qualifier", [None])[0],
            payload,
            region=region,
            account=_account_id(environ, key),
            invocation_type=environ.get("HTTP_X_AMZ_INVOCATION_TYPE"),
            log_type=environ.get("HTTP_X_AMZ_LOG_TYPE"),
            client_context=environ.get("HTTP_X_AMZ_CLIENT_CONTEXT"),
        )
        if result is None:
            return self.app(environ, start_response)
        return _respond(start_response, result)

    def invoke(
        self,
        name: str,
        qualifier: str | None,
        payload: bytes,
        *,
        region: str,
        account: str,
        invocation_type: str | None = None,
        log_type: str | None = None,
        client_context: str | None = None,
    ) -> InvokeResult | None:
        """Lambda's Invoke of function ``name`` (a name or an ARN), run here; None when moto is to answer (a
        function it does not have, with its "not found" error, or one that cannot run locally)."""
        if name.startswith("arn:"):
            region = name.split(":")[3] or region
        fn = _lookup_function(account, region, name, qualifier)
        if fn is None:
            return None
        if getattr(fn, "package_type", "Zip") != "Zip" or not _PYTHON_RUNTIMES.match(fn.run_time or ""):
            LOG.warning(
                "%s (%s) cannot run locally: only Python zip functions can; moto answers instead",
                fn.function_name,
                fn.run_time,
            )
            return None
        spec = function_spec(fn)
        invoked_arn = name if name.startswith("arn:") else spec.function_arn
        if qualifier and not name.startswith("arn:"):
            invoked_arn += f":{qualifier}"
        invocation = Invocation(
            payload=payload,
            invocation_type=invocation_type or "RequestResponse",
            log_tail=log_type == "Tail",
            client_context=client_context or None,
            invoked_arn=invoked_arn,
        )
        try:
            return self.runtime.invoke(spec, lambda: bytes(fn.code_bytes), invocation)
        except LocalLambdaError as exc:
            LOG.error("could not run %s: %s", spec.name, exc)
            return InvokeResult(
                500,
                {"Content-Type": "application/json", "x-amzn-ErrorType": "ServiceException"},
                json.dumps({"Type": "Service", "message": str(exc)}).encode(),
            )


def _respond(start_response: StartResponse, result: InvokeResult) -> Iterable[bytes]:
    headers = dict(result.headers)
    headers["Content-Length"] = str(len(result.body))
    start_response(f"{result.status} {_REASONS.get(result.status, 'OK')}", list(headers.items()))
    return [result.body]


def _bind(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HOST, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(port) from exc
        raise LocalEndpointError(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}") from exc
    return sock


class LocalEndpoint:
    """moto + the local Lambda runtime behind one threaded HTTP server on 127.0.0.1.

    Use as a context manager, or ``start()`` ... ``stop()``. ``start`` returns once the port listens.
    """

    def __init__(self, config: EndpointConfig | None = None) -> None:
        self.config = config or EndpointConfig()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.runtime: LambdaRuntime | None = None
        self.function_logs: FunctionLogs | None = None
        self.port = self.config.port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        if self._server is not None:
            raise LocalEndpointError("the local endpoint is already running")
        sock = _bind(self.config.port)
        self.port = sock.getsockname()[1]
        try:
            # moto's state machine interpreter calls the other services at http://localhost:$MOTO_PORT.
            os.environ["MOTO_PORT"] = str(self.port)
            app = self._moto_app()
            self.function_logs = FunctionLogs(MotoLogs())
            self.runtime = LambdaRuntime(
                self.url,
                is_current=_is_deployed,
                concurrency=self.config.concurrency,
                max_processes=self.config.max_processes,
                python=self.config.python,
                work_dir=self.config.work_dir,
                idle_timeout=self.config.idle_timeout,
                function_logs=self.function_logs,
                layer_loader=moto_layer_content,
            )
            from moto.moto_server.werkzeug_app import MotoRequestHandler  # noqa: PLC0415
            from werkzeug.serving import make_server  # noqa: PLC0415

            from burst_client.local import workarounds  # noqa: PLC0415 - it imports moto

            served = LambdaInvokeMiddleware(app, self.runtime, self.config.region)
            workarounds.serve_in_process(served)
            self._server = make_server(
                HOST,
                self.port,
                served,
                threaded=True,
                request_handler=MotoRequestHandler,
                fd=sock.fileno(),
            )
        except BaseException:
            if self.runtime is not None:
                self.runtime.close()
            if self.function_logs is not None:
                self.function_logs.close()
            raise
        finally:
            sock.close()  # the server holds its own duplicate of the descriptor
        self._thread = threading.Thread(target=self._server.serve_forever, name="burst-local-http", daemon=True)
        self._thread.start()
        LOG.info(
            "local AWS endpoint listening on %s (concurrency %d, up to %d worker processes)",
            self.url,
            self.config.concurrency,
            self.runtime.max_processes,
        )

    @staticmethod
    def _moto_app() -> WSGIApp:
        from moto.moto_api._internal.models import moto_api_backend  # noqa: PLC0415 - moto loads slowly
        from moto.moto_server.werkzeug_app import (  # noqa: PLC0415
            DomainDispatcherApplication,
            create_backend_app,
        )

        from burst_client.local import workarounds  # noqa: PLC0415 - it imports moto

        moto_api_backend.set_config({"stepfunctions": {"execute_state_machine": True}})
        applied = workarounds.apply_all()
        if applied:
            LOG.debug("moto workarounds applied: %s", ", ".join(applied))
        return DomainDispatcherApplication(create_backend_app)

    def stop(self) -> None:
        """Stop serving, then kill all Lambda worker processes."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            from burst_client.local import workarounds  # noqa: PLC0415 - it imports moto

            workarounds.serve_in_process(None)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self.runtime is not None:
            self.runtime.close()
        if self.function_logs is not None:
            self.function_logs.close()

    def __enter__(self) -> LocalEndpoint:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


# -- command line -----------------------------------------------------------------------------------------
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
        f"  export AWS_ENDPOINT_URL={endpoint.url} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test "
        f"AWS_DEFAULT_REGION={config.region}",
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
