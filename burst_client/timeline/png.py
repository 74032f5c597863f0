"""The timeline as a PNG image, drawn by matplotlib's Agg backend (the ``plot`` extra; no display needed)."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from burst_client.errors import TimelineError
from burst_client.timeline.model import (
    BATCH,
    BEYOND_2_STD,
    COLOUR_LABELS,
    COLOURS,
    FAILED,
    ROUND,
    STAGE_ORDER,
    STAGE_TITLES,
    WITHIN_1_STD,
    WITHIN_2_STD,
    Timeline,
)

LOG = logging.getLogger(__name__)


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
