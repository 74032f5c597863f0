"""Worker: the squares of the batch's indices, with faults chosen by jobParameters.

jobParameters:
  failBatches: [batchId, ...]        raise ValueError in these batches
  sleepSecs: float                   sleep this long in every batch
  hangOnFirstAttempt: [batchId, ...] sleep past the function timeout on attempt 0 of these batches
  largeResultBytes: int              write a result of about this many bytes to S3 and return a pointer
  failOnFirstRun: [batchId, ...]     raise in these batches the first time they run (for redrive)
  inlineResultBytes: {batchId: n}    return n / 2 zeros inline, about n bytes (past the state limit:
                                     the batch fails with States.DataLimitExceeded)
Every invocation leaves a marker object so tests can count invocations per batch, and prints
"testbed worker: job <jobId> batch <batchId> attempt <attempt>" to its log.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3


def large_result(batch_id: int, size: int) -> list[str]:
    line = f"batch {batch_id} " + "x" * 990
    return [f"{i:08d} {line}" for i in range(size // 1000 + 1)]


def handler(event: dict[str, Any], context: Any) -> Any:
    params = event["jobParameters"]
    batch_id = event["batchId"]
    # the batch's own line in its worker's logs (tests/e2e/test_logs.py)
    print(f"testbed worker: job {event['jobId']} batch {batch_id} attempt {event['attempt']}")
    s3 = boto3.client("s3")
    bucket = event["resultsBucket"]
    s3.put_object(
        Bucket=bucket,
        Key=f"results/{event['jobId']}/invocations/{batch_id}/{uuid.uuid4()}",
        Body=json.dumps({"attempt": event["attempt"], "at": time.time()}).encode(),
    )
    if batch_id in params.get("hangOnFirstAttempt", []) and event["attempt"] == 0:
        time.sleep(600)
    time.sleep(float(params.get("sleepSecs", 0)))
    if batch_id in params.get("failOnFirstRun", []):
        marker = f"results/{event['jobId']}/failed-once/{batch_id}"
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=marker).get("KeyCount", 0)
        if not listed:
            s3.put_object(Bucket=bucket, Key=marker, Body=b"")
            raise RuntimeError(f"first run of batch {batch_id} fails")
    if batch_id in params.get("failBatches", []):
        raise ValueError(f"injected failure in batch {batch_id}")
    inline = params.get("inlineResultBytes", {}).get(str(batch_id))
    if inline:
        return {"results": [0] * (int(inline) // 2)}
    if params.get("largeResultBytes"):
        body = json.dumps(large_result(batch_id, int(params["largeResultBytes"]))).encode()
        key = f"results/{event['jobId']}/{batch_id}.json"
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
        return {"resultsS3Uri": f"s3://{bucket}/{key}", "nresults": 1}
    return {"results": [i * i for i in range(event["startIndex"], event["endIndex"])]}
