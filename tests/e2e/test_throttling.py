"""End-to-end: an account concurrency limit of 3 throttles the fan-out; nothing is lost."""

from __future__ import annotations

import pytest

from .conftest import LocalStack

pytestmark = pytest.mark.e2e


def test_throttled_batches_are_retried_and_all_recorded(throttled: LocalStack):
    job = throttled.testbed_job(0, 100, 10, max_parallelism=10, job_parameters={"sleepSecs": 0.5})
    status = job.wait(timeout=300)
    assert (status.state, status.done, status.failed) == ("succeeded", 10, 0)
    assert job.output()["result"]["sum"] == sum(i * i for i in range(100))
    calls = throttled.invocations(job)
    assert sorted(calls) == list(range(10))  # every batch ran; throttled attempts never reached the worker
