"""The local AWS endpoint: moto's server with Step Functions execution on, and Lambda functions run here.

Requests go to a threaded werkzeug server on 127.0.0.1. A WSGI middleware
(:class:`~burst_client.local.middleware.LambdaInvokeMiddleware`) answers Lambda's Invoke itself (from any client,
moto's state machine interpreter included) by running the deployed code in
:class:`~burst_client.local.runtime.LambdaRuntime`, and passes everything else to moto, which runs with the
emulator gaps of :mod:`burst_client.local.moto_patches` patched.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from burst_client.local import moto_lambda
from burst_client.local.function_logs import FunctionLogs, MotoLogs
from burst_client.local.middleware import DEFAULT_REGION, LambdaInvokeMiddleware, WSGIApp
from burst_client.local.runtime import DEFAULT_CONCURRENCY, DEFAULT_IDLE_TIMEOUT_SECONDS, LambdaRuntime

LOG = logging.getLogger(__name__)

HOST = "127.0.0.1"
DEFAULT_PORT = 4566
LISTEN_BACKLOG = 1024
CONCURRENCY_ENV = "BURST_LOCAL_CONCURRENCY"


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
                is_current=moto_lambda.is_deployed,
                concurrency=self.config.concurrency,
                max_processes=self.config.max_processes,
                python=self.config.python,
                work_dir=self.config.work_dir,
                idle_timeout=self.config.idle_timeout,
                function_logs=self.function_logs,
                layer_loader=moto_lambda.layer_content,
            )
            from moto.moto_server.werkzeug_app import MotoRequestHandler  # noqa: PLC0415
            from werkzeug.serving import make_server  # noqa: PLC0415

            from burst_client.local.moto_patches import serve_in_process  # noqa: PLC0415 - it imports moto

            served = LambdaInvokeMiddleware(app, self.runtime, self.config.region)
            serve_in_process(served)
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

        from burst_client.local.moto_patches import apply_all  # noqa: PLC0415 - it imports moto

        moto_api_backend.set_config({"stepfunctions": {"execute_state_machine": True}})
        applied = apply_all()
        if applied:
            LOG.debug("moto workarounds applied: %s", ", ".join(applied))
        return DomainDispatcherApplication(create_backend_app)

    def stop(self) -> None:
        """Stop serving, then kill all Lambda worker processes."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            from burst_client.local.moto_patches import serve_in_process  # noqa: PLC0415 - it imports moto

            serve_in_process(None)
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
