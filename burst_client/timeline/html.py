"""The timeline as ONE self-contained HTML file: inline SVG and CSS, no script, no fetch (works offline)."""

from __future__ import annotations

import html
import logging
import math
from datetime import datetime
from pathlib import Path

from burst_client.history import FAILED_STATUS
from burst_client.timeline.model import BATCH, COLOUR_LABELS, COLOURS, ROUND, STAGE_ORDER, STAGE_TITLES, Timeline

LOG = logging.getLogger(__name__)

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
