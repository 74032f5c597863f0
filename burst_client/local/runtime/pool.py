"""Admission and scheduling: the account's concurrency limit, and pools of warm workers per function configuration.

An invocation is admitted while fewer than ``concurrency`` run (else it is throttled, or an Event invocation
waits, as Lambda's event queue does). It then gets an idle warm worker of its configuration, or a process slot
for a new one (cold start): at most ``max_processes`` workers exist, the least recently used idle worker of any
configuration making room. A configuration that has ``min_workers`` workers, all busy, waits for one of them
rather than start another while cold starts are under way or the CPUs are saturated (see :class:`CpuGauge`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from burst_client.local.runtime.spec import FunctionSpec, LocalLambdaError
from burst_client.local.runtime.worker import Worker

LOG = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class PoolLimits:
    concurrency: int  # invocations at once (the account's concurrency limit)
    max_processes: int  # worker processes alive at once, busy or idle
    # Below min_workers warm workers a function always gets a new one; above, it gets one only while the
    # CPUs have room (see SATURATED_CPU), else the invocation waits for a warm worker of its function.
    min_workers: int
    idle_timeout: float  # seconds an idle worker stays warm


class WorkerPool:
    """The admitted invocations and the worker processes, busy or idle, of one runtime.

    ``is_current`` tells whether a spec still describes a deployed function (idle workers of deleted or
    reconfigured functions are stopped by the reaper); None: only the idle timeout stops them.
    """

    def __init__(
        self, limits: PoolLimits, gauge: CpuGauge, is_current: Callable[[FunctionSpec], bool] | None = None
    ) -> None:
        self.limits = limits
        self.gauge = gauge
        self._is_current = is_current
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)  # a process slot or an idle worker became free
        self.in_flight = 0
        self.processes = 0
        self._idle: dict[FunctionSpec, list[Worker]] = {}
        self._counts: dict[FunctionSpec, int] = {}  # workers per spec, busy or idle
        self._queues: dict[FunctionSpec, threading.Condition] = {}  # invocations waiting for a warm worker
        self._rechecking: set[FunctionSpec] = set()  # queues whose CPU recheck some waiter does
        self.cold_starts = 0  # worker processes started so far
        self._starting = 0  # worker processes being started (slot reserved, init not finished)
        self._workers: set[Worker] = set()
        self._current: dict[tuple[str, str, str, str], FunctionSpec] = {}
        self._closed = False
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap_idle, name="burst-local-reaper", daemon=True)
        self._reaper.start()

    def worker_pids(self) -> list[int]:
        with self._cond:
            return sorted(worker.pid for worker in self._workers)

    # -- admission ------------------------------------------------------------------------------------------
    def acquire(self, block: bool) -> bool:
        """Admit an invocation if fewer than ``concurrency`` run (or, with ``block``, once so)."""
        with self._cond:
            while self.in_flight >= self.limits.concurrency:
                if not block or self._closed:
                    return False
                self._cond.wait()
            self.in_flight += 1
            return True

    def release(self) -> None:
        with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    # -- workers --------------------------------------------------------------------------------------------
    def checkout(self, spec: FunctionSpec) -> Worker | None:
        """A warm worker for spec; None when a process slot was reserved for a new one instead, which the
        caller starts and hands to :meth:`adopt` (or gives the slot back with :meth:`release_slot`), and
        reports with :meth:`started` in either case."""
        victims: list[Worker] = []
        rechecks = False  # whether this call holds its queue's CPU-recheck role
        try:
            with self._cond:
                self._raise_if_closed()
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
                            return worker
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
                    elif self.processes < self.limits.max_processes:
                        self.processes += 1
                        self._counts[spec] = self._counts.get(spec, 0) + 1
                        self._starting += 1
                        return None
                    elif (victim := self._evict_locked()) is not None:
                        victims.append(victim)
                        continue
                    else:
                        self._cond.wait()
                    self._raise_if_closed()
        finally:
            if rechecks:  # hand the role on to another waiter of the queue
                with self._cond:
                    self._rechecking.discard(spec)
                    self._queue(spec).notify()
            for worker in victims:
                worker.kill()

    def adopt(self, worker: Worker) -> None:
        """Count a new worker (started in a slot :meth:`checkout` reserved) among the pool's."""
        with self._cond:
            self._workers.add(worker)
            self.cold_starts += 1
            closed = self._closed
        if closed:
            self.discard(worker)
            self._raise_if_closed()

    def started(self) -> None:
        """A cold start (successful or not) is over: queued invocations may look again."""
        with self._cond:
            self._starting -= 1
            for queue in self._queues.values():
                queue.notify()

    def release_slot(self, spec: FunctionSpec) -> None:
        """Give back the process slot :meth:`checkout` reserved for a worker that could not be started."""
        with self._cond:
            self._release_slot_locked(spec)

    def checkin(self, worker: Worker, reusable: bool) -> None:
        """A worker's invocation is over: keep it warm, or stop it (not reusable, or its spec is superseded)."""
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

    def discard(self, worker: Worker) -> None:
        with self._cond:
            self._forget_locked(worker)
        worker.kill()

    def close(self) -> int:
        """Kill every worker (idle or busy); wake whatever waits. Returns how many there were."""
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
        return len(workers)

    def _raise_if_closed(self) -> None:
        if self._closed:
            raise LocalLambdaError("the local Lambda runtime is shutting down")

    def _should_queue(self, spec: FunctionSpec) -> bool:
        """Wait for a warm worker of spec rather than start one: spec has min_workers workers, all busy, and
        either min_workers cold starts are under way (a burst of invocations must not start hundreds of
        processes before the CPUs show the load) or the CPUs are saturated (another process would only
        add a cold start to the work)."""
        if self._counts.get(spec, 0) < self.limits.min_workers:
            return False
        return self._starting >= self.limits.min_workers or self.gauge.saturated()

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
        self.processes -= 1
        left = self._counts[spec] = self._counts.get(spec, 1) - 1
        if left <= 0:
            del self._counts[spec]
        self._cond.notify_all()
        queue = self._queues.get(spec)
        if queue is not None:  # a queued invocation of spec may now start a worker of its own
            queue.notify()

    def _reap_idle(self) -> None:
        """Stop idle workers that idled too long or whose function was deleted or reconfigured."""
        while not self._stop.wait(REAP_INTERVAL_SECONDS):
            cutoff = time.monotonic() - self.limits.idle_timeout
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
