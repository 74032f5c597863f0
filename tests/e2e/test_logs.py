"""End-to-end: a batch's worker lines, found from its row in the endpoint's CloudWatch Logs (burst_client.logs)."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from burst_client.deploy import sls
from burst_client.errors import BatchNotFound
from burst_client.logs import batch_logs, failed_batch_ids
from burst_client.sdk import Job
from burst_core.persistence import BatchRecord, BatchStatus, decode_record

from .conftest import EXECUTION_TYPES, ORG, STAGE, TESTBED, LocalStack

pytestmark = pytest.mark.e2e

PRINTED = re.compile(r"testbed worker: job (\S+) batch (\d+) attempt (\d+)")


@pytest.fixture(params=EXECUTION_TYPES)
def local(deployed: LocalStack, request: pytest.FixtureRequest) -> LocalStack:
    return deployed.with_execution_type(request.param)


def records(local: LocalStack, job: Job) -> dict[int, BatchRecord]:
    return {record.batch_id: record for record in map(decode_record, local.rows(job))}


def printed_batches(messages: list[str]) -> list[tuple[str, int]]:
    """(job id, batch id) of every line the testbed worker printed."""
    return [(m[1], int(m[2])) for line in messages if (m := PRINTED.fullmatch(line))]


def overlap(a: BatchRecord, b: BatchRecord) -> bool:
    def times(r: BatchRecord) -> tuple[datetime, datetime]:
        assert r.started_at and r.ended_at
        return datetime.fromisoformat(r.started_at), datetime.fromisoformat(r.ended_at)

    (a0, a1), (b0, b1) = times(a), times(b)
    return a0 < b1 and b0 < a1


def test_each_batchs_logs_are_its_own_lines(local: LocalStack) -> None:
    # 6 batches of 1 s at once (at least as many as the endpoint has CPUs: some share a worker, and its stream)
    job = local.testbed_job(
        0, 60, 10, tolerated_percentage_failure=50, job_parameters={"failBatches": [2], "sleepSecs": 1}
    )
    status = job.wait(timeout=180)
    assert (status.state, status.done, status.failed) == ("succeeded", 5, 1)
    rows = records(local, job)
    assert rows[2].status is BatchStatus.FAILED and rows[2].request_id is None  # its cause carries it
    assert all(rows[i].request_id for i in (0, 1, 3, 4, 5))
    assert len({rows[i].request_id for i in (0, 1, 3, 4, 5)}) == 5
    assert failed_batch_ids(job) == [2]

    failed = batch_logs(job, 2)
    messages = [line.message for line in failed.lines]
    assert failed.complete and failed.request_id in (rows[2].cause or "")
    assert messages[0] == f"START RequestId: {failed.request_id} Version: $LATEST"
    assert messages[-1].startswith(f"REPORT RequestId: {failed.request_id}\t")
    assert "[ERROR] ValueError: injected failure in batch 2" in messages
    assert "Traceback (most recent call last):" in messages
    assert printed_batches(messages) == [(job.job_id, 2)]
    assert failed.log_group == f"/aws/lambda/{local.worker()}"

    concurrent = 0
    for batch_id in (0, 1, 3, 4, 5):
        found = batch_logs(job, batch_id)
        messages = [line.message for line in found.lines]
        assert found.complete and found.request_id == rows[batch_id].request_id
        # its own line, and none of the batches that ran at the same time or in the same worker
        assert printed_batches(messages) == [(job.job_id, batch_id)]
        assert not any("Traceback" in m or "injected failure" in m for m in messages)
        assert [line.timestamp for line in found.lines] == sorted(line.timestamp for line in found.lines)
        concurrent += sum(overlap(rows[batch_id], rows[other]) for other in rows if other != batch_id)
    assert concurrent > 0  # batches did run at the same time

    assert [line.message for line in job.logs(4)] == [line.message for line in batch_logs(job, 4).lines]
    with pytest.raises(BatchNotFound, match="has no batch 6"):
        job.logs(6)


def test_sls_logs_shows_the_workers_lines(deployed: LocalStack) -> None:
    job = deployed.testbed_job(0, 20, 10, tolerated_percentage_failure=50, job_parameters={"failBatches": [1]})
    assert job.wait(timeout=180).state == "succeeded"
    output = sls(["logs", "-f", "worker", "--stage", STAGE, "--org", ORG], TESTBED, endpoint_url=deployed.url)
    assert f"testbed worker: job {job.job_id} batch 0 attempt 0" in output
    assert "injected failure in batch 1" in output
