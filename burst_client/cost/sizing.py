"""What a job's pieces weigh: the framework's assumed durations, typical rows, child inputs and worker
outputs, and DynamoDB's request units."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from burst_client.cost.walk import COMBINER, WORKER
from burst_core import config
from burst_core.orchestration import ExecutionType, retry_policy
from burst_core.persistence import BatchStatus, item_size

# Assumed average durations of the framework's functions (ms) where nothing measured them. The
# monitor's Summarize reads every row of the job.
DEFAULT_FRAMEWORK_MS: Mapping[str, float] = {
    "dispatch": 500.0,
    "dispatchNextBatches": 300.0,
    "monitor": 1000.0,
}
DEFAULT_COMBINER_MS = 5000.0
DEFAULT_COMBINER_MB = 1024
DEFAULT_RESULT_BYTES = 1000
# Without a worker timeout, the estimate assumes one of this many times the worker's duration, in
# whole seconds (3 x ceil(worker_ms / 1000)): what dispatch reads from the deployed worker instead.
WORKER_TIMEOUT_FACTOR = 3
# An EXPRESS child runs a Choice, the worker's Task and the row write: its billed duration is the
# worker's plus this (the Lambda invoke's round trip, the DynamoDB write, the transitions). An
# assumption, not a measurement.
DEFAULT_EXPRESS_OVERHEAD_MS = 100.0
# serverless.yml's defaults of MAX_PARALLELISM and MAX_BATCHED_JOBS_ITERATIONS
DEFAULT_MAX_PARALLELISM = config.DEFAULT_MAX_PARALLELISM
DEFAULT_MAX_ROUNDS = config.DEFAULT_MAX_BATCHED_JOBS_ITERATIONS
# the distributed Map's ResultWriter: manifest.json and one results file per round
RESULT_WRITER_PUTS_PER_ROUND = 2
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
FUNCTION_ORDER = (WORKER, "dispatch", "dispatchNextBatches", "monitor", COMBINER)

_TEMPLATE_JOB_ID = "5f0c6d1e-1d2b-4c1e-9a57-2b8f0e6c1a44"
_TEMPLATE_BUCKET = "janelia-burst-compute-dev-mapjobsinputs"
_TEMPLATE_NRESULTS = 123


def worker_output(result_bytes: int, *, in_s3: bool = False) -> str:
    """A typical worker output (compact JSON): ``result_bytes`` of results, or where the worker stored them."""
    if in_s3:
        uri = f"s3://{_TEMPLATE_BUCKET}/results/{_TEMPLATE_JOB_ID}/12345.json"
        return json.dumps({"resultsS3Uri": uri, "nresults": _TEMPLATE_NRESULTS}, separators=(",", ":"))
    results = "x" * max(result_bytes - 2, 0)  # a JSON string of result_bytes bytes, quotes included
    return json.dumps({"results": results, "nresults": _TEMPLATE_NRESULTS}, separators=(",", ":"))


def template_row(output: str) -> dict[str, Any]:
    """A typical succeeded batch row as RecordResult writes it, ``output`` holding the worker's output."""
    return {
        "jobId": {"S": _TEMPLATE_JOB_ID},
        "batchId": {"N": "12345"},
        "status": {"S": BatchStatus.SUCCEEDED.value},
        "output": {"S": output},
        "startedAt": {"S": "2026-11-24T12:00:03.120Z"},
        "endedAt": {"S": "2026-11-24T12:00:05.170Z"},
        "attempt": {"N": "0"},
        "requestId": {"S": "0f6f4b2e-3c1d-4b9a-8e7f-5a6b7c8d9e0f"},
        "ttl": {"N": "1796168319"},
    }


def template_child_input(worker_timeout_secs: int, execution_type: ExecutionType) -> dict[str, Any]:
    """A typical batch's state as the Map's ItemSelector makes it (the child workflow's input)."""
    return {
        "jobId": _TEMPLATE_JOB_ID,
        "batchId": 12345,
        "startIndex": 493800,
        "endIndex": 493840,
        "numBatches": 20000,
        "workerFunctionName": "janelia-mysearch-dev-worker",
        "jobParameters": {},
        "tasksTableName": "janelia-burst-compute-dev-tasks",
        "resultsBucket": _TEMPLATE_BUCKET,
        "deadline": "2026-11-24T13:00:00.000Z",
        "rowTtl": "1796168319",
        "retry": retry_policy(execution_type, worker_timeout_secs, config.DEFAULT_JOBS_TIMEOUT_SECS).as_state(),
    }


def worker_event(child_input: Mapping[str, Any]) -> dict[str, Any]:
    """The worker's event (ExecuteBatch's Payload) for a child workflow's input."""
    event = {key: child_input[key] for key in ("jobId", "batchId", "startIndex", "endIndex", "numBatches")}
    event.update(
        jobParameters=child_input["jobParameters"],
        tasksTableName=child_input["tasksTableName"],
        resultsBucket=child_input["resultsBucket"],
        deadline=child_input["deadline"],
        attempt=0,
    )
    return event


ROW_OVERHEAD_BYTES = item_size(template_row(worker_output(0)))


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(total_bytes: int) -> int:
    """Strongly consistent Query: 1 RRU per 4 KB of items read (summed, then rounded up; at least 1)."""
    return max(1, math.ceil(total_bytes / READ_UNIT_BYTES))
