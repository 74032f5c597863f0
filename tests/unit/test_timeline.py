"""The job timeline on synthetic execution histories and rows: bars, colours, statistics, rendering."""

from __future__ import annotations

import json
import re
import struct
import time
from datetime import timedelta
from typing import Any

import pytest

from burst_client import timeline as tl
from burst_client.gateway import Gateway
from burst_client.timeline import (
    BATCH,
    BEYOND_2_STD,
    BOOKKEEPING,
    COMBINER,
    DISPATCH,
    FAILED,
    MONITOR,
    ROUND,
    WITHIN_1_STD,
    WITHIN_2_STD,
    build_timeline,
    pack_slots,
    render_html,
    render_png,
    timeline_from,
)
from burst_core.job import parse_timestamp
from burst_core.persistence import decode_record, job_query
from tests.support import (
    JOB,
    T0,
    History,
    at,
    deferred_row,
    fake_stack,
    job_input,
    rfc3339,
    row,
    stub_query,
    stubbed_client,
    three_round_history,
)

# durations of the 12 batches: 8 of 1 s, one of 2 s, one of 4 s (succeeded), one failed after 0.1 s, one of 1 s
DURATIONS = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 4.0, 0.1, 1.0]


def twelve_rows(*, aws: bool = True) -> list[dict[str, Any]]:
    out = []
    for b, duration in enumerate(DURATIONS):
        start = 0.6 + 10.3 * (b // 4) + 0.01 * b
        out.append(row(b, start, duration, "failed" if b == 10 else "succeeded", aws=aws))
    return out


def timeline_of(events: list[dict[str, Any]], rows: list[dict[str, Any]]) -> tl.Timeline:
    """The timeline of synthetic history events and rows (DynamoDB items, as the state machine writes them)."""
    return timeline_from(events, [decode_record(item) for item in rows])


@pytest.fixture
def timeline() -> tl.Timeline:
    return timeline_of(three_round_history(), twelve_rows())


def test_one_bar_per_batch_round_monitor_and_combiner(timeline: tl.Timeline) -> None:
    batches = timeline.bars_of(BATCH)
    assert sorted(bar.batch_id for bar in batches if bar.batch_id is not None) == list(range(12))
    assert [bar.label for bar in timeline.bars_of(ROUND)] == [
        "round 1 (batches 0-3)",
        "round 2 (batches 4-7)",
        "round 3 (batches 8-11)",
    ]
    assert [bar.label for bar in timeline.bars_of(MONITOR)] == ["Summarize"]
    assert [bar.label for bar in timeline.bars_of(BOOKKEEPING)] == ["DispatchNextBatches"] * 3
    assert [bar.label for bar in timeline.bars_of(COMBINER)] == ["Combine"]
    (dispatch,) = timeline.bars_of(DISPATCH)
    # from the job's startTime (0 s, before ExecutionStarted at 0.4 s) to the first MapJobs entered (0.5 s)
    assert (dispatch.start, dispatch.end) == (at(0), at(0.5))
    assert timeline.origin == at(0)
    assert timeline.status == "succeeded"
    assert timeline.num_batches == 12
    assert not timeline.notes


def test_round_bars_span_map_entered_to_exited(timeline: tl.Timeline) -> None:
    first, second, third = timeline.bars_of(ROUND)
    assert (first.start, first.end) == (at(0.5), at(10.5))
    assert (second.start, second.end) == (at(10.8), at(20.8))
    assert third.duration == pytest.approx(10.0)
    assert {bar.status for bar in (first, second, third)} == {"succeeded"}


def test_colour_classes_follow_distance_from_the_median(timeline: tl.Timeline) -> None:
    # Succeeded batches (the failed one is left out): 9 of 1 s, one of 2 s, one of 4 s.
    # median = 1 s; mean = (9 + 2 + 4) / 11 = 15/11 = 1.3636 s
    # population variance = (9 * (1 - 15/11)**2 + (2 - 15/11)**2 + (4 - 15/11)**2) / 11
    #                      = (9 * 16 + 49 + 841) / 121 / 11 = 1034 / 1331 = 0.776860
    # std = 0.881396 s -> 1 s batches: residual 0 (green); 2 s: residual 1 > 0.881 but <= 1.763 (yellow);
    # 4 s: residual 3 > 1.763 (red); batch 10 failed (purple, whatever its duration).
    assert timeline.batch_median == pytest.approx(1.0)
    assert timeline.batch_std == pytest.approx((1034 / 1331) ** 0.5)
    assert timeline.batch_std == pytest.approx(0.881396, abs=1e-6)
    colours = {bar.batch_id: bar.colour for bar in timeline.bars_of(BATCH)}
    assert colours[8] == WITHIN_2_STD
    assert colours[9] == BEYOND_2_STD
    assert colours[10] == FAILED
    assert {colours[b] for b in (0, 1, 2, 3, 4, 5, 6, 7, 11)} == {WITHIN_1_STD}


def test_colour_class_boundaries() -> None:
    assert tl.colour_class(1.5, 1.0, 0.5) == WITHIN_1_STD  # exactly one std
    assert tl.colour_class(2.0, 1.0, 0.5) == WITHIN_2_STD  # exactly two
    assert tl.colour_class(2.01, 1.0, 0.5) == BEYOND_2_STD
    assert tl.colour_class(0.0, 1.0, 0.5) == WITHIN_2_STD  # shorter than the median counts too
    assert tl.colour_class(3.0, 3.0, 0.0) == WITHIN_1_STD  # all equal: std 0


def test_stage_statistics(timeline: tl.Timeline) -> None:
    batch = timeline.stats[BATCH]
    # all 12 batch durations sorted: 0.1, 1 x 9, 2, 4 -> median 1; p95 = value of rank ceil(0.95 * 12) = 12 -> 4
    assert (batch.count, batch.median, batch.p95, batch.max) == (12, pytest.approx(1.0), pytest.approx(4.0), 4.0)
    monitor = timeline.stats[MONITOR]
    # Summarize once, 0.3 s
    assert (monitor.count, monitor.median, monitor.p95, monitor.max) == (1, pytest.approx(0.3), 0.3, 0.3)
    # DispatchNextBatches 0.3 s after each round (its throttled first attempt inside the same state visit)
    bookkeeping = timeline.stats[BOOKKEEPING]
    assert bookkeeping.count == 3
    assert bookkeeping.median == pytest.approx(0.3)
    assert timeline.stats[ROUND].count == 3
    assert timeline.stats[COMBINER].median == pytest.approx(2.0)
    assert timeline.stats[DISPATCH].count == 1


def test_nearest_rank_percentile() -> None:
    values = list(range(1, 101))  # 1..100
    assert tl.nearest_rank(values, 95) == 95
    assert tl.nearest_rank(values, 100) == 100
    assert tl.nearest_rank([7.0], 95) == 7.0
    assert tl.nearest_rank([3, 1, 2], 50) == 2


def test_moto_reports_map_state_failed_after_a_successful_map_run() -> None:
    # moto 5.2.5 emits MapRunSucceeded then MapStateFailed for a map run that succeeded
    timeline = timeline_of(three_round_history(map_state_end="MapStateFailed"), twelve_rows())
    assert {bar.status for bar in timeline.bars_of(ROUND)} == {"succeeded"}


def test_a_failed_map_run_marks_its_round_failed() -> None:
    events = three_round_history()
    for event in events:
        if event["type"] == "MapRunSucceeded":
            event["type"] = "MapRunFailed"
            break
    rounds = timeline_of(events, twelve_rows()).bars_of(ROUND)
    assert [bar.status for bar in rounds] == ["failed", "succeeded", "succeeded"]
    assert rounds[0].colour == FAILED


def test_moto_and_aws_time_formats_give_the_same_bars() -> None:
    aws = timeline_of(three_round_history(), twelve_rows(aws=True)).bars_of(BATCH)
    moto = timeline_of(three_round_history(), twelve_rows(aws=False)).bars_of(BATCH)
    assert [(b.batch_id, b.colour) for b in aws] == [(b.batch_id, b.colour) for b in moto]
    for a, m in zip(aws, moto, strict=True):
        assert abs((a.start - m.start).total_seconds()) < 0.001


def test_task_retries_are_attempts_of_one_state_run() -> None:
    runs, info = tl.state_runs(three_round_history())
    rounds = [run for run in runs if run.name == "DispatchNextBatches"]
    assert [len(run.attempts) for run in rounds] == [2, 1, 1]
    assert [attempt.status for attempt in rounds[0].attempts] == ["failed", "succeeded"]
    assert rounds[0].status == "succeeded"
    assert rounds[0].function == (
        "arn:aws:lambda:us-east-1:123456789012:function:janelia-burst-compute-dev-dispatchNextBatches"
    )
    assert info.status == "succeeded"
    assert info.input["numBatches"] == 12


def test_a_running_execution_is_drawn_up_to_its_last_event() -> None:
    events = [e for e in three_round_history() if e["id"] <= 8]  # inside round 1's DispatchNextBatches
    timeline = timeline_of(events, twelve_rows()[:4])
    assert timeline.status == "running"
    (next_round,) = [bar for bar in timeline.bars if bar.label == "DispatchNextBatches"]
    assert next_round.status == "running"
    assert next_round.stage == BOOKKEEPING
    assert len(timeline.bars_of(BATCH)) == 4


def test_rows_without_times_are_counted_not_drawn() -> None:
    rows = twelve_rows()
    del rows[5]["startedAt"]
    timeline = timeline_of(three_round_history(), rows)
    assert len(timeline.bars_of(BATCH)) == 11
    assert timeline.rows_without_times == 1
    assert any("without startedAt" in note for note in timeline.notes)


def test_a_redrive_leaves_out_the_rows_of_earlier_executions() -> None:
    events = three_round_history()
    start = events[0]["executionStartedEventDetails"]
    start["input"] = json.dumps(job_input(12, redrive=1))
    rows = twelve_rows()
    rows[0]["startedAt"] = {"S": (T0 - timedelta(hours=1)).isoformat()}  # from the first execution
    timeline = timeline_of(events, rows)
    assert sorted(bar.batch_id for bar in timeline.bars_of(BATCH) if bar.batch_id is not None) == list(range(1, 12))


def test_deferred_rows_are_counted_not_drawn() -> None:
    # batch 11 was still deferred when the job ended (throttled until its retries ran out, no times)
    rows = twelve_rows()
    rows[11] = deferred_row(11)
    timeline = timeline_of(three_round_history(), rows)
    assert sorted(bar.batch_id for bar in timeline.bars_of(BATCH) if bar.batch_id is not None) == list(range(11))
    assert timeline.deferred == 1
    assert timeline.rows_without_times == 0  # deferred rows are not "rows without times"
    assert timeline.as_dict()["deferredBatches"] == 1
    assert any("1 deferred batch(es)" in note and "never run again" in note for note in timeline.notes)
    assert not any("have no row" in note for note in timeline.notes)
    # while the job runs, a deferred batch waits for a later round
    running = [e for e in three_round_history() if e["type"] != "ExecutionSucceeded"]
    assert any("run again in a later round" in note for note in timeline_of(running, rows).notes)


def test_a_round_with_deferred_batches_names_them_in_its_label() -> None:
    h = History()
    h.add("ExecutionStarted", 0, "executionStartedEventDetails", input=json.dumps(job_input(8)))
    h.map_round(0.1, 5, 0, 4)
    h.task("DispatchNextBatches", 5, 5.2, "x-dispatchNextBatches")
    h.map_round(5.3, 9, 1, 8, last=7, carried=2)  # batches 1 and 3 again, then 4..7
    labels = [bar.label for bar in timeline_of(h.events, []).bars_of(ROUND)]
    assert labels == ["round 1 (batches 0-3)", "round 2 (batches 1-7, 2 carried)"]


def test_rows_are_decoded_in_one_place() -> None:
    # the row's batch id, status, error and times come from burst_core.persistence.decode_record
    item = row(4, 1.0, 2.0, "failed")
    (bar,) = tl.batch_bars([decode_record(item)]).bars
    record = decode_record(item)
    assert (bar.batch_id, bar.status, bar.start) == (record.batch_id, record.status.value, at(1.0))
    assert bar.detail == "batch 4: 2.000 s, failed, ValueError"


def test_pack_slots_reuses_rows_and_counts_the_peak() -> None:
    intervals = [(at(0), at(2)), (at(1), at(3)), (at(2), at(4)), (at(5), at(6))]
    slots, rows = pack_slots(intervals)
    assert rows == 2  # at most two overlap
    assert slots == [0, 1, 0, 0]  # back-to-back intervals share a row


def test_build_timeline_fetches_history_and_rows_once_through_the_gateway() -> None:
    events, rows = three_round_history(), twelve_rows()
    arn = "arn:aws:states:us-east-1:123456789012:execution:x:" + JOB
    sfn, sfn_stubber = stubbed_client("stepfunctions")
    sfn_stubber.add_response("get_execution_history", {"events": events[:10], "nextToken": "t"})
    sfn_stubber.add_response("get_execution_history", {"events": events[10:]})
    dynamodb, stubber = stubbed_client("dynamodb")
    stub_query(stubber, rows[:6], rows[6:], expected=job_query("janelia-burst-compute-dev-tasks", JOB))
    gateway = Gateway({"stepfunctions": sfn, "dynamodb": dynamodb}.__getitem__)

    class Client:
        stack = fake_stack()

    Client.gateway = gateway  # type: ignore[attr-defined]

    class FakeJob:
        job_id = JOB
        client = Client()

        @staticmethod
        def describe() -> dict[str, Any]:
            return {"executionArn": arn, "input": json.dumps(job_input(12))}

    timeline = build_timeline(FakeJob())  # type: ignore[arg-type]
    sfn_stubber.assert_no_pending_responses()
    stubber.assert_no_pending_responses()  # two pages, the second from the first's LastEvaluatedKey
    assert len(timeline.bars_of(BATCH)) == 12
    assert timeline.job_id == JOB


def test_html_is_self_contained_with_a_tooltip_per_batch(timeline: tl.Timeline, tmp_path) -> None:
    path = render_html(timeline, tmp_path / "timeline.html")
    text = path.read_text()
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text and "<link" not in text and "@import" not in text and "url(" not in text
    rects = re.findall(r'<rect [^>]*class="(within1|within2|beyond2|failed)"><title>batch (\d+):', text)
    assert sorted(int(b) for _, b in rects) == list(range(12))
    assert dict((int(b), c) for c, b in rects)[10] == "failed"
    assert "batch 9: 4.000 s, succeeded, +3.4 std" in text
    assert "batch 10: 0.100 s, failed, ValueError" in text
    for stage in ("dispatch", "rounds", "monitor", "combiner", "batches"):
        assert f">{stage}<" in text
    assert text.count("<tr><td>") == 6  # the stats table: one row per stage


def test_html_escapes_what_it_shows(tmp_path) -> None:
    rows = twelve_rows()
    rows[10]["error"] = {"S": "<script>alert(1)</script>"}
    text = render_html(timeline_of(three_round_history(), rows), tmp_path / "t.html").read_text()
    assert "<script>" not in text
    assert "&lt;script&gt;" in text


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_png_is_a_valid_image(timeline: tl.Timeline, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    width, height = png_size(render_png(timeline, tmp_path / "timeline.png"))
    assert width > 1000 and height > 400


def test_ten_thousand_batches_render_in_reasonable_size_and_time(tmp_path) -> None:
    # 10,000 batches, at most 1,000 at once, in 2 rounds of 5,000
    h = History()
    h.add("ExecutionStarted", 0.2, "executionStartedEventDetails", input=json.dumps(job_input(10_000)))
    h.map_round(0.5, 300, 0, 5000)
    h.task("DispatchNextBatches", 300, 300.9, "x-dispatchNextBatches")
    h.map_round(301, 600, 5000, 10_000)
    h.task("DispatchNextBatches", 600, 600.2, "x-dispatchNextBatches")
    h.task("Summarize", 600.2, 601, "x-monitor")
    h.task("Combine", 601, 620, "x-combiner")
    h.add("ExecutionSucceeded", 620, "executionSucceededEventDetails", output="{}")
    rows = []
    for b in range(10_000):
        base = 1 if b < 5000 else 301.5  # 5 waves of 1,000 batches of 50..56 s per round
        wave, slot = divmod(b % 5000, 1000)
        rows.append(row(b, base + wave * 59 + slot * 0.002, 50 + (b % 7), "failed" if b % 997 == 0 else "succeeded"))
    started = time.perf_counter()
    timeline = timeline_of(h.events, rows)
    html_path = render_html(timeline, tmp_path / "big.html")
    elapsed = time.perf_counter() - started
    assert len(timeline.bars_of(BATCH)) == 10_000
    assert timeline.slots == 1000
    assert html_path.read_text().count("<rect ") == len(timeline.bars)
    assert html_path.stat().st_size < 3_000_000
    assert elapsed < 20
    pytest.importorskip("matplotlib")
    started = time.perf_counter()
    png_size(render_png(timeline, tmp_path / "big.png"))
    assert time.perf_counter() - started < 30


def test_empty_history_is_a_clear_error() -> None:
    with pytest.raises(tl.TimelineError, match="no events"):
        timeline_of([], [])


def test_times_of_aws_and_moto_parse_alike_and_bad_ones_are_refused() -> None:
    assert parse_timestamp(rfc3339(1.5)) == parse_timestamp(rfc3339(1.5, aws=False)) == at(1.5)
    assert parse_timestamp(at(2).replace(tzinfo=None)) == at(2)
    with pytest.raises(ValueError):
        parse_timestamp("yesterday")


def test_a_bad_time_in_a_row_is_a_clear_error() -> None:
    item = row(4, 1.0, 2.0)
    item["startedAt"] = {"S": "yesterday"}
    with pytest.raises(tl.TimelineError, match=r"batch 4: 'yesterday' is not an RFC 3339 time"):
        tl.batch_bars([decode_record(item)])
