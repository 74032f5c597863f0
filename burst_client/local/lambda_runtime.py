"""Runs deployed Lambda functions on this machine in warm worker processes.

One worker process is one execution environment: it imports the handler once (cold start), then serves one
invocation at a time for as long as it stays warm. Workers are pooled per function *configuration* (code
hash, handler, environment, memory, timeout, version); a new configuration gets fresh workers, as on AWS.

The runtime does not know about moto: the caller (the WSGI middleware in :mod:`.server`) describes the
function with a :class:`FunctionSpec` and hands over a callable returning the deployment package.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import json
import logging
import os
import random
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from burst_client.local import ids
from burst_client.local.bootstrap import END_MARKER
from burst_client.local.layers import LayerDirs, LayerError, LayerLoader

if TYPE_CHECKING:
    from burst_client.local.function_logs import FunctionLogs

LOG = logging.getLogger(__name__)
#: Output of the functions' own code (print, logging, tracebacks), one record per line.
FUNCTION_LOG = logging.getLogger("burst_client.local.functions")

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
LOG_TAIL_BYTES = 4096
INIT_TIMEOUT_SECONDS = 10.0
DEFAULT_CONCURRENCY = 1000
DEFAULT_IDLE_TIMEOUT_SECONDS = 600.0
REAP_INTERVAL_SECONDS = 1.0
#: CPU use (fraction of the CPUs this process may run on) from which a function that already has warm workers
#: waits for one of them instead of starting another: a new process cannot add throughput to busy CPUs, and
#: its cold start (~0.1-0.3 s of CPU for a handler importing boto3) takes CPU from the work.
SATURATED_CPU = 0.9
#: How often a queued invocation looks again whether the CPUs are still busy (they may have become idle
#: because every warm worker of its function is blocked, e.g. waiting for I/O).
QUEUE_RECHECK_SECONDS = 0.05
MAX_QUEUE_RECHECK_SECONDS = 5.0
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
_READ_SIZE = 65536

CodeLoader = Callable[[], bytes]
LineSink = Callable[[str], None]


class LocalLambdaError(Exception):
    """Root of the errors of the local Lambda runtime."""


class WorkerTimeoutError(LocalLambdaError):
    """The worker did not answer before the deadline (it has been killed)."""


class WorkerExitError(LocalLambdaError):
    """The worker process exited while it owed an answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FunctionSpec:
    """What identifies an execution environment: workers are shared only between equal specs."""

    account_id: str
    region: str
    name: str
    function_arn: str  # unqualified
    version: str  # "$LATEST" or a published version number
    handler: str
    runtime: str
    timeout: int  # seconds
    memory_size: int  # MB
    code_sha256: str
    environment: tuple[tuple[str, str], ...] = ()
    log_level: str | None = None
    layers: tuple[str, ...] = ()  # layer version ARNs, in the order Lambda merges them (see .layers)

    @property
    def slot(self) -> tuple[str, str, str, str]:
        """The function version this spec configures; a newer spec for the same slot retires old workers."""
        return (self.account_id, self.region, self.name, self.version)


@dataclass(frozen=True)
class Invocation:
    payload: bytes
    invocation_type: str = "RequestResponse"  # or "Event" or "DryRun"
    log_tail: bool = False
    client_context: str | None = None  # base64 JSON, as in the X-Amz-Client-Context header
    invoked_arn: str | None = None


@dataclass
class InvokeResult:
    """An HTTP answer in the shape of the Lambda Invoke API."""

    status: int
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class _Ready:
    init_ms: float
    error: dict[str, Any] | None


def _json_error(status: int, error_type: str, body: dict[str, Any], request_id: str) -> InvokeResult:
    return InvokeResult(
        status,
        {"Content-Type": "application/json", "x-amzn-ErrorType": error_type, "x-amzn-RequestId": request_id},
        json.dumps(body).encode(),
    )


def throttled_result(request_id: str) -> InvokeResult:
    """Lambda's answer when the account's concurrent executions are exhausted."""
    result = _json_error(
        429,
        "TooManyRequestsException",
        {"Type": "User", "message": "Rate Exceeded.", "Reason": "ConcurrentInvocationLimitExceeded"},
        request_id,
    )
    result.headers["Retry-After"] = "1"
    return result


def _code_dir_name(code_sha256: str) -> str:
    try:
        return base64.b64decode(code_sha256, validate=True).hex()
    except (binascii.Error, ValueError):
        return "".join(c if c.isalnum() else "_" for c in code_sha256) or "empty"


def _max_memory_used_mb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


WORK_DIR_PREFIX = "burst-local-"
OWNER_FILE = "owner.pid"


def remove_stale_work_dirs(parent: Path | None = None) -> list[Path]:
    """Remove the temporary work directories of endpoints that died without cleaning up (SIGKILL)."""
    removed = []
    for candidate in Path(parent or tempfile.gettempdir()).glob(f"{WORK_DIR_PREFIX}*"):
        try:
            owner = int((candidate / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not ours, or being created
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
        except PermissionError:
            continue  # alive, someone else's
    return removed


def default_max_processes(concurrency: int) -> int:
    """How many workers may exist at once: the concurrency, bounded by ~100 MB of free memory per worker."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            fields = dict(line.split(":", 1) for line in meminfo)
        available_mb = int(fields["MemAvailable"].split()[0]) // 1024
    except (OSError, KeyError, ValueError):
        return concurrency
    return max(1, min(concurrency, max(16, available_mb // 100)))


def usable_cpus() -> set[int]:
    """The CPUs this process may run on (all of them where the OS cannot say, e.g. macOS)."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


class CpuGauge:
    """Whether more worker processes could add throughput: the busy fraction of the CPUs this process may
    run on (from /proc/stat) and of this process itself, whose Python threads (the server and the state
    machine interpreter) share one interpreter lock and so one CPU. Sampled lazily, at most once per
    ``interval``; where /proc/stat cannot be read only the endpoint's own use counts."""

    def __init__(self, interval: float = 0.1, stat_path: str = "/proc/stat") -> None:
        self.interval = interval
        self._stat_path = stat_path
        self._cpus = {f"cpu{n}".encode() for n in usable_cpus()}
        self._lock = threading.Lock()
        self.machine = 0.0  # busy fraction of our CPUs over the last interval
        self.endpoint = 0.0  # CPU seconds per second of this process over the last interval
        self._last = self._read()
        self._last_own = time.process_time()
        self._last_at = time.monotonic()

    def _read(self) -> tuple[int, int] | None:
        """(busy, total) jiffies summed over our CPUs; None where /proc/stat cannot be read."""
        busy = total = 0
        try:
            with open(self._stat_path, "rb") as stat:
                for line in stat:
                    fields = line.split()
                    if fields and fields[0] in self._cpus:
                        # user nice system idle iowait irq softirq steal (guest time is inside user)
                        ticks = [int(value) for value in fields[1:9]]
                        total += sum(ticks)
                        busy += sum(ticks) - ticks[3] - ticks[4]
        except (OSError, ValueError, IndexError):
            return None
        return (busy, total) if total else None

    def saturated(self) -> bool:
        """The CPUs, or the endpoint's interpreter, were at least SATURATED_CPU busy over the last interval."""
        now = time.monotonic()
        if now - self._last_at >= self.interval and self._lock.acquire(blocking=False):
            try:
                own = time.process_time()
                self.endpoint = (own - self._last_own) / (now - self._last_at)
                sample = self._read()
                if sample is not None and self._last is not None and sample[1] > self._last[1]:
                    self.machine = (sample[0] - self._last[0]) / (sample[1] - self._last[1])
                self._last, self._last_own, self._last_at = sample, own, now
            finally:
                self._lock.release()
        return self.machine >= SATURATED_CPU or self.endpoint >= SATURATED_CPU


class Worker:
    """One warm execution environment: a bootstrap.py process and the three pipes to it."""

    def __init__(self, spec: FunctionSpec, process: subprocess.Popen[bytes], request_fd: int, response_fd: int) -> None:
        assert process.stdout is not None
        self.spec = spec
        self.process = process
        self.pid = process.pid
        self.last_used = time.monotonic()
        self.invocations = 0
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
        self.log_stream = ""  # its AWS_LAMBDA_LOG_STREAM_NAME: where its invocations log (function_logs)

    # -- protocol -------------------------------------------------------------------------------------------
    def wait_ready(self, deadline: float, on_line: LineSink) -> _Ready:
        header, body = self._receive(deadline, None, on_line)
        if body:  # the init failed and the process is exiting: collect its last words
            self._drain_log(on_line)
        return _Ready(float(header.get("init_ms", 0.0)), json.loads(body) if body else None)

    def invoke(self, request: dict[str, Any], payload: bytes, deadline: float, on_line: LineSink) -> tuple[bool, bytes]:
        request["len"] = len(payload)
        self._send(json.dumps(request).encode() + b"\n" + payload)
        self.invocations += 1
        header, body = self._receive(deadline, request["id"], on_line)
        return bool(header["ok"]), body

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
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerTimeoutError()
            for fd, _event in self._poll.poll(remaining * 1000):
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


@dataclass
class _InvocationLog:
    """Log lines of one invocation: echoed to the console as they come, kept for LogType=Tail."""

    function_name: str
    request_id: str
    lines: list[str] = field(default_factory=list)
    size: int = 0
    events: list[tuple[int, str]] | None = None  # every line with its epoch ms, for CloudWatch Logs
    stream: str = ""  # the log stream of the worker that runs the invocation

    def add(self, line: str, console: bool = True) -> None:
        if console:
            FUNCTION_LOG.info("[%s %s] %s", self.function_name, self.request_id, line)
        if self.events is not None:
            self.events.append((time.time_ns() // 1_000_000, line))
        self.lines.append(line)
        self.size += len(line) + 1
        while self.size > 4 * LOG_TAIL_BYTES and len(self.lines) > 1:
            self.size -= len(self.lines.pop(0)) + 1

    def tail(self) -> str:
        data = ("\n".join(self.lines) + "\n").encode()[-LOG_TAIL_BYTES:]
        return base64.b64encode(data).decode()


class LambdaRuntime:
    """Pools of warm workers per function configuration, with an account-wide concurrency limit."""

    def __init__(
        self,
        endpoint_url: str,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        max_processes: int | None = None,
        python: str | None = None,
        work_dir: Path | None = None,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT_SECONDS,
        is_current: Callable[[FunctionSpec], bool] | None = None,
        cpu_gauge: CpuGauge | None = None,
        min_workers: int | None = None,
        function_logs: FunctionLogs | None = None,
        layer_loader: LayerLoader | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.endpoint_url = endpoint_url
        self.concurrency = concurrency
        self.max_processes = max_processes or default_max_processes(concurrency)
        self.python = python or sys.executable
        self.idle_timeout = idle_timeout
        self.function_logs = function_logs  # where invocations' logs go (CloudWatch Logs), if anywhere
        # Below min_workers warm workers a function always gets a new one; above, it gets one only while the
        # CPUs have room (see SATURATED_CPU), else the invocation waits for a warm worker of its function.
        self.min_workers = min_workers or len(usable_cpus())
        self._gauge = cpu_gauge or CpuGauge()
        # Whether a spec still describes a deployed function (idle workers of deleted or reconfigured
        # functions are stopped by the reaper); None: only the idle timeout stops them.
        self._is_current = is_current
        self._own_work_dir = work_dir is None
        if work_dir is None:
            remove_stale_work_dirs()
            work_dir = Path(tempfile.mkdtemp(prefix=WORK_DIR_PREFIX))
            (work_dir / OWNER_FILE).write_text(str(os.getpid()))
        self.work_dir = work_dir
        self._code_root = self.work_dir / "code"
        self._home = self.work_dir / "home"
        self._layers = LayerDirs(self.work_dir / "opt", layer_loader)  # the functions' layers: the local /opt
        self._code_root.mkdir(parents=True, exist_ok=True)
        self._home.mkdir(parents=True, exist_ok=True)

        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)  # a process slot or an idle worker became free
        self._in_flight = 0
        self._processes = 0
        self._idle: dict[FunctionSpec, list[Worker]] = {}
        self._counts: dict[FunctionSpec, int] = {}  # workers per spec, busy or idle
        self._queues: dict[FunctionSpec, threading.Condition] = {}  # invocations waiting for a warm worker
        self._rechecking: set[FunctionSpec] = set()  # queues whose CPU recheck some waiter does
        self.cold_starts = 0  # worker processes started so far
        self._starting = 0  # worker processes being started (slot reserved, init not finished)
        self._workers: set[Worker] = set()
        self._current: dict[tuple[str, str, str, str], FunctionSpec] = {}
        self._code_dirs: dict[str, Path] = {}
        self._code_locks: dict[str, threading.Lock] = {}
        self._closed = False
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap_idle, name="burst-local-reaper", daemon=True)
        self._reaper.start()

    # -- public API -----------------------------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def process_count(self) -> int:
        return self._processes

    def worker_pids(self) -> list[int]:
        with self._cond:
            return sorted(worker.pid for worker in self._workers)

    def invoke(self, spec: FunctionSpec, code: CodeLoader, invocation: Invocation) -> InvokeResult:
        """Invoke the function as the Lambda Invoke API does, for the three invocation types."""
        request_id = str(ids.uuid4())
        if invocation.payload.strip():
            try:
                json.loads(invocation.payload)
            except ValueError as exc:
                return _json_error(
                    400,
                    "InvalidRequestContentException",
                    {"Type": "User", "message": f"Could not parse request body into json: {exc}"},
                    request_id,
                )
        if invocation.invocation_type == "DryRun":
            return InvokeResult(204, {"x-amzn-RequestId": request_id})
        if invocation.invocation_type == "Event":
            thread = threading.Thread(
                target=self._invoke_event,
                args=(spec, code, invocation, request_id),
                name=f"event-{spec.name}-{request_id[:8]}",
                daemon=True,
            )
            thread.start()
            return InvokeResult(202, {"x-amzn-RequestId": request_id})
        if not self._acquire(block=False):
            LOG.warning(
                "throttled %s: %d invocations in flight (limit %d)",
                spec.name,
                self._in_flight,
                self.concurrency,
            )
            return throttled_result(request_id)
        try:
            return self._execute(spec, code, invocation, request_id)
        finally:
            self._release()

    def close(self) -> None:
        """Kill every worker (idle or busy) and remove the unpacked code."""
        with self._cond:
            self._closed = True
            workers = list(self._workers)
            self._idle.clear()
            self._cond.notify_all()
            for queue in self._queues.values():
                queue.notify_all()
        self._stop.set()
        for worker in workers:
            worker.kill()
        if workers:
            LOG.info("stopped %d Lambda worker process(es)", len(workers))
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    # -- concurrency ----------------------------------------------------------------------------------------
    def _acquire(self, block: bool) -> bool:
        with self._cond:
            while self._in_flight >= self.concurrency:
                if not block or self._closed:
                    return False
                self._cond.wait()
            self._in_flight += 1
            return True

    def _release(self) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify_all()

    def _invoke_event(self, spec: FunctionSpec, code: CodeLoader, invocation: Invocation, request_id: str) -> None:
        """Asynchronous invocation: queued until a concurrency slot is free, as Lambda's event queue does."""
        if not self._acquire(block=True):
            return
        try:
            result = self._execute(spec, code, invocation, request_id)
            if "X-Amz-Function-Error" in result.headers:
                LOG.warning(
                    "async invocation %s of %s failed: %s",
                    request_id,
                    spec.name,
                    result.body.decode(errors="replace"),
                )
        except Exception:
            LOG.exception("async invocation %s of %s could not run", request_id, spec.name)
        finally:
            self._release()

    # -- one invocation -------------------------------------------------------------------------------------
    def _execute(self, spec: FunctionSpec, code: CodeLoader, invocation: Invocation, request_id: str) -> InvokeResult:
        log = _InvocationLog(spec.name, request_id, events=None if self.function_logs is None else [])
        worker, init_ms, init_error = self._checkout(spec, code, log)
        if worker is not None:  # a warm worker (a cold start set it already)
            log.stream = worker.log_stream
        headers = {
            "Content-Type": "application/json",
            "x-amzn-RequestId": request_id,
            "X-Amz-Executed-Version": spec.version,
        }
        log.add(f"START RequestId: {request_id} Version: {spec.version}", console=False)
        started = time.monotonic()
        reusable = False
        try:
            if init_error is not None:
                init_error["requestId"] = request_id
                ok, body = False, json.dumps(init_error).encode()
            else:
                assert worker is not None
                request = {
                    "id": request_id,
                    "deadline_ms": time.time() * 1000 + spec.timeout * 1000,
                    "arn": invocation.invoked_arn or spec.function_arn,
                    "cc": invocation.client_context,
                    "trace": _trace_header(),
                }
                try:
                    ok, body = worker.invoke(request, invocation.payload, started + spec.timeout, log.add)
                    reusable = True
                except WorkerTimeoutError:
                    message = f"Task timed out after {spec.timeout:.2f} seconds"
                    log.add(f"{_utc_now()} {request_id} {message}")
                    ok, body = False, _runtime_error("Sandbox.Timedout", request_id, message)
                except WorkerExitError as exc:
                    log.add(f"RequestId: {request_id} Error: {exc.reason}")
                    ok, body = False, _runtime_error("Runtime.ExitError", request_id, exc.reason)
        finally:
            if worker is not None:
                self._checkin(worker, reusable)
        duration_ms = (time.monotonic() - started) * 1000
        want_report = invocation.log_tail or FUNCTION_LOG.isEnabledFor(logging.DEBUG)
        memory_used = _max_memory_used_mb(worker.pid) if worker is not None and want_report else 0
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: "
            f"{max(1, int(duration_ms + 0.999))} ms\tMemory Size: {spec.memory_size} MB\t"
            f"Max Memory Used: {memory_used} MB"
        )
        if init_ms is not None:
            report += f"\tInit Duration: {init_ms:.2f} ms"
        log.add(f"END RequestId: {request_id}", console=False)
        log.add(report, console=False)
        if want_report:
            FUNCTION_LOG.debug("[%s %s] %s", spec.name, request_id, report.split("\t", 1)[1])
        if not ok:
            headers["X-Amz-Function-Error"] = "Unhandled"
        if invocation.log_tail:
            headers["X-Amz-Log-Result"] = log.tail()
        if self.function_logs is not None and log.events is not None:
            self.function_logs.record(spec, log.stream, log.events, None if worker is None else worker.pid)
        return InvokeResult(200, headers, body)

    # -- worker pools ---------------------------------------------------------------------------------------
    def _checkout(
        self, spec: FunctionSpec, code: CodeLoader, log: _InvocationLog
    ) -> tuple[Worker | None, float | None, dict[str, Any] | None]:
        """A warm worker for spec, or a new one (cold start: returns its init duration and init error)."""
        victims: list[Worker] = []
        rechecks = False  # whether this call holds its queue's CPU-recheck role
        try:
            with self._cond:
                if self._closed:
                    raise LocalLambdaError("the local Lambda runtime is shutting down")
                current = self._current.get(spec.slot)
                if current != spec:
                    self._current[spec.slot] = spec
                    if current is not None:
                        victims.extend(self._idle.pop(current, []))
                        for worker in victims:
                            self._forget_locked(worker)
                while True:
                    idle = self._idle.get(spec)
                    while idle:
                        worker = idle.pop()
                        if worker.alive():
                            return worker, None, None
                        self._forget_locked(worker)
                        victims.append(worker)
                    if self._should_queue(spec):
                        # woken by a checkin or a finished cold start of spec; one waiter of the queue
                        # also looks again every QUEUE_RECHECK_SECONDS whether the CPUs have room now
                        # (the others only every MAX_QUEUE_RECHECK_SECONDS, so long queues do not spin)
                        if not rechecks and spec not in self._rechecking:
                            rechecks = True  # held until this call leaves the queue, see the finally
                            self._rechecking.add(spec)
                        self._queue(spec).wait(QUEUE_RECHECK_SECONDS if rechecks else MAX_QUEUE_RECHECK_SECONDS)
                    elif self._processes < self.max_processes:
                        self._processes += 1
                        self._counts[spec] = self._counts.get(spec, 0) + 1
                        self._starting += 1
                        break
                    elif (victim := self._evict_locked()) is not None:
                        victims.append(victim)
                        continue
                    else:
                        self._cond.wait()
                    if self._closed:
                        raise LocalLambdaError("the local Lambda runtime is shutting down")
        finally:
            if rechecks:  # hand the role on to another waiter of the queue
                with self._cond:
                    self._rechecking.discard(spec)
                    self._queue(spec).notify()
            for worker in victims:
                worker.kill()
        try:
            return self._spawn(spec, code, log)
        finally:
            with self._cond:
                self._starting -= 1
                for queue in self._queues.values():
                    queue.notify()

    def _should_queue(self, spec: FunctionSpec) -> bool:
        """Wait for a warm worker of spec rather than start one: spec has min_workers workers, all busy, and
        either min_workers cold starts are under way (a burst of invocations must not start hundreds of
        processes before the CPUs show the load) or the CPUs are saturated (another process would only
        add a cold start to the work)."""
        if self._counts.get(spec, 0) < self.min_workers:
            return False
        return self._starting >= self.min_workers or self._gauge.saturated()

    def _queue(self, spec: FunctionSpec) -> threading.Condition:
        queue = self._queues.get(spec)
        if queue is None:
            queue = self._queues[spec] = threading.Condition(self._lock)
        return queue

    def _evict_locked(self) -> Worker | None:
        """Make room for a new worker: the least recently used idle worker of any pool."""
        candidates = [(w.last_used, w) for workers in self._idle.values() for w in workers]
        if not candidates:
            return None
        _, worker = min(candidates, key=lambda item: item[0])
        self._idle[worker.spec].remove(worker)
        self._forget_locked(worker)
        return worker

    def _forget_locked(self, worker: Worker) -> None:
        if worker in self._workers:
            self._workers.discard(worker)
            self._release_slot_locked(worker.spec)

    def _release_slot_locked(self, spec: FunctionSpec) -> None:
        self._processes -= 1
        left = self._counts[spec] = self._counts.get(spec, 1) - 1
        if left <= 0:
            del self._counts[spec]
        self._cond.notify_all()
        queue = self._queues.get(spec)
        if queue is not None:  # a queued invocation of spec may now start a worker of its own
            queue.notify()

    def _checkin(self, worker: Worker, reusable: bool) -> None:
        with self._cond:
            keep = reusable and not self._closed and self._current.get(worker.spec.slot) == worker.spec
            if keep:
                worker.last_used = time.monotonic()
                self._idle.setdefault(worker.spec, []).append(worker)
                queue = self._queues.get(worker.spec)
                if queue is not None:
                    queue.notify()
                self._cond.notify_all()
                return
            self._forget_locked(worker)
        worker.kill()

    def _spawn(
        self, spec: FunctionSpec, code: CodeLoader, log: _InvocationLog
    ) -> tuple[Worker | None, float | None, dict[str, Any] | None]:
        started = time.monotonic()
        try:
            code_dir = self._unpack(spec.code_sha256, code)
            env = self._environment(spec, code_dir)
            log.stream = env["AWS_LAMBDA_LOG_STREAM_NAME"]  # also where a failed init's lines go
            request_read, request_write = os.pipe()
            response_read, response_write = os.pipe()
            try:
                process = subprocess.Popen(
                    # -s -P: no user site-packages, no script directory on sys.path (-I would also ignore the
                    # layers' PYTHONPATH; the environment is the function's alone, see _environment)
                    [self.python, "-s", "-P", "-u", str(BOOTSTRAP), str(request_read), str(response_write)],
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
        except BaseException:
            with self._cond:  # give back the process slot reserved by _checkout
                self._release_slot_locked(spec)
            raise
        os.close(request_read)
        os.close(response_write)
        worker = Worker(spec, process, request_write, response_read)
        worker.log_stream = log.stream
        with self._cond:
            self._workers.add(worker)
            self.cold_starts += 1
            closed = self._closed
        if closed:
            self._discard(worker)
            raise LocalLambdaError("the local Lambda runtime is shutting down")
        log.add("INIT_START Runtime Version: python:local", console=False)
        init_timeout = max(INIT_TIMEOUT_SECONDS, float(spec.timeout))
        try:
            ready = worker.wait_ready(started + init_timeout, log.add)
        except (WorkerTimeoutError, WorkerExitError) as exc:
            self._discard(worker)
            reason = "init timed out" if isinstance(exc, WorkerTimeoutError) else str(exc)
            return (
                None,
                (time.monotonic() - started) * 1000,
                {
                    "errorType": "Runtime.Unknown",
                    "errorMessage": f"Unknown application error occurred ({reason})",
                },
            )
        LOG.debug(
            "started worker %d for %s (init %.1f ms; CPUs %.0f%% busy, endpoint %.0f%%)",
            worker.pid,
            spec.name,
            ready.init_ms,
            self._gauge.machine * 100,
            self._gauge.endpoint * 100,
        )
        if ready.error is not None:
            self._discard(worker)
            return None, ready.init_ms, ready.error
        return worker, (time.monotonic() - started) * 1000, None

    def _discard(self, worker: Worker) -> None:
        with self._cond:
            self._forget_locked(worker)
        worker.kill()

    def _unpack(self, code_sha256: str, code: CodeLoader) -> Path:
        """The deployment package unpacked once per code hash (the cache survives redeploys of other code)."""
        found = self._code_dirs.get(code_sha256)
        if found is not None:
            return found
        with self._cond:
            lock = self._code_locks.setdefault(code_sha256, threading.Lock())
        with lock:
            found = self._code_dirs.get(code_sha256)
            if found is not None:
                return found
            target = self._code_root / _code_dir_name(code_sha256)
            if not target.is_dir():
                staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=self._code_root))
                try:
                    with zipfile.ZipFile(io.BytesIO(code())) as archive:
                        archive.extractall(staging)
                except zipfile.BadZipFile as exc:
                    shutil.rmtree(staging, ignore_errors=True)
                    raise LocalLambdaError(f"the deployment package {code_sha256} is not a zip file") from exc
                staging.rename(target)
            self._code_dirs[code_sha256] = target
            return target

    def _environment(self, spec: FunctionSpec, code_dir: Path) -> dict[str, str]:
        """The process environment of a worker: Lambda's variables, the function's, then the endpoint's."""
        stream = f"{time.strftime('%Y/%m/%d')}/[{spec.version}]{ids.uuid4().hex}"
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "HOME": str(self._home),
            "LAMBDA_TASK_ROOT": str(code_dir),
            "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": stream,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "_HANDLER": spec.handler,
        }
        if spec.log_level:
            env["AWS_LAMBDA_LOG_LEVEL"] = spec.log_level
        env.update(dict(spec.environment))
        try:
            env.update(self._layers.environment(spec.layers, spec.runtime, env))
        except LayerError as exc:
            raise LocalLambdaError(f"cannot start {spec.name}: {exc}") from exc
        env.update(DUMMY_CREDENTIALS)
        env.update(
            {
                "AWS_REGION": spec.region,
                "AWS_DEFAULT_REGION": spec.region,
                "AWS_ENDPOINT_URL": self.endpoint_url,
            }
        )
        return env

    def _reap_idle(self) -> None:
        """Stop idle workers that idled too long or whose function was deleted or reconfigured."""
        while not self._stop.wait(REAP_INTERVAL_SECONDS):
            cutoff = time.monotonic() - self.idle_timeout
            with self._cond:
                pools = [(spec, list(workers)) for spec, workers in self._idle.items() if workers]
            stale = set()
            if self._is_current is not None:
                for spec, _ in pools:
                    try:
                        if not self._is_current(spec):
                            stale.add(spec)
                    except Exception:  # a lookup that fails must not stop the reaper; keep the workers
                        LOG.exception("could not check whether %s is still deployed", spec.name)
            victims = []
            with self._cond:
                for spec, workers in self._idle.items():
                    for worker in [w for w in workers if spec in stale or w.last_used < cutoff]:
                        workers.remove(worker)
                        victims.append(worker)
                        self._forget_locked(worker)
                for spec in stale:
                    if self._current.get(spec.slot) == spec:
                        del self._current[spec.slot]
            for worker in victims:
                LOG.debug("stopping idle worker %d of %s", worker.pid, worker.spec.name)
                worker.kill()


def _runtime_error(error_type: str, request_id: str, message: str) -> bytes:
    payload = {"errorType": error_type, "errorMessage": f"RequestId: {request_id} Error: {message}"}
    return json.dumps(payload).encode()


def _trace_header() -> str:
    """An X-Ray trace header as Lambda passes it (ids need to be unique, not unpredictable)."""
    return f"Root=1-{int(time.time()):08x}-{random.getrandbits(96):024x};Parent={random.getrandbits(64):016x};Sampled=0"


def _utc_now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
