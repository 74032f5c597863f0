"""End-to-end: jobs through the real state machine and Lambda code on the local endpoint."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from burst_client.demo import load_imaging
from burst_client.deploy import DeployFailed, sls
from burst_client.errors import DispatchRejected

from .conftest import EXECUTION_TYPES, ORG, STAGE, TESTBED, LocalStack

pytestmark = pytest.mark.e2e


@pytest.fixture(params=EXECUTION_TYPES)
def local(deployed: LocalStack, request: pytest.FixtureRequest) -> LocalStack:
    """Every job test runs with EXPRESS and with STANDARD batch workflows."""
    return deployed.with_execution_type(request.param)


def squares(start: int, end: int) -> int:
    return sum(i * i for i in range(start, end))


def test_mask_search_result_is_exactly_right(local: LocalStack):
    img = load_imaging()
    mask = ["1" * 8 + "." * 8] * 4 + ["0" * 16] * 4 + ["." * 16] * 8
    job = local.dispatch(
        local.worker("mask-search"),
        local.combiner("mask-search"),
        100,
        3100,
        batch_size=150,
        job_parameters={"mask": mask, "topK": 7},
    )
    status = job.wait(timeout=180)
    assert (status.state, status.done, status.failed) == ("succeeded", 20, 0)
    result = job.output()["result"]
    assert result["matches"] == img.search(100, 3100, mask, 7)
    assert result["searched"] == 3000


def test_failed_batches_within_tolerance_reach_combine(local: LocalStack):
    job = local.testbed_job(0, 200, 10, tolerated_percentage_failure=10, job_parameters={"failBatches": [3, 17]})
    status = job.wait(timeout=180)
    assert (status.state, status.done, status.failed) == ("succeeded", 18, 2)
    seen = local.combiner_input(job)
    assert seen["status"] == "succeeded"
    assert [f["batchId"] for f in seen["failedBatches"]] == [3, 17]
    for failure in seen["failedBatches"]:
        assert failure["error"] == "ValueError"
        assert f"injected failure in batch {failure['batchId']}" in failure["cause"]
    expected = squares(0, 200) - squares(30, 40) - squares(170, 180)
    assert job.output()["result"]["sum"] == expected


def test_failed_batches_above_tolerance_take_the_error_path(local: LocalStack):
    job = local.testbed_job(0, 200, 10, tolerated_percentage_failure=5, job_parameters={"failBatches": [3, 17]})
    status = job.wait(timeout=180)
    assert (status.state, status.error) == ("failed", "Burst.TooManyFailures")
    seen = local.combiner_input(job)
    assert seen["status"] == "failed"
    assert seen["error"] == "Burst.TooManyFailures"
    assert [(f["batchId"], f["error"]) for f in seen["failedBatches"]] == [(3, "ValueError"), (17, "ValueError")]
    assert seen["failurePercentage"] == 10.0


def test_more_batches_than_max_parallelism_run_in_rounds_exactly_once(local: LocalStack):
    # 12 batches of 5 with at most 4 per round: 3 rounds
    job = local.testbed_job(0, 60, 5, max_parallelism=4)
    assert job.input["maxParallelism"] == 4
    status = job.wait(timeout=240)
    assert (status.state, status.num_batches, status.done) == ("succeeded", 12, 12)
    assert job.output()["result"] == {"sum": squares(0, 60), "batches": list(range(12)), "status": "succeeded"}
    invocations = local.invocations(job)
    assert {batch: len(calls) for batch, calls in invocations.items()} == {b: 1 for b in range(12)}
    history = local.client.gateway.execution_history(job.execution_arn)
    assert sum(event["type"] == "MapStateEntered" for event in history) == 3  # the rounds
    keys = [
        o["Key"]
        for o in local.clients("s3")
        .list_objects_v2(Bucket=local.client.stack.bucket, Prefix=f"jobs/{job.job_id}/")
        .get("Contents", [])
    ]
    assert not [k for k in keys if "/round-" in k], "every round's batch file is cleaned up"


def load_testbed_worker():
    spec = importlib.util.spec_from_file_location("testbed_worker", TESTBED / "testbed" / "worker.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_results_the_worker_stored_in_s3_are_read_back_intact(local: LocalStack):
    module = load_testbed_worker()
    job = local.testbed_job(0, 4, 2, job_parameters={"largeResultBytes": 600_000})
    assert job.wait(timeout=120).state == "succeeded"
    for row in local.rows(job):
        assert json.loads(row["output"]["S"])["resultsS3Uri"].startswith("s3://")
    results = list(job.results())
    assert [r.batch_id for r in results] == [0, 1]
    for result in results:
        assert result.results == module.large_result(result.batch_id, 600_000)


def test_an_output_over_the_state_limit_fails_only_its_batch(local: LocalStack):
    job = local.testbed_job(
        0, 8, 1, tolerated_percentage_failure=20, job_parameters={"inlineResultBytes": {"2": 300_000, "5": 100_000}}
    )
    status = job.wait(timeout=120)
    assert (status.state, status.done, status.failed) == ("succeeded", 7, 1)
    (failure,) = job.failures()
    assert (failure.batch_id, failure.error) == (2, "States.DataLimitExceeded")
    assert "size exceeding the maximum number of bytes" in failure.cause
    results = {r.batch_id: r.results for r in job.results()}
    assert sorted(results) == [0, 1, 3, 4, 5, 6, 7]
    assert results[5] == [0] * 50_000  # 100 KB fits inline


def test_worker_timeout_is_retried_and_nothing_is_lost(local: LocalStack):
    job = local.testbed_job(0, 40, 10, job_parameters={"hangOnFirstAttempt": [1, 2]})
    status = job.wait(timeout=180)
    assert (status.state, status.done, status.failed) == ("succeeded", 4, 0)
    assert job.output()["result"]["sum"] == squares(0, 40)
    attempts = {b: sorted(m["attempt"] for m in calls) for b, calls in local.invocations(job).items()}
    assert attempts == {0: [0], 1: [0, 1], 2: [0, 1], 3: [0]}


def test_job_started_with_the_aws_cli(local: LocalStack, tmp_path):
    payload = {
        "workerFunctionName": local.worker(),
        "combinerFunctionName": local.combiner(),
        "datasetStartIndex": "0",
        "datasetEndIndex": "30",
        "batchSize": "10",
    }
    out = tmp_path / "response.json"
    # AWS CLI v1 from PyPI (v2 is not published there): v1 takes the payload as text, no --cli-binary-format
    aws = Path(sys.executable).parent / "aws"
    result = subprocess.run(
        [
            str(aws),
            "lambda",
            "invoke",
            "--function-name",
            f"{ORG}-burst-compute-{STAGE}-dispatch",
            "--payload",
            json.dumps(payload),
            str(out),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "AWS_ENDPOINT_URL": local.url},
    )
    assert result.returncode == 0, result.stderr
    assert '"StatusCode": 200' in result.stdout
    response = json.loads(out.read_text())
    job = local.client.job(response["jobId"])
    assert job.wait(timeout=120).state == "succeeded"
    assert job.output()["result"]["sum"] == squares(0, 30)


def test_bad_dispatch_input_is_a_clear_error_and_starts_nothing(local: LocalStack):
    sfn = local.clients("stepfunctions")
    before = len(sfn.list_executions(stateMachineArn=local.client.stack.state_machine_arn)["executions"])
    with pytest.raises(DispatchRejected) as caught:
        local.client.dispatch_event(
            {
                "workerFunctionName": local.worker(),
                "combinerFunctionName": local.combiner(),
                "datasetStartIndex": 0,
                "datasetEndIndex": 10,
                "batchsize": 5,
            }
        )
    assert caught.value.error_type == "InvalidJobInput"
    assert caught.value.message == "batchsize: unknown field (did you mean batchSize?)"
    after = len(sfn.list_executions(stateMachineArn=local.client.stack.state_machine_arn)["executions"])
    assert after == before


def test_job_past_its_deadline_reaches_the_combiner_timed_out(local: LocalStack):
    # 8 batches, 2 per round (4 rounds), 2 s each, deadline 3 s: rounds after the deadline never start
    job = local.testbed_job(0, 8, 1, max_parallelism=2, jobs_timeout_secs=3, job_parameters={"sleepSecs": 2})
    status = job.wait(timeout=180)
    assert (status.state, status.error) == ("timed out", "Burst.JobTimedOut")
    seen = local.combiner_input(job)
    assert seen["timedOut"] is True and seen["status"] == "timedOut"
    assert seen["unprocessedBatchCount"] > 0
    deadline = datetime.fromisoformat(job.input["deadline"].replace("Z", "+00:00"))
    for row in local.rows(job):
        started = datetime.fromisoformat(row["startedAt"]["S"].replace("Z", "+00:00"))
        assert started < deadline, f"batch {row['batchId']['N']} started after the deadline"
    execution = job.describe()
    # combiner reached no later than the deadline + the worker's timeout (3 s) + bookkeeping slack
    assert (execution["stopDate"] - deadline).total_seconds() < 3 + 10


def test_sls_info_invoke_and_print_accept_org(local: LocalStack):
    info = sls(["info", "--stage", STAGE, "--org", ORG], endpoint_url=local.url)
    assert f"stack: {ORG}-burst-compute-{STAGE}" in info
    assert f"{ORG}-burst-compute-{STAGE}-dispatch" in info
    with pytest.raises(DeployFailed, match="InvalidJobInput"):
        sls(
            ["invoke", "--stage", STAGE, "--org", ORG, "-f", "dispatch", "--data", '{"batchSize": 0}'],
            endpoint_url=local.url,
        )
    printed = sls(["print", "--stage", STAGE, "--org", "otherorg"], endpoint_url=local.url)
    assert "stackName: otherorg-burst-compute-e2e" in printed
