"""The worker and combiner helpers of burst_core, on moto."""

import json

import pytest

from burst_core.combiner import Job, combiner
from burst_core.exceptions import InvalidWorkerOutput
from burst_core.worker import batch_worker, item_worker
from handlers import persist as persist_handler

from .conftest import BUCKET, TABLE


def event(batch_id=0, start=0, end=10, **params):
    return {
        "jobId": "job-h",
        "batchId": batch_id,
        "startIndex": start,
        "endIndex": end,
        "jobParameters": params,
        "resultsBucket": BUCKET,
        "tasksTableName": TABLE,
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
        output = worker(event(batch_id, start, end), lambda_context)
        persist_handler.handler({"jobId": "job-h", "batchId": batch_id, "output": output}, lambda_context)
    persist_handler.handler({"jobId": "job-h", "batchId": 3, "error": "E", "cause": "c"}, lambda_context)
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
        "status": "succeeded",
        "failedBatches": [],
        "failedBatchesS3Uri": f"s3://{BUCKET}/jobs/job-h/failed-batches.json",
    }
    out = handler(combiner_event, lambda_context)
    assert out["all"] == list(range(105))
    assert out["failed"] == [{"batchId": 3, "error": "E", "cause": "c"}]
    assert out["status"] == "succeeded"
