"""Reading every result of a 10,000-batch job: Job.results() beside one sequential paginated Query.

Both read the same 10,000 rows (about 1 KB of results each) from the local endpoint (moto's
DynamoDB behind HTTP on 127.0.0.1) in the same run, with consistent reads and JSON parsing of each
row's output. Job.results() reads the rows page by page and fetches up to `parallelism` S3-stored
results ahead (none here: every result is in its row).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from bench.common import write_result
from burst_client.aws import Clients
from burst_client.endpoint_process import EndpointProcess, free_port
from burst_client.sdk import BurstClient, Job, Stack
from burst_core.persistence import RESULT_ATTRIBUTES, TasksTable

NUM_BATCHES = 10_000
TABLE, BUCKET, JOB = "bench-tasks", "bench-results", "bench-job"
REPEATS = 3


def _populate(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "jobId", "AttributeType": "S"},
            {"AttributeName": "batchId", "AttributeType": "N"},
        ],
        KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}, {"AttributeName": "batchId", "KeyType": "RANGE"}],
    )
    for first in range(0, NUM_BATCHES, 25):
        items = [
            {
                "PutRequest": {
                    "Item": {
                        "jobId": {"S": JOB},
                        "batchId": {"N": str(b)},
                        "status": {"S": "succeeded"},
                        # as the state machine writes it: the worker's output as a JSON string
                        "output": {"S": json.dumps({"results": list(range(b, b + 150)), "nresults": 150})},
                    }
                }
            }
            for b in range(first, min(first + 25, NUM_BATCHES))
        ]
        dynamodb.batch_write_item(RequestItems={TABLE: items})


def _sequential(dynamodb: Any) -> int:
    records = TasksTable(dynamodb, TABLE).records(JOB, attributes=RESULT_ATTRIBUTES)
    return sum(len(json.loads(str(record.output))["results"]) for record in records)


def run() -> dict[str, Any]:
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    log = Path(tempfile.mkdtemp()) / "endpoint.log"
    with EndpointProcess(free_port(), log) as url:
        dynamodb = boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1")
        _populate(dynamodb)
        client = BurstClient("bench", "bench", clients=Clients(endpoint_url=url))
        client.__dict__["stack"] = Stack(
            "bench", TABLE, BUCKET, "arn:aws:states:us-east-1:1:stateMachine:x", "", "", ""
        )
        job = Job(client, JOB, "arn:aws:states:us-east-1:1:execution:x:bench-job")
        job.__dict__["input"] = {"numBatches": NUM_BATCHES}
        expected = NUM_BATCHES * 150
        timings: dict[str, list[float]] = {"sequential": []}
        variants = [1, 4, 16]
        for parallelism in variants:
            timings[f"results(parallelism={parallelism})"] = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            assert _sequential(dynamodb) == expected
            timings["sequential"].append(time.perf_counter() - started)
            for parallelism in variants:
                started = time.perf_counter()
                assert sum(len(r.results) for r in job.results(parallelism=parallelism)) == expected
                timings[f"results(parallelism={parallelism})"].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    base = medians["sequential"]
    table = [
        {"reader": name, "median s": round(value, 3), "ratio to sequential Query": round(value / base, 2)}
        for name, value in medians.items()
    ]
    write_result(
        "results_read",
        {"description": __doc__, "numBatches": NUM_BATCHES, "timings": timings, "medians": medians},
        table,
    )
    return medians


if __name__ == "__main__":
    run()
