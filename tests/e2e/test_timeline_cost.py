"""End-to-end: a job's timeline and cost from the local endpoint's execution history and rows."""

from __future__ import annotations

import re
import struct
from typing import Any

import pytest

from burst_client.cost import (
    actual,
    concurrency_warning,
    deployed_definition,
    estimate,
    load_definition,
    workflow_paths,
)
from burst_client.sdk import Job
from burst_client.timeline import (
    BATCH,
    COMBINER,
    DISPATCH,
    FAILED,
    MONITOR,
    ROUND,
    build_timeline,
    render_html,
    render_png,
)

from .conftest import LocalStack

pytestmark = pytest.mark.e2e

# 60 indices in batches of 5, 4 batches a round: 12 batches in 3 rounds; batch 3 fails (tolerated)
ITEMS, BATCH_SIZE, PER_ROUND, BATCHES, ROUNDS = 60, 5, 4, 12, 3


@pytest.fixture(scope="module")
def job(local: LocalStack) -> Job:
    job = local.testbed_job(
        0,
        ITEMS,
        BATCH_SIZE,
        max_parallelism=PER_ROUND,
        tolerated_percentage_failure=20,
        job_parameters={"failBatches": [3]},
    )
    status = job.wait(timeout=240)
    assert (status.state, status.done, status.failed) == ("succeeded", BATCHES - 1, 1)
    return job


def lines(report: Any) -> dict[tuple[str, str], float]:
    return {(item.service, item.item): item.quantity for item in report.items}


def test_timeline_has_a_bar_per_batch_and_round_and_the_monitor_and_combiner(job: Job, local: LocalStack, tmp_path):
    timeline = build_timeline(job)
    batches = timeline.bars_of(BATCH)
    assert sorted(bar.batch_id for bar in batches if bar.batch_id is not None) == list(range(BATCHES))
    assert [bar.colour for bar in batches if bar.batch_id == 3] == [FAILED]
    assert len(timeline.bars_of(ROUND)) == ROUNDS
    assert [bar.label for bar in timeline.bars_of(MONITOR)] == ["Monitor", "Monitor", "Summarize"]
    assert [bar.label for bar in timeline.bars_of(COMBINER)] == ["Combine"]
    assert len(timeline.bars_of(DISPATCH)) == 1
    assert timeline.status == "succeeded"
    assert timeline.slots <= PER_ROUND
    # every batch ran inside its round (the state machine's clock for both)
    rounds = timeline.bars_of(ROUND)
    for bar in batches:
        owner = rounds[bar.batch_id // PER_ROUND]
        assert owner.start <= bar.start <= bar.end <= owner.end
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


def test_actual_cost_counts_what_the_job_did(job: Job, local: LocalStack):
    report = actual(job)
    got = lines(report)
    assert report.facts["rows"] == report.facts["numBatches"] == BATCHES
    assert report.facts["failed"] == 1
    assert report.facts["rounds"] == ROUNDS
    assert report.facts["childExecutions"] == BATCHES  # DescribeMapRun's executionCounts, summed
    assert got[("Lambda", "worker requests")] == BATCHES
    assert got[("Lambda", "persist requests")] == BATCHES
    assert got[("Lambda", "monitor requests")] == ROUNDS  # 2 progress checks and the summary
    assert got[("Lambda", "dispatchNextBatches requests")] == ROUNDS - 1
    assert got[("Lambda", "cleanup requests")] == ROUNDS
    assert got[("Lambda", "combiner requests")] == 1
    assert got[("Lambda", "worker compute")] > 0
    # the parent entered 2 x 6 + 7 states; each batch's child execution 4 (the failed one too)
    paths = workflow_paths(load_definition())
    assert got[("Step Functions", "state transitions (job)")] == (ROUNDS - 1) * len(paths.round_loop) + len(paths.final)
    assert got[("Step Functions", "state transitions (batches)")] == BATCHES * 4
    assert got[("DynamoDB", "batch rows (PutItem)")] >= BATCHES
    assert got[("S3", "batch files (PUT)")] == ROUNDS
    assert report.total > 0
    assert "TOTAL" in report.table()

    # the estimate of the same job shape counts the same transitions and invocations
    planned = lines(estimate(ITEMS, BATCH_SIZE, 100, 256, max_parallelism=PER_ROUND, max_rounds=4))
    assert planned[("Step Functions", "state transitions")] == (
        got[("Step Functions", "state transitions (job)")] + got[("Step Functions", "state transitions (batches)")]
    )
    for key in ("worker", "persist", "monitor", "dispatchNextBatches", "cleanup", "combiner", "dispatch"):
        assert planned[("Lambda", f"{key} requests")] == got[("Lambda", f"{key} requests")], key


def test_deployed_definition_walks_like_step_functions_yml(local: LocalStack):
    deployed = deployed_definition(local.clients("stepfunctions"), local.client.stack.state_machine_arn)
    assert workflow_paths(deployed) == workflow_paths(load_definition())


def test_concurrency_warning_on_the_local_endpoint(local: LocalStack):
    # the endpoint answers lambda:GetAccountSettings with its own concurrency limit (moto alone: 404)
    assert concurrency_warning(local.clients("lambda"), 1) is None
    warning = concurrency_warning(local.clients("lambda"), 10**6)
    assert warning is not None
    assert "maxParallelism 1000000 exceeds the account's unreserved Lambda concurrency" in warning
