"""moto-backed resources shaped like the deployed stack, and the handlers wired to them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from burst_core import runtime

TABLE = "janelia-burst-compute-test-tasks"
BUCKET = "janelia-burst-compute-test-mapjobsinputs"
STATE_MACHINE = "janelia-burst-compute-test-lifecycle"

# A stand-in definition: functional tests only check that dispatch starts an execution.
WAIT_DEFINITION = json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Pass", "End": True}}})


@dataclass
class Stack:
    dynamodb: Any
    s3: Any
    sfn: Any
    state_machine_arn: str

    def rows(self, job_id: str) -> list[dict[str, Any]]:
        out = self.dynamodb.query(
            TableName=TABLE,
            KeyConditionExpression="jobId = :j",
            ExpressionAttributeValues={":j": {"S": job_id}},
            ConsistentRead=True,
        )
        return list(out["Items"])

    def keys(self, prefix: str = "") -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return [obj["Key"] for obj in listed.get("Contents", [])]


@pytest.fixture
def stack(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=TABLE,
            AttributeDefinitions=[
                {"AttributeName": "jobId", "AttributeType": "S"},
                {"AttributeName": "batchId", "AttributeType": "N"},
            ],
            KeySchema=[{"AttributeName": "jobId", "KeyType": "HASH"}, {"AttributeName": "batchId", "KeyType": "RANGE"}],
            BillingMode="PAY_PER_REQUEST",
        )
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(name=STATE_MACHINE, definition=WAIT_DEFINITION, roleArn=role)["stateMachineArn"]
        monkeypatch.setenv("TASKS_TABLE_NAME", TABLE)
        monkeypatch.setenv("BATCH_INPUTS_BUCKET", BUCKET)
        monkeypatch.setenv("STATE_MACHINE_ARN", arn)
        monkeypatch.setenv("MAX_PARALLELISM", "5000")
        monkeypatch.setenv("MAX_BATCHED_JOBS_ITERATIONS", "2")
        monkeypatch.setenv("DEFAULT_JOBS_TIMEOUT_SECS", "900")
        monkeypatch.setenv("RESULTS_TTL_DAYS", "7")
        runtime.client.cache_clear()
        runtime.settings.cache_clear()
        yield Stack(dynamodb, s3, sfn, arn)
        runtime.client.cache_clear()
        runtime.settings.cache_clear()
