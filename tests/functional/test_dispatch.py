import json
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from burst_core.exceptions import ConfigurationError, InvalidEvent, InvalidJobInput, JobStartFailed
from burst_core.job import parse_timestamp
from handlers import dispatch as dispatch_handler
from handlers import persist as persist_handler
from tests.unit.test_interfaces_doc import EXAMPLES as DOC_EXAMPLES

from .conftest import BUCKET

JOB = {
    "workerFunctionName": "janelia-worker",
    "combinerFunctionName": "janelia-combiner",
    "datasetStartIndex": "0",
    "datasetEndIndex": 1000,
    "batchSize": 100,
    "jobParameters": {"mask": "m1"},
}


def test_dispatch_writes_the_batch_file_and_starts_the_execution(stack, lambda_context):
    out = dispatch_handler.handler(JOB, lambda_context)
    assert out["numBatches"] == 10
    assert out["batchSize"] == 100
    execution = stack.sfn.describe_execution(executionArn=out["workflowArn"])
    assert execution["name"] == out["jobId"]
    state = json.loads(execution["input"])
    assert state["round"] == {
        "index": 0,
        "firstBatchId": 0,
        "nextBatchId": 10,
        "inputJobsFile": f"jobs/{out['jobId']}/batches-0-10.json",
    }
    assert state["jobParameters"] == {"mask": "m1"}
    assert state["startTime"] < state["deadline"]
    assert state["maxParallelism"] == 5000
    assert state["jobsTimeoutSecs"] == 900  # DEFAULT_JOBS_TIMEOUT_SECS of the deployment
    body = stack.s3.get_object(Bucket=BUCKET, Key=state["round"]["inputJobsFile"])["Body"].read()
    batches = json.loads(body)
    assert batches[0] == {"batchId": 0, "startIndex": 0, "endIndex": 100}
    assert batches[-1] == {"batchId": 9, "startIndex": 900, "endIndex": 1000}


def test_dispatch_writes_only_the_first_round(stack, lambda_context, monkeypatch):
    monkeypatch.setenv("MAX_PARALLELISM", "4")
    out = dispatch_handler.handler({**JOB, "maxParallelism": 100}, lambda_context)
    state = json.loads(stack.sfn.describe_execution(executionArn=out["workflowArn"])["input"])
    # 10 batches > 4 per round: batch size enlarged to ceil(1000 / 2 / 4) = 125 -> 8 batches
    assert (out["numBatches"], state["batchSize"], state["maxParallelism"]) == (8, 125, 4)
    assert state["round"]["nextBatchId"] == 4
    assert len(json.loads(stack.s3.get_object(Bucket=BUCKET, Key=state["round"]["inputJobsFile"])["Body"].read())) == 4


def test_next_round_writes_the_following_batches(stack, lambda_context, monkeypatch):
    monkeypatch.setenv("MAX_PARALLELISM", "4")
    out = dispatch_handler.handler(JOB, lambda_context)
    state = json.loads(stack.sfn.describe_execution(executionArn=out["workflowArn"])["input"])
    nxt = dispatch_handler.next_batches(state, lambda_context)
    assert nxt == {
        "index": 1,
        "firstBatchId": 4,
        "nextBatchId": 8,
        "inputJobsFile": f"jobs/{out['jobId']}/batches-4-8.json",
    }
    batches = json.loads(stack.s3.get_object(Bucket=BUCKET, Key=nxt["inputJobsFile"])["Body"].read())
    assert [b["batchId"] for b in batches] == [4, 5, 6, 7]
    assert batches[-1]["endIndex"] == 1000


def test_bad_input_writes_and_starts_nothing(stack, lambda_context):
    with pytest.raises(InvalidJobInput, match="batchSize: expected a positive integer, got 0"):
        dispatch_handler.handler({**JOB, "batchSize": 0}, lambda_context)
    assert stack.keys() == []
    assert stack.sfn.list_executions(stateMachineArn=stack.state_machine_arn)["executions"] == []


def test_failed_start_leaves_no_batch_file(stack, lambda_context, monkeypatch):
    monkeypatch.setenv("STATE_MACHINE_ARN", stack.state_machine_arn + "-missing")
    with pytest.raises(JobStartFailed, match="cannot start"):
        dispatch_handler.handler(JOB, lambda_context)
    assert stack.keys() == []


def test_missing_configuration_is_named(stack, lambda_context, monkeypatch):
    monkeypatch.delenv("TASKS_TABLE_NAME")
    with pytest.raises(ConfigurationError, match="TASKS_TABLE_NAME is not set"):
        dispatch_handler.handler(JOB, lambda_context)


def test_next_round_rejects_a_malformed_state(stack, lambda_context):
    with pytest.raises(InvalidEvent, match="dispatchNextBatches event"):
        dispatch_handler.next_batches({"jobId": "x"}, lambda_context)


def test_start_failure_keeps_the_aws_error_as_its_cause(stack, lambda_context, monkeypatch):
    monkeypatch.setenv("STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:nope")
    with pytest.raises(JobStartFailed) as caught:
        dispatch_handler.handler(JOB, lambda_context)
    assert isinstance(caught.value.__cause__, ClientError)


def finished_job_with_failures(stack, ctx, failed=(3,), missing=(7,)):
    out = dispatch_handler.handler(JOB, ctx)
    stack.sfn.stop_execution(executionArn=out["workflowArn"])
    for batch_id in range(out["numBatches"]):
        if batch_id in missing:
            continue
        event = {"jobId": out["jobId"], "batchId": batch_id}
        if batch_id in failed:
            event.update(error="ValueError", cause="boom")
        else:
            event["output"] = [batch_id]
        persist_handler.handler(event, ctx)
    return out


def test_redrive_runs_only_failed_and_missing_batches(stack, lambda_context):
    job = finished_job_with_failures(stack, lambda_context)
    out = dispatch_handler.handler({"redriveJobId": job["jobId"]}, lambda_context)
    assert set(out) == set(DOC_EXAMPLES["redrive-output"])  # docs/Interfaces.md shows this output
    assert (out["jobId"], out["redrive"], out["redrivenBatches"]) == (job["jobId"], 1, 2)
    assert out["workflowArn"].endswith(f":{job['jobId']}-redrive-1")
    state = json.loads(stack.sfn.describe_execution(executionArn=out["workflowArn"])["input"])
    assert state["round"] == {
        "index": 0,
        "firstBatchId": 0,
        "nextBatchId": 10,
        "inputJobsFile": f"jobs/{job['jobId']}/redrive-1.json",
    }
    # the redrive gets a fresh deadline: its own start plus the job's timeout
    started = parse_timestamp(state["startTime"])
    assert started >= parse_timestamp(job["startTime"])
    assert parse_timestamp(state["deadline"]) - started == timedelta(seconds=state["jobsTimeoutSecs"])
    body = stack.s3.get_object(Bucket=BUCKET, Key=state["round"]["inputJobsFile"])["Body"].read()
    assert json.loads(body) == [
        {"batchId": 3, "startIndex": 300, "endIndex": 400},
        {"batchId": 7, "startIndex": 700, "endIndex": 800},
    ]


def test_redrive_refuses_a_running_job(stack, lambda_context):
    job = finished_job_with_failures(stack, lambda_context)
    dispatch_handler.handler({"redriveJobId": job["jobId"]}, lambda_context)  # redrive 1 now running
    with pytest.raises(InvalidJobInput, match=r"redriveJobId: job .* is still running"):
        dispatch_handler.handler({"redriveJobId": job["jobId"]}, lambda_context)


def test_redrive_refuses_unknown_jobs_and_jobs_without_failures(stack, lambda_context):
    with pytest.raises(InvalidJobInput, match="redriveJobId: no job 'nope'"):
        dispatch_handler.handler({"redriveJobId": "nope"}, lambda_context)
    job = finished_job_with_failures(stack, lambda_context, failed=(), missing=())
    with pytest.raises(InvalidJobInput, match="has no failed or missing batch"):
        dispatch_handler.handler({"redriveJobId": job["jobId"]}, lambda_context)
    with pytest.raises(InvalidJobInput, match="batchSize: unknown field in a redrive request"):
        dispatch_handler.handler({"redriveJobId": job["jobId"], "batchSize": 3}, lambda_context)
