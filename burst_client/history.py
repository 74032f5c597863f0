"""The execution-history parser the timeline and the cost report share: state visits, task attempts, map runs.

Only documented history event types are used (``ExecutionStarted``, ``*StateEntered``/``*StateExited``,
``TaskScheduled``/``TaskStarted``/``TaskSucceeded``/``TaskFailed``/``TaskTimedOut``, ``MapRunStarted``/
``MapRunSucceeded``/``MapRunFailed``/``MapRunAborted``, ``MapStateSucceeded``/``MapStateFailed``,
``ExecutionSucceeded``/``ExecutionFailed``/...), so the same code reads AWS and the local endpoint.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from burst_core.job import parse_timestamp
from burst_core.persistence import BatchStatus

LOG = logging.getLogger(__name__)

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
REDRIVE_SKEW_SECS = 1.0


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
        kind, at, details = str(event.get("type", "")), parse_timestamp(event["timestamp"]), _details(event)
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
    last = info.stopped or (max(parse_timestamp(e["timestamp"]) for e in ordered) if ordered else None)
    for run in open_runs:  # still running: draw up to the last event
        run.exited = None
        run.status = RUNNING
        if last is not None and run.entered <= last:
            run.exited = last
    return runs, info


def redrive_cutoff(state: Mapping[str, Any], info: ExecutionInfo) -> float | None:
    """For a redrive execution (its input's ``redrive`` > 0), the POSIX time before which a row was written
    by one of the job's earlier executions (allowing for clock skew); None for a first execution."""
    if isinstance(state.get("redrive"), int) and state["redrive"] > 0 and info.started is not None:
        return info.started.timestamp() - REDRIVE_SKEW_SECS
    return None
