"""Runs deployed Lambda functions on this machine in warm worker processes.

One worker process is one execution environment: it imports the handler once (cold start), then serves one
invocation at a time for as long as it stays warm. Workers are pooled per function *configuration* (code
hash, handler, environment, memory, timeout, version); a new configuration gets fresh workers, as on AWS.

The runtime does not know about moto: the caller (the WSGI middleware) describes the function with a
:class:`FunctionSpec` and hands over a callable returning the deployment package.
"""

from __future__ import annotations

import json
import logging
import random
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from burst_client.local import ids
from burst_client.local.runtime.code import CodeDirs, CodeLoader, LayerDirs, LayerError, LayerLoader, create_work_dir
from burst_client.local.runtime.environment import function_environment, log_stream_name
from burst_client.local.runtime.pool import (
    DEFAULT_CONCURRENCY,
    DEFAULT_IDLE_TIMEOUT_SECONDS,
    CpuGauge,
    PoolLimits,
    WorkerPool,
    default_max_processes,
    usable_cpus,
)
from burst_client.local.runtime.report import InvocationLog, utc_now, wants_report
from burst_client.local.runtime.spec import (
    FunctionSpec,
    Invocation,
    InvokeResult,
    LocalLambdaError,
    WorkerExitError,
    WorkerTimeoutError,
    json_error,
    runtime_error,
    throttled_result,
)
from burst_client.local.runtime.worker import BOOTSTRAP, Worker, start_worker

if TYPE_CHECKING:
    from burst_client.local.function_logs import FunctionLogs

LOG = logging.getLogger(__name__)

INIT_TIMEOUT_SECONDS = 10.0

#: A warm worker, or None when its init failed; the init's duration (cold start only); the init's error payload.
Checkout = tuple[Worker | None, float | None, dict[str, Any] | None]


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
        self.python = python or sys.executable
        self.function_logs = function_logs  # where invocations' logs go (CloudWatch Logs), if anywhere
        limits = PoolLimits(
            concurrency=concurrency,
            max_processes=max_processes or default_max_processes(concurrency),
            min_workers=min_workers or len(usable_cpus()),
            idle_timeout=idle_timeout,
        )
        self.pool = WorkerPool(limits, cpu_gauge or CpuGauge(), is_current)
        self._own_work_dir = work_dir is None
        self.work_dir = create_work_dir() if work_dir is None else work_dir
        self._code = CodeDirs(self.work_dir / "code")
        self._layers = LayerDirs(self.work_dir / "opt", layer_loader)  # the functions' layers: the local /opt
        self._home = self.work_dir / "home"
        (self.work_dir / "code").mkdir(parents=True, exist_ok=True)
        self._home.mkdir(parents=True, exist_ok=True)

    # -- public API -----------------------------------------------------------------------------------------
    @property
    def concurrency(self) -> int:
        return self.pool.limits.concurrency

    @property
    def max_processes(self) -> int:
        return self.pool.limits.max_processes

    @property
    def in_flight(self) -> int:
        return self.pool.in_flight

    @property
    def process_count(self) -> int:
        return self.pool.processes

    @property
    def cold_starts(self) -> int:
        """Worker processes started so far."""
        return self.pool.cold_starts

    def worker_pids(self) -> list[int]:
        return self.pool.worker_pids()

    def invoke(self, spec: FunctionSpec, code: CodeLoader, invocation: Invocation) -> InvokeResult:
        """Invoke the function as the Lambda Invoke API does, for the three invocation types."""
        request_id = str(ids.uuid4())
        if invocation.payload.strip():
            try:
                json.loads(invocation.payload)
            except ValueError as exc:
                return json_error(
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
        if not self.pool.acquire(block=False):
            LOG.warning(
                "throttled %s: %d invocations in flight (limit %d)",
                spec.name,
                self.pool.in_flight,
                self.pool.limits.concurrency,
            )
            return throttled_result(request_id)
        try:
            return self._execute(spec, code, invocation, request_id)
        finally:
            self.pool.release()

    def close(self) -> None:
        """Kill every worker (idle or busy) and remove the unpacked code."""
        stopped = self.pool.close()
        if stopped:
            LOG.info("stopped %d Lambda worker process(es)", stopped)
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def _invoke_event(self, spec: FunctionSpec, code: CodeLoader, invocation: Invocation, request_id: str) -> None:
        """Asynchronous invocation: queued until a concurrency slot is free, as Lambda's event queue does."""
        if not self.pool.acquire(block=True):
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
            self.pool.release()

    # -- one invocation -------------------------------------------------------------------------------------
    def _execute(self, spec: FunctionSpec, code: CodeLoader, invocation: Invocation, request_id: str) -> InvokeResult:
        log = InvocationLog(spec.name, request_id, events=None if self.function_logs is None else [])
        worker, init_ms, init_error = self._checkout(spec, code, log)
        if worker is not None:  # a warm worker (a cold start set it already)
            log.stream = worker.log_stream
        headers = {
            "Content-Type": "application/json",
            "x-amzn-RequestId": request_id,
            "X-Amz-Executed-Version": spec.version,
        }
        log.start(spec.version)
        started = time.monotonic()
        reusable = False
        memory_used = 0
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
                    log.add(f"{utc_now()} {request_id} {message}")
                    ok, body = False, runtime_error("Sandbox.Timedout", request_id, message)
                except WorkerExitError as exc:
                    log.add(f"RequestId: {request_id} Error: {exc.reason}")
                    ok, body = False, runtime_error("Runtime.ExitError", request_id, exc.reason)
                # a worker about to be stopped (timed out, or exited: then as last read) has its peak memory read
                # now, while it lives; a reusable one only for a REPORT read here (else the log writer reads it)
                if not reusable or wants_report(invocation.log_tail):
                    memory_used = worker.peak_memory_mb()
        finally:
            if worker is not None:
                self.pool.checkin(worker, reusable)
        log.end(spec, (time.monotonic() - started) * 1000, memory_used, init_ms)
        if not ok:
            headers["X-Amz-Function-Error"] = "Unhandled"
        if invocation.log_tail:
            headers["X-Amz-Log-Result"] = log.tail()
        if self.function_logs is not None and log.events is not None:
            self.function_logs.record(spec, log.stream, log.events, None if worker is None else worker.pid)
        return InvokeResult(200, headers, body)

    def _checkout(self, spec: FunctionSpec, code: CodeLoader, log: InvocationLog) -> Checkout:
        """A warm worker for spec, or a new one (cold start: returns its init duration and init error)."""
        worker = self.pool.checkout(spec)
        if worker is not None:
            return worker, None, None
        try:
            return self._cold_start(spec, code, log)
        finally:
            self.pool.started()

    def _cold_start(self, spec: FunctionSpec, code: CodeLoader, log: InvocationLog) -> Checkout:
        """Start a worker in the process slot the pool reserved, and wait for its init."""
        started = time.monotonic()
        try:
            code_dir = self._code.get(spec.code_sha256, code)
            try:
                opt_dir = self._layers.opt_dir(spec.layers) if spec.layers else None
            except LayerError as exc:
                raise LocalLambdaError(f"cannot start {spec.name}: {exc}") from exc
            log.stream = log_stream_name(spec)  # also where a failed init's lines go
            env = function_environment(
                spec,
                code_dir=code_dir,
                runtime_dir=BOOTSTRAP.parent,
                home=self._home,
                log_stream=log.stream,
                endpoint_url=self.endpoint_url,
                opt_dir=opt_dir,
            )
            worker = start_worker(self.python, spec, code_dir, env)
        except BaseException:
            self.pool.release_slot(spec)
            raise
        worker.log_stream = log.stream
        self.pool.adopt(worker)
        log.add("INIT_START Runtime Version: python:local", console=False)
        init_timeout = max(INIT_TIMEOUT_SECONDS, float(spec.timeout))
        try:
            ready = worker.wait_ready(started + init_timeout, log.add)
        except (WorkerTimeoutError, WorkerExitError) as exc:
            self.pool.discard(worker)
            reason = "init timed out" if isinstance(exc, WorkerTimeoutError) else str(exc)
            error = {"errorType": "Runtime.Unknown", "errorMessage": f"Unknown application error occurred ({reason})"}
            return None, (time.monotonic() - started) * 1000, error
        LOG.debug(
            "started worker %d for %s (init %.1f ms; CPUs %.0f%% busy, endpoint %.0f%%)",
            worker.pid,
            spec.name,
            ready.init_ms,
            self.pool.gauge.machine * 100,
            self.pool.gauge.endpoint * 100,
        )
        if ready.error is not None:
            self.pool.discard(worker)
            return None, ready.init_ms, ready.error
        return worker, (time.monotonic() - started) * 1000, None


def _trace_header() -> str:
    """An X-Ray trace header as Lambda passes it (ids need to be unique, not unpredictable)."""
    return f"Root=1-{int(time.time()):08x}-{random.getrandbits(96):024x};Parent={random.getrandbits(64):016x};Sampled=0"
