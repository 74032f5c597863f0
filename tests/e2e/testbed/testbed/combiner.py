"""Combiner: sum of all squares; saves its own input so tests can inspect it."""

from __future__ import annotations

import json
from typing import Any

import boto3


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    s3 = boto3.client("s3")
    s3.put_object(
        Bucket=event["resultsBucket"],
        Key=f"results/{event['jobId']}/combiner-input.json",
        Body=json.dumps(event).encode(),
    )
    dynamodb = boto3.client("dynamodb")
    request: dict[str, Any] = {
        "TableName": event["tasksTableName"],
        "KeyConditionExpression": "jobId = :j",
        "ExpressionAttributeValues": {":j": {"S": event["jobId"]}},
        "ConsistentRead": True,
    }
    total, batches = 0, []
    while True:
        page = dynamodb.query(**request)
        for item in page["Items"]:
            output = json.loads(item["output"]["S"]) if "output" in item else None
            if item["status"]["S"] == "succeeded" and isinstance(output, dict) and "results" in output:
                total += sum(output["results"])
                batches.append(int(item["batchId"]["N"]))
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return {"sum": total, "batches": sorted(batches), "status": event["status"]}
