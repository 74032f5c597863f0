"""Every JSON example of docs/Interfaces.md against the code and the state machine definition."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from burst_client.cost import load_definition
from burst_core.exceptions import BurstError
from burst_core.job import parse_job_request
from burst_core.monitor import summarize
from burst_core.persistence import BatchRecord, BatchStatus
from burst_core.results import parse_row
from tests.conftest import ROOT

DOC = (ROOT / "docs" / "Interfaces.md").read_text()
EXAMPLES: dict[str, Any] = {
    name: json.loads(body)
    for name, body in re.findall(r"<!-- example: ([\w-]+) -->\n```json\n(.*?)\n```", DOC, flags=re.S)
}


def lifecycle_states() -> dict[str, Any]:
    states = dict(load_definition()["States"])
    states.update(states["MapJobs"]["ItemProcessor"]["States"])
    return states


def payload_keys(state: dict[str, Any]) -> set[str]:
    return {key.removesuffix(".$") for key in state["Parameters"]["Payload"]}


def test_every_example_is_found_and_parsed():
    assert len(re.findall(r"<!-- example:", DOC)) == len(EXAMPLES) >= 16


def test_dispatch_input_is_valid():
    request = parse_job_request(EXAMPLES["dispatch-input"])
    assert request.job_parameters == EXAMPLES["dispatch-input"]["jobParameters"]


def test_dispatch_output_matches_the_dispatcher(aws_env):
    import boto3
    from moto import mock_aws

    from burst_core.config import Settings
    from burst_core.dispatch import Dispatcher
    from tests.local.support import create_function, make_zip

    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="burst-doc-test")
        sfn = boto3.client("stepfunctions")
        iam = boto3.client("iam")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lambda_client = boto3.client("lambda")
        for field in ("workerFunctionName", "combinerFunctionName"):
            create_function(lambda_client, iam, EXAMPLES["dispatch-input"][field], make_zip({"h.py": ""}), Timeout=60)
        arn, express = (
            sfn.create_state_machine(
                name=name,
                definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
                roleArn=role,
            )["stateMachineArn"]
            for name in ("janelia-burst-compute-dev-lifecycle", "janelia-burst-compute-dev-lifecycle-express")
        )
        settings = Settings(
            "t", "burst-doc-test", arn, express_state_machine_arn=express, worker_function_pattern="janelia-*"
        )
        out = Dispatcher(settings, s3=s3, stepfunctions=sfn, lambda_client=lambda_client).dispatch(
            EXAMPLES["dispatch-input"]
        )
    example = EXAMPLES["dispatch-output"]
    assert set(out) == set(example)
    assert (out["numBatches"], out["batchSize"]) == (example["numBatches"], example["batchSize"])
    start = datetime.fromisoformat(out["startTime"].replace("Z", "+00:00"))
    deadline = datetime.fromisoformat(out["deadline"].replace("Z", "+00:00"))
    assert (deadline - start).total_seconds() == EXAMPLES["dispatch-input"]["jobsTimeoutSecs"]
    assert out["workflowArn"].endswith(":execution:janelia-burst-compute-dev-lifecycle-express:" + out["jobId"])
    assert (out["batchExecutionType"], out["maxParallelism"]) == (
        example["batchExecutionType"],
        example["maxParallelism"],
    )


def test_redrive_input_example_is_accepted_fields_only():
    from burst_core.dispatch import REDRIVE_FIELD

    assert set(EXAMPLES["redrive-input"]) == {REDRIVE_FIELD, "jobsTimeoutSecs"}


def test_dispatch_error_example():
    with pytest.raises(BurstError) as caught:
        parse_job_request(EXAMPLES["dispatch-error-input"])
    assert {"errorType": type(caught.value).__name__, "errorMessage": str(caught.value)} == EXAMPLES[
        "dispatch-error-output"
    ]


def test_worker_input_is_what_the_state_machine_sends():
    assert payload_keys(lifecycle_states()["ExecuteBatch"]) == set(EXAMPLES["worker-input"])


def _row(output: Any) -> dict[str, Any]:
    return {"batchId": {"N": "7"}, "status": {"S": "succeeded"}, "output": {"S": json.dumps(output)}}


class _S3:
    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        raise AssertionError("no S3 read expected")


@pytest.mark.parametrize(
    ("name", "mime", "nresults"),
    [
        ("worker-output-results", "application/json", 2),
        ("worker-output-plain", "application/json", 2),
        ("worker-output-text", "text/csv", 1),
    ],
)
def test_worker_outputs_read_back_as_results(name, mime, nresults):
    result = parse_row(_row(EXAMPLES[name]), _S3())
    assert (result.mime_type, result.nresults, result.results_s3_uri) == (mime, nresults, None)


def test_worker_output_pointer():
    class S3:
        def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
            assert f"s3://{Bucket}/{Key}" == EXAMPLES["worker-output-s3"]["resultsS3Uri"]
            return {"Body": __import__("io").BytesIO(b"[1]")}

    result = parse_row(_row(EXAMPLES["worker-output-s3"]), S3())
    assert (result.results, result.nresults) == ([1], 25000)


def test_batch_row_holds_what_the_state_machine_writes():
    row = EXAMPLES["batch-row"]
    record = lifecycle_states()["RecordResult"]["Parameters"]
    written = {"jobId", "batchId"} | set(record["ExpressionAttributeNames"].values()) - {"error", "cause"}
    assert set(row) == written  # error and cause are removed from a succeeded batch's row
    assert json.loads(row["output"]) == EXAMPLES["worker-output-results"]
    assert row["status"] == record["ExpressionAttributeValues"][":status"]["S"]


class _Table:
    def __init__(self, records: list[BatchRecord]) -> None:
        self._records = records

    def records(self, job_id: str) -> list[BatchRecord]:
        return self._records

    def put_json_object(self, key: str, value: Any) -> str:
        return f"s3://bucket/{key}"


class _NoMapRunReports:
    def failures(self, job_id: str) -> dict[int, Any]:
        return {}


def _summary_for(example: dict[str, Any], records: list[BatchRecord], now: datetime) -> dict[str, Any]:
    event = {
        "jobId": example["jobId"],
        "numBatches": example["numBatches"],
        "startTime": example["startTime"],
        "deadline": example["deadline"],
        "toleratedPercentageFailure": example["toleratedPercentageFailure"],
        "rowTtl": "1900000000",  # dispatch's, as Summarize passes it
    }
    return summarize(event, _Table(records), _NoMapRunReports(), now=lambda: now)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["combiner-input-succeeded", "combiner-input-timed-out"])
def test_combiner_input_is_what_the_state_machine_sends(name):
    states = lifecycle_states()
    assert payload_keys(states["Combine"]) == set(EXAMPLES[name])
    assert states["CombineError"]["Parameters"] == states["Combine"]["Parameters"]


def _succeeded_case() -> tuple[list[BatchRecord], datetime]:
    failed = EXAMPLES["combiner-input-succeeded"]["failedBatches"][0]
    records = [BatchRecord(i, BatchStatus.SUCCEEDED) for i in range(100) if i != failed["batchId"]]
    records.append(BatchRecord(failed["batchId"], BatchStatus.FAILED, failed["error"], failed["cause"]))
    return records, datetime(2026, 11, 24, 12, 0, 41, 300000, tzinfo=UTC)


def _timed_out_case() -> tuple[list[BatchRecord], datetime]:
    return [BatchRecord(i, BatchStatus.SUCCEEDED) for i in range(60)], datetime(
        2026, 11, 24, 12, 15, 5, 200000, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("name", "case"), [("combiner-input-succeeded", _succeeded_case), ("combiner-input-timed-out", _timed_out_case)]
)
def test_combiner_summary_fields_come_from_the_summary(name, case):
    example = EXAMPLES[name]
    records, now = case()
    summary = _summary_for(example, records, now)
    for key, value in summary.items():
        if key not in {"toleratedPercentageFailure", "numBatches"}:
            assert example[key] == value, key


def test_execution_output_is_what_job_succeeded_returns():
    parameters = lifecycle_states()["JobSucceeded"]["Parameters"]
    assert {key.removesuffix(".$") for key in parameters} == set(EXAMPLES["execution-output"])


@pytest.mark.parametrize("name", ["worker-policy", "combiner-policy"])
def test_policies_are_policy_documents(name):
    policy = EXAMPLES[name]
    assert policy["Version"] == "2012-10-17"
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert "*" not in json.dumps(statement["Action"])
    assert "mapjobsinputs/results/*" in json.dumps(policy)


def test_cross_stack_outputs_are_those_of_serverless_yml():
    serverless = (ROOT / "serverless.yml").read_text()
    documented = set(re.findall(r"\$\{cf:janelia-burst-compute-dev\.(\w+)\}", DOC))
    exported = set(re.findall(r"^    (\w+):\n      Description:", serverless, flags=re.M))
    assert documented == exported
