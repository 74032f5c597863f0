"""The tasks table gateway: one row per (jobId, batchId), written by the state machine, read only here.

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

Everything that reads rows goes through here: one query (:func:`job_query`, read with boto3's
paginator, one page at a time), one typed row (:class:`BatchRecord`, decoded by :func:`decode_record`
alone), and one reading of what the rows say of a job's batches (:func:`outcomes`: succeeded, failed,
never ran to an end), for the summary, redrive and the client.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from burst_core.exceptions import StorageError
from burst_core.storage import encode_json, put_json

logger = logging.getLogger(__name__)


class BatchStatus(StrEnum):
    """A batch row's ``status``."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEFERRED = "deferred"
    # never stored: a row an original-contract worker wrote that the state machine did not confirm (yet)
    UNCONFIRMED = "unconfirmed"


# What a row is read with when its results are not needed (never ``output``: it may be 250 KB).
RECORD_ATTRIBUTES = ("batchId", "status", "error", "cause", "startedAt", "endedAt", "attempt", "requestId")
# ... and with its results: the worker's output, or what an original-contract worker wrote itself.
RESULT_ATTRIBUTES = (*RECORD_ATTRIBUTES, "output", "results", "resultsMimeType", "nresults", "resultsS3Uri")


@dataclass(frozen=True)
class BatchRecord:
    """A row of the tasks table, typed. Attributes not read (see ``attributes`` of the reads) are None."""

    batch_id: int
    status: BatchStatus
    error: str | None = None
    cause: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    attempt: int | None = None
    request_id: str | None = None  # of the succeeded invocation (rows written before it was recorded: None)
    output: str | None = None  # the worker's return value as the JSON string the state machine recorded
    # what a worker of the original contract wrote into its row itself (docs/Interfaces.md): ``results``
    # as text (S), or DynamoDB's typed value of another type, undecoded; None when the row has none
    results: Any = None
    results_mime_type: str | None = None
    nresults: int | None = None
    results_s3_uri: str | None = None
    size: int = 0  # bytes of the item read, as DynamoDB sizes it (attribute names and values)


def _text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return value.get("S") if isinstance(value, dict) else None


def _integer(item: Mapping[str, Any], name: str) -> int | None:
    value = item.get(name)
    number = value.get("N") if isinstance(value, dict) else None
    return int(number) if number is not None else None


def decode_record(item: Mapping[str, Any]) -> BatchRecord:
    """A low-level DynamoDB item of the tasks table as a BatchRecord: the one place rows are decoded.

    An attribute of another type than the table's (docs/Interfaces.md) is read as absent, except an
    original-contract ``results`` of another type than S, kept as DynamoDB's typed value."""
    known = {status.value: status for status in BatchStatus}
    results = item.get("results")
    return BatchRecord(
        batch_id=int(item["batchId"]["N"]),
        status=known.get(_text(item, "status") or "", BatchStatus.UNCONFIRMED),
        error=_text(item, "error"),
        cause=_text(item, "cause"),
        started_at=_text(item, "startedAt"),
        ended_at=_text(item, "endedAt"),
        attempt=_integer(item, "attempt"),
        request_id=_text(item, "requestId"),
        output=_text(item, "output"),
        results=results.get("S", results) if isinstance(results, dict) else None,
        results_mime_type=_text(item, "resultsMimeType"),
        nresults=_integer(item, "nresults"),
        results_s3_uri=_text(item, "resultsS3Uri"),
        size=item_size(item),
    )


# -- DynamoDB item size (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)
def _number_size(text: str) -> int:
    digits = text.lstrip("+-").replace(".", "").split("e")[0].split("E")[0].strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def _value_size(value: Mapping[str, Any]) -> int:
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return _number_size(str(inner))
    if kind == "B":
        return len(inner) if isinstance(inner, bytes | bytearray) else len(str(inner))
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "SS":
        return sum(len(str(v).encode()) for v in inner)
    if kind == "NS":
        return sum(_number_size(str(v)) for v in inner)
    if kind == "BS":
        return sum(len(v) for v in inner)
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in inner.items())
    return len(json.dumps(inner))


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes of a DynamoDB item (typed JSON), as DynamoDB sizes it: attribute names plus values."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


# -- the query ---------------------------------------------------------------------------------------------
def job_query(
    table: str,
    job_id: str,
    first: int | None = None,
    last: int | None = None,
    *,
    attributes: tuple[str, ...] | None = RECORD_ATTRIBUTES,
    status: BatchStatus | None = None,
) -> dict[str, Any]:
    """The Query request for a job's rows (or those of batch ids [first, last]), consistent reads; only
    ``attributes`` (None: every attribute); only rows of ``status`` when given."""
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


# -- what the rows say of a job's batches -------------------------------------------------------------------
@dataclass(frozen=True)
class BatchFailure:
    """A failed batch and why (as the summary lists it)."""

    batch_id: int
    error: str
    cause: str

    @classmethod
    def of(cls, batch_id: int, error: str | None, cause: str | None) -> BatchFailure:
        return cls(batch_id, error or "Unknown", cause or "")

    def as_dict(self) -> dict[str, Any]:
        return {"batchId": self.batch_id, "error": self.error, "cause": self.cause}


def ranges(ids: Iterable[int]) -> list[list[int]]:
    """Sorted ids as [first, next) ranges."""
    out: list[list[int]] = []
    for batch_id in ids:
        if out and out[-1][1] == batch_id:
            out[-1][1] = batch_id + 1
        else:
            out.append([batch_id, batch_id + 1])
    return out


@dataclass(frozen=True)
class Outcomes:
    """What a job's rows say of its batches."""

    succeeded: int  # rows that say succeeded
    failed: tuple[BatchFailure, ...]  # rows that say failed, in batch order
    # batches 0..numBatches-1 that never ran to an end, in batch order: no row (None), a deferred row, or one
    # an original-contract worker wrote that the state machine never confirmed
    never_ran: Mapping[int, BatchRecord | None]

    @property
    def never_ran_ranges(self) -> list[list[int]]:
        return ranges(self.never_ran)

    @property
    def not_succeeded(self) -> list[int]:
        """The batch ids that failed or never ran to an end, in order: what a redrive runs again."""
        return sorted([failure.batch_id for failure in self.failed] + list(self.never_ran))


def outcomes(records: Iterable[BatchRecord], num_batches: int) -> Outcomes:
    """Which of a job's ``num_batches`` batches succeeded, failed (with error and cause) or never ran to an
    end, from its rows (in any order)."""
    by_id = {record.batch_id: record for record in records}
    decided = {BatchStatus.SUCCEEDED, BatchStatus.FAILED}
    return Outcomes(
        succeeded=sum(1 for r in by_id.values() if r.status is BatchStatus.SUCCEEDED),
        failed=tuple(
            BatchFailure.of(r.batch_id, r.error, r.cause)
            for r in sorted(by_id.values(), key=lambda r: r.batch_id)
            if r.status is BatchStatus.FAILED
        ),
        never_ran={b: by_id.get(b) for b in range(num_batches) if b not in by_id or by_id[b].status not in decided},
    )


class TasksTable:
    """The framework's reads of the tasks table, its one write (a batch that left no row), and the
    JSON objects it keeps beside the rows in the bucket."""

    def __init__(self, dynamodb: Any, table_name: str, s3: Any = None, bucket: str | None = None) -> None:
        self._dynamodb = dynamodb
        self._table = table_name
        self._s3 = s3
        self._bucket = bucket

    def items(
        self,
        job_id: str,
        first: int | None = None,
        last: int | None = None,
        *,
        attributes: tuple[str, ...] | None = None,
        status: BatchStatus | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The rows of :func:`job_query` as DynamoDB items, in batchId order, one page in memory at a time
        (boto3's paginator). For what checks the stored format itself; everything else reads records."""
        request = job_query(self._table, job_id, first, last, attributes=attributes, status=status)
        try:
            for page in self._dynamodb.get_paginator("query").paginate(**request):
                yield from page.get("Items", [])
        except ClientError as exc:
            raise StorageError(f"job {job_id}: cannot query the tasks table {self._table}: {exc}") from exc

    def records(
        self,
        job_id: str,
        first: int | None = None,
        last: int | None = None,
        *,
        attributes: tuple[str, ...] | None = RECORD_ATTRIBUTES,
        status: BatchStatus | None = None,
    ) -> Iterator[BatchRecord]:
        """Every recorded batch (of batch ids [first, last]; of ``status``) in batchId order, read page by
        page; only ``attributes`` (default: not the results; RESULT_ATTRIBUTES with them; None: all)."""
        for item in self.items(job_id, first, last, attributes=attributes, status=status):
            yield decode_record(item)

    def record(self, job_id: str, batch_id: int) -> BatchRecord | None:
        """One batch's record (not its results), None when it has no row."""
        return next(self.records(job_id, batch_id, batch_id), None)

    def deferred(self, job_id: str, first: int, last: int) -> list[BatchRecord]:
        """The deferred batches among batch ids [first, last]."""
        attributes = ("batchId", "status", "endedAt")
        return list(self.records(job_id, first, last, attributes=attributes, status=BatchStatus.DEFERRED))

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
        try:
            return put_json(self._s3, self._bucket, key, encode_json(value))
        except ClientError as exc:
            raise StorageError(f"cannot write s3://{self._bucket}/{key}: {exc}") from exc
