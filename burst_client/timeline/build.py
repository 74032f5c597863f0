"""A timeline built from a job's facts: its execution history and its batch rows (no AWS calls here).

* the execution history: dispatch (from the job's ``startTime``, else the execution start, to the
  first Map state), one round per Map state (entered..exited), the monitor (``Summarize``, once after
  the last round), the combiner (``Combine`` or ``CombineError``) and the framework's bookkeeping between
  rounds (``DispatchNextBatches``, which ends a round and writes the next one's batch file);
* the batch rows of the tasks table, as :class:`burst_core.persistence.BatchRecord`: every batch from
  ``startedAt`` to ``endedAt`` (the state machine's clock), coloured like the original by its distance
  from the median batch duration: within one standard deviation green, within two yellow, beyond red;
  failed batches purple. Deferred rows (throttled until their retries ran out, waiting for the next
  round) have no times and are counted, not drawn.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from burst_client.errors import TimelineError
from burst_client.facts import JobFacts, fetch_facts
from burst_client.history import FAILED_STATUS, RUNNING, SUCCEEDED, StateRun, redrive_cutoff, state_runs
from burst_client.timeline.model import (
    BATCH,
    BOOKKEEPING,
    DEFAULT_TASK_STAGES,
    DISPATCH,
    FAILED,
    ROUND,
    STAGE_ORDER,
    Bar,
    StageStats,
    Timeline,
    colour_class,
    pack_slots,
    stage_stats,
)
from burst_core.job import parse_timestamp
from burst_core.persistence import BatchRecord, BatchStatus

if TYPE_CHECKING:
    from burst_client.sdk import Job


class BatchBars(NamedTuple):
    """The batch bars of a job's rows, and what was not drawn."""

    bars: list[Bar]
    missing: int  # rows without startedAt/endedAt (other than deferred ones)
    deferred: int  # rows of deferred batches (never ran to an end: no times)
    median: float  # seconds, of succeeded batches (of all drawn ones when none succeeded)
    std: float


def _time(record: BatchRecord, value: str) -> datetime:
    try:
        return parse_timestamp(value)
    except ValueError:
        raise TimelineError(f"batch {record.batch_id}: {value!r} is not an RFC 3339 time") from None


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
        start, end = _time(record, record.started_at), _time(record, record.ended_at)
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
        starts.append(parse_timestamp(state["startTime"]))
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

    cutoff = redrive_cutoff(state, info)
    if cutoff is not None:
        # a redrive execution: rows written by the job's earlier executions are not part of this one
        kept = [r for r in rows if r.started_at is None or _time(r, r.started_at).timestamp() >= cutoff]
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


def timeline_of(facts: JobFacts, *, task_stages: Mapping[str, str] = DEFAULT_TASK_STAGES) -> Timeline:
    """The timeline of a job's execution from its facts."""
    return timeline_from(facts.events, facts.rows, job_id=facts.job_id, job_input=facts.state, task_stages=task_stages)


def build_timeline(job: Job) -> Timeline:
    """The timeline of a job's execution (its latest one, for a redriven job), its facts fetched from AWS."""
    return timeline_of(fetch_facts(job.client.gateway, job.client.stack, job.job_id, job.describe()))
