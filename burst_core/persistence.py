"""The tasks table: one row per (jobId, batchId), written by the state machine, read here.

The job lifecycle state machine writes each batch's row with Step Functions' DynamoDB integration
(``arn:aws:states:::dynamodb:updateItem``, no Lambda). Attributes:

- ``status``: ``succeeded``, ``failed`` or ``deferred`` (throttled until its retries ran out; the next
  round runs it again). A row without one was written by a worker of the original contract and not yet
  confirmed by the state machine (read as ``unconfirmed``).
- ``output``: the worker's return value as a JSON string (succeeded batches). How it is read as
  results is :mod:`burst_core.results`'. A worker of the original contract returns nothing
  (``"null"``) and writes ``results``, ``resultsMimeType``, ``nresults`` or ``resultsS3Uri`` itself.
- ``error``, ``cause``: the worker's error (failed batches; for deferred ones the last throttling)
- ``startedAt`` / ``endedAt``: RFC 3339 times, from the state machine's clock, of the attempt that
  produced the row (for a deferred batch, ``endedAt`` is when it was deferred); ``attempt``: its number
  (0 for the first)
- ``requestId``: the Lambda request id of the worker's invocation that succeeded (succeeded batches; a
  failed invocation's is in its ``cause``, Lambda's error payload): how its log lines are found
- ``ttl``: epoch seconds after which DynamoDB deletes the row

Every write of a batch updates the same row, so retries, redrives and at-least-once child workflows
leave exactly one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from burst_core.exceptions import StorageError

logger = logging.getLogger(__name__)

JSON_MIME_TYPE = "application/json"


class BatchStatus(StrEnum):
    """A batch row's ``status``."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEFERRED = "deferred"
    # never stored: a row an original-contract worker wrote that the state machine did not confirm (yet)
    UNCONFIRMED = "unconfirmed"


# What a row is read with when its results are not needed (never ``output``: it may be 250 KB).
RECORD_ATTRIBUTES = ("batchId", "status", "error", "cause", "startedAt", "endedAt", "attempt", "requestId")


@dataclass(frozen=True)
class BatchRecord:
    """A row of the tasks table without its results."""

    batch_id: int
    status: BatchStatus
    error: str | None = None
    cause: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    attempt: int | None = None
    request_id: str | None = None  # of the succeeded invocation (rows written before it was recorded: None)


def _text(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value.get("S") if isinstance(value, dict) else None


def decode_record(item: dict[str, Any]) -> BatchRecord:
    """A low-level DynamoDB item of the tasks table as a BatchRecord (the one place rows are decoded)."""
    raw_status = _text(item, "status")
    known = {status.value: status for status in BatchStatus}
    status = known.get(raw_status or "", BatchStatus.UNCONFIRMED)
    attempt = item.get("attempt", {}).get("N")
    return BatchRecord(
        batch_id=int(item["batchId"]["N"]),
        status=status,
        error=_text(item, "error"),
        cause=_text(item, "cause"),
        started_at=_text(item, "startedAt"),
        ended_at=_text(item, "endedAt"),
        attempt=int(attempt) if attempt is not None else None,
        request_id=_text(item, "requestId"),
    )


def query_pages(dynamodb: Any, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every page of a DynamoDB Query, in order (``request`` gets each page's ExclusiveStartKey)."""
    while True:
        page: dict[str, Any] = dynamodb.query(**request)
        yield page
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def job_query(
    table: str,
    job_id: str,
    first: int | None = None,
    last: int | None = None,
    *,
    attributes: tuple[str, ...] = (),
    status: BatchStatus | None = None,
) -> dict[str, Any]:
    """The Query request for a job's rows (or those of batch ids [first, last]), consistent reads; only
    ``attributes`` when given; only rows of ``status`` when given."""
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "jobId = :j",
        "ExpressionAttributeValues": {":j": {"S": job_id}},
        "ConsistentRead": True,
    }
    names: dict[str, str] = {}
    if attributes:
        request["ProjectionExpression"] = ", ".join(f"#a{i}" for i in range(len(attributes)))
        names.update({f"#a{i}": name for i, name in enumerate(attributes)})
    if first is not None and last is not None:
        request["KeyConditionExpression"] += " AND batchId BETWEEN :first AND :last"
        request["ExpressionAttributeValues"].update({":first": {"N": str(first)}, ":last": {"N": str(last)}})
    if status is not None:
        request["FilterExpression"] = "#status = :status"
        names["#status"] = "status"
        request["ExpressionAttributeValues"][":status"] = {"S": status.value}
    if names:
        request["ExpressionAttributeNames"] = names
    return request


def query_rows(dynamodb: Any, table: str, job_id: str, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every row of :func:`job_query`, all pages."""
    for page in query_pages(dynamodb, job_query(table, job_id, *args, **kwargs)):
        yield from page.get("Items", [])


class TasksTable:
    """The framework's reads of the tasks table, its one write (a batch that left no row), and the
    JSON objects it keeps beside the rows in the bucket."""

    def __init__(self, dynamodb: Any, table_name: str, s3: Any = None, bucket: str | None = None) -> None:
        self._dynamodb = dynamodb
        self._table = table_name
        self._s3 = s3
        self._bucket = bucket

    def records(self, job_id: str, first: int | None = None, last: int | None = None) -> Iterator[BatchRecord]:
        """Status, error and timing of every recorded batch (of batch ids [first, last]), in batchId order."""
        try:
            for item in query_rows(self._dynamodb, self._table, job_id, first, last, attributes=RECORD_ATTRIBUTES):
                yield decode_record(item)
        except ClientError as exc:
            raise StorageError(f"job {job_id}: cannot query the tasks table {self._table}: {exc}") from exc

    def deferred(self, job_id: str, first: int, last: int) -> list[BatchRecord]:
        """The deferred batches among batch ids [first, last]."""
        try:
            rows = query_rows(
                self._dynamodb,
                self._table,
                job_id,
                first,
                last,
                attributes=("batchId", "status", "endedAt"),
                status=BatchStatus.DEFERRED,
            )
            return [decode_record(item) for item in rows]
        except ClientError as exc:
            raise StorageError(f"job {job_id}: cannot query the tasks table {self._table}: {exc}") from exc

    def record_failure(self, job_id: str, batch_id: int, *, error: str, cause: str, ttl: int) -> bool:
        """Record as failed a batch whose child workflow failed without writing its outcome (e.g. with
        States.DataLimitExceeded): when it has no row, a deferred one, or one its worker wrote that the state
        machine never confirmed (whose attributes are kept). Never overwrites an outcome; returns whether it
        wrote."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"jobId": {"S": job_id}, "batchId": {"N": str(batch_id)}},
                UpdateExpression="SET #status = :failed, #error = :error, #cause = :cause, "
                "#ttl = if_not_exists(#ttl, :ttl) REMOVE #output",
                ConditionExpression="attribute_not_exists(#status) OR #status = :deferred",
                ExpressionAttributeNames={
                    "#status": "status",
                    "#error": "error",
                    "#cause": "cause",
                    "#ttl": "ttl",
                    "#output": "output",
                },
                ExpressionAttributeValues={
                    ":failed": {"S": BatchStatus.FAILED.value},
                    ":deferred": {"S": BatchStatus.DEFERRED.value},
                    ":error": {"S": error or "Unknown"},
                    ":cause": {"S": cause or "(no cause given)"},
                    ":ttl": {"N": str(ttl)},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise StorageError(f"job {job_id} batch {batch_id}: cannot write to the tasks table: {exc}") from exc
        return True

    def put_json_object(self, key: str, value: Any) -> str:
        """Store ``value`` as JSON at ``key`` of the bucket; returns its s3:// URI."""
        if self._s3 is None or not self._bucket:
            raise StorageError(f"cannot store s3 object {key}: no bucket configured")
        body = json.dumps(value, separators=(",", ":")).encode()
        try:
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=JSON_MIME_TYPE)
        except ClientError as exc:
            raise StorageError(f"cannot write s3://{self._bucket}/{key}: {exc}") from exc
        return f"s3://{self._bucket}/{key}"
