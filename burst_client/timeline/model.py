"""The timeline's model: stages, colours, bars, per-stage statistics, and the packing of batches into rows."""

from __future__ import annotations

import heapq
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from burst_client.history import RUNNING

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
