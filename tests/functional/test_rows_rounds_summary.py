"""The rows the state machine writes, the end of each round (dispatchNextBatches) and the summary."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from burst_client.cost import load_definition
from burst_core import monitor
from burst_core.dispatch import Dispatcher
from burst_core.exceptions import InvalidEvent, InvalidWorkerOutput
from burst_core.job import iso_timestamp
from burst_core.keys import map_runs_prefix
from burst_core.persistence import decode_record
from burst_core.results import batch_result
from burst_core.runtime import settings
from handlers import dispatch as dispatch_handler
from handlers import monitor as monitor_handler

from .conftest import BUCKET, COMBINER, WORKER

JOB = {"workerFunctionName": WORKER, "combinerFunctionName": COMBINER, "datasetStartIndex": 0, "datasetEndIndex": 1000}


def attr(row, name):
    value = row[name]
    return value.get("S", value.get("N"))


# -- rows --------------------------------------------------------------------------------------------------
def test_a_batch_row_holds_the_workers_output_as_json(stack):
    stack.succeed("job-1", 3, {"results": [{"id": 1}, {"id": 2}]}, attempt=2)
    (row,) = stack.rows("job-1")
    assert attr(row, "batchId") == "3"
    assert attr(row, "status") == "succeeded"
    assert json.loads(attr(row, "output")) == {"results": [{"id": 1}, {"id": 2}]}
    assert attr(row, "attempt") == "2"
    assert attr(row, "startedAt") == "2026-01-01T00:00:00.000Z"
    assert attr(row, "endedAt").endswith("Z")
    result = batch_result(decode_record(row), stack.s3)
    assert (result.results, result.nresults) == ([{"id": 1}, {"id": 2}], 2)


@pytest.mark.parametrize(
    ("output", "results", "nresults", "mime"),
    [
        ([1, 2, 3], [1, 2, 3], 3, "application/json"),
        ({"a": 1}, {"a": 1}, 1, "application/json"),
        ({"results": "i,s\n1,0.5\n", "resultsMimeType": "text/csv", "nresults": 1}, "i,s\n1,0.5\n", 1, "text/csv"),
        ({"results": "", "resultsMimeType": "text/plain", "nresults": 0}, "", 0, "text/plain"),
    ],
)
def test_every_documented_output_shape_reads_back(stack, output, results, nresults, mime):
    stack.succeed("job-2", 0, output)
    result = batch_result(decode_record(stack.rows("job-2")[0]), stack.s3)
    assert (result.results, result.nresults, result.mime_type) == (results, nresults, mime)


def test_results_the_worker_wrote_to_s3_are_read_from_there(stack):
    stack.s3.put_object(Bucket=BUCKET, Key="results/job-3/0.json", Body=json.dumps(["big"] * 5).encode())
    stack.succeed("job-3", 0, {"resultsS3Uri": f"s3://{BUCKET}/results/job-3/0.json", "nresults": 5})
    result = batch_result(decode_record(stack.rows("job-3")[0]), stack.s3)
    assert (result.results, result.nresults, result.results_s3_uri) == (
        ["big"] * 5,
        5,
        f"s3://{BUCKET}/results/job-3/0.json",
    )


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ({"results": [1], "nresults": "two"}, "batch 0: nresults must be an integer, got 'two'"),
        ({"resultsS3Uri": "bucket/key"}, "batch 0: resultsS3Uri must look like s3://bucket/key"),
        ({"results": [1], "resultsMimeType": "text/csv"}, "batch 0: results of type text/csv must be a string"),
        ({"results": [1], "resultsMimeType": ""}, "batch 0: resultsMimeType must be a non-empty string"),
    ],
)
def test_an_output_of_an_unknown_shape_is_an_error_naming_the_batch(stack, output, message):
    stack.succeed("job-4", 0, output)
    with pytest.raises(InvalidWorkerOutput, match=message):
        batch_result(decode_record(stack.rows("job-4")[0]), stack.s3)


def test_an_original_contract_workers_own_row_is_kept(stack):
    # the worker wrote its row itself (the original's contract) and returned nothing
    stack.dynamodb.put_item(
        TableName="janelia-burst-compute-test-tasks",
        Item={
            "jobId": {"S": "job-5"},
            "batchId": {"N": "0"},
            "results": {"S": json.dumps([7, 8])},
            "nresults": {"N": "2"},
            "ttl": {"N": "5"},
        },
    )
    stack.succeed("job-5", 0, None)
    (row,) = stack.rows("job-5")
    assert (attr(row, "status"), attr(row, "ttl")) == ("succeeded", "5")  # its own ttl kept
    result = batch_result(decode_record(row), stack.s3)
    assert (result.results, result.nresults) == ([7, 8], 2)


def test_writing_a_batch_twice_leaves_one_row(stack):
    stack.fail("job-6", 0, "ValueError", "first run")
    stack.succeed("job-6", 0, [1])  # e.g. a redrive, or an EXPRESS child run twice
    (row,) = stack.rows("job-6")
    assert attr(row, "status") == "succeeded"
    assert "error" not in row and "cause" not in row


def test_a_failed_batch_is_recorded_with_error_and_cause(stack):
    stack.fail("job-7", 4, "ValueError", '{"errorMessage": "corrupt image"}')
    (row,) = stack.rows("job-7")
    assert (attr(row, "status"), attr(row, "error")) == ("failed", "ValueError")
    assert json.loads(attr(row, "cause")) == {"errorMessage": "corrupt image"}
    assert "output" not in row


# -- dispatchNextBatches -----------------------------------------------------------------------------------
def start(stack, ctx, monkeypatch, **job):
    monkeypatch.setenv("MAX_PARALLELISM", "4")  # 10 batches of 100, enlarged to 8 of 125 in 2 rounds
    out = dispatch_handler.handler({**JOB, "batchSize": 100, **job}, ctx)
    return json.loads(stack.sfn.describe_execution(executionArn=out["workflowArn"])["input"])


def test_next_round_deletes_the_finished_file_and_writes_the_following_batches(stack, lambda_context, monkeypatch):
    state = start(stack, lambda_context, monkeypatch)
    job_id = state["jobId"]
    nxt = dispatch_handler.next_batches(state, lambda_context)
    assert nxt == {
        "index": 1,
        "more": True,
        "inputJobsFile": f"jobs/{job_id}/{job_id}/round-1.json",
        "firstBatchId": 4,
        "lastBatchId": 7,
        "nextBatchId": 8,
        "carried": 0,
        "failed": 0,
        "toleratedFailureCount": 0,  # 10 % of 8 batches
        "stop": None,
    }
    assert stack.keys("jobs/") == [nxt["inputJobsFile"]]  # round 0's file is gone
    batches = json.loads(stack.s3.get_object(Bucket=BUCKET, Key=nxt["inputJobsFile"])["Body"].read())
    assert [b["batchId"] for b in batches] == [4, 5, 6, 7]
    assert batches[-1]["endIndex"] == 1000


def test_the_state_machine_keeps_every_field_of_a_round(stack, lambda_context, monkeypatch):
    selected = load_definition()["States"]["DispatchNextBatches"]["ResultSelector"]
    state = start(stack, lambda_context, monkeypatch)
    for nxt in (state["round"], dispatch_handler.next_batches(state, lambda_context)):
        assert set(nxt) == {key.removesuffix(".$") for key in selected}


def test_deferred_batches_run_first_in_the_next_round(stack, lambda_context, monkeypatch):
    state = start(stack, lambda_context, monkeypatch)
    job_id = state["jobId"]
    for batch_id in (0, 2):
        stack.succeed(job_id, batch_id, [batch_id])
    for batch_id in (1, 3):
        stack.defer(job_id, batch_id)
    nxt = dispatch_handler.next_batches(state, lambda_context)
    assert (nxt["carried"], nxt["firstBatchId"], nxt["lastBatchId"], nxt["nextBatchId"]) == (2, 1, 5, 6)
    batches = json.loads(stack.s3.get_object(Bucket=BUCKET, Key=nxt["inputJobsFile"])["Body"].read())
    assert [b["batchId"] for b in batches] == [1, 3, 4, 5]  # a round still holds at most 4 batches


class MapRunOf:
    """Step Functions with one Map Run: the round that just ended, its counts and start."""

    def __init__(self, sfn, started, failed=0, timed_out=0):
        self._sfn, self.started, self.failed, self.timed_out = sfn, started, failed, timed_out

    def __getattr__(self, name):
        return getattr(self._sfn, name)

    def describe_map_run(self, mapRunArn):  # noqa: N803 - boto3's name
        assert mapRunArn == "arn:aws:states:us-east-1:123456789012:mapRun:x/Batches:1"
        counts = {"failed": self.failed, "timedOut": self.timed_out, "succeeded": 4 - self.failed - self.timed_out}
        return {"itemCounts": counts, "startDate": self.started}


def test_the_next_round_carries_what_this_round_deferred_and_counts_its_failures(stack, lambda_context, monkeypatch):
    state = start(stack, lambda_context, monkeypatch, toleratedPercentageFailure=50)  # 4 of 8 batches
    job_id = state["jobId"]
    stack.defer(job_id, 1)  # deferred in an earlier round, run again in this one, failed before writing a row
    started = datetime.now(UTC)
    stack.defer(job_id, 2)  # deferred in this round
    stack.fail(job_id, 3, "ValueError", "bad")
    dispatcher = Dispatcher(
        settings(),
        s3=stack.s3,
        stepfunctions=MapRunOf(stack.sfn, started, failed=2, timed_out=1),
        dynamodb=stack.dynamodb,
    )
    state["mapRun"] = {"MapRunArn": "arn:aws:states:us-east-1:123456789012:mapRun:x/Batches:1"}
    nxt = dispatcher.next_round(state)
    assert (nxt["carried"], nxt["failed"], nxt["toleratedFailureCount"]) == (1, 3, 1)
    batches = json.loads(stack.s3.get_object(Bucket=BUCKET, Key=nxt["inputJobsFile"])["Body"].read())
    assert [b["batchId"] for b in batches] == [2, 4, 5, 6]


def test_rounds_stop_when_nothing_is_left(stack, lambda_context, monkeypatch):
    state = start(stack, lambda_context, monkeypatch)
    state["round"] = {**state["round"], "firstBatchId": 4, "lastBatchId": 7, "nextBatchId": 8}
    nxt = dispatch_handler.next_batches(state, lambda_context)
    assert (nxt["more"], nxt["stop"]) == (False, {"reason": "done", "error": None, "cause": None})


def test_rounds_stop_at_the_deadline(stack, lambda_context, monkeypatch):
    state = start(stack, lambda_context, monkeypatch)
    state["deadline"] = iso_timestamp(datetime.now(UTC) - timedelta(seconds=1))
    nxt = dispatch_handler.next_batches(state, lambda_context)
    assert (nxt["more"], nxt["stop"]["reason"]) == (False, "deadline")
    assert stack.keys("jobs/") == []


def test_rounds_stop_when_the_map_run_exceeded_the_tolerance(stack, lambda_context, monkeypatch):
    state = start(stack, lambda_context, monkeypatch)
    state["mapRunError"] = {"Error": "States.ExceedToleratedFailureThreshold", "Cause": "too many"}
    nxt = dispatch_handler.next_batches(state, lambda_context)
    assert (nxt["more"], nxt["stop"]) == (
        False,
        {"reason": "toleranceExceeded", "error": "States.ExceedToleratedFailureThreshold", "cause": "too many"},
    )


def test_next_round_rejects_a_malformed_state(stack, lambda_context):
    with pytest.raises(InvalidEvent, match="dispatchNextBatches event"):
        dispatch_handler.next_batches({"jobId": "x"}, lambda_context)


# -- summary -----------------------------------------------------------------------------------------------
def job_event(job_id, num_batches, deadline_in=60, stop="done", **extra):
    now = datetime.now(UTC)
    return {
        "jobId": job_id,
        "executionName": job_id,
        "numBatches": num_batches,
        "startTime": iso_timestamp(now - timedelta(seconds=5)),
        "deadline": iso_timestamp(now + timedelta(seconds=deadline_in)),
        "round": {"stop": {"reason": stop, "error": None, "cause": None}},
        "rowTtl": "1900000000",
        **extra,
    }


def map_run_report(stack, job_id, failed, stopped=None):
    """What a Map Run's ResultWriter writes for failed children (docs: input-output-resultwriter)."""
    prefix = f"{map_runs_prefix(job_id, job_id)}/0123-run/"
    entries = [
        {
            "Input": json.dumps({"batchId": b, "jobId": job_id}),
            "Status": status,
            "Error": error,
            "Cause": cause,
            "StopDate": (stopped or {}).get(b, "2100-01-01T00:00:05.000Z"),
        }
        for b, status, error, cause in failed
    ]
    stack.s3.put_object(Bucket=BUCKET, Key=prefix + "FAILED_0.json", Body=json.dumps(entries).encode())
    manifest = {
        "ResultFiles": {"FAILED": [{"Key": prefix + "FAILED_0.json", "Size": 1}], "SUCCEEDED": [], "PENDING": []}
    }
    stack.s3.put_object(Bucket=BUCKET, Key=prefix + "manifest.json", Body=json.dumps(manifest).encode())


def test_summary_within_tolerance(stack, lambda_context):
    for batch_id in range(19):
        stack.succeed("job-9", batch_id, [batch_id])
    stack.fail("job-9", 19, "KeyError", "boom")
    out = monitor_handler.handler(job_event("job-9", 20, toleratedPercentageFailure=10), lambda_context)
    assert out["status"] == "succeeded"
    assert out["failedBatches"] == [{"batchId": 19, "error": "KeyError", "cause": "boom"}]
    assert (out["succeededBatches"], out["failedBatchCount"], out["completed"]) == (19, 1, False)
    assert out["failurePercentage"] == 5.0
    stored = json.loads(stack.s3.get_object(Bucket=BUCKET, Key="jobs/job-9/job-9/summary.json")["Body"].read())
    assert stored == out


def test_a_child_that_failed_before_writing_its_row_is_recorded_with_its_error(stack, lambda_context):
    stack.succeed("job-10", 0, [0])
    cause = "The state/task 'ExecuteBatch' returned a result with a size exceeding the maximum number of bytes"
    map_run_report(
        stack,
        "job-10",
        [(1, "FAILED", "States.DataLimitExceeded", cause), (2, "TIMED_OUT", "States.Timeout", "over 5 minutes")],
    )
    out = monitor_handler.handler(job_event("job-10", 3, toleratedPercentageFailure=100), lambda_context)
    assert out["status"] == "succeeded"
    assert [(f["batchId"], f["error"]) for f in out["failedBatches"]] == [
        (1, "States.DataLimitExceeded"),
        (2, "States.Timeout"),
    ]
    rows = {int(attr(r, "batchId")): r for r in stack.rows("job-10")}
    assert (attr(rows[1], "status"), attr(rows[1], "error"), attr(rows[1], "cause")) == (
        "failed",
        "States.DataLimitExceeded",
        cause,
    )


def test_batches_never_started_after_a_round_exceeded_the_tolerance(stack, lambda_context):
    for batch_id in range(3):
        stack.fail("job-11", batch_id, "ValueError", "bad")
    map_run_report(stack, "job-11", [(3, "ABORTED", "States.Aborted", "")])  # stopped while it ran
    out = monitor_handler.handler(job_event("job-11", 10, stop="toleranceExceeded"), lambda_context)
    assert (out["status"], out["error"]) == ("failed", "Burst.TooManyFailures")
    assert (out["failedBatchCount"], out["unprocessedBatchCount"], out["succeededBatches"]) == (3, 7, 0)
    assert out["unprocessedBatches"] == [[3, 10]]
    assert "so 7 batches never ran to an end" in out["message"]


def test_summary_after_the_deadline_reports_unprocessed_and_deferred_batches(stack, lambda_context):
    stack.succeed("job-12", 0, [0])
    stack.defer("job-12", 1)
    stack.succeed("job-12", 4, [4])
    out = monitor_handler.handler(job_event("job-12", 6, deadline_in=-1, stop="deadline"), lambda_context)
    assert (out["status"], out["timedOut"], out["error"]) == ("timedOut", True, "Burst.JobTimedOut")
    assert out["unprocessedBatches"] == [[1, 4], [5, 6]]
    assert out["unprocessedBatchCount"] == 4
    assert out["failedBatches"] == []


def test_batches_left_unexplained_are_failures_named_after_the_map_runs_error(stack, lambda_context):
    stack.succeed("job-13", 0, [0])
    event = job_event("job-13", 3, toleratedPercentageFailure=50, stop="mapRunFailed")
    event["round"]["stop"].update(error="States.ItemReaderFailed", cause="cannot read the batch file")
    out = monitor_handler.handler(event, lambda_context)
    assert (out["status"], out["error"]) == ("failed", "Burst.TooManyFailures")
    assert [(f["batchId"], f["error"]) for f in out["failedBatches"]] == [
        (1, "States.ItemReaderFailed"),
        (2, "States.ItemReaderFailed"),
    ]
    assert len(stack.rows("job-13")) == 3  # recorded: clients see the same picture


def test_a_deferred_batch_is_explained_only_by_a_report_newer_than_its_deferral(stack, lambda_context):
    stack.defer("job-15", 0)
    stack.defer("job-15", 1)
    deferred_at = {int(attr(r, "batchId")): attr(r, "endedAt") for r in stack.rows("job-15")}
    assert all(deferred_at.values())
    later = iso_timestamp(datetime.now(UTC) + timedelta(seconds=5))
    map_run_report(
        stack,
        "job-15",
        [(0, "FAILED", "States.DataLimitExceeded", "too big"), (1, "FAILED", "OldError", "before the deferral")],
        stopped={0: later, 1: "2000-01-01T00:00:00.000Z"},
    )
    out = monitor_handler.handler(job_event("job-15", 2, deadline_in=-1, stop="deadline"), lambda_context)
    assert [(f["batchId"], f["error"]) for f in out["failedBatches"]] == [(0, "States.DataLimitExceeded")]
    assert out["unprocessedBatches"] == [[1, 2]]
    rows = {int(attr(r, "batchId")): r for r in stack.rows("job-15")}
    assert (attr(rows[0], "status"), attr(rows[1], "status")) == ("failed", "deferred")


def test_an_unconfirmed_original_contract_row_takes_its_childs_failure(stack, lambda_context):
    # the worker wrote its row, then its child failed before the state machine confirmed it
    item = {"jobId": {"S": "job-16"}, "batchId": {"N": "0"}, "results": {"S": "[1]"}}
    stack.dynamodb.put_item(TableName="janelia-burst-compute-test-tasks", Item=item)
    map_run_report(stack, "job-16", [(0, "FAILED", "Burst.BatchNotRecorded", "DynamoDB was down")])
    out = monitor_handler.handler(job_event("job-16", 1, toleratedPercentageFailure=100), lambda_context)
    assert [(f["batchId"], f["error"]) for f in out["failedBatches"]] == [(0, "Burst.BatchNotRecorded")]
    (row,) = stack.rows("job-16")
    assert (attr(row, "status"), attr(row, "results")) == ("failed", "[1]")  # its own attributes kept


def test_rows_the_summary_writes_expire_with_the_jobs_rows(stack, lambda_context):
    map_run_report(stack, "job-17", [(0, "FAILED", "States.Timeout", "over 5 minutes")])
    monitor_handler.handler(job_event("job-17", 1, rowTtl="1900000123"), lambda_context)
    (row,) = stack.rows("job-17")
    assert attr(row, "ttl") == "1900000123"


def test_long_unprocessed_lists_spill_to_s3(stack, lambda_context):
    # every other batch of 2,002 succeeded: 1,001 ranges of one batch never started
    for batch_id in range(0, 2002, 2):
        stack.dynamodb.put_item(
            TableName="janelia-burst-compute-test-tasks",
            Item={"jobId": {"S": "job-18"}, "batchId": {"N": str(batch_id)}, "status": {"S": "succeeded"}},
        )
    out = monitor_handler.handler(job_event("job-18", 2002, deadline_in=-1, stop="deadline"), lambda_context)
    assert out["unprocessedBatchCount"] == 1001
    assert len(out["unprocessedBatches"]) == monitor.MAX_UNPROCESSED_RANGES
    key = out["unprocessedBatchesS3Uri"].split(f"s3://{BUCKET}/", 1)[1]
    full = json.loads(stack.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert full == [[b, b + 1] for b in range(1, 2002, 2)]


def test_long_failure_lists_spill_to_s3(stack, lambda_context):
    for batch_id in range(120):
        stack.fail("job-14", batch_id, "E", "c" * 3000)
    out = monitor_handler.handler(job_event("job-14", 120), lambda_context)
    assert out["failedBatchCount"] == 120
    assert 0 < len(out["failedBatches"]) < 120
    assert all(len(f["cause"]) == monitor.INLINE_CAUSE_CHARS for f in out["failedBatches"])
    key = out["failedBatchesS3Uri"].split(f"s3://{BUCKET}/", 1)[1]
    full = json.loads(stack.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert [f["batchId"] for f in full] == list(range(120))
    assert len(full[0]["cause"]) == 3000


def test_monitor_rejects_a_malformed_event(stack, lambda_context):
    with pytest.raises(InvalidEvent, match="monitor event: deadline"):
        monitor_handler.handler({"jobId": "j", "numBatches": 1, "startTime": "2026-01-01T00:00:00Z"}, lambda_context)
