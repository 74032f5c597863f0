"""The functions' logs in the endpoint's CloudWatch Logs, where Lambda writes them.

Lambda sends every invocation's log lines to CloudWatch Logs: log group ``/aws/lambda/<function name>``
(created when missing), one log stream per execution environment, named ``YYYY/MM/DD/[<version>]<32 hex>``,
with ``START RequestId: <id> Version: <version>``, every line the function printed or logged, ``END
RequestId: <id>`` and ``REPORT RequestId: <id> Duration: ...`` (and ``INIT_START`` before a cold start's
first START) as events
(https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html,
https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html).

The local Lambda runtime hands each invocation's lines, timestamped as they came, to :meth:`FunctionLogs.record`
(a queue append: nothing on the invocation's path waits for CloudWatch Logs). A writer thread groups what has
queued up by log stream and appends each stream's events with one put, but only when someone reads logs
(:meth:`FunctionLogs.flush`), when the endpoint stops, or when :data:`PENDING_LIMIT` invocations have queued
up: while a job runs, writing every invocation's lines as they come cost the endpoint's interpreter about
0.4 ms per batch (``python -m bench profile_overhead``), for logs that are mostly never read. The endpoint's sink is
:class:`MotoLogs`, which puts them into moto's logs backend in-process, so ``logs.filter_log_events``,
``get_log_events`` and ``sls logs -f <function>`` read them as on AWS. The endpoint calls :meth:`FunctionLogs.flush`
before answering a CloudWatch Logs request, so what an invocation logged is readable once it has returned.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from burst_client.local.runtime.report import peak_memory_kb

if TYPE_CHECKING:
    from burst_client.local.runtime.spec import FunctionSpec

LOG = logging.getLogger(__name__)

#: A log event: (epoch milliseconds, message).
LogEvent = tuple[int, str]
#: Writes events, in chronological order, to (account id, region, log group, log stream).
Sink = Callable[[str, str, str, str, list[LogEvent]], None]

#: Events a stream keeps in the endpoint's memory; the oldest go first (AWS keeps them for the log group's
#: retention; a local endpoint that runs for days must not grow without bound).
MAX_EVENTS_PER_STREAM = 100_000
FLUSH_TIMEOUT_SECONDS = 5.0
#: Invocations queued before the writer runs without being asked (bounds the queue's memory: a few MB).
PENDING_LIMIT = 5000
#: How long a worker's peak memory, read for its REPORT lines, is reused (reading /proc costs ~40 us, more
#: than the rest of an invocation's log writing; the peak only grows, so a REPORT line may show it up to
#: this much late).
MEMORY_READ_INTERVAL_SECONDS = 1.0
_REPORT_PREFIX = "REPORT RequestId: "
_NO_MEMORY = "\tMax Memory Used: 0 MB"


def log_group_name(function_name: str) -> str:
    """The log group Lambda writes a function's logs to (unless its LoggingConfig names another)."""
    return f"/aws/lambda/{function_name}"


class _Flush:
    """A marker in the writer's queue: set once everything queued before it is written."""

    def __init__(self) -> None:
        self.done = threading.Event()


_Entry = tuple[str, str, str, str, list[LogEvent], int | None]
_STOP = object()


class FunctionLogs:
    """Writes the invocations' log events to a :data:`Sink` from a writer thread, batched per log stream."""

    def __init__(self, sink: Sink) -> None:
        self._sink = sink
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._wake = threading.Event()  # set: the writer drains the queue
        self._pending = 0  # invocations queued since the writer last drained (approximate: no lock needed)
        self._memory: dict[int, tuple[float, int]] = {}  # pid -> (read at, MB): the writer thread's own
        self._thread = threading.Thread(target=self._run, name="burst-local-function-logs", daemon=True)
        self._thread.start()

    def record(self, spec: FunctionSpec, stream: str, events: list[LogEvent], pid: int | None = None) -> None:
        """Queue one invocation's events (in the order they came) for ``stream`` of the function's log group.

        ``pid``: the worker process, whose peak memory fills in the REPORT line when the runtime left it at 0
        (the runtime reads /proc only for LogType=Tail and for a worker it stops; the writer thread reads it off
        the invocation's path).
        """
        if events and stream:
            self._queue.put((spec.account_id, spec.region, log_group_name(spec.name), stream, events, pid))
            self._pending += 1
            if self._pending >= PENDING_LIMIT:
                self._wake.set()

    def flush(self, timeout: float = FLUSH_TIMEOUT_SECONDS) -> bool:
        """Wait until the events queued so far are written; False if that took longer than ``timeout``."""
        if not self._thread.is_alive():
            return True
        marker = _Flush()
        self._queue.put(marker)
        self._wake.set()
        return marker.done.wait(timeout)

    def close(self, timeout: float = FLUSH_TIMEOUT_SECONDS) -> None:
        """Write what is queued, then stop the writer thread."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._wake.set()
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            self._pending = 0
            entries = []
            while True:  # take everything that has queued up: one put per stream
                try:
                    entries.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(entry is _STOP for entry in entries)
            self._write([entry for entry in entries if isinstance(entry, tuple)])
            for entry in entries:
                if isinstance(entry, _Flush):
                    entry.done.set()
            if stop:
                return

    def _peak_memory_mb(self, pid: int) -> int:
        now = time.monotonic()
        known = self._memory.get(pid)
        if known is not None and now - known[0] < MEMORY_READ_INTERVAL_SECONDS:
            return known[1]
        if len(self._memory) > 1000:  # pids of workers long gone
            self._memory.clear()
        mb = peak_memory_kb(pid) // 1024
        self._memory[pid] = (now, mb)
        return mb

    def _write(self, entries: list[_Entry]) -> None:
        streams: dict[tuple[str, str, str, str], list[LogEvent]] = {}
        for account_id, region, group, stream, events, pid in entries:
            if pid is not None and events[-1][1].startswith(_REPORT_PREFIX) and _NO_MEMORY in events[-1][1]:
                timestamp, report = events[-1]
                memory = f"\tMax Memory Used: {self._peak_memory_mb(pid)} MB"
                events[-1] = (timestamp, report.replace(_NO_MEMORY, memory, 1))
            streams.setdefault((account_id, region, group, stream), []).extend(events)
        for (account_id, region, group, stream), events in streams.items():
            events.sort(key=lambda event: event[0])  # stable: lines of one millisecond keep their order
            try:
                self._sink(account_id, region, group, stream, events)
            except Exception:  # a failed write must not stop the writer: the next invocations still log
                LOG.exception("could not write %d log event(s) to %s %s", len(events), group, stream)


class MotoLogs:
    """A :data:`Sink` into moto's CloudWatch Logs backend of this process (the one the endpoint serves)."""

    def __init__(self, max_events_per_stream: int = MAX_EVENTS_PER_STREAM) -> None:
        self.max_events_per_stream = max_events_per_stream

    def __call__(self, account_id: str, region: str, group_name: str, stream_name: str, events: list[LogEvent]) -> None:
        from moto.logs.models import LogGroup, LogStream, logs_backends  # noqa: PLC0415 - moto loads slowly

        backend = logs_backends[account_id][region]
        group = backend.groups.get(group_name)
        if group is None:  # Lambda creates the function's log group on its first write
            group = LogGroup(account_id, region, group_name)  # type: ignore[abstract]  # what ensure_log_group does
            # a new dict rather than an insertion: a request of the server's threads iterating the groups
            # (DescribeLogGroups) meanwhile goes on over the old one instead of failing
            backend.groups = {**backend.groups, group_name: group}
        stream = group.streams.get(stream_name)
        if stream is None:
            stream = LogStream(group, stream_name)
            group.streams = {**group.streams, stream_name: stream}  # as above (DescribeLogStreams, FilterLogEvents)
        # moto's PutLogEvents (not the HTTP layer): its checks, stored bytes, sequence token, subscription filters
        backend.put_log_events(group_name, stream_name, [{"timestamp": t, "message": m} for t, m in events])
        excess = len(stream.events) - self.max_events_per_stream
        if excess > 0:
            del stream.events[:excess]
