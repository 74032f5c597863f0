"""The worker and combiner helpers of burst_core, on moto."""

import json

import pytest

from burst_core.combiner import Job, combiner
from burst_core.exceptions import InvalidWorkerOutput
from burst_core.job import STATE_PAYLOAD_LIMIT_BYTES
from burst_core.worker import batch_worker, fits_inline, inline_limit, item_worker

from .conftest import BUCKET, TABLE


def size(value):
    return len(json.dumps(value, separators=(",", ":")))


def event(batch_id=0, start=0, end=10, **params):
    return {
        "jobId": "job-h",
        "batchId": batch_id,
        "startIndex": start,
        "endIndex": end,
        "numBatches": 3,
        "jobParameters": params,
        "resultsBucket": BUCKET,
        "tasksTableName": TABLE,
        "deadline": "2026-11-24T12:15:00.000Z",
        "attempt": 0,
    }


def test_item_worker_keeps_non_none_results_in_order(stack, lambda_context):
    @item_worker
    def handler(index, params):
        return index * params["k"] if index % 3 == 0 else None

    assert handler(event(start=0, end=10, k=2), lambda_context) == {"results": [0, 6, 12, 18], "nresults": 4}


def test_batch_worker_spills_large_results_to_s3(stack, lambda_context):
    @batch_worker(inline_limit_bytes=1000)
    def handler(start, end, params):
        return ["x" * 100 for _ in range(start, end)]

    out = handler(event(batch_id=4, start=0, end=50), lambda_context)
    assert out == {"resultsS3Uri": f"s3://{BUCKET}/results/job-h/4.json", "nresults": 50}
    stored = json.loads(stack.s3.get_object(Bucket=BUCKET, Key="results/job-h/4.json")["Body"].read())
    assert stored == ["x" * 100] * 50


def test_the_inline_limit_is_what_the_event_leaves_of_the_state(stack, lambda_context):
    small, big = event(), event(blob="p" * 90_000)  # job parameters travel in the batch's state
    assert inline_limit(small) - inline_limit(big) == size(big) - size(small)
    results = ["r" * 1000] * 170  # ~170 KB: fits beside small parameters, not beside 90 KB of them
    assert fits_inline(small, {"results": results}) and not fits_inline(big, {"results": results})

    @batch_worker
    def handler(start, end, params):
        return results

    assert "results" in handler(small, lambda_context)
    assert handler(big, lambda_context) == {"resultsS3Uri": f"s3://{BUCKET}/results/job-h/0.json", "nresults": 170}


def test_escaping_counts_against_the_row_write(stack, lambda_context):
    # the row holds the output as a JSON string: every quote is escaped, so quote-heavy output that
    # fits the state may still not fit the row write's parameters
    quotes = ['"'] * 40_000  # 5 bytes each as JSON, 9 bytes each once escaped again
    assert size({"results": quotes}) < inline_limit(event())
    assert not fits_inline(event(), {"results": quotes})
    assert len(json.dumps(json.dumps({"results": quotes}, separators=(",", ":")))) > STATE_PAYLOAD_LIMIT_BYTES - 4096


def test_results_that_are_not_json_are_refused(stack, lambda_context):
    @batch_worker
    def handler(start, end, params):
        return [float("nan")]

    with pytest.raises(InvalidWorkerOutput, match="batch 0: results are not JSON"):
        handler(event(), lambda_context)


def test_combiner_reads_inline_and_s3_results_and_full_failure_list(stack, lambda_context):
    @batch_worker(inline_limit_bytes=200)
    def worker(start, end, params):
        return list(range(start, end))

    for batch_id, (start, end) in enumerate([(0, 5), (5, 100), (100, 105)]):
        stack.succeed("job-h", batch_id, worker(event(batch_id, start, end), lambda_context))
    stack.fail("job-h", 3, "E", "c")
    stack.s3.put_object(
        Bucket=BUCKET,
        Key="jobs/job-h/failed-batches.json",
        Body=json.dumps([{"batchId": 3, "error": "E", "cause": "c"}]).encode(),
    )

    @combiner
    def handler(job: Job):
        return {
            "all": [i for r in job.results() for i in r.results],
            "failed": job.failed_batches(),
            "status": job.status,
        }

    combiner_event = {
        "jobId": "job-h",
        "tasksTableName": TABLE,
        "resultsBucket": BUCKET,
        "status": "succeeded",
        "failedBatches": [],
        "failedBatchesS3Uri": f"s3://{BUCKET}/jobs/job-h/failed-batches.json",
    }
    out = handler(combiner_event, lambda_context)
    assert out["all"] == list(range(105))
    assert out["failed"] == [{"batchId": 3, "error": "E", "cause": "c"}]
    assert out["status"] == "succeeded"


def test_a_combiner_result_too_large_for_the_state_is_stored_in_s3(stack, lambda_context):
    @combiner
    def handler(job: Job):
        return {"matches": ["m" * 100] * 3000}  # ~300 KB

    combiner_event = {"jobId": "job-c", "tasksTableName": TABLE, "resultsBucket": BUCKET, "status": "succeeded"}
    out = handler(combiner_event, lambda_context)
    uri = f"s3://{BUCKET}/results/job-c/combiner-result.json"
    size = len(json.dumps({"matches": ["m" * 100] * 3000}, separators=(",", ":")))
    assert out == {"resultS3Uri": uri, "resultBytes": size}
    stored = json.loads(stack.s3.get_object(Bucket=BUCKET, Key="results/job-c/combiner-result.json")["Body"].read())
    assert stored == {"matches": ["m" * 100] * 3000}
    # a small result stays in the execution's output
    assert combiner(lambda job: {"n": 1})(combiner_event, lambda_context) == {"n": 1}
