"""A job's timeline: dispatch, rounds, batches, monitor and combiner on one time axis.

    from burst_client.timeline import build_timeline, render_html, render_png

    timeline = build_timeline(job)            # execution history + the job's batch rows
    render_html(timeline, "timeline.html")    # one self-contained file, works offline
    render_png(timeline, "timeline.png")      # matplotlib (Agg), needs the ``plot`` extra

This replaces the original's ``timeline.html``, which loaded Google Charts from a CDN and needed a
CloudWatch log export. Everything here comes from two sources any user of the job can read:

* the execution history (``states:GetExecutionHistory``, paginated): dispatch (from the job's
  ``startTime``, else the execution start, to the first Map state), one round per Map state
  (entered..exited), the monitor (``Summarize``, once after the last round), the combiner
  (``Combine`` or ``CombineError``) and the framework's bookkeeping between rounds
  (``DispatchNextBatches``, which ends a round and writes the next one's batch file);
* the batch rows of the tasks table, as :class:`burst_core.persistence.BatchRecord`: every
  batch from ``startedAt`` to ``endedAt`` (the state machine's clock), coloured like the original by
  its distance from the median batch duration: within one standard deviation green, within two
  yellow, beyond red; failed batches purple. Deferred rows (throttled until their retries ran out,
  waiting for the next round) have no times and are counted, not drawn.

Only documented history event types are used (``ExecutionStarted``, ``*StateEntered``/``*StateExited``,
``TaskScheduled``/``TaskStarted``/``TaskSucceeded``/``TaskFailed``/``TaskTimedOut``, ``MapRunStarted``/
``MapRunSucceeded``/``MapRunFailed``/``MapRunAborted``, ``MapStateSucceeded``/``MapStateFailed``,
``ExecutionSucceeded``/``ExecutionFailed``/...), so the same code reads AWS and the local endpoint.
Gathering (:func:`build_timeline`, :func:`timeline_from`) is separate from rendering, which only needs a
:class:`Timeline`.
"""

from __future__ import annotations

import heapq
import html
import json
import logging
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import ClientError as BotoClientError

from burst_client.aws import translated_errors
from burst_client.errors import BurstClientError, JobNotFound
from burst_core.persistence import RECORD_ATTRIBUTES, BatchRecord, BatchStatus, TasksTable

if TYPE_CHECKING:
    from burst_client.sdk import Job

LOG = logging.getLogger(__name__)

# stages (lanes of the chart, keys of Timeline.stats)
DISPATCH, ROUND, BOOKKEEPING, MONITOR, COMBINER = "dispatch", "round", "bookkeeping", "monitor", "combiner"
BATCH = "batch"
STAGE_ORDER = (DISPATCH, ROUND, BOOKKEEPING, MONITOR, COMBINER, BATCH)
STAGE_TITLES = {
    DISPATCH: "dispatch",
    ROUND: "rounds",
    BOOKKEEPING: "next round",
    MONITOR: "monitor",
    COMBINER: "combiner",
    BATCH: "batches",
}
# which stage a Task state of the parent execution belongs to (other Task states: BOOKKEEPING)
DEFAULT_TASK_STAGES: Mapping[str, str] = {
    "Summarize": MONITOR,
    "Combine": COMBINER,
    "CombineError": COMBINER,
    "DispatchNextBatches": BOOKKEEPING,
}

# colour classes of bars
WITHIN_1_STD, WITHIN_2_STD, BEYOND_2_STD, FAILED = "within1", "within2", "beyond2", "failed"
COLOURS: Mapping[str, str] = {
    WITHIN_1_STD: "#71d46c",  # the original's green, yellow and red
    WITHIN_2_STD: "#d4d46c",
    BEYOND_2_STD: "#d4766c",
    FAILED: "#7d3c98",
    DISPATCH: "#80afff",
    ROUND: "#a9c6ff",
    BOOKKEEPING: "#c7d3e8",
    MONITOR: "#478bff",
    COMBINER: "#2a5db0",
}
COLOUR_LABELS: Mapping[str, str] = {
    WITHIN_1_STD: "batch within 1 std of the median",
    WITHIN_2_STD: "batch within 2 std",
    BEYOND_2_STD: "batch beyond 2 std",
    FAILED: "failed",
}

SUCCEEDED, FAILED_STATUS, RUNNING = BatchStatus.SUCCEEDED.value, BatchStatus.FAILED.value, "running"
_TASK_END = {
    "TaskSucceeded": SUCCEEDED,
    "TaskFailed": FAILED_STATUS,
    "TaskTimedOut": FAILED_STATUS,
    "TaskStartFailed": FAILED_STATUS,
    "TaskSubmitFailed": FAILED_STATUS,
}
_MAP_RUN_END = {"MapRunSucceeded": SUCCEEDED, "MapRunFailed": FAILED_STATUS, "MapRunAborted": FAILED_STATUS}
_MAP_STATE_END = {"MapStateSucceeded": SUCCEEDED, "MapStateFailed": FAILED_STATUS, "MapStateAborted": FAILED_STATUS}
_EXECUTION_END = {
    "ExecutionSucceeded": SUCCEEDED,
    "ExecutionFailed": FAILED_STATUS,
    "ExecutionAborted": "aborted",
    "ExecutionTimedOut": "timed out",
}
# rows of earlier executions of a redriven job started before this one (allowing for clock skew)
_REDRIVE_SKEW_SECS = 1.0


class TimelineError(BurstClientError):
    """The timeline cannot be built or drawn (the message says why)."""


# -- gathering ------------------------------------------------------------------------------------------
def parse_time(value: str | datetime) -> datetime:
    """An RFC 3339 string (``...Z``, ``+00:00``, with ms or us) or a datetime, as an aware UTC datetime."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise TimelineError(f"not an RFC 3339 time: {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every event of an execution, oldest first (all pages of GetExecutionHistory)."""
    request: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    events: list[dict[str, Any]] = []
    with translated_errors():
        while True:
            try:
                page = sfn.get_execution_history(**request)
            except BotoClientError as exc:
                if exc.response.get("Error", {}).get("Code") in {"ExecutionDoesNotExist", "InvalidArn"}:
                    raise JobNotFound(f"execution {execution_arn} not found") from None
                raise
            events.extend(page.get("events", []))
            token = page.get("nextToken")
            if not token:
                break
            request["nextToken"] = token
    events.sort(key=lambda event: int(event.get("id", 0)))
    LOG.debug("execution %s: %d history events", execution_arn, len(events))
    return events


def job_rows(
    dynamodb: Any, table: str, job_id: str, attributes: tuple[str, ...] | None = RECORD_ATTRIBUTES
) -> list[BatchRecord]:
    """Every row of a job in the tasks table (all pages of a consistent Query); ``attributes`` None: all."""
    with translated_errors():
        return list(TasksTable(dynamodb, table).records(job_id, attributes=attributes))


@dataclass
class TaskAttempt:
    """One invocation of a Task state's resource (a retry is another attempt)."""

    start: datetime
    end: datetime | None = None
    status: str = RUNNING


@dataclass
class StateRun:
    """One visit of a state of the execution: entered..exited, with its task attempts."""

    name: str
    kind: str  # Task, Map, Choice, Pass, Wait, Succeed, Fail, Parallel
    entered: datetime
    exited: datetime | None = None
    status: str = RUNNING
    input: Any = None
    function: str | None = None  # FunctionName of the first TaskScheduled (Lambda tasks)
    attempts: list[TaskAttempt] = field(default_factory=list)
    map_run_arn: str | None = None
    map_run_status: str | None = None
    map_state_status: str | None = None

    @property
    def end(self) -> datetime:
        return self.exited or self.entered


@dataclass
class ExecutionInfo:
    started: datetime | None = None
    stopped: datetime | None = None
    status: str = RUNNING
    input: dict[str, Any] = field(default_factory=dict)


def _details(event: Mapping[str, Any]) -> dict[str, Any]:
    """The event's ``...EventDetails`` object (each event has at most one)."""
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _json_or_none(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _close(run: StateRun, at: datetime, status: str | None) -> None:
    run.exited = at
    if run.kind == "Map":
        # MapRun* says how the distributed map went; MapState* only when there was no map run
        # (moto 5.2.5 reports MapStateFailed after MapRunSucceeded for a map run that succeeded).
        run.status = run.map_run_status or run.map_state_status or status or SUCCEEDED
    elif run.kind == "Task" and run.attempts:
        run.status = run.attempts[-1].status if run.attempts[-1].status != RUNNING else status or SUCCEEDED
    elif run.kind == "Fail":
        run.status = FAILED_STATUS
    else:
        run.status = status or SUCCEEDED
    for attempt in run.attempts:
        if attempt.end is None:
            attempt.end, attempt.status = at, status or FAILED_STATUS


def state_runs(events: Iterable[Mapping[str, Any]]) -> tuple[list[StateRun], ExecutionInfo]:
    """The state visits of an execution history, in the order entered, and the execution's own times."""
    info = ExecutionInfo()
    runs: list[StateRun] = []
    open_runs: list[StateRun] = []  # innermost last
    ordered = sorted(events, key=lambda e: int(e.get("id", 0)))
    for event in ordered:
        kind, at, details = str(event.get("type", "")), parse_time(event["timestamp"]), _details(event)
        current = open_runs[-1] if open_runs else None
        if kind == "ExecutionStarted":
            info.started = at
            parsed = _json_or_none(details.get("input"))
            info.input = parsed if isinstance(parsed, dict) else {}
        elif kind in _EXECUTION_END:
            info.stopped, info.status = at, _EXECUTION_END[kind]
            for run in reversed(open_runs):
                _close(run, at, FAILED_STATUS if kind != "ExecutionSucceeded" else SUCCEEDED)
            open_runs.clear()
        elif kind.endswith("StateEntered"):
            run = StateRun(
                name=str(details.get("name", "?")),
                kind=kind[: -len("StateEntered")],
                entered=at,
                input=_json_or_none(details.get("input")),
            )
            runs.append(run)
            open_runs.append(run)
        elif kind.endswith("StateExited"):
            name = str(details.get("name", ""))
            index = next((i for i in range(len(open_runs) - 1, -1, -1) if open_runs[i].name == name), None)
            if index is None:
                LOG.debug("history event %s: %s exited without being entered", event.get("id"), name)
                continue
            _close(open_runs.pop(index), at, None)
        elif current is None:
            continue
        elif kind == "TaskScheduled":
            current.attempts.append(TaskAttempt(at))
            if current.function is None:
                parameters = _json_or_none(details.get("parameters"))
                if isinstance(parameters, dict) and isinstance(parameters.get("FunctionName"), str):
                    current.function = parameters["FunctionName"]
        elif kind == "TaskStarted" and current.attempts:
            current.attempts[-1].start = at
        elif kind in _TASK_END:
            if not current.attempts:
                current.attempts.append(TaskAttempt(at))
            current.attempts[-1].end, current.attempts[-1].status = at, _TASK_END[kind]
        elif kind == "MapRunStarted":
            current.map_run_arn = details.get("mapRunArn")
        elif kind in _MAP_RUN_END:
            current.map_run_status = _MAP_RUN_END[kind]
        elif kind in _MAP_STATE_END:
            current.map_state_status = _MAP_STATE_END[kind]
    last = info.stopped or (max(parse_time(e["timestamp"]) for e in ordered) if ordered else None)
    for run in open_runs:  # still running: draw up to the last event
        run.exited = None
        run.status = RUNNING
        if last is not None and run.entered <= last:
            run.exited = last
    return runs, info


# -- the timeline ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bar:
    """One interval of the chart."""

    stage: str
    label: str
    start: datetime
    end: datetime
    status: str
    colour: str  # a key of COLOURS
    batch_id: int | None = None
    slot: int = 0  # batches: the concurrency slot (row) it is drawn in
    detail: str = ""

    @property
    def duration(self) -> float:
        return max((self.end - self.start).total_seconds(), 0.0)


@dataclass(frozen=True)
class StageStats:
    stage: str
    count: int
    median: float  # seconds
    p95: float  # nearest rank
    max: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "count": self.count,
            "medianSecs": round(self.median, 3),
            "p95Secs": round(self.p95, 3),
            "maxSecs": round(self.max, 3),
        }


@dataclass
class Timeline:
    job_id: str
    origin: datetime  # time zero of the chart: the job's dispatch
    end: datetime
    bars: list[Bar]
    stats: dict[str, StageStats]
    batch_median: float  # seconds, of succeeded batches (what the colours measure from)
    batch_std: float
    status: str = RUNNING
    num_batches: int | None = None
    slots: int = 0  # rows the batches are packed into (= the peak number of batches running at once)
    rows_without_times: int = 0
    deferred: int = 0  # rows of deferred batches (not drawn)
    notes: list[str] = field(default_factory=list)

    def bars_of(self, stage: str) -> list[Bar]:
        return [bar for bar in self.bars if bar.stage == stage]

    @property
    def duration(self) -> float:
        return max((self.end - self.origin).total_seconds(), 0.0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "jobId": self.job_id,
            "status": self.status,
            "origin": self.origin.isoformat(),
            "durationSecs": round(self.duration, 3),
            "numBatches": self.num_batches,
            "slots": self.slots,
            "deferredBatches": self.deferred,
            "batchMedianSecs": round(self.batch_median, 3),
            "batchStdSecs": round(self.batch_std, 3),
            "stats": [self.stats[s].as_dict() for s in STAGE_ORDER if s in self.stats],
            "notes": self.notes,
        }


def nearest_rank(values: Sequence[float], percentile: float) -> float:
    """The nearest-rank percentile (the smallest value with at least ``percentile`` % at or below it)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(percentile / 100 * len(ordered)))
    return ordered[rank - 1]


def stage_stats(stage: str, durations: Sequence[float]) -> StageStats:
    return StageStats(
        stage=stage,
        count=len(durations),
        median=statistics.median(durations),
        p95=nearest_rank(durations, 95),
        max=max(durations),
    )


def colour_class(duration: float, median: float, std: float) -> str:
    """Green within one standard deviation of the median, yellow within two, red beyond (as the original).

    With a standard deviation of 0 (all batches equally long) every batch is within one."""
    residual = abs(duration - median)
    if residual <= std:
        return WITHIN_1_STD
    if residual <= 2 * std:
        return WITHIN_2_STD
    return BEYOND_2_STD


def pack_slots(intervals: Sequence[tuple[datetime, datetime]]) -> tuple[list[int], int]:
    """Assign each interval the lowest row free at its start; returns (row of each, number of rows).

    The number of rows is the peak number of overlapping intervals (back-to-back intervals share a row)."""
    order = sorted(range(len(intervals)), key=lambda i: (intervals[i][0], intervals[i][1]))
    busy: list[tuple[datetime, int]] = []  # (end, row) of rows in use
    free: list[int] = []
    slots = [0] * len(intervals)
    rows = 0
    for i in order:
        start, end = intervals[i]
        while busy and busy[0][0] <= start:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            row = heapq.heappop(free)
        else:
            row, rows = rows, rows + 1
        slots[i] = row
        heapq.heappush(busy, (max(end, start), row))
    return slots, rows


class BatchBars(NamedTuple):
    """The batch bars of a job's rows, and what was not drawn."""

    bars: list[Bar]
    missing: int  # rows without startedAt/endedAt (other than deferred ones)
    deferred: int  # rows of deferred batches (never ran to an end: no times)
    median: float  # seconds, of succeeded batches (of all drawn ones when none succeeded)
    std: float


def batch_bars(rows: Iterable[BatchRecord]) -> BatchBars:
    """The bars of the batch rows, with their median and std."""
    raw: list[tuple[int, datetime, datetime, str, str]] = []
    missing = deferred = 0
    for record in rows:
        if record.status is BatchStatus.DEFERRED:
            deferred += 1
            continue
        if record.started_at is None or record.ended_at is None:
            missing += 1
            continue
        start, end = parse_time(record.started_at), parse_time(record.ended_at)
        raw.append((record.batch_id, start, end, record.status.value, record.error or ""))
    raw.sort()
    durations = [max((end - start).total_seconds(), 0.0) for _, start, end, _, _ in raw]
    measured = [d for d, entry in zip(durations, raw, strict=True) if entry[3] != FAILED_STATUS] or durations
    median = statistics.median(measured) if measured else 0.0
    std = statistics.pstdev(measured) if len(measured) > 1 else 0.0
    slots, _ = pack_slots([(start, end) for _, start, end, _, _ in raw])
    bars = []
    for (batch_id, start, end, status, error), duration, slot in zip(raw, durations, slots, strict=True):
        failed = status == FAILED_STATUS
        colour = FAILED if failed else colour_class(duration, median, std)
        sigma = f", {(duration - median) / std:+.1f} std" if std > 0 and not failed else ""
        detail = f"batch {batch_id}: {duration:.3f} s, {status}{sigma}" + (f", {error}" if error else "")
        bars.append(Bar(BATCH, f"batch {batch_id}", start, end, status, colour, batch_id, slot, detail))
    return BatchBars(bars, missing, deferred, median, std)


def _round_label(index: int, run: StateRun) -> str:
    """``round 2 (batches 3-11, 2 carried)``: the round's batch ids from the Map state's input, and how
    many of them are deferred batches of earlier rounds run again."""
    label = f"round {index + 1}"
    state = run.input if isinstance(run.input, dict) else {}
    bounds = state.get("round") if isinstance(state.get("round"), dict) else None
    if not bounds or not isinstance(bounds.get("firstBatchId"), int):
        return label
    last = bounds.get("lastBatchId")
    if not isinstance(last, int) and isinstance(bounds.get("nextBatchId"), int):
        last = bounds["nextBatchId"] - 1
    if not isinstance(last, int):
        return label
    carried = bounds.get("carried")
    extra = f", {carried} carried" if isinstance(carried, int) and carried > 0 else ""
    return f"{label} (batches {bounds['firstBatchId']}-{last}{extra})"


def _stage_bar(stage: str, label: str, start: datetime, end: datetime, status: str) -> Bar:
    end = max(end, start)
    detail = f"{label}: {(end - start).total_seconds():.3f} s, {status}"
    return Bar(stage, label, start, end, status, FAILED if status == FAILED_STATUS else stage, detail=detail)


def timeline_from(
    events: Sequence[Mapping[str, Any]],
    rows: Iterable[BatchRecord],
    *,
    job_id: str | None = None,
    job_input: Mapping[str, Any] | None = None,
    task_stages: Mapping[str, str] = DEFAULT_TASK_STAGES,
) -> Timeline:
    """The timeline of one execution from its history events and the job's rows (no AWS calls)."""
    runs, info = state_runs(events)
    state = dict(job_input or info.input or {})
    job_id = job_id or str(state.get("jobId", "?"))
    notes: list[str] = []
    bars: list[Bar] = []

    starts = [t for t in (info.started,) if t is not None]
    if isinstance(state.get("startTime"), str):
        starts.append(parse_time(state["startTime"]))
    first_map = next((run for run in runs if run.kind == "Map"), None)
    first_state = first_map or (runs[0] if runs else None)
    if starts:
        origin = min(starts)
        dispatch_end = first_state.entered if first_state else info.started or origin
        bars.append(_stage_bar(DISPATCH, "dispatch", origin, dispatch_end, SUCCEEDED))
    elif runs:
        origin = runs[0].entered
        notes.append("no ExecutionStarted event and no startTime: dispatch not shown")
    else:
        raise TimelineError(f"job {job_id}: the execution history has no events to draw")

    rounds = [run for run in runs if run.kind == "Map"]
    for index, run in enumerate(rounds):
        bars.append(_stage_bar(ROUND, _round_label(index, run), run.entered, run.end, run.status))
    for run in runs:
        if run.kind != "Task":
            continue
        stage = task_stages.get(run.name, BOOKKEEPING)
        bars.append(_stage_bar(stage, run.name, run.entered, run.end, run.status))

    if isinstance(state.get("redrive"), int) and state["redrive"] > 0 and info.started is not None:
        # a redrive execution: rows written by the job's earlier executions are not part of this one
        cutoff = info.started.timestamp() - _REDRIVE_SKEW_SECS
        kept = [r for r in rows if r.started_at is None or parse_time(r.started_at).timestamp() >= cutoff]
        notes.append(f"redrive {state['redrive']}: batches of earlier executions are left out")
        rows = kept
    batches, missing, deferred, median, std = batch_bars(rows)
    if missing:
        notes.append(f"{missing} row(s) without startedAt/endedAt are not drawn")
    if deferred:
        later = "run again in a later round" if info.status == RUNNING else "never run again"
        notes.append(f"{deferred} deferred batch(es) (throttled until their retries ran out; {later}) are not drawn")
    bars.extend(batches)

    stats: dict[str, StageStats] = {}
    for stage in STAGE_ORDER:
        durations = [bar.duration for bar in bars if bar.stage == stage]
        if durations:
            stats[stage] = stage_stats(stage, durations)
    end_candidates = [bar.end for bar in bars] + ([info.stopped] if info.stopped else [])
    num_batches = state.get("numBatches")
    recorded = len(batches) + missing + deferred
    if isinstance(num_batches, int) and recorded < num_batches and info.status != RUNNING:
        notes.append(f"{num_batches - recorded} of {num_batches} batches have no row")
    return Timeline(
        job_id=job_id,
        origin=origin,
        end=max(end_candidates),
        bars=bars,
        stats=stats,
        batch_median=median,
        batch_std=std,
        status=info.status,
        num_batches=num_batches if isinstance(num_batches, int) else None,
        slots=1 + max((bar.slot for bar in batches), default=-1),
        rows_without_times=missing,
        deferred=deferred,
        notes=notes,
    )


def build_timeline(job: Job) -> Timeline:
    """The timeline of a job's execution (its latest one, for a redriven job) from AWS."""
    clients = job.client.clients
    events = execution_history(clients("stepfunctions"), job.execution_arn)
    rows = job_rows(clients("dynamodb"), job.client.stack.tasks_table, job.job_id)
    _, info = state_runs(events)
    job_input = info.input or job.input
    LOG.info("job %s: %d history events, %d rows", job.job_id, len(events), len(rows))
    return timeline_from(events, rows, job_id=job.job_id, job_input=job_input)


# -- rendering: HTML (inline SVG) -----------------------------------------------------------------------
_PLOT_WIDTH = 1100
_LEFT = 160
_RIGHT = 30
_LANE = 24
_TOP = 34
_BATCH_AREA_TARGET = 800  # px the batch rows aim to fill; each row is 2..14 px high


def nice_step(span: float, target_ticks: int = 10) -> float:
    """A 1, 2 or 5 times a power of ten step giving about ``target_ticks`` ticks over ``span``."""
    if span <= 0:
        return 1.0
    raw = span / target_ticks
    power = 10.0 ** math.floor(math.log10(raw))
    for multiple in (1.0, 2.0, 5.0):
        if raw <= multiple * power:
            return multiple * power
    return 10.0 * power


def _fmt(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _batch_row_height(slots: int) -> float:
    if slots <= 0:
        return 14.0
    return min(14.0, max(2.0, _BATCH_AREA_TARGET / slots))


def _svg(timeline: Timeline) -> str:
    span = max(timeline.duration, 1e-3)
    scale = _PLOT_WIDTH / span

    def x(moment: datetime) -> float:
        return _LEFT + (moment - timeline.origin).total_seconds() * scale

    stage_lanes = [s for s in STAGE_ORDER if s != BATCH]
    row_h = _batch_row_height(timeline.slots)
    batch_top = _TOP + len(stage_lanes) * _LANE + 12
    batch_height = max(timeline.slots * row_h, _LANE)
    height = batch_top + batch_height + 30
    width = _LEFT + _PLOT_WIDTH + _RIGHT
    out = [
        f'<svg width="{width}" height="{_fmt(height)}" viewBox="0 0 {width} {_fmt(height)}" role="img" '
        f'aria-label="timeline of job {html.escape(timeline.job_id)}">'
    ]
    # time axis and grid
    step = nice_step(span)
    out.append('<g class="grid">')
    ticks = int(span // step) + 1
    for i in range(ticks):
        px = _LEFT + i * step * scale
        out.append(f'<line x1="{_fmt(px)}" y1="{_TOP - 6}" x2="{_fmt(px)}" y2="{_fmt(height - 24)}"/>')
        label = f"{i * step:g} s"
        out.append(f'<text x="{_fmt(px)}" y="{_TOP - 10}" class="tick">{label}</text>')
        out.append(f'<text x="{_fmt(px)}" y="{_fmt(height - 10)}" class="tick">{label}</text>')
    out.append("</g>")
    # stage lanes
    for lane, stage in enumerate(stage_lanes):
        y = _TOP + lane * _LANE
        out.append(f'<text x="{_LEFT - 8}" y="{y + _LANE / 2 + 4:.0f}" class="lane">{STAGE_TITLES[stage]}</text>')
        for bar in timeline.bars_of(stage):
            w = max(bar.duration * scale, 1.0)
            out.append(
                f'<rect x="{_fmt(x(bar.start))}" y="{y + 3}" width="{_fmt(w)}" height="{_LANE - 6}" '
                f'class="{bar.colour}"><title>{html.escape(bar.detail)}</title></rect>'
            )
    # batches, one row per concurrency slot
    title = f"batches ({len(timeline.bars_of(BATCH))})"
    out.append(f'<text x="{_LEFT - 8}" y="{batch_top + 12}" class="lane">{title}</text>')
    if timeline.slots > 1:
        out.append(f'<text x="{_LEFT - 8}" y="{batch_top + 26}" class="sub">{timeline.slots} at most at once</text>')
    bar_h = _fmt(max(row_h - (1 if row_h >= 4 else 0), 1.0))
    for bar in timeline.bars_of(BATCH):
        bar_w = _fmt(max(bar.duration * scale, 0.6))
        bar_y = _fmt(batch_top + bar.slot * row_h)
        out.append(
            f'<rect x="{_fmt(x(bar.start))}" y="{bar_y}" width="{bar_w}" height="{bar_h}" class="{bar.colour}">'
            f"<title>{html.escape(bar.detail)}</title></rect>"
        )
    out.append("</svg>")
    return "\n".join(out)


_CSS = """
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Arial, sans-serif; margin: 16px; color: #222; }
h1 { font-size: 18px; margin: 0 0 4px; }
.meta { color: #555; margin-bottom: 10px; }
svg { display: block; }
svg text { font-size: 11px; fill: #333; }
svg text.lane { text-anchor: end; font-weight: 600; }
svg text.sub { text-anchor: end; fill: #777; }
svg text.tick { text-anchor: middle; fill: #666; }
svg .grid line { stroke: #e4e4e4; stroke-width: 1; }
svg rect:hover { stroke: #000; stroke-width: 1; }
table { border-collapse: collapse; margin: 12px 0; }
th, td { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -2px; }
.notes { color: #8a5a00; }
"""


def render_html(timeline: Timeline, path: str | Path) -> Path:
    """Write the timeline as ONE self-contained HTML file (inline SVG and CSS, no script, no fetch).

    Hovering a bar shows its tooltip (batch id, duration, status)."""
    target = Path(path)
    classes = "\n".join(f"svg .{name} {{ fill: {colour}; }}" for name, colour in COLOURS.items())
    legend = "".join(
        f'<span><i style="background:{COLOURS[key]}"></i>{html.escape(text)}</span>'
        for key, text in COLOUR_LABELS.items()
    )
    rows = "".join(
        f"<tr><td>{html.escape(STAGE_TITLES[s])}</td><td>{st.count}</td><td>{st.median:.3f}</td>"
        f"<td>{st.p95:.3f}</td><td>{st.max:.3f}</td></tr>"
        for s in STAGE_ORDER
        if (st := timeline.stats.get(s)) is not None
    )
    batches = len(timeline.bars_of(BATCH))
    failed = sum(1 for bar in timeline.bars_of(BATCH) if bar.status == FAILED_STATUS)
    rounds = len(timeline.bars_of(ROUND))
    meta = (
        f"{html.escape(timeline.status)} &middot; started {timeline.origin.strftime('%Y-%m-%d %H:%M:%S')} UTC "
        f"&middot; {timeline.duration:.3f} s &middot; {batches} batches ({failed} failed) in {rounds} round(s) "
        f"&middot; batch median {timeline.batch_median:.3f} s, std {timeline.batch_std:.3f} s"
    )
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in timeline.notes)
    document = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>burst job {html.escape(timeline.job_id)} timeline</title>
<style>{_CSS}{classes}
</style>
</head>
<body>
<h1>Job {html.escape(timeline.job_id)}</h1>
<div class="meta">{meta}</div>
<div class="legend">{legend}</div>
{_svg(timeline)}
<table>
<thead><tr><th>stage</th><th>count</th><th>median (s)</th><th>p95 (s)</th><th>max (s)</th></tr></thead>
<tbody>{rows}</tbody>
</table>
{f'<ul class="notes">{notes}</ul>' if notes else ""}
</body>
</html>
"""
    target.write_text(document, encoding="utf-8")
    LOG.info("wrote %s (%d bytes)", target, len(document))
    return target


# -- rendering: PNG (matplotlib, Agg) --------------------------------------------------------------------
def render_png(timeline: Timeline, path: str | Path, *, dpi: int = 110) -> Path:
    """Draw the timeline with matplotlib's Agg backend (no display needed) into a PNG file."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - optional dependency
        from matplotlib.collections import PolyCollection  # noqa: PLC0415
        from matplotlib.figure import Figure  # noqa: PLC0415
        from matplotlib.patches import Patch  # noqa: PLC0415
    except ImportError as exc:
        raise TimelineError("render_png needs matplotlib: pip install 'burst-compute[plot]'") from exc
    target = Path(path)
    origin = timeline.origin

    def secs(moment: datetime) -> float:
        return (moment - origin).total_seconds()

    stage_lanes = [s for s in STAGE_ORDER if s != BATCH]
    slots = max(timeline.slots, 1)
    batch_inches = min(max(slots * 0.06, 1.6), 9.0)
    stats_inches = 0.17 * (len(timeline.stats) + 1) + 0.1
    lanes_inches = 0.3 * len(stage_lanes)
    figure = Figure(figsize=(13, 1.0 + lanes_inches + batch_inches + 0.55 + stats_inches))
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(4, 1, height_ratios=[lanes_inches, batch_inches, 0.55, stats_inches], hspace=0.06)
    top = figure.add_subplot(grid[0])
    bottom = figure.add_subplot(grid[1], sharex=top)
    table = figure.add_subplot(grid[3])
    table.axis("off")

    for lane, stage in enumerate(stage_lanes):
        bars = timeline.bars_of(stage)
        if bars:
            top.broken_barh(
                [(secs(b.start), max(b.duration, timeline.duration / 500)) for b in bars],
                (lane - 0.35, 0.7),
                facecolors=[COLOURS[b.colour] for b in bars],
                edgecolors="#ffffff",
                linewidth=0.5,
            )
    top.set_yticks(range(len(stage_lanes)), [STAGE_TITLES[s] for s in stage_lanes])
    top.set_ylim(len(stage_lanes) - 0.5, -0.5)
    top.tick_params(axis="x", labelbottom=False)
    top.grid(axis="x", color="#e4e4e4")
    top.set_axisbelow(True)

    minimum = timeline.duration / 3000
    for colour in (WITHIN_1_STD, WITHIN_2_STD, BEYOND_2_STD, FAILED):
        bars = [b for b in timeline.bars_of(BATCH) if b.colour == colour]
        if not bars:
            continue
        boxes = []
        for bar in bars:
            x0, x1 = secs(bar.start), secs(bar.start) + max(bar.duration, minimum)
            y0, y1 = bar.slot - 0.42, bar.slot + 0.42
            boxes.append([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
        bottom.add_collection(
            PolyCollection(
                boxes,
                facecolors=COLOURS[colour],
                edgecolors="#3b1650" if colour == FAILED else "none",
                linewidths=0.4,
                hatch="///" if colour == FAILED else None,
            )
        )
    bottom.set_ylim(slots - 0.5, -0.5)
    bottom.set_xlim(-timeline.duration * 0.01, timeline.duration * 1.01 + 1e-3)
    bottom.set_ylabel(f"batches ({len(timeline.bars_of(BATCH))}), by slot")
    bottom.set_xlabel("seconds since dispatch")
    if slots > 40:
        bottom.set_yticks([])
    bottom.grid(axis="x", color="#e4e4e4")
    bottom.set_axisbelow(True)
    table.legend(
        handles=[Patch(facecolor=COLOURS[key], label=text) for key, text in COLOUR_LABELS.items()],
        loc="upper right",
        fontsize=8,
        frameon=False,
    )

    header = f"{'stage':<22}{'count':>7}{'median s':>11}{'p95 s':>10}{'max s':>10}"
    lines = [header] + [
        f"{STAGE_TITLES[s]:<22}{st.count:>7}{st.median:>11.3f}{st.p95:>10.3f}{st.max:>10.3f}"
        for s in STAGE_ORDER
        if (st := timeline.stats.get(s)) is not None
    ]
    table.text(0.0, 1.0, "\n".join(lines), family="monospace", fontsize=8.5, va="top", ha="left")
    rounds = len(timeline.bars_of(ROUND))
    top.set_title(
        f"job {timeline.job_id}: {timeline.status}, {timeline.duration:.2f} s, "
        f"{len(timeline.bars_of(BATCH))} batches in {rounds} round(s); batch median {timeline.batch_median:.3f} s, "
        f"std {timeline.batch_std:.3f} s",
        fontsize=10,
        loc="left",
    )
    figure.subplots_adjust(left=0.13, right=0.98, top=1 - 0.45 / figure.get_figheight(), bottom=0.02)
    figure.savefig(target, dpi=dpi, format="png")
    LOG.info("wrote %s", target)
    return target
