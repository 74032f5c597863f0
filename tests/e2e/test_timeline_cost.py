"""End-to-end: a job's timeline and cost from the local endpoint's execution history and rows, with
EXPRESS and with STANDARD batch workflows."""

from __future__ import annotations

import re
import struct
from typing import Any

import pytest

from burst_client.cost import (
    actual,
    estimate,
    load_definition,
    workflow_paths,
)
from burst_client.sdk import Job
from burst_client.timeline import (
    BATCH,
    BOOKKEEPING,
    COMBINER,
    DISPATCH,
    FAILED,
    MONITOR,
    ROUND,
    build_timeline,
    render_html,
    render_png,
)
from burst_core.orchestration import ExecutionType

from .conftest import LocalStack

pytestmark = pytest.mark.e2e

# 60 indices in batches of 5, 4 batches a round: 12 batches in 3 rounds; batch 3 fails. The Map Run of
# its round tolerates it (1 of 4 = 25% <= 30%), and so does the job (1 of 12).
ITEMS, BATCH_SIZE, PER_ROUND, BATCHES, ROUNDS = 60, 5, 4, 12, 3
TOLERATED = 30


@pytest.fixture(scope="module", params=[ExecutionType.EXPRESS, ExecutionType.STANDARD], ids=str)
def job(request: pytest.FixtureRequest, deployed: LocalStack) -> Job:
    job = deployed.client.dispatch_event(
        {
            "workerFunctionName": deployed.worker(),
            "combinerFunctionName": deployed.combiner(),
            "datasetStartIndex": 0,
            "datasetEndIndex": ITEMS,
            "batchSize": BATCH_SIZE,
            "maxParallelism": PER_ROUND,
            "toleratedPercentageFailure": TOLERATED,
            "jobParameters": {"failBatches": [3]},
            "batchExecutionType": request.param.value,
        }
    )
    status = job.wait(timeout=240)
    assert (status.state, status.done, status.failed) == ("succeeded", BATCHES - 1, 1)
    assert job.input["batchExecutionType"] == request.param.value
    return job


def lines(report: Any) -> dict[tuple[str, str], float]:
    return {(item.service, item.item): item.quantity for item in report.items}


def test_timeline_has_a_bar_per_batch_and_round_and_the_monitor_and_combiner(job: Job, tmp_path):
    timeline = build_timeline(job)
    batches = timeline.bars_of(BATCH)
    assert sorted(bar.batch_id for bar in batches if bar.batch_id is not None) == list(range(BATCHES))
    assert [bar.colour for bar in batches if bar.batch_id == 3] == [FAILED]
    assert timeline.deferred == 0
    assert len(timeline.bars_of(ROUND)) == ROUNDS
    assert [bar.label for bar in timeline.bars_of(MONITOR)] == ["Summarize"]
    assert [bar.label for bar in timeline.bars_of(BOOKKEEPING)] == ["DispatchNextBatches"] * ROUNDS
    assert [bar.label for bar in timeline.bars_of(COMBINER)] == ["Combine"]
    assert len(timeline.bars_of(DISPATCH)) == 1
    assert timeline.status == "succeeded"
    assert timeline.slots <= PER_ROUND
    # every batch ran inside a round (the state machine's clock for both)
    rounds = timeline.bars_of(ROUND)
    for bar in batches:
        assert any(owner.start <= bar.start <= bar.end <= owner.end for owner in rounds), bar.label
    assert timeline.stats[BATCH].count == BATCHES
    assert timeline.stats[ROUND].count == ROUNDS

    html = render_html(timeline, tmp_path / "timeline.html").read_text()
    assert "http://" not in html and "https://" not in html
    assert len(re.findall(r"<title>batch \d+:", html)) == BATCHES
    pytest.importorskip("matplotlib")
    data = render_png(timeline, tmp_path / "timeline.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 1000 and height > 400


def test_actual_cost_counts_what_the_job_did(job: Job):
    kind = ExecutionType(job.input["batchExecutionType"])
    report = actual(job)
    got = lines(report)
    facts = report.facts
    assert report.execution_type == facts["batchExecutionType"] == kind.value
    assert facts["rows"] == facts["numBatches"] == BATCHES
    assert (facts["failed"], facts["deferred"], facts["rounds"]) == (1, 0, ROUNDS)
    assert facts["childExecutions"] == BATCHES  # DescribeMapRun's executionCounts, summed
    assert got[("Lambda", "worker requests")] == BATCHES
    assert got[("Lambda", "worker compute")] > 0
    assert got[("Lambda", "dispatch requests")] == 1
    assert got[("Lambda", "combiner requests")] == 1
    # the parent's Lambda tasks (and their retries, if any) from the history
    assert got[("Lambda", "dispatchNextBatches requests")] >= ROUNDS
    assert got[("Lambda", "monitor requests")] >= 1  # Summarize, once
    assert (
        got[("Lambda", "dispatchNextBatches requests")]
        + got[("Lambda", "monitor requests")]
        + got[("Lambda", "combiner requests")]
        == ROUNDS + 2 + facts["taskRetries"]
    )

    paths = workflow_paths(load_definition(execution_type=kind), kind)
    # the parent entered MapJobs, DispatchNextBatches, AnotherRound per round, then Summarize, CheckForErrors,
    # Combine and JobSucceeded
    assert got[("Step Functions", "state transitions (job)")] == paths.parent_transitions(ROUNDS) + facts["taskRetries"]
    if kind is ExecutionType.STANDARD:
        # 11 batches of 3 states, the failed one of 4 (+ 6 per further attempt, if any was throttled)
        expected = (BATCHES - 1) * len(paths.batch) + len(paths.failed_batch)
        transitions = got[("Step Functions", "state transitions (batches)")]
        assert transitions == expected + facts["workerLaterAttempts"] * len(paths.retry_loop)
        assert ("Step Functions", "express requests (batches)") not in got
    else:
        assert got[("Step Functions", "express requests (batches)")] == BATCHES
        # at least 100 ms of one 64 MB chunk per child
        assert got[("Step Functions", "express duration (batches)")] >= BATCHES * 0.1 * 0.0625
        assert ("Step Functions", "state transitions (batches)") not in got
    assert got[("DynamoDB", "batch rows (writes)")] >= BATCHES
    assert got[("DynamoDB", "row reads (summary)")] >= 1
    assert got[("DynamoDB", "row reads (next round)")] >= ROUNDS
    assert got[("S3", "batch files (PUT)")] == got[("S3", "batch files (GET)")] == ROUNDS
    assert got[("S3", "batch files (DELETE)")] == ROUNDS
    assert got[("S3", "summary (PUT)")] == 1
    assert report.total > 0
    assert "TOTAL" in report.table()

    # the estimate of the same job shape counts the same parent transitions and invocations
    planned = estimate(ITEMS, BATCH_SIZE, 100, 256, max_parallelism=PER_ROUND, max_rounds=4, execution_type=kind)
    expected_lines = lines(planned)
    assert expected_lines[("Step Functions", "state transitions (job)")] == paths.parent_transitions(ROUNDS)
    for key in ("worker", "dispatch", "combiner"):
        assert expected_lines[("Lambda", f"{key} requests")] == got[("Lambda", f"{key} requests")], key
    if facts["taskRetries"] == 0:
        for key in ("monitor", "dispatchNextBatches"):
            assert expected_lines[("Lambda", f"{key} requests")] == got[("Lambda", f"{key} requests")], key
    if kind is ExecutionType.EXPRESS:
        assert expected_lines[("Step Functions", "express requests (batches)")] == BATCHES
    else:  # the estimate assumes every batch succeeds: the failed batch's 4th state is the difference
        assert expected_lines[("Step Functions", "state transitions (batches)")] == BATCHES * len(paths.batch)


@pytest.mark.parametrize("kind", list(ExecutionType), ids=str)
def test_deployed_definitions_walk_like_step_functions_yml(local: LocalStack, kind: ExecutionType):
    stack = local.client.stack
    arn = stack.express_state_machine_arn if kind is ExecutionType.EXPRESS else stack.state_machine_arn
    deployed = local.client.gateway.state_machine_definition(arn)
    assert workflow_paths(deployed, kind) == workflow_paths(load_definition(execution_type=kind), kind)
