"""LambdaRuntime on its own (no moto, no HTTP): pools, limits, errors, logs."""

from __future__ import annotations

import base64
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from burst_client.local.runtime import (
    CpuGauge,
    FunctionSpec,
    Invocation,
    InvokeResult,
    LambdaRuntime,
    remove_stale_work_dirs,
    usable_cpus,
)
from tests.local.support import function_spec, make_zip, pid_alive

HANDLER = """
import decimal, os, sys, time

def handler(event, context):
    action = event.get("action")
    if action == "sleep":
        time.sleep(event["seconds"])
    if action == "print":
        print("x" * event["size"])
    if action == "context":
        return {"custom": context.client_context.custom, "arn": context.invoked_function_arn}
    if action == "trace":
        return {"trace": os.environ["_X_AMZN_TRACE_ID"]}
    if action == "decimal":
        return {"int": decimal.Decimal("3"), "float": decimal.Decimal("2.5")}
    if action == "grow":  # hold ~event["mb"] MB for a while, then die
        held = bytearray(event["mb"] * 1024 * 1024)
        held[::4096] = b"x" * len(held[::4096])
        time.sleep(event["seconds"])
        os._exit(3)
    if action == "exit":
        os._exit(3)
    return {"pid": os.getpid(), "env": os.environ.get("GREETING")}
"""
CODE = make_zip({"pkg/h.py": HANDLER, "pkg/__init__.py": "", "broken.py": "import not_a_module\n"})


def spec(**changes: object) -> FunctionSpec:
    fields: dict[str, object] = {"handler": "pkg/h.handler", "timeout": 5, "environment": (("GREETING", "hi"),)}
    return function_spec("unit", **{**fields, **changes})


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[LambdaRuntime]:
    running = LambdaRuntime("http://127.0.0.1:9", concurrency=3, max_processes=2, work_dir=tmp_path)
    yield running
    pids = running.worker_pids()
    running.close()
    assert not [pid for pid in pids if pid_alive(pid)]


def call(
    runtime: LambdaRuntime, event: dict[str, object], function: FunctionSpec | None = None, **kw: object
) -> InvokeResult:
    return runtime.invoke(function or spec(), lambda: CODE, Invocation(json.dumps(event).encode(), **kw))  # type: ignore[arg-type]


def body(result: InvokeResult) -> dict[str, object]:
    return dict(json.loads(result.body))


def test_warm_worker_is_reused_and_cold_start_reported(runtime: LambdaRuntime) -> None:
    first = call(runtime, {}, log_tail=True)
    second = call(runtime, {}, log_tail=True)

    assert body(first) == {"pid": body(second)["pid"], "env": "hi"}
    assert "Init Duration" in base64.b64decode(first.headers["X-Amz-Log-Result"]).decode()
    assert "Init Duration" not in base64.b64decode(second.headers["X-Amz-Log-Result"]).decode()
    assert runtime.process_count == 1


def test_new_configuration_gets_new_workers(runtime: LambdaRuntime) -> None:
    old_pid = body(call(runtime, {}))["pid"]
    changed = spec(environment=(("GREETING", "changed"),), code_sha256="unit-code-2")

    result = body(call(runtime, {}, changed))

    assert result["env"] == "changed"
    assert result["pid"] != old_pid
    assert not pid_alive(int(str(old_pid)))  # the superseded idle worker was stopped


def test_concurrency_limit_throttles(runtime: LambdaRuntime) -> None:
    results = concurrent_sleeps(runtime, 4, 1.0)

    statuses = sorted(result.status for result in results)
    assert statuses == [200, 200, 200, 429]
    throttled = next(result for result in results if result.status == 429)
    assert throttled.headers["x-amzn-ErrorType"] == "TooManyRequestsException"
    assert json.loads(throttled.body) == {
        "Type": "User",
        "message": "Rate Exceeded.",
        "Reason": "ConcurrentInvocationLimitExceeded",
    }
    assert runtime.process_count <= runtime.max_processes == 2  # the third call waited for a worker


def test_event_invocations_queue_instead_of_throttling(runtime: LambdaRuntime) -> None:
    accepted = [call(runtime, {"action": "sleep", "seconds": 0.3}, invocation_type="Event") for _ in range(5)]

    assert [result.status for result in accepted] == [202] * 5
    deadline = time.monotonic() + 10
    while runtime.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runtime.in_flight == 0


def test_import_error_is_reported_like_lambda(runtime: LambdaRuntime) -> None:
    result = call(runtime, {}, spec(handler="broken.handler"), log_tail=True)

    assert result.headers["X-Amz-Function-Error"] == "Unhandled"
    assert body(result)["errorType"] == "Runtime.ImportModuleError"
    assert body(result)["errorMessage"] == "Unable to import module 'broken': No module named 'not_a_module'"
    assert "Runtime.ImportModuleError" in base64.b64decode(result.headers["X-Amz-Log-Result"]).decode()
    assert runtime.process_count == 0


@pytest.mark.parametrize(
    ("handler", "error_type"),
    [("pkg/h.missing", "Runtime.HandlerNotFound"), ("nodots", "Runtime.MalformedHandlerName")],
)
def test_bad_handler_setting(runtime: LambdaRuntime, handler: str, error_type: str) -> None:
    result = call(runtime, {}, spec(handler=handler))

    assert body(result)["errorType"] == error_type


def test_log_tail_is_the_last_4_kb(runtime: LambdaRuntime) -> None:
    result = call(runtime, {"action": "print", "size": 10_000}, log_tail=True)

    tail = base64.b64decode(result.headers["X-Amz-Log-Result"])
    assert len(tail) == 4096
    assert tail.decode().rstrip("\n").splitlines()[-1].startswith("REPORT RequestId: ")


def test_client_context_and_qualified_arn_reach_the_context(runtime: LambdaRuntime) -> None:
    client_context = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    arn = "arn:aws:lambda:us-east-1:123456789012:function:unit:live"

    result = call(runtime, {"action": "context"}, client_context=client_context, invoked_arn=arn)

    assert body(result) == {"custom": {"k": "v"}, "arn": arn}


def test_decimal_results_are_numbers(runtime: LambdaRuntime) -> None:
    assert body(call(runtime, {"action": "decimal"})) == {"int": 3, "float": 2.5}


def test_dry_run_and_invalid_payload(runtime: LambdaRuntime) -> None:
    assert call(runtime, {}, invocation_type="DryRun").status == 204
    invalid = runtime.invoke(spec(), lambda: CODE, Invocation(b"{nope"))
    assert invalid.status == 400
    assert invalid.headers["x-amzn-ErrorType"] == "InvalidRequestContentException"
    assert runtime.process_count == 0


def test_stale_workers_are_retired(tmp_path: Path) -> None:
    deployed = {spec()}
    runtime = LambdaRuntime("http://127.0.0.1:9", work_dir=tmp_path, is_current=lambda s: s in deployed)
    try:
        pid = int(str(body(call(runtime, {}))["pid"]))
        deployed.clear()  # the function was deleted
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pid_alive(pid)
        assert runtime.process_count == 0
    finally:
        runtime.close()


def test_work_dirs_of_dead_endpoints_are_removed(tmp_path: Path) -> None:
    dead_pid = 2**22 + 1  # above Linux's largest pid_max: never a live process
    stale, alive, foreign = tmp_path / "burst-local-stale", tmp_path / "burst-local-alive", tmp_path / "burst-local-x"
    for directory, owner in ((stale, str(dead_pid)), (alive, str(os.getpid())), (foreign, None)):
        directory.mkdir()
        if owner is not None:
            (directory / "owner.pid").write_text(owner)

    assert remove_stale_work_dirs(tmp_path) == [stale]
    assert not stale.exists()
    assert alive.exists()
    assert foreign.exists()


class FixedGauge(CpuGauge):
    """A gauge whose verdict the test sets."""

    def __init__(self, saturated: bool) -> None:
        super().__init__()
        self.verdict = saturated

    def saturated(self) -> bool:
        return self.verdict


def concurrent_sleeps(runtime: LambdaRuntime, count: int, seconds: float) -> list[InvokeResult]:
    results: list[InvokeResult] = []
    threads = [
        threading.Thread(target=lambda: results.append(call(runtime, {"action": "sleep", "seconds": seconds})))
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def gauged_runtime(tmp_path: Path, saturated: bool, min_workers: int) -> LambdaRuntime:
    return LambdaRuntime(
        "http://127.0.0.1:9",
        concurrency=10,
        work_dir=tmp_path,
        cpu_gauge=FixedGauge(saturated),
        min_workers=min_workers,
    )


def test_busy_cpus_queue_invocations_for_warm_workers(tmp_path: Path) -> None:
    running = gauged_runtime(tmp_path, saturated=True, min_workers=2)
    try:
        results = concurrent_sleeps(running, 6, 0.3)
        assert [r.status for r in results] == [200] * 6
        assert all("X-Amz-Function-Error" not in r.headers for r in results)
        assert running.cold_starts == 2  # the other four waited for the two warm workers
        assert running.process_count == 2
    finally:
        running.close()


def test_idle_cpus_start_a_worker_per_concurrent_invocation(tmp_path: Path) -> None:
    running = gauged_runtime(tmp_path, saturated=False, min_workers=1)
    try:
        results = concurrent_sleeps(running, 4, 1.0)
        assert [r.status for r in results] == [200] * 4
        assert running.cold_starts == 4  # cold starts one at a time (min_workers), but each call got its own
    finally:
        running.close()


def test_cpu_gauge_reads_the_busy_fraction_of_our_cpus(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    cpus = sorted(usable_cpus())

    def write(busy: int, idle: int) -> None:
        lines = ["cpu  1 2 3 4 5 6 7 8 0 0"]  # the aggregate line is not ours to count
        lines += [f"cpu{n} {busy} 0 0 {idle} 0 0 0 0 0 0" for n in cpus]
        lines.append(f"cpu{max(cpus) + 1} 0 0 0 999999 0 0 0 0 0 0")  # a CPU we may not run on
        stat.write_text("\n".join(lines) + "\n")

    write(100, 100)
    gauge = CpuGauge(interval=0.0, stat_path=str(stat))
    write(190, 110)  # 90 of 100 new ticks busy on each of our CPUs
    assert gauge.saturated()
    assert gauge.machine == pytest.approx(0.9)
    write(200, 200)  # 10 of 100
    gauge.saturated()
    assert gauge.machine == pytest.approx(0.1)


def test_cpu_gauge_without_proc_stat_counts_only_the_endpoint(tmp_path: Path) -> None:
    gauge = CpuGauge(interval=0.0, stat_path=str(tmp_path / "missing"))
    time.sleep(0.01)
    assert not gauge.saturated()  # the test process is not spinning
    assert gauge.machine == 0.0


def test_without_cpu_affinity_every_cpu_is_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity")  # as on macOS
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert usable_cpus() == {0, 1, 2}


def test_queued_invocations_get_workers_once_the_cpus_have_room(tmp_path: Path) -> None:
    gauge = FixedGauge(True)
    running = LambdaRuntime("http://127.0.0.1:9", concurrency=10, work_dir=tmp_path, cpu_gauge=gauge, min_workers=1)
    try:
        threads = [threading.Thread(target=call, args=(running, {"action": "sleep", "seconds": 2.0})) for _ in range(3)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while running.cold_starts < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        assert running.cold_starts == 1  # the CPUs are busy: the other two wait for the warm worker
        gauge.verdict = False  # ... until the CPUs have room again
        for thread in threads:
            thread.join()
        assert running.cold_starts == 3
    finally:
        running.close()


def test_every_invocation_gets_its_own_trace_header(runtime: LambdaRuntime) -> None:
    traces = [str(body(call(runtime, {"action": "trace"}))["trace"]) for _ in range(3)]
    for trace in traces:
        assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0", trace), trace
    assert len(set(traces)) == 3


def max_memory_used(result: InvokeResult) -> int:
    report = base64.b64decode(result.headers["X-Amz-Log-Result"]).decode().rstrip("\n").splitlines()[-1]
    assert report.startswith("REPORT RequestId: "), report
    return int(re.search(r"\tMax Memory Used: (\d+) MB", report)[1])  # type: ignore[index]


def test_report_has_the_peak_memory_of_a_worker_that_timed_out_or_died(runtime: LambdaRuntime) -> None:
    timed_out = call(runtime, {"action": "sleep", "seconds": 5}, spec(timeout=1), log_tail=True)
    assert body(timed_out)["errorType"] == "Sandbox.Timedout"
    assert max_memory_used(timed_out) > 0  # read before the worker was killed

    exited = call(runtime, {"action": "exit"}, log_tail=True)
    assert body(exited)["errorType"] == "Runtime.ExitError"
    assert max_memory_used(exited) > 0  # as read while it lived (after its init)

    # a long invocation has its peak read while it runs: a worker that dies after growing reports it
    grew = call(runtime, {"action": "grow", "mb": 100, "seconds": 1.5}, log_tail=True)
    assert body(grew)["errorType"] == "Runtime.ExitError"
    assert max_memory_used(grew) >= 100
