"""A succeeded batch's results, read back from its row: shared by combiners and the client SDK.

The state machine stores the worker's return value as it came (``output``, a JSON string), so its
shape is interpreted here, where results are read (docs/Interfaces.md, "Worker output"):

- an object with ``results`` (any JSON; a string when ``resultsMimeType`` is not JSON), optional
  ``resultsMimeType`` and ``nresults``;
- an object with ``resultsS3Uri``: results the worker wrote to S3 (fetched here);
- ``null``: a worker of the original contract that wrote ``results`` (or ``resultsS3Uri``) into its
  row itself;
- any other JSON value: it is the batch's results.

An output of none of these shapes (a non-integer ``nresults``, a malformed ``resultsS3Uri``, non-text
results of a non-JSON type) raises InvalidWorkerOutput naming the batch. It is not checked when the
row is written: the row is written by the state machine, which cannot check shapes without adding
state transitions (cost) to every batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from burst_core.exceptions import InvalidWorkerOutput
from burst_core.persistence import JSON_MIME_TYPE, BatchStatus, decode_record


@dataclass(frozen=True)
class BatchResult:
    """One succeeded batch's results: parsed JSON, or text for other MIME types."""

    batch_id: int
    results: Any
    nresults: int
    mime_type: str
    started_at: str | None
    ended_at: str | None
    results_s3_uri: str | None = None  # where the results were stored, when not in the row


def decode(body: bytes | str, mime_type: str) -> Any:
    text = body.decode() if isinstance(body, bytes) else body
    return json.loads(text) if mime_type == JSON_MIME_TYPE else text


def split_s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def read_s3_json(s3: Any, uri: str) -> Any:
    bucket, key = split_s3_uri(uri)
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def has_results(item: dict[str, Any]) -> bool:
    """Whether a row holds a succeeded batch's results (not a failed, deferred or unconfirmed batch)."""
    return decode_record(item).status is BatchStatus.SUCCEEDED


@dataclass(frozen=True)
class _Shape:
    results: Any
    nresults: int
    mime_type: str
    s3_uri: str | None


def _row_attributes(item: dict[str, Any]) -> dict[str, Any]:
    """The results attributes an original-contract worker wrote into its row, as a worker output."""
    out: dict[str, Any] = {}
    for name in ("resultsMimeType", "resultsS3Uri"):
        if "S" in item.get(name, {}):
            out[name] = item[name]["S"]
    if "N" in item.get("nresults", {}):
        out["nresults"] = int(item["nresults"]["N"])
    if "results" in item:
        raw = item["results"]
        mime = out.get("resultsMimeType", JSON_MIME_TYPE)
        out["results"] = decode(raw["S"], mime) if "S" in raw else raw  # other DynamoDB types as they are
    if "results" not in out and "resultsS3Uri" not in out:
        out["results"] = None
    return out


def _shape(batch_id: int, output: Any) -> _Shape:
    if not (isinstance(output, dict) and ("results" in output or "resultsS3Uri" in output)):
        return _Shape(output, len(output) if isinstance(output, list) else 1, JSON_MIME_TYPE, None)
    mime = output.get("resultsMimeType", JSON_MIME_TYPE)
    if not isinstance(mime, str) or not mime:
        raise InvalidWorkerOutput(f"batch {batch_id}: resultsMimeType must be a non-empty string, got {mime!r}")
    nresults = output.get("nresults")
    if nresults is not None and (isinstance(nresults, bool) or not isinstance(nresults, int)):
        raise InvalidWorkerOutput(f"batch {batch_id}: nresults must be an integer, got {nresults!r}")
    if "resultsS3Uri" in output:
        uri = output["resultsS3Uri"]
        if not isinstance(uri, str) or not uri.startswith("s3://") or "/" not in uri[5:]:
            raise InvalidWorkerOutput(f"batch {batch_id}: resultsS3Uri must look like s3://bucket/key, got {uri!r}")
        return _Shape(None, nresults if nresults is not None else 0, mime, uri)
    results = output["results"]
    if mime != JSON_MIME_TYPE and not isinstance(results, str):
        raise InvalidWorkerOutput(
            f"batch {batch_id}: results of type {mime} must be a string, got {type(results).__name__}"
        )
    if nresults is None:
        nresults = len(results) if isinstance(results, list) else 1
    return _Shape(results, nresults, mime, None)


def parse_row(item: dict[str, Any], s3: Any) -> BatchResult:
    """A succeeded batch's row as a BatchResult (S3-stored results fetched). Raises InvalidWorkerOutput."""
    record = decode_record(item)
    raw_output = item.get("output", {}).get("S")
    try:
        output = json.loads(raw_output) if raw_output is not None else None
    except ValueError as exc:
        raise InvalidWorkerOutput(f"batch {record.batch_id}: the recorded output is not JSON: {exc}") from None
    shape = _shape(record.batch_id, _row_attributes(item) if output is None else output)
    results = shape.results
    if shape.s3_uri is not None:
        bucket, key = split_s3_uri(shape.s3_uri)
        results = decode(s3.get_object(Bucket=bucket, Key=key)["Body"].read(), shape.mime_type)
    return BatchResult(
        batch_id=record.batch_id,
        results=results,
        nresults=shape.nresults,
        mime_type=shape.mime_type,
        started_at=record.started_at,
        ended_at=record.ended_at,
        results_s3_uri=shape.s3_uri,
    )
