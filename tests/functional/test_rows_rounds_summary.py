import json
from datetime import UTC, datetime, timedelta

import pytest

from burst_core import monitor
from burst_core.exceptions import InvalidEvent
from burst_core.job import iso_timestamp
from burst_core.persistence import MAX_INLINE_RESULTS_BYTES, TasksTable
from handlers import cleanup as cleanup_handler
from handlers import monitor as monitor_handler
from handlers import persist as persist_handler

from .conftest import BUCKET, TABLE


def persist(job_id, batch_id, output, ctx, **extra):
    event = {
        "jobId": job_id,
        "batchId": batch_id,
        "startedAt": "2026-01-01T00:00:00.000Z",
        "endedAt": "2026-01-01T00:00:01.500Z",
        "output": output,
        **extra,
    }
    return persist_handler.handler(event, ctx)


def attr(row, name):
    value = row[name]
    return value.get("S", value.get("N"))


def test_persist_writes_the_row(stack, lambda_context):
    out = persist("job-1", 3, {"results": [{"id": 1}, {"id": 2}]}, lambda_context)
    assert out == {"status": "succeeded", "nresults": 2, "spilled": False}
    (row,) = stack.rows("job-1")
    assert attr(row, "batchId") == "3"
    assert json.loads(attr(row, "results")) == [{"id": 1}, {"id": 2}]
    assert attr(row, "nresults") == "2"
    assert attr(row, "resultsMimeType") == "application/json"
    assert attr(row, "status") == "succeeded"
    assert attr(row, "startedAt") == "2026-01-01T00:00:00.000Z"
    assert int(attr(row, "ttl")) > datetime.now(UTC).timestamp() + 6 * 86400


def test_plain_json_output_is_the_results(stack, lambda_context):
    persist("job-1", 0, [1, 2, 3], lambda_context)
    persist("job-1", 1, 42, lambda_context)
    rows = stack.rows("job-1")
    assert [json.loads(attr(r, "results")) for r in rows] == [[1, 2, 3], 42]
    assert [attr(r, "nresults") for r in rows] == ["3", "1"]


def test_persisting_twice_leaves_one_row(stack, lambda_context):
    persist("job-1", 7, {"results": [1]}, lambda_context)
    persist("job-1", 7, {"results": [1]}, lambda_context)
    assert len(stack.rows("job-1")) == 1


def test_large_results_spill_to_s3(stack, lambda_context):
    big = ["x" * 1000] * (MAX_INLINE_RESULTS_BYTES // 1000 + 10)
    out = persist("job-2", 0, {"results": big}, lambda_context)
    assert out["spilled"] is True
    (row,) = stack.rows("job-2")
    assert "results" not in row
    uri = attr(row, "resultsS3Uri")
    assert uri == f"s3://{BUCKET}/results/job-2/0.json"
    body = stack.s3.get_object(Bucket=BUCKET, Key="results/job-2/0.json")["Body"].read()
    assert json.loads(body) == big


def test_results_written_by_the_worker_are_recorded_by_pointer(stack, lambda_context):
    persist("job-3", 0, {"resultsS3Uri": "s3://b/k.json", "nresults": 5}, lambda_context)
    (row,) = stack.rows("job-3")
    assert (attr(row, "resultsS3Uri"), attr(row, "nresults")) == ("s3://b/k.json", "5")


def test_original_contract_worker_row_is_kept(stack, lambda_context):
    stack.dynamodb.put_item(
        TableName=TABLE,
        Item={"jobId": {"S": "job-4"}, "batchId": {"N": "2"}, "results": {"S": "[9]"}, "ttl": {"N": "123"}},
    )
    out = persist("job-4", 2, None, lambda_context)
    assert out["selfPersisted"] is True
    (row,) = stack.rows("job-4")
    assert (attr(row, "results"), attr(row, "ttl"), attr(row, "status")) == ("[9]", "123", "succeeded")
    assert attr(row, "endedAt") == "2026-01-01T00:00:01.500Z"


def test_failure_is_recorded_with_error_and_cause(stack, lambda_context):
    event = {
        "jobId": "job-5",
        "batchId": 1,
        "startedAt": None,
        "endedAt": None,
        "error": "ValueError",
        "cause": '{"errorMessage": "bad pixel"}',
    }
    persist_handler.handler(event, lambda_context)
    (row,) = stack.rows("job-5")
    assert (attr(row, "status"), attr(row, "error")) == ("failed", "ValueError")
    assert "bad pixel" in attr(row, "cause")


@pytest.mark.parametrize(
    "output",
    [
        {"results": [1], "nresults": "two"},
        {"resultsS3Uri": "http://not-s3"},
        {"results": {"a": 1}, "resultsMimeType": "text/csv"},
    ],
)
def test_invalid_worker_output_becomes_a_failed_batch(stack, lambda_context, output):
    persist("job-6", 0, output, lambda_context)
    (row,) = stack.rows("job-6")
    assert (attr(row, "status"), attr(row, "error")) == ("failed", "Burst.InvalidWorkerOutput")


@pytest.mark.parametrize(
    "event",
    [{"batchId": 1, "output": 1}, {"jobId": "j", "batchId": "1", "output": 1}, {"jobId": "j", "batchId": 1}, [1]],
)
def test_malformed_persist_events_are_refused(stack, lambda_context, event):
    with pytest.raises(InvalidEvent):
        persist_handler.handler(event, lambda_context)


def job_event(job_id, num_batches, *, deadline_in=3600, **extra):
    now = datetime.now(UTC)
    return {
        "jobId": job_id,
        "numBatches": num_batches,
        "startTime": iso_timestamp(now - timedelta(seconds=5)),
        "deadline": iso_timestamp(now + timedelta(seconds=deadline_in)),
        **extra,
    }


def test_monitor_counts_across_pages(stack, lambda_context):
    # ~40 rows of 60 KB: more than one 1 MB query page
    for batch_id in range(40):
        persist("job-7", batch_id, {"results": "y" * 60_000, "resultsMimeType": "text/plain"}, lambda_context)
    pages = list(TasksTable(stack.dynamodb, TABLE)._query_pages("job-7", Select="COUNT"))
    assert len(pages) > 1
    out = monitor_handler.handler(job_event("job-7", 50), lambda_context)
    assert out["completed"] == 40
    assert out["timedOut"] is False
    assert out["elapsedSecs"] >= 5


def test_monitor_reports_the_deadline(stack, lambda_context):
    out = monitor_handler.handler(job_event("job-8", 5, deadline_in=-1), lambda_context)
    assert (out["completed"], out["timedOut"]) == (0, True)


def test_summary_within_tolerance(stack, lambda_context):
    for batch_id in range(19):
        persist("job-9", batch_id, [batch_id], lambda_context)
    persist_handler.handler({"jobId": "job-9", "batchId": 19, "error": "KeyError", "cause": "boom"}, lambda_context)
    out = monitor_handler.handler(
        job_event("job-9", 20, action="summarize", toleratedPercentageFailure=10), lambda_context
    )
    assert out["status"] == "succeeded"
    assert out["failedBatches"] == [{"batchId": 19, "error": "KeyError", "cause": "boom"}]
    assert (out["succeededBatches"], out["failedBatchCount"], out["completed"]) == (19, 1, False)
    assert out["failurePercentage"] == 5.0


def test_summary_above_tolerance_counts_missing_rows_as_failed(stack, lambda_context):
    persist("job-10", 0, [0], lambda_context)
    out = monitor_handler.handler(
        job_event("job-10", 3, action="summarize", toleratedPercentageFailure=50), lambda_context
    )
    assert out["status"] == "failed"
    assert out["error"] == "Burst.TooManyFailures"
    assert [f["batchId"] for f in out["failedBatches"]] == [1, 2]
    assert {f["error"] for f in out["failedBatches"]} == {monitor.NOT_RECORDED_ERROR}


def test_summary_after_the_deadline_reports_unprocessed_batches(stack, lambda_context):
    persist("job-11", 0, [0], lambda_context)
    persist("job-11", 4, [4], lambda_context)
    out = monitor_handler.handler(job_event("job-11", 6, deadline_in=-1, action="summarize"), lambda_context)
    assert (out["status"], out["timedOut"], out["error"]) == ("timedOut", True, "Burst.JobTimedOut")
    assert out["unprocessedBatches"] == [[1, 4], [5, 6]]
    assert out["unprocessedBatchCount"] == 4
    assert out["failedBatches"] == []


def test_long_failure_lists_spill_to_s3(stack, lambda_context):
    for batch_id in range(120):
        persist_handler.handler(
            {"jobId": "job-12", "batchId": batch_id, "error": "E", "cause": "c" * 3000}, lambda_context
        )
    out = monitor_handler.handler(job_event("job-12", 120, action="summarize"), lambda_context)
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


def test_cleanup_deletes_the_batch_file(stack, lambda_context):
    stack.s3.put_object(Bucket=BUCKET, Key="jobs/j/batches-0-1.json", Body=b"[]")
    cleanup_handler.handler({"bucket": BUCKET, "key": "jobs/j/batches-0-1.json"}, lambda_context)
    assert stack.keys() == []


def test_cleanup_only_touches_job_files(stack, lambda_context):
    with pytest.raises(InvalidEvent, match="key under jobs/"):
        cleanup_handler.handler({"bucket": BUCKET, "key": "results/j/0.json"}, lambda_context)


def test_empty_text_results_stay_empty(stack, lambda_context):
    persist("job-e", 0, {"results": "", "resultsMimeType": "text/plain", "nresults": 0}, lambda_context)
    (row,) = stack.rows("job-e")
    assert attr(row, "results") == ""
    assert attr(row, "resultsMimeType") == "text/plain"
