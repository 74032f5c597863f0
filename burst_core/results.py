"""Reading batch rows back: shared by combiners (burst_core.combiner) and the client SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from burst_core.persistence import JSON_MIME_TYPE, STATUS_FAILED, query_pages


@dataclass(frozen=True)
class BatchResult:
    """One succeeded batch's results: parsed JSON, or text for other MIME types."""

    batch_id: int
    results: Any
    nresults: int
    mime_type: str
    started_at: str | None
    ended_at: str | None


def decode(body: bytes | str, mime_type: str) -> Any:
    text = body.decode() if isinstance(body, bytes) else body
    return json.loads(text) if mime_type == JSON_MIME_TYPE else text


def split_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def read_s3_json(s3: Any, uri: str) -> Any:
    bucket, key = split_s3_uri(uri)
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def is_failed(item: dict[str, Any]) -> bool:
    return bool(item.get("status", {}).get("S") == STATUS_FAILED)


def parse_row(item: dict[str, Any], s3: Any) -> BatchResult:
    """A low-level DynamoDB item of the tasks table as a BatchResult (S3-stored results fetched)."""
    mime = item.get("resultsMimeType", {}).get("S", JSON_MIME_TYPE)
    if "resultsS3Uri" in item:
        bucket, key = split_s3_uri(item["resultsS3Uri"]["S"])
        results = decode(s3.get_object(Bucket=bucket, Key=key)["Body"].read(), mime)
    elif "results" in item:
        raw = item["results"]
        results = decode(raw["S"], mime) if "S" in raw else raw
    else:
        results = None
    return BatchResult(
        batch_id=int(item["batchId"]["N"]),
        results=results,
        nresults=int(item.get("nresults", {}).get("N", 0)),
        mime_type=mime,
        started_at=item.get("startedAt", {}).get("S"),
        ended_at=item.get("endedAt", {}).get("S"),
    )


def query_rows(
    dynamodb: Any,
    table: str,
    job_id: str,
    first: int | None = None,
    last: int | None = None,
    *,
    attributes: tuple[str, ...] = (),
) -> Iterator[dict[str, Any]]:
    """Every row of the job (or of batch ids [first, last]), consistent reads, all pages; only
    ``attributes`` when given."""
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "jobId = :j",
        "ExpressionAttributeValues": {":j": {"S": job_id}},
        "ConsistentRead": True,
    }
    if attributes:
        request["ProjectionExpression"] = ", ".join(f"#a{i}" for i in range(len(attributes)))
        request["ExpressionAttributeNames"] = {f"#a{i}": name for i, name in enumerate(attributes)}
    if first is not None and last is not None:
        request["KeyConditionExpression"] += " AND batchId BETWEEN :a AND :b"
        request["ExpressionAttributeValues"].update({":a": {"N": str(first)}, ":b": {"N": str(last)}})
    for page in query_pages(dynamodb, request):
        yield from page.get("Items", [])
