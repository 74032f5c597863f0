"""A distributed Map over an S3 JSON file whose children call a deployed Lambda function, on the endpoint.

The definition uses what the service's job lifecycle uses: ItemReader (S3 JSON), ItemSelector with
$$.Map.Item.Value, MaxConcurrencyPath, an integer ToleratedFailurePercentage, ResultWriter, Choice on
$$.State.EnteredTime timestamps, lambda:invoke with FunctionName.$, Catch, States.MathAdd,
States.ArrayGetItem, States.MathRandom, States.Format, States.JsonToString, Wait SecondsPath, and Fail with
ErrorPath/CausePath.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.local.support import (
    FIXTURE_SERVICE,
    Endpoint,
    create_function,
    lifecycle_child_states,
    make_zip,
    start_endpoint,
)

BUCKET = "burst-local-sfn-tests"
ROLE = "arn:aws:iam::123456789012:role/burst-local-sfn"
LAMBDA_ERRORS_TO_RETRY = ["Lambda.TooManyRequestsException", "Sandbox.Timedout", "ValueError"]
# waits of States.MathRandom(1, 2) = 1 s; at most 3 attempts
RETRY = {"attempt": 0, "failures": 0, "caps": [2, 2], "ramp": 2, "maxCap": 2, "maxAttempts": 3, "maxFailures": 3}


def lifecycle_definition() -> dict[str, Any]:
    child = {
        "StartAt": "BeforeDeadline",
        "States": {
            # the deadline guard and the retry loop as the service defines them
            **lifecycle_child_states(
                "BeforeDeadline",
                "PastDeadline",
                "RetryThrottled",
                "ThrottledGate",
                "RetryFailed",
                "FailedGate",
                "RampWait",
                "SteadyWait",
                "Backoff",
            ),
            "ExecuteBatch": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName.$": "$.workerFunctionName",
                    "Payload": {
                        "action": "record",
                        "item.$": "$.item",
                        "seconds.$": "$.seconds",
                        "failAttempts.$": "$.failAttempts",
                        "attempt.$": "$.retry.attempt",
                        "bucket.$": "$.bucket",
                        "prefix.$": "$.prefix",
                        "label.$": "States.Format('item-{}', $.item)",
                        "retryJson.$": "States.JsonToString($.retry)",
                    },
                },
                "ResultSelector": {"output.$": "$.Payload"},
                "ResultPath": "$.worker",
                "Catch": [
                    {"ErrorEquals": LAMBDA_ERRORS_TO_RETRY, "ResultPath": "$.failure", "Next": "RetryFailed"},
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "RecordFailure"},
                ],
                "End": True,
            },
            # where the service writes the batch's row
            "RecordFailure": {"Type": "Pass", "End": True},
            "Defer": {"Type": "Pass", "End": True},
        },
    }
    return {
        "StartAt": "MapJobs",
        "States": {
            "MapJobs": {
                "Type": "Map",
                "Label": "Batches",
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "JSON"},
                    "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.itemsKey"},
                },
                "ItemSelector": {
                    "item.$": "$$.Map.Item.Value.item",
                    "seconds.$": "$$.Map.Item.Value.seconds",
                    "failAttempts.$": "$$.Map.Item.Value.failAttempts",
                    "workerFunctionName.$": "$.workerFunctionName",
                    "deadline.$": "$.deadline",
                    "bucket.$": "$.bucket",
                    "prefix.$": "$.prefix",
                    "retry": RETRY,
                },
                "MaxConcurrencyPath": "$.maxParallelism",
                "ToleratedFailurePercentage": 100,
                "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, **child},
                "ResultWriter": {
                    "Resource": "arn:aws:states:::s3:putObject",
                    "Parameters": {"Bucket.$": "$.bucket", "Prefix.$": "States.Format('{}/mapruns', $.prefix)"},
                },
                "ResultPath": "$.mapRun",
                "Next": "CheckForErrors",
            },
            "CheckForErrors": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "JobFailed"}],
                "Default": "JobSucceeded",
            },
            "JobSucceeded": {"Type": "Succeed"},
            "JobFailed": {"Type": "Fail", "ErrorPath": "$.error", "CausePath": "$.message"},
        },
    }


def wait_for(sfn: Any, execution_arn: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (described := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{execution_arn} still running after {timeout} s"
        time.sleep(0.1)
    return dict(described)


def fixture_code() -> bytes:
    handlers = FIXTURE_SERVICE / "handlers"
    return make_zip({f"handlers/{p.name}": p.read_text() for p in handlers.glob("*.py")})


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


@pytest.fixture(scope="module")
def lifecycle(endpoint: Endpoint) -> dict[str, str]:
    s3, sfn = endpoint.client("s3"), endpoint.client("stepfunctions")
    s3.create_bucket(Bucket=BUCKET)
    worker = create_function(
        endpoint.client("lambda"), endpoint.client("iam"), "burst-local-sfn-worker", fixture_code(),
        handler="handlers/fixture.handler", Timeout=10,
    )  # fmt: skip
    machine = sfn.create_state_machine(
        name="burst-local-sfn-lifecycle", definition=json.dumps(lifecycle_definition()), roleArn=ROLE
    )
    return {"worker": worker, "stateMachineArn": machine["stateMachineArn"]}


def start(endpoint: Endpoint, lifecycle: dict[str, str], prefix: str, items: list[dict[str, Any]], **extra: Any) -> str:
    endpoint.client("s3").put_object(Bucket=BUCKET, Key=f"{prefix}/items.json", Body=json.dumps(items).encode())
    execution_input = {
        "bucket": BUCKET,
        "itemsKey": f"{prefix}/items.json",
        "prefix": prefix,
        "workerFunctionName": lifecycle["worker"],
        "deadline": "2099-01-01T00:00:00Z",
        "maxParallelism": 4,
        "fail": False,
        **extra,
    }
    started = endpoint.client("stepfunctions").start_execution(
        stateMachineArn=lifecycle["stateMachineArn"], input=json.dumps(execution_input)
    )
    return str(started["executionArn"])


def records(endpoint: Endpoint, prefix: str) -> dict[int, dict[str, Any]]:
    s3 = endpoint.client("s3")
    found = {}
    for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/").get("Contents", []):
        if obj["Key"].endswith("items.json") or "/mapruns/" in obj["Key"]:
            continue
        record = json.loads(s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
        found[record["event"]["item"]] = record
    return found


def test_distributed_map_runs_children_concurrently(endpoint: Endpoint, lifecycle: dict[str, str]) -> None:
    items = [{"item": i, "seconds": 1.0, "failAttempts": 0} for i in range(8)]
    items[5]["failAttempts"] = 1  # fails once, caught, retried after a Wait of States.MathRandom(1, 2) s

    started = time.monotonic()
    execution_arn = start(endpoint, lifecycle, "concurrent", items)
    described = wait_for(endpoint.client("stepfunctions"), execution_arn)
    elapsed = time.monotonic() - started

    assert described["status"] == "SUCCEEDED", described
    assert not execution_arn.endswith(":None")
    done = records(endpoint, "concurrent")
    assert sorted(done) == list(range(8))
    endpoint.seen_pids.update(record["pid"] for record in done.values())
    overlap = max_overlap([(r["started"], r["ended"]) for r in done.values()])
    assert 3 <= overlap <= 4, f"{overlap} batches ran at once with MaxConcurrency 4"
    assert elapsed < 8 * 1.0  # not one after the other
    assert done[5]["event"]["attempt"] == 1
    assert done[2]["event"]["label"] == "item-2"
    assert json.loads(done[2]["event"]["retryJson"]) == RETRY
    map_run = json.loads(described["output"])["mapRun"]
    manifest_key = map_run["ResultWriterDetails"]["Key"]
    assert manifest_key.startswith("concurrent/mapruns/")
    manifest = json.loads(endpoint.client("s3").get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read())
    assert manifest["MapRunArn"] == map_run["MapRunArn"]


def test_past_deadline_items_skip_the_lambda(endpoint: Endpoint, lifecycle: dict[str, str]) -> None:
    items = [{"item": i, "seconds": 0, "failAttempts": 0} for i in range(3)]

    execution_arn = start(endpoint, lifecycle, "late", items, deadline="2000-01-01T00:00:00Z")
    described = wait_for(endpoint.client("stepfunctions"), execution_arn)

    assert described["status"] == "SUCCEEDED", described
    assert records(endpoint, "late") == {}


def test_fail_state_takes_error_and_cause_from_paths(endpoint: Endpoint, lifecycle: dict[str, str]) -> None:
    items = [{"item": 0, "seconds": 0, "failAttempts": 0}]

    execution_arn = start(endpoint, lifecycle, "failing", items, fail=True, error="Burst.Failed", message="2 of 3")
    described = wait_for(endpoint.client("stepfunctions"), execution_arn)

    assert described["status"] == "FAILED"
    assert (described["error"], described["cause"]) == ("Burst.Failed", "2 of 3")


def test_throttled_children_see_lambda_too_many_requests(tmp_path: Path) -> None:
    """With --concurrency 2, a Map of 6 children at once: some invocations are throttled (and caught)."""
    endpoint = start_endpoint(tmp_path / "console.log", "--concurrency", "2")
    try:
        sfn = endpoint.client("stepfunctions")
        worker = create_function(
            endpoint.client("lambda"), endpoint.client("iam"), "throttled-worker",
            make_zip({"h.py": "import time\n\ndef handler(event, context):\n    time.sleep(1)\n    return 1\n"}),
        )  # fmt: skip
        definition = {
            "StartAt": "Map",
            "States": {
                "Map": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                        "StartAt": "Call",
                        "States": {
                            "Call": {
                                "Type": "Task",
                                "Resource": "arn:aws:states:::lambda:invoke",
                                "Parameters": {"FunctionName": worker, "Payload": {}},
                                "ResultSelector": {"ok.$": "$.Payload"},
                                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Throttled"}],
                                "End": True,
                            },
                            "Throttled": {"Type": "Pass", "End": True},
                        },
                    },
                    "End": True,
                }
            },
        }
        arn = sfn.create_state_machine(name="throttled", definition=json.dumps(definition), roleArn=ROLE)
        execution = sfn.start_execution(
            stateMachineArn=arn["stateMachineArn"], input=json.dumps({"items": list(range(6))})
        )
        described = wait_for(sfn, execution["executionArn"])

        assert described["status"] == "SUCCEEDED", described
        outputs = json.loads(described["output"])
        succeeded = [o for o in outputs if "ok" in o]
        throttled = [o for o in outputs if "Error" in o]
        assert 2 <= len(succeeded) < 6
        assert throttled
        assert {o["Error"] for o in throttled} == {"Lambda.TooManyRequestsException"}
        assert "Rate Exceeded." in throttled[0]["Cause"]
    finally:
        assert endpoint.stop() == 0
