"""Worker: score the batch's images and return its best matches (docs/Interfaces.md)."""

from __future__ import annotations

import json
from typing import Any

import boto3

from mask_search.imaging import search

# Step Functions passes at most 256 KiB from a worker to the persist step: larger results are
# written to the framework's bucket and returned as a pointer.
INLINE_LIMIT_BYTES = 200 * 1024


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    params = event["jobParameters"]
    matches = search(
        event["startIndex"],
        event["endIndex"],
        params["mask"],
        int(params.get("topK", 10)),
        float(params.get("threshold", 0.0)),
    )
    body = json.dumps(matches, separators=(",", ":"))
    if len(body) <= INLINE_LIMIT_BYTES:
        return {"results": matches, "nresults": len(matches)}
    key = f"results/{event['jobId']}/{event['batchId']}.json"
    boto3.client("s3").put_object(
        Bucket=event["resultsBucket"], Key=key, Body=body.encode(), ContentType="application/json"
    )
    return {"resultsS3Uri": f"s3://{event['resultsBucket']}/{key}", "nresults": len(matches)}
