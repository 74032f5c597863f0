import json
import re
import time
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from burst_core.exceptions import ConfigurationError, InvalidJobInput, JobStartFailed
from burst_core.job import parse_timestamp
from burst_core.orchestration import STANDARD_MAX_ATTEMPTS, ExecutionType, retry_policy
from handlers import dispatch as dispatch_handler
from tests.support import EXAMPLES as DOC_EXAMPLES

from .conftest import BUCKET, COMBINER, PREFIX, SLOW_WORKER, TTL, WORKER

JOB = {
    "workerFunctionName": WORKER,
    "combinerFunctionName": COMBINER,
    "datasetStartIndex": "0",
    "datasetEndIndex": 1000,
    "batchSize": 100,
    "jobParameters": {"mask": "m1"},
}


def state_of(stack, out):
    return json.loads(stack.sfn.describe_execution(executionArn=out["workflowArn"])["input"])


def batch_file(stack, key):
    return json.loads(stack.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_dispatch_writes_the_batch_file_and_starts_the_execution(stack, lambda_context):
    out = dispatch_handler.handler(JOB, lambda_context)
    assert set(out) == set(DOC_EXAMPLES["dispatch-output"])  # docs/Interfaces.md shows this output
    assert (out["numBatches"], out["batchSize"]) == (10, 100)
    execution = stack.sfn.describe_execution(executionArn=out["workflowArn"])
    assert execution["name"] == out["jobId"]
    state = json.loads(execution["input"])
    key = f"jobs/{out['jobId']}/{out['jobId']}/round-0.json"
    assert state["round"] == {
        "index": 0,
        "more": True,
        "inputJobsFile": key,
        "firstBatchId": 0,
        "lastBatchId": 9,
        "nextBatchId": 10,
        "carried": 0,
        "failed": 0,
        "toleratedFailureCount": 1,  # 10 % of 10 batches: the round fails fast at the second failure
        "stop": None,
    }
    assert state["jobParameters"] == {"mask": "m1"}
    assert state["startTime"] < state["deadline"]
    assert state["maxParallelism"] == 5000
    assert state["jobsTimeoutSecs"] == 900  # DEFAULT_JOBS_TIMEOUT_SECS of the deployment
    assert int(state["rowTtl"]) > parse_timestamp(state["startTime"]).timestamp() + 6 * 86400
    batches = batch_file(stack, key)
    assert batches[0] == {"batchId": 0, "startIndex": 0, "endIndex": 100}
    assert batches[-1] == {"batchId": 9, "startIndex": 900, "endIndex": 1000}


def test_dispatch_chooses_express_children_for_a_short_worker_and_standard_for_a_long_one(stack, lambda_context):
    short = dispatch_handler.handler(JOB, lambda_context)
    assert short["batchExecutionType"] == "EXPRESS"
    assert f":{stack.express_state_machine_arn.split(':')[-1]}:" in short["workflowArn"]
    assert state_of(stack, short)["retry"] == retry_policy(ExecutionType.EXPRESS, 60, 900).as_state()
    long = dispatch_handler.handler({**JOB, "workerFunctionName": SLOW_WORKER}, lambda_context)
    assert long["batchExecutionType"] == "STANDARD"
    assert f":{stack.state_machine_arn.split(':')[-1]}:" in long["workflowArn"]
    assert state_of(stack, long)["retry"]["maxAttempts"] == STANDARD_MAX_ATTEMPTS
    forced = dispatch_handler.handler({**JOB, "batchExecutionType": "standard"}, lambda_context)
    assert forced["batchExecutionType"] == "STANDARD"
    assert state_of(stack, forced)["requestedBatchExecutionType"] == "STANDARD"


def test_a_redrive_keeps_the_requested_execution_type(stack, lambda_context):
    out = dispatch_handler.handler({**JOB, "batchExecutionType": "STANDARD"}, lambda_context)
    stop(stack, out)
    redriven = dispatch_handler.handler({"redriveJobId": out["jobId"]}, lambda_context)
    assert redriven["batchExecutionType"] == "STANDARD"


def test_express_is_refused_for_a_worker_that_cannot_fit(stack, lambda_context):
    with pytest.raises(InvalidJobInput, match=r"batchExecutionType: an EXPRESS child workflow lasts at most 300 s"):
        dispatch_handler.handler(
            {**JOB, "workerFunctionName": SLOW_WORKER, "batchExecutionType": "EXPRESS"}, lambda_context
        )
    assert stack.keys() == []


def test_concurrency_is_bounded_by_the_workers_reserved_concurrency(stack, lambda_context):
    stack.lambda_client.put_function_concurrency(FunctionName=WORKER, ReservedConcurrentExecutions=7)
    out = dispatch_handler.handler({**JOB, "maxParallelism": 100}, lambda_context)
    assert (out["maxParallelism"], out["maxConcurrency"]) == (100, 7)
    assert out["concurrencyLimit"] == f"the reserved concurrency of {WORKER} (7)"
    assert state_of(stack, out)["maxConcurrency"] == 7


def test_a_worker_that_cannot_run_is_refused(stack, lambda_context):
    stack.lambda_client.put_function_concurrency(FunctionName=WORKER, ReservedConcurrentExecutions=0)
    with pytest.raises(InvalidJobInput, match="workerFunctionName: janelia-worker cannot run"):
        dispatch_handler.handler(JOB, lambda_context)
    assert stack.keys() == []


@pytest.mark.parametrize(
    ("field", "name", "message"),
    [
        ("workerFunctionName", "janelia-wroker", "no Lambda function 'janelia-wroker' in us-east-1"),
        ("combinerFunctionName", "janelia-combner", "no Lambda function 'janelia-combner' in us-east-1"),
        ("workerFunctionName", f"{PREFIX}-dispatch", "is one of burst-compute's own functions"),
        ("workerFunctionName", "other-worker", "does not match the deployment's worker pattern 'janelia-*'"),
        (
            "workerFunctionName",
            "arn:aws:lambda:eu-west-1:123456789012:function:janelia-worker",
            "is in region eu-west-1; burst-compute runs in region us-east-1",
        ),
    ],
)
def test_unknown_or_forbidden_functions_are_refused_before_anything_starts(stack, lambda_context, field, name, message):
    with pytest.raises(InvalidJobInput, match=f"^{field}: .*{re.escape(message)}") as caught:
        dispatch_handler.handler({**JOB, field: name}, lambda_context)
    assert caught.value.field == field
    assert stack.keys() == []
    assert stack.executions() == []


def test_dispatch_writes_only_the_first_round(stack, lambda_context, monkeypatch):
    monkeypatch.setenv("MAX_PARALLELISM", "4")
    out = dispatch_handler.handler({**JOB, "maxParallelism": 100}, lambda_context)
    state = state_of(stack, out)
    # 10 batches > 4 per round: batch size enlarged to ceil(1000 / 2 / 4) = 125 -> 8 batches
    assert (out["numBatches"], state["batchSize"], state["maxParallelism"]) == (8, 125, 4)
    assert state["round"]["nextBatchId"] == 4
    assert len(batch_file(stack, state["round"]["inputJobsFile"])) == 4


def test_max_parallelism_is_capped_at_the_distributed_maps_limit(stack, lambda_context, monkeypatch):
    monkeypatch.setenv("MAX_PARALLELISM", "50000")
    out = dispatch_handler.handler({**JOB, "datasetEndIndex": 3_000_000, "batchSize": 100}, lambda_context)
    assert out["maxParallelism"] == 10_000
    assert out["maxConcurrency"] <= 10_000


def test_bad_input_writes_and_starts_nothing(stack, lambda_context):
    with pytest.raises(InvalidJobInput, match="batchSize: expected a positive integer, got 0"):
        dispatch_handler.handler({**JOB, "batchSize": 0}, lambda_context)
    assert stack.keys() == []
    assert stack.executions() == []


def test_failed_start_leaves_no_batch_file(stack, lambda_context, monkeypatch):
    monkeypatch.setenv("EXPRESS_STATE_MACHINE_ARN", stack.express_state_machine_arn + "-missing")
    with pytest.raises(JobStartFailed, match="cannot start"):
        dispatch_handler.handler(JOB, lambda_context)
    assert stack.keys() == []


def test_missing_configuration_is_named(stack, lambda_context, monkeypatch):
    monkeypatch.delenv("TASKS_TABLE_NAME")
    with pytest.raises(ConfigurationError, match="TASKS_TABLE_NAME is not set"):
        dispatch_handler.handler(JOB, lambda_context)


def test_an_unconfigured_express_state_machine_is_named_before_anything_is_written(stack, lambda_context, monkeypatch):
    monkeypatch.delenv("EXPRESS_STATE_MACHINE_ARN")
    with pytest.raises(ConfigurationError, match="EXPRESS_STATE_MACHINE_ARN is not set"):
        dispatch_handler.handler(JOB, lambda_context)  # a short worker: EXPRESS children
    assert stack.keys() == []
    assert stack.executions() == []


def test_start_failure_keeps_the_aws_error_as_its_cause(stack, lambda_context, monkeypatch):
    monkeypatch.setenv("EXPRESS_STATE_MACHINE_ARN", "arn:aws:states:us-east-1:123456789012:stateMachine:nope")
    with pytest.raises(JobStartFailed) as caught:
        dispatch_handler.handler(JOB, lambda_context)
    assert isinstance(caught.value.__cause__, ClientError)


def stop(stack, out):
    stack.sfn.stop_execution(executionArn=out["workflowArn"])
    deadline = time.monotonic() + 10
    while stack.sfn.describe_execution(executionArn=out["workflowArn"])["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.01)


def finished_job_with_failures(stack, ctx, failed=(3,), missing=(7,), deferred=()):
    out = dispatch_handler.handler(JOB, ctx)
    stop(stack, out)
    for batch_id in range(out["numBatches"]):
        if batch_id in missing:
            continue
        if batch_id in failed:
            stack.fail(out["jobId"], batch_id, "ValueError", "boom")
        elif batch_id in deferred:
            stack.defer(out["jobId"], batch_id)
        else:
            stack.succeed(out["jobId"], batch_id, [batch_id])
    return out


def test_redrive_runs_only_failed_deferred_and_missing_batches(stack, lambda_context):
    job = finished_job_with_failures(stack, lambda_context, deferred=(5,))
    out = dispatch_handler.handler({"redriveJobId": job["jobId"]}, lambda_context)
    assert set(out) == set(DOC_EXAMPLES["redrive-output"])  # docs/Interfaces.md shows this output
    assert (out["jobId"], out["redrive"], out["redrivenBatches"]) == (job["jobId"], 1, 3)
    name = f"{job['jobId']}-redrive-1"
    assert out["workflowArn"].endswith(f":{name}")
    state = state_of(stack, out)
    assert state["round"]["inputJobsFile"] == f"jobs/{job['jobId']}/{name}/round-0.json"
    assert (state["round"]["firstBatchId"], state["round"]["lastBatchId"]) == (3, 7)
    assert state["round"]["nextBatchId"] == 10  # no new batches after these
    # the redrive stops early only once the job as a whole has failed more than it tolerates
    assert state["round"]["toleratedFailureCount"] == 1
    # the redrive gets a fresh deadline: its own start plus the job's timeout
    started = parse_timestamp(state["startTime"])
    assert started >= parse_timestamp(job["startTime"])
    assert parse_timestamp(state["deadline"]) - started == timedelta(seconds=state["jobsTimeoutSecs"])
    assert [b["batchId"] for b in batch_file(stack, state["round"]["inputJobsFile"])] == [3, 5, 7]


@pytest.mark.parametrize(("given", "expected"), [("60", 60), (120, 120)])
def test_redrive_validates_its_timeout_as_dispatch_does(stack, lambda_context, given, expected):
    job = finished_job_with_failures(stack, lambda_context)
    out = dispatch_handler.handler({"redriveJobId": job["jobId"], "jobsTimeoutSecs": given}, lambda_context)
    assert state_of(stack, out)["jobsTimeoutSecs"] == expected


def test_redrive_refuses_a_zero_timeout(stack, lambda_context):
    job = finished_job_with_failures(stack, lambda_context)
    with pytest.raises(InvalidJobInput, match="jobsTimeoutSecs: expected a positive integer, got 0"):
        dispatch_handler.handler({"redriveJobId": job["jobId"], "jobsTimeoutSecs": 0}, lambda_context)


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


def test_rows_carry_the_jobs_ttl(stack, lambda_context):
    stack.succeed("job-ttl", 0, [1])
    (row,) = stack.rows("job-ttl")
    assert row["ttl"] == {"N": str(TTL)}
