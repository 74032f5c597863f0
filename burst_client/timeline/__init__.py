"""A job's timeline: dispatch, rounds, batches, monitor and combiner on one time axis.

    from burst_client.timeline import build_timeline, render_html, render_png

    timeline = build_timeline(job)            # execution history + the job's batch rows
    render_html(timeline, "timeline.html")    # one self-contained file, works offline
    render_png(timeline, "timeline.png")      # matplotlib (Agg), needs the ``plot`` extra

This replaces the original's ``timeline.html``, which loaded Google Charts from a CDN and needed a
CloudWatch log export. Everything here comes from two sources any user of the job can read, fetched
once (:func:`burst_client.facts.fetch_facts`): the execution history (parsed by
:mod:`burst_client.history`) and the batch rows of the tasks table. Gathering (:func:`build_timeline`)
is separate from building (:func:`timeline_of`, :func:`timeline_from`: pure functions, in
:mod:`~burst_client.timeline.build`) and from rendering (:mod:`~burst_client.timeline.html`,
:mod:`~burst_client.timeline.png`), which only needs a :class:`Timeline` (:mod:`~burst_client.timeline.model`).
"""

from burst_client.errors import TimelineError
from burst_client.history import StateRun, state_runs
from burst_client.timeline.build import BatchBars, batch_bars, build_timeline, timeline_from, timeline_of
from burst_client.timeline.html import render_html
from burst_client.timeline.model import (
    BATCH,
    BEYOND_2_STD,
    BOOKKEEPING,
    COLOURS,
    COMBINER,
    DEFAULT_TASK_STAGES,
    DISPATCH,
    FAILED,
    MONITOR,
    ROUND,
    STAGE_ORDER,
    WITHIN_1_STD,
    WITHIN_2_STD,
    Bar,
    StageStats,
    Timeline,
    colour_class,
    nearest_rank,
    pack_slots,
    stage_stats,
)
from burst_client.timeline.png import render_png

__all__ = [
    "BATCH",
    "BEYOND_2_STD",
    "BOOKKEEPING",
    "COLOURS",
    "COMBINER",
    "DEFAULT_TASK_STAGES",
    "DISPATCH",
    "FAILED",
    "MONITOR",
    "ROUND",
    "STAGE_ORDER",
    "WITHIN_1_STD",
    "WITHIN_2_STD",
    "Bar",
    "BatchBars",
    "StageStats",
    "StateRun",
    "Timeline",
    "TimelineError",
    "batch_bars",
    "build_timeline",
    "colour_class",
    "nearest_rank",
    "pack_slots",
    "render_html",
    "render_png",
    "stage_stats",
    "state_runs",
    "timeline_from",
    "timeline_of",
]
