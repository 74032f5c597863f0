"""One warm execution environment: a ``bootstrap.py`` process and the pipe protocol to it.

The protocol (both directions: one JSON header line, then ``len`` bytes of body) is described in
:mod:`burst_client.local.bootstrap`, the process's side of it. The worker's stdout and stderr are one pipe: its
log lines, which end with the bootstrap's end-of-logs marker of each invocation before its answer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from burst_client.local.bootstrap import END_MARKER
from burst_client.local.runtime.report import peak_memory_kb
from burst_client.local.runtime.spec import FunctionSpec, WorkerExitError, WorkerTimeoutError

LOG = logging.getLogger(__name__)

BOOTSTRAP = Path(__file__).resolve().parent.parent / "bootstrap.py"
#: How often the peak memory of a worker busy with a long invocation is read, so that a worker that dies (and
#: with it its /proc entry) has had its peak read while it lived; short invocations are not read at all.
PEAK_SAMPLE_SECONDS = 1.0
_READ_SIZE = 65536

LineSink = Callable[[str], None]


@dataclass
class Ready:
    """What the worker said after its init: how long it took, and Lambda's error payload if it failed."""

    init_ms: float
    error: dict[str, Any] | None


def start_worker(python: str, spec: FunctionSpec, code_dir: Path, env: dict[str, str]) -> Worker:
    """Start the bootstrap process of an execution environment for ``spec`` (its init runs on its own)."""
    request_read, request_write = os.pipe()
    response_read, response_write = os.pipe()
    try:
        process = subprocess.Popen(
            # -s -P: no user site-packages, no script directory on sys.path (-I would also ignore the
            # layers' PYTHONPATH; the environment is the function's alone, see .environment)
            [python, "-s", "-P", "-u", str(BOOTSTRAP), str(request_read), str(response_write)],
            cwd=code_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(request_read, response_write),
            start_new_session=True,
        )
    except BaseException:
        for fd in (request_read, request_write, response_read, response_write):
            os.close(fd)
        raise
    os.close(request_read)
    os.close(response_write)
    return Worker(spec, process, request_write, response_read)


class Worker:
    """One warm execution environment: a bootstrap.py process and the three pipes to it."""

    def __init__(self, spec: FunctionSpec, process: subprocess.Popen[bytes], request_fd: int, response_fd: int) -> None:
        assert process.stdout is not None
        self.spec = spec
        self.process = process
        self.pid = process.pid
        self.last_used = time.monotonic()
        self.invocations = 0
        self.peak_kb = 0  # its peak resident memory as last read (VmHWM only grows)
        self._request_fd = request_fd
        self._response_fd = response_fd
        self._log_fd = process.stdout.fileno()
        self._poll = select.poll()
        self._poll.register(self._response_fd, select.POLLIN)
        self._poll.register(self._log_fd, select.POLLIN)
        self._response_buf = bytearray()
        self._log_buf = bytearray()
        self._log_open = True
        self._marker_seen: str | None = None
        self._next_sample = float("inf")  # when _receive next reads the peak memory
        self.log_stream = ""  # its AWS_LAMBDA_LOG_STREAM_NAME: where its invocations log (function_logs)

    # -- protocol -------------------------------------------------------------------------------------------
    def wait_ready(self, deadline: float, on_line: LineSink) -> Ready:
        header, body = self._receive(deadline, None, on_line)
        if body:  # the init failed and the process is exiting: collect its last words
            self._drain_log(on_line)
        else:
            self.peak_memory_mb()  # what the init took, in case it dies before it is read again
        return Ready(float(header.get("init_ms", 0.0)), json.loads(body) if body else None)

    def invoke(self, request: dict[str, Any], payload: bytes, deadline: float, on_line: LineSink) -> tuple[bool, bytes]:
        request["len"] = len(payload)
        self._send(json.dumps(request).encode() + b"\n" + payload)
        self.invocations += 1
        self._next_sample = time.monotonic() + PEAK_SAMPLE_SECONDS
        try:
            header, body = self._receive(deadline, request["id"], on_line)
        finally:
            self._next_sample = float("inf")
        return bool(header["ok"]), body

    def peak_memory_mb(self) -> int:
        """Its peak resident memory: read now while it lives, else as last read (0 if never)."""
        self.peak_kb = max(self.peak_kb, peak_memory_kb(self.pid))
        return self.peak_kb // 1024

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._request_fd, view)
                view = view[written:]
        except OSError as exc:  # EPIPE: the process is gone
            raise WorkerExitError(self._exit_reason()) from exc

    def _take_message(self) -> tuple[dict[str, Any], bytes] | None:
        newline = self._response_buf.find(b"\n")
        if newline < 0:
            return None
        header = json.loads(self._response_buf[:newline])
        end = newline + 1 + int(header["len"])
        if len(self._response_buf) < end:
            return None
        body = bytes(self._response_buf[newline + 1 : end])
        del self._response_buf[:end]
        return header, body

    def _receive(self, deadline: float, request_id: str | None, on_line: LineSink) -> tuple[dict[str, Any], bytes]:
        """Read logs and the answer until both the answer and the end-of-logs marker of request_id are in."""
        message = None
        while True:
            if message is None:
                message = self._take_message()
            if message is not None and (request_id is None or self._marker_seen == request_id):
                return message
            now = time.monotonic()
            if now >= deadline:
                raise WorkerTimeoutError()
            if now >= self._next_sample:  # a long invocation: read its peak while the worker lives
                self.peak_memory_mb()
                self._next_sample = now + PEAK_SAMPLE_SECONDS
            for fd, _event in self._poll.poll((min(deadline, self._next_sample) - now) * 1000):
                try:
                    data = os.read(fd, _READ_SIZE)
                except OSError as exc:  # the runtime is shutting down and closed the pipes
                    raise WorkerExitError(
                        f"the local endpoint is shutting down (its pipe to the worker: {exc.strerror})"
                    ) from exc
                if fd == self._log_fd:
                    if data:
                        self._feed_log(data, on_line)
                    else:
                        self._close_log(on_line)
                elif data:
                    self._response_buf += data
                else:
                    self._poll.unregister(self._response_fd)
                    self._drain_log(on_line)
                    raise WorkerExitError(self._exit_reason())

    def _feed_log(self, data: bytes, on_line: LineSink) -> None:
        self._log_buf += data
        while True:
            newline = self._log_buf.find(b"\n")
            if newline < 0:
                return
            line = bytes(self._log_buf[:newline])
            del self._log_buf[: newline + 1]
            marker = line.find(END_MARKER)
            if marker >= 0:
                self._marker_seen = line[marker + len(END_MARKER) :].decode()
                line = line[:marker]
                if not line:
                    continue
            on_line(line.decode("utf-8", "replace").rstrip("\r"))

    def _close_log(self, on_line: LineSink) -> None:
        if self._log_open:
            self._log_open = False
            self._poll.unregister(self._log_fd)
            if self._log_buf:
                on_line(self._log_buf.decode("utf-8", "replace"))
                self._log_buf.clear()

    def _drain_log(self, on_line: LineSink, timeout: float = 0.5) -> None:
        """After the process died: read what it still wrote to its stdout/stderr."""
        deadline = time.monotonic() + timeout
        while self._log_open and time.monotonic() < deadline:
            ready, _, _ = select.select([self._log_fd], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                break
            data = os.read(self._log_fd, _READ_SIZE)
            if data:
                self._feed_log(data, on_line)
            else:
                self._close_log(on_line)

    def _exit_reason(self) -> str:
        try:
            code = self.process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return "Runtime exited without providing a reason"
        if code < 0:
            return f"Runtime exited with error: signal {-code}"
        if code == 0:
            return "Runtime exited without providing a reason"
        return f"Runtime exited with error: exit status {code}"

    # -- lifecycle ------------------------------------------------------------------------------------------
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker (and anything it started in its session) and release its pipes."""
        if self.process.poll() is None:
            try:
                os.killpg(self.pid, 9)
            except OSError:
                self.process.kill()
        try:
            self.process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            LOG.warning("worker %s of %s did not exit after SIGKILL", self.pid, self.spec.name)
        for fd in (self._request_fd, self._response_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.process.stdout is not None:
            self.process.stdout.close()
