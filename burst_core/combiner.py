"""Write a combiner as a plain function of the job; the decorator makes it a handler.

    from burst_core.combiner import Job, combiner

    @combiner
    def handler(job: Job):
        best = sorted((m for r in job.results() for m in r.results), key=...)[:10]
        return {"best": best, "failed": [f["batchId"] for f in job.failed_batches()]}

``job.results()`` yields every succeeded batch's results (consistent reads, S3-stored results
fetched); ``job.failed_batches()`` is the complete list of failed batches (also when the inline list
was cut and the full one is in S3). ``job.event`` is the raw combiner input of docs/Interfaces.md.

The combiner's result becomes the execution's output beside the job's summary, within Step
Functions' 256 KiB: a result that would not fit is written to
``s3://<resultsBucket>/results/<jobId>/combiner-result.json`` and the handler returns
``{"resultS3Uri": ..., "resultBytes": n}`` instead (``BurstClient``'s ``job.output()`` reads it back).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

from burst_core.job import state_room
from burst_core.keys import combiner_result_key
from burst_core.persistence import RESULT_ATTRIBUTES, TasksTable
from burst_core.results import BatchResult, batch_results
from burst_core.storage import encode_json, put_json, read_s3_json

# The combiner input's fields that the execution's state does not hold (it takes them from the
# execution's input): the rest is the summary the result shares the state with.
_JOB_FIELDS = (
    "jobId",
    "datasetStartIndex",
    "datasetEndIndex",
    "batchSize",
    "startTime",
    "deadline",
    "jobsTimeoutSecs",
    "jobParameters",
    "tasksTableName",
    "resultsBucket",
)
# Room for the execution output's own fields and the Lambda response's metadata.
RESULT_OVERHEAD_BYTES = 4 * 1024


class Job:
    """The combiner's view of a finished (or failed, or timed out) job."""

    def __init__(self, event: dict[str, Any], *, dynamodb: Any = None, s3: Any = None) -> None:
        self.event = event
        self._dynamodb = dynamodb
        self._s3 = s3

    def _client(self, name: str) -> Any:
        import boto3  # noqa: PLC0415

        attribute = f"_{name}"
        if getattr(self, attribute) is None:
            setattr(self, attribute, boto3.client(name))
        return getattr(self, attribute)

    @property
    def job_id(self) -> str:
        return str(self.event["jobId"])

    @property
    def job_parameters(self) -> dict[str, Any]:
        return dict(self.event.get("jobParameters") or {})

    @property
    def status(self) -> str:
        """succeeded, failed or timedOut."""
        return str(self.event["status"])

    @property
    def timed_out(self) -> bool:
        return bool(self.event.get("timedOut"))

    def results(self) -> Iterator[BatchResult]:
        """Every succeeded batch's results, in batch order, read one page of rows at a time (InvalidWorkerOutput
        for an output of an unknown shape, naming the batch)."""
        table = TasksTable(self._client("dynamodb"), self.event["tasksTableName"])
        yield from batch_results(table.records(self.job_id, attributes=RESULT_ATTRIBUTES), self._client("s3"))

    def failed_batches(self) -> list[dict[str, Any]]:
        """Every failed batch as {batchId, error, cause}."""
        uri = self.event.get("failedBatchesS3Uri")
        if uri:
            return list(read_s3_json(self._client("s3"), uri))
        return list(self.event.get("failedBatches") or [])

    def result_limit(self) -> int:
        """How many bytes of result (as compact JSON) fit beside the job's summary in the execution's state."""
        summary = {key: value for key, value in self.event.items() if key not in _JOB_FIELDS}
        return state_room(summary, RESULT_OVERHEAD_BYTES)

    def store_result(self, result: Any) -> Any:
        """``result`` itself when it fits the execution's state, else a pointer to it in S3."""
        body = encode_json(result)
        if len(body) <= self.result_limit():
            return result
        uri = put_json(self._client("s3"), self.event["resultsBucket"], combiner_result_key(self.job_id), body)
        return {"resultS3Uri": uri, "resultBytes": len(body)}


def combiner(fn: Callable[[Job], Any]) -> Callable[[dict[str, Any], Any], Any]:
    """Turn ``fn(job) -> result`` into a combiner handler (large results are stored in S3)."""

    @functools.wraps(fn)
    def handler(event: dict[str, Any], context: Any) -> Any:
        job = Job(event)
        return job.store_result(fn(job))

    return handler
