"""End-to-end: an account concurrency limit of 3 throttles the fan-out; nothing is lost."""

from __future__ import annotations

from datetime import datetime

import pytest

from .conftest import EXECUTION_TYPES, LocalStack

pytestmark = pytest.mark.e2e


@pytest.fixture(params=EXECUTION_TYPES)
def throttled(deployed_throttled: LocalStack, request: pytest.FixtureRequest) -> LocalStack:
    return deployed_throttled.with_execution_type(request.param)


def test_throttled_batches_are_retried_and_all_recorded(throttled: LocalStack):
    job = throttled.testbed_job(0, 100, 10, max_parallelism=10, job_parameters={"sleepSecs": 0.5})
    status = job.wait(timeout=300)
    assert (status.state, status.done, status.failed) == ("succeeded", 10, 0)
    assert job.output()["result"]["sum"] == sum(i * i for i in range(100))
    calls = throttled.invocations(job)
    assert sorted(calls) == list(range(10))  # every batch ran; throttled attempts never reached the worker


def test_no_batch_starts_after_the_deadline_inside_a_round(throttled: LocalStack):
    # one round of 12 batches, but only ~3 invocations fit at once: the others are throttled and retry
    # through the deadline check; after the deadline they give up instead of starting
    job = throttled.testbed_job(0, 12, 1, max_parallelism=12, jobs_timeout_secs=4, job_parameters={"sleepSecs": 2})
    status = job.wait(timeout=300)
    assert job.input["round"]["nextBatchId"] == 12  # a single round
    assert (status.state, status.error) == ("timed out", "Burst.JobTimedOut")
    deadline = datetime.fromisoformat(job.input["deadline"].replace("Z", "+00:00"))
    started = {
        int(row["batchId"]["N"]): datetime.fromisoformat(row["startedAt"]["S"].replace("Z", "+00:00"))
        for row in throttled.rows(job)
    }
    assert started and all(moment < deadline for moment in started.values())
    calls = throttled.invocations(job)
    assert all(marker["at"] < deadline.timestamp() for markers in calls.values() for marker in markers)
    assert len(calls) < 12
    execution = job.describe()
    assert (execution["stopDate"] - deadline).total_seconds() < 3 + 15  # worker timeout (3 s) + slack
