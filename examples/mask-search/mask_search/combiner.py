"""Combiner: merge every batch's matches into the job's top K (docs/Interfaces.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3

from mask_search.imaging import top_k


def batch_results(table: str, job_id: str) -> Iterator[Any]:
    """Every succeeded batch's results, reading S3 for the ones stored there."""
    dynamodb, s3 = boto3.client("dynamodb"), boto3.client("s3")
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "jobId = :j",
        "ExpressionAttributeValues": {":j": {"S": job_id}},
        "ConsistentRead": True,
    }
    while True:
        page = dynamodb.query(**request)
        for item in page["Items"]:
            if item.get("status", {}).get("S") == "failed":
                continue
            if "resultsS3Uri" in item:
                bucket, key = item["resultsS3Uri"]["S"][5:].split("/", 1)
                yield json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            elif "results" in item:
                yield json.loads(item["results"]["S"])
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    k = int(event["jobParameters"].get("topK", 10))
    matches = (m for results in batch_results(event["tasksTableName"], event["jobId"]) for m in results)
    return {
        "status": event["status"],
        "matches": top_k(matches, k),
        "searched": event["datasetEndIndex"] - event["datasetStartIndex"],
        "succeededBatches": event["succeededBatches"],
        "failedBatches": [f["batchId"] for f in event["failedBatches"]],
        "timedOut": event["timedOut"],
    }
