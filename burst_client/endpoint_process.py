"""Start the local endpoint (`burst local up`) as a child process and wait until it answers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from burst_client.errors import BurstClientError, EndpointUnreachable

HOST = "127.0.0.1"


class PortTaken(BurstClientError):
    """The port the endpoint should listen on is in use."""


def port_is_free(port: int) -> bool:
    """Whether the endpoint can listen on ``port``: it binds as the endpoint does (SO_REUSEADDR), so connections
    of a previous endpoint still in TIME-WAIT (after `make run`) do not count, a listening socket does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class EndpointProcess:
    """``with EndpointProcess(port) as url:`` runs the endpoint for the block, logs to ``log_path``."""

    def __init__(
        self, port: int, log_path: Path, *, concurrency: int | None = None, ready_timeout: float = 60.0
    ) -> None:
        self.port = port
        self.log_path = log_path
        self.concurrency = concurrency
        self.ready_timeout = ready_timeout
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> str:
        if not port_is_free(self.port):
            raise PortTaken(
                f"port {self.port} on {HOST} is in use (another local endpoint?): stop it or choose "
                "another port (--port, or BURST_LOCAL_PORT for make run)"
            )
        command = [sys.executable, "-m", "burst_client.local", "up", "--port", str(self.port)]
        if self.concurrency is not None:
            command += ["--concurrency", str(self.concurrency)]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ), start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EndpointUnreachable(
                    f"the local endpoint exited at start (see {self.log_path}): "
                    + self.log_path.read_text(errors="replace").strip()[-500:]
                )
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return self.url
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise EndpointUnreachable(
            f"the local endpoint did not answer within {self.ready_timeout:g} s (see {self.log_path})"
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
