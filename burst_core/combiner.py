"""Write a combiner as a plain function of the job; the decorator makes it a handler.

    from burst_core.combiner import Job, combiner

    @combiner
    def handler(job: Job):
        best = sorted((m for r in job.results() for m in r.results), key=...)[:10]
        return {"best": best, "failed": [f["batchId"] for f in job.failed_batches()]}

``job.results()`` yields every succeeded batch's results (consistent reads, S3-stored results
fetched); ``job.failed_batches()`` is the complete list of failed batches (also when the inline list
was cut and the full one is in S3). ``job.event`` is the raw combiner input of docs/Interfaces.md.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

from burst_core.results import BatchResult, is_failed, parse_row, query_rows, read_s3_json


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
        """Every succeeded batch's results, in batch order."""
        s3 = self._client("s3")
        for item in query_rows(self._client("dynamodb"), self.event["tasksTableName"], self.job_id):
            if not is_failed(item):
                yield parse_row(item, s3)

    def failed_batches(self) -> list[dict[str, Any]]:
        """Every failed batch as {batchId, error, cause}."""
        uri = self.event.get("failedBatchesS3Uri")
        if uri:
            return list(read_s3_json(self._client("s3"), uri))
        return list(self.event.get("failedBatches") or [])


def combiner(fn: Callable[[Job], Any]) -> Callable[[dict[str, Any], Any], Any]:
    """Turn ``fn(job) -> result`` into a combiner handler."""

    @functools.wraps(fn)
    def handler(event: dict[str, Any], context: Any) -> Any:
        return fn(Job(event))

    return handler
