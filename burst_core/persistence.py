"""Batch records in the tasks table (and large results in S3).

One row per (jobId, batchId). Attributes:

- ``status``: ``succeeded`` or ``failed``
- ``results`` (string: the results serialised as ``resultsMimeType``, JSON by default) or
  ``resultsS3Uri`` (``s3://bucket/key`` of the same bytes) when they do not fit in an item
- ``nresults``, ``resultsMimeType``
- ``error``, ``cause`` for failed batches
- ``startedAt`` / ``endedAt``: RFC 3339 times recorded by the state machine around the worker call
- ``ttl``: epoch seconds after which DynamoDB deletes the row

Writing the same batch twice overwrites the row, so retries leave exactly one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from burst_core.config import RESULTS_PREFIX
from burst_core.exceptions import StorageError

logger = logging.getLogger(__name__)

JSON_MIME_TYPE = "application/json"
# DynamoDB items are limited to 400 KB including attribute names; results above this many bytes
# go to S3 and the row keeps a pointer.
MAX_INLINE_RESULTS_BYTES = 350 * 1024
STATUS_SUCCEEDED = "succeeded"
STATUS_FAILED = "failed"


@dataclass(frozen=True)
class BatchRecord:
    """A row of the tasks table as the framework reads it back."""

    batch_id: int
    status: str
    error: str | None = None
    cause: str | None = None
    started_at: str | None = None
    ended_at: str | None = None


@dataclass(frozen=True)
class RowTimes:
    """When a batch ran (state machine clock) and when its row expires (epoch seconds)."""

    ttl: int
    started_at: str | None = None
    ended_at: str | None = None


def results_key(job_id: str, batch_id: int) -> str:
    return f"{RESULTS_PREFIX}{job_id}/{batch_id}.json"


def query_pages(dynamodb: Any, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every page of a DynamoDB Query, in order (``request`` gets each page's ExclusiveStartKey)."""
    while True:
        page: dict[str, Any] = dynamodb.query(**request)
        yield page
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class TasksTable:
    """All tasks-table and result-object I/O of the framework."""

    def __init__(self, dynamodb: Any, table_name: str, s3: Any = None, bucket: str | None = None) -> None:
        self._dynamodb = dynamodb
        self._table = table_name
        self._s3 = s3
        self._bucket = bucket

    # -- writes ---------------------------------------------------------------------------------
    def put_results(
        self,
        job_id: str,
        batch_id: int,
        body: bytes | None,
        *,
        mime_type: str,
        nresults: int,
        times: RowTimes,
        uri: str | None = None,
    ) -> dict[str, Any]:
        """Store a batch's serialised results (``body``), spilling them to S3 when they do not fit
        in an item, or record the ``uri`` of results the worker already wrote to S3 itself."""
        item = self._base_item(job_id, batch_id, STATUS_SUCCEEDED, times)
        item["nresults"] = {"N": str(nresults)}
        item["resultsMimeType"] = {"S": mime_type}
        if uri is None and body is not None and len(body) > MAX_INLINE_RESULTS_BYTES:
            uri = self._put_object(results_key(job_id, batch_id), body, mime_type)
        if uri is not None:
            item["resultsS3Uri"] = {"S": uri}
        else:
            if body is None:
                raise ValueError("put_results needs the results body or the uri of results stored in S3")
            item["results"] = {"S": body.decode("utf-8")}
        self._put(item)
        return {"status": STATUS_SUCCEEDED, "nresults": nresults, "spilled": uri is not None}

    def put_failure(
        self,
        job_id: str,
        batch_id: int,
        *,
        error: str,
        cause: str,
        times: RowTimes,
    ) -> dict[str, Any]:
        item = self._base_item(job_id, batch_id, STATUS_FAILED, times)
        item["error"] = {"S": error or "Unknown"}
        item["cause"] = {"S": cause or "(no cause given)"}
        self._put(item)
        return {"status": STATUS_FAILED, "error": error}

    def mark_self_persisted(self, job_id: str, batch_id: int, times: RowTimes) -> dict[str, Any]:
        """A worker of the original contract wrote its own row and returned nothing: keep its
        attributes, add status and timing (and a ttl if it set none)."""
        names = {"#status": "status", "#ttl": "ttl"}
        values: dict[str, Any] = {":status": {"S": STATUS_SUCCEEDED}, ":ttl": {"N": str(times.ttl)}}
        sets = ["#status = :status", "#ttl = if_not_exists(#ttl, :ttl)"]
        for attribute, value in (("startedAt", times.started_at), ("endedAt", times.ended_at)):
            if value:
                names[f"#{attribute}"] = attribute
                values[f":{attribute}"] = {"S": value}
                sets.append(f"#{attribute} = :{attribute}")
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key=self._key(job_id, batch_id),
                UpdateExpression="SET " + ", ".join(sets),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            raise StorageError(f"job {job_id} batch {batch_id}: cannot update the tasks table: {exc}") from exc
        return {"status": STATUS_SUCCEEDED, "selfPersisted": True}

    # -- reads ----------------------------------------------------------------------------------
    def count(self, job_id: str) -> int:
        """Number of rows recorded for the job (all pages of a consistent COUNT query)."""
        total = 0
        for page in self._query_pages(job_id, Select="COUNT"):
            total += int(page["Count"])
        return total

    def records(self, job_id: str) -> Iterator[BatchRecord]:
        """Status, error and timing of every recorded batch, in batchId order."""
        names = {"#b": "batchId", "#s": "status", "#e": "error", "#c": "cause", "#t0": "startedAt", "#t1": "endedAt"}
        for page in self._query_pages(
            job_id, ProjectionExpression="#b, #s, #e, #c, #t0, #t1", ExpressionAttributeNames=names
        ):
            for item in page.get("Items", []):
                yield BatchRecord(
                    batch_id=int(item["batchId"]["N"]),
                    # rows written by an original-contract worker and not yet marked have no status
                    status=item.get("status", {}).get("S", STATUS_SUCCEEDED),
                    error=item.get("error", {}).get("S"),
                    cause=item.get("cause", {}).get("S"),
                    started_at=item.get("startedAt", {}).get("S"),
                    ended_at=item.get("endedAt", {}).get("S"),
                )

    # -- helpers --------------------------------------------------------------------------------
    def put_json_object(self, key: str, value: Any) -> str:
        body = json.dumps(value, separators=(",", ":")).encode()
        return self._put_object(key, body, JSON_MIME_TYPE)

    def _query_pages(self, job_id: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "jobId = :job",
            "ExpressionAttributeValues": {":job": {"S": job_id}},
            "ConsistentRead": True,
            **kwargs,
        }
        try:
            yield from query_pages(self._dynamodb, request)
        except ClientError as exc:
            raise StorageError(f"job {job_id}: cannot query the tasks table {self._table}: {exc}") from exc

    @staticmethod
    def _key(job_id: str, batch_id: int) -> dict[str, Any]:
        return {"jobId": {"S": job_id}, "batchId": {"N": str(batch_id)}}

    def _base_item(self, job_id: str, batch_id: int, status: str, times: RowTimes) -> dict[str, Any]:
        item = {**self._key(job_id, batch_id), "status": {"S": status}, "ttl": {"N": str(times.ttl)}}
        if times.started_at:
            item["startedAt"] = {"S": times.started_at}
        if times.ended_at:
            item["endedAt"] = {"S": times.ended_at}
        return item

    def _put(self, item: dict[str, Any]) -> None:
        try:
            self._dynamodb.put_item(TableName=self._table, Item=item)
        except ClientError as exc:
            where = f"job {item['jobId']['S']} batch {item['batchId']['N']}"
            raise StorageError(f"{where}: cannot write to the tasks table {self._table}: {exc}") from exc

    def _put_object(self, key: str, body: bytes, mime_type: str) -> str:
        if self._s3 is None or not self._bucket:
            raise StorageError(f"cannot store s3 object {key}: no bucket configured")
        try:
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=mime_type)
        except ClientError as exc:
            raise StorageError(f"cannot write s3://{self._bucket}/{key}: {exc}") from exc
        return f"s3://{self._bucket}/{key}"
