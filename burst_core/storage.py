"""JSON objects in S3, as the framework stores them: one encoding, its size, one write and one read.

Everything the framework and its helpers store as JSON (batch files, summaries, failure lists, results
too large for a state, a combiner's large result) is compact JSON (no spaces) of type
``application/json``. Sizes that decide what fits in a Step Functions state are sizes of that encoding
(:func:`json_size`), so a value is measured as it will be stored.
"""

from __future__ import annotations

import json
from typing import Any

JSON_MIME_TYPE = "application/json"


def encode_json(value: Any, *, allow_nan: bool = True) -> bytes:
    """``value`` as compact JSON (UTF-8), as it is stored and measured (``allow_nan=False``: strict JSON,
    ValueError for NaN and infinities)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=allow_nan).encode()


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON."""
    return len(encode_json(value))


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of an ``s3://bucket/key`` URI."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def put_json(s3: Any, bucket: str, key: str, body: bytes) -> str:
    """Store ``body`` (JSON, e.g. from :func:`encode_json`) at ``key`` of ``bucket``; returns its s3:// URI.
    The S3 client's errors propagate."""
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=JSON_MIME_TYPE)
    return s3_uri(bucket, key)


def read_s3_object(s3: Any, uri: str) -> bytes:
    bucket, key = split_s3_uri(uri)
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def read_s3_json(s3: Any, uri: str) -> Any:
    """The JSON value stored at an s3:// URI."""
    return json.loads(read_s3_object(s3, uri))
