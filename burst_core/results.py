"""A succeeded batch's results, read back from its record: shared by combiners and the client SDK.

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

Records come from :class:`burst_core.persistence.TasksTable` (read with RESULT_ATTRIBUTES);
:func:`batch_results` reads a stream of them in bounded memory.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from burst_core.exceptions import InvalidWorkerOutput
from burst_core.persistence import BatchRecord, BatchStatus
from burst_core.storage import JSON_MIME_TYPE, read_s3_object


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


@dataclass(frozen=True)
class _Shape:
    results: Any
    nresults: int
    mime_type: str
    s3_uri: str | None


def _own_row_output(record: BatchRecord) -> dict[str, Any]:
    """The results attributes an original-contract worker wrote into its row, as a worker output."""
    out: dict[str, Any] = {}
    if record.results_mime_type is not None:
        out["resultsMimeType"] = record.results_mime_type
    if record.results_s3_uri is not None:
        out["resultsS3Uri"] = record.results_s3_uri
    if record.nresults is not None:
        out["nresults"] = record.nresults
    if isinstance(record.results, str):
        out["results"] = decode(record.results, out.get("resultsMimeType", JSON_MIME_TYPE))
    elif record.results is not None:
        out["results"] = record.results  # another DynamoDB type: its typed value, as it is
    if "results" not in out and "resultsS3Uri" not in out:
        out["results"] = None
    return out


def _shape_of(batch_id: int, output: Any) -> _Shape:
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


def _shape(record: BatchRecord) -> _Shape:
    try:
        output = json.loads(record.output) if record.output is not None else None
    except ValueError as exc:
        raise InvalidWorkerOutput(f"batch {record.batch_id}: the recorded output is not JSON: {exc}") from None
    return _shape_of(record.batch_id, _own_row_output(record) if output is None else output)


def _result(record: BatchRecord, shape: _Shape, results: Any) -> BatchResult:
    return BatchResult(
        batch_id=record.batch_id,
        results=results,
        nresults=shape.nresults,
        mime_type=shape.mime_type,
        started_at=record.started_at,
        ended_at=record.ended_at,
        results_s3_uri=shape.s3_uri,
    )


def _fetched(s3: Any, shape: _Shape) -> Any:
    return decode(read_s3_object(s3, str(shape.s3_uri)), shape.mime_type)


def results_location(record: BatchRecord) -> str | None:
    """Where a succeeded batch's results were stored when not in its row (nothing is fetched). Raises
    InvalidWorkerOutput."""
    return _shape(record).s3_uri


def batch_result(record: BatchRecord, s3: Any) -> BatchResult:
    """A succeeded batch's record as a BatchResult (S3-stored results fetched). Raises InvalidWorkerOutput."""
    shape = _shape(record)
    return _result(record, shape, shape.results if shape.s3_uri is None else _fetched(s3, shape))


def _pending(record: BatchRecord, s3: Any, pool: ThreadPoolExecutor) -> Callable[[], BatchResult]:
    """The result of ``record`` when it is asked for: an S3-stored one is fetched from now on, in ``pool``."""
    try:
        shape = _shape(record)
    except InvalidWorkerOutput as exc:
        error = exc

        def fail() -> BatchResult:
            raise error

        return fail
    if shape.s3_uri is None:
        result = _result(record, shape, shape.results)
        return lambda: result
    fetching = pool.submit(_fetched, s3, shape)
    return lambda: _result(record, shape, fetching.result())


def batch_results(records: Iterable[BatchRecord], s3: Any, *, read_ahead: int = 0) -> Iterator[BatchResult]:
    """The results of the succeeded ``records``, in their order, read as they are iterated (InvalidWorkerOutput
    for an output of an unknown shape, naming the batch, when its turn comes).

    With ``read_ahead`` > 0, up to that many records beyond the one yielded are taken in advance and their
    S3-stored results fetched meanwhile, in as many threads; otherwise each is fetched in turn. Either way what
    is held at once is bounded: the records' source (a page of rows) and ``read_ahead`` + 1 results."""
    succeeded = (record for record in records if record.status is BatchStatus.SUCCEEDED)
    if read_ahead <= 0:
        for record in succeeded:
            yield batch_result(record, s3)
        return
    pool = ThreadPoolExecutor(max_workers=read_ahead, thread_name_prefix="batch-results")
    window: deque[Callable[[], BatchResult]] = deque()
    try:
        for record in succeeded:
            window.append(_pending(record, s3, pool))
            if len(window) > read_ahead:
                yield window.popleft()()
        while window:
            yield window.popleft()()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
