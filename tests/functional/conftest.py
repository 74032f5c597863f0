"""moto-backed resources shaped like the deployed stack, and the handlers wired to them.

Rows are written the way the job lifecycle writes them: :class:`Rows` runs the row-writing states of
step-functions.yml (RecordResult, RecordFailure, Defer) in moto's state machine interpreter.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from burst_client.cost import load_definition
from burst_client.local import moto_patches as workarounds
from burst_core import runtime
from burst_core.persistence import TasksTable
from tests.local.support import create_function, create_tasks_table, make_zip

TABLE = "janelia-burst-compute-test-tasks"
BUCKET = "janelia-burst-compute-test-mapjobsinputs"
STATE_MACHINE = "janelia-burst-compute-test-lifecycle"
PREFIX = "janelia-burst-compute-test"
WORKER = "janelia-worker"  # timeout 60 s: EXPRESS children
SLOW_WORKER = "janelia-slow-worker"  # timeout 900 s: STANDARD children
COMBINER = "janelia-combiner"
TTL = 1_900_000_000
REQUEST_ID = "8f507cfc-2b4d-4697-b07a-ac58fc914c95"  # of the worker's invocation (ExecuteBatch's ResultSelector)
ECHO = make_zip({"h.py": "def handler(event, context):\n    return event\n"})

# A stand-in definition: functional tests only check what dispatch starts (it runs until stopped).
WAIT_DEFINITION = json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}})


def _row_writer_definition() -> str:
    child = load_definition()["States"]["MapJobs"]["ItemProcessor"]["States"]
    states = {name: child[name] for name in ("RecordResult", "RecordFailure", "BatchFailed", "Defer", "NotRecorded")}
    states["Write"] = {
        "Type": "Choice",
        "Choices": [
            {"Variable": "$.kind", "StringEquals": "failed", "Next": "RecordFailure"},
            {"Variable": "$.kind", "StringEquals": "deferred", "Next": "Defer"},
        ],
        "Default": "RecordResult",
    }
    return json.dumps({"StartAt": "Write", "States": states})


@dataclass
class Stack:
    dynamodb: Any
    s3: Any
    sfn: Any
    lambda_client: Any
    state_machine_arn: str
    express_state_machine_arn: str
    row_writer_arn: str

    def executions(self) -> list[dict[str, Any]]:
        """Every execution of both lifecycle state machines."""
        return [
            execution
            for arn in (self.state_machine_arn, self.express_state_machine_arn)
            for execution in self.sfn.list_executions(stateMachineArn=arn)["executions"]
        ]

    def rows(self, job_id: str) -> list[dict[str, Any]]:
        """The job's rows as DynamoDB items, as the state machine wrote them."""
        return list(TasksTable(self.dynamodb, TABLE).items(job_id))

    def keys(self, prefix: str = "") -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return [obj["Key"] for obj in listed.get("Contents", [])]

    def _write(self, job_id: str, batch_id: int, kind: str, **state: Any) -> str:
        """Run the state machine's row write for one batch; returns the execution's status."""
        execution = self.sfn.start_execution(
            stateMachineArn=self.row_writer_arn,
            input=json.dumps(
                {
                    "kind": kind,
                    "jobId": job_id,
                    "batchId": batch_id,
                    "tasksTableName": TABLE,
                    "rowTtl": str(TTL),
                    "retry": {"attempt": state.pop("attempt", 0)},
                    **state,
                }
            ),
        )
        deadline = time.monotonic() + 30
        while (status := self.sfn.describe_execution(executionArn=execution["executionArn"])["status"]) == "RUNNING":
            assert time.monotonic() < deadline, "the row write did not end"
            time.sleep(0.005)
        return str(status)

    def succeed(self, job_id: str, batch_id: int, output: Any, **state: Any) -> None:
        """A batch whose worker returned ``output``."""
        worker = {"output": output, "startedAt": "2026-01-01T00:00:00.000Z", "requestId": REQUEST_ID}
        assert self._write(job_id, batch_id, "succeeded", worker=worker, **state) == "SUCCEEDED"

    def fail(self, job_id: str, batch_id: int, error: str, cause: str) -> None:
        """A batch whose worker failed for good (its child workflow then fails)."""
        assert self._write(job_id, batch_id, "failed", failure={"Error": error, "Cause": cause}) == "FAILED"

    def defer(self, job_id: str, batch_id: int) -> None:
        """A batch still throttled when its retries ran out."""
        failure = {"Error": "Lambda.TooManyRequestsException", "Cause": "Rate Exceeded."}
        assert self._write(job_id, batch_id, "deferred", failure=failure) == "SUCCEEDED"


@pytest.fixture
def stack(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with (
        workarounds.applied("entered-time-format", "execution-name-defaults-to-uuid", "execution-start-time-string"),
        mock_aws(config={"stepfunctions": {"execute_state_machine": True}}),
    ):
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_tasks_table(dynamodb, TABLE)
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lambda_client = boto3.client("lambda", region_name="us-east-1")
        for name, timeout in ((WORKER, 60), (SLOW_WORKER, 900), (COMBINER, 300), (f"{PREFIX}-dispatch", 300)):
            create_function(lambda_client, iam, name, ECHO, Timeout=timeout)
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(name=STATE_MACHINE, definition=WAIT_DEFINITION, roleArn=role)["stateMachineArn"]
        express = sfn.create_state_machine(name=f"{STATE_MACHINE}-express", definition=WAIT_DEFINITION, roleArn=role)
        writer = sfn.create_state_machine(name="row-writer", definition=_row_writer_definition(), roleArn=role)
        monkeypatch.setenv("TASKS_TABLE_NAME", TABLE)
        monkeypatch.setenv("BATCH_INPUTS_BUCKET", BUCKET)
        monkeypatch.setenv("STATE_MACHINE_ARN", arn)
        monkeypatch.setenv("EXPRESS_STATE_MACHINE_ARN", express["stateMachineArn"])
        monkeypatch.setenv("MAX_PARALLELISM", "5000")
        monkeypatch.setenv("MAX_BATCHED_JOBS_ITERATIONS", "2")
        monkeypatch.setenv("DEFAULT_JOBS_TIMEOUT_SECS", "900")
        monkeypatch.setenv("RESULTS_TTL_DAYS", "7")
        monkeypatch.setenv("BURST_STACK_PREFIX", PREFIX)
        monkeypatch.setenv("WORKER_FUNCTION_PATTERN", "janelia-*")
        runtime.client.cache_clear()
        runtime.settings.cache_clear()
        stack = Stack(dynamodb, s3, sfn, lambda_client, arn, express["stateMachineArn"], writer["stateMachineArn"])
        yield stack
        for execution in stack.executions():
            if execution["status"] == "RUNNING":
                sfn.stop_execution(executionArn=execution["executionArn"])
        runtime.client.cache_clear()
        runtime.settings.cache_clear()
