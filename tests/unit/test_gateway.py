"""The client's AWS gateway against botocore's Stubber: stack lookup, paginated reads, error mapping."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError as BotoClientError
from botocore.exceptions import EndpointConnectionError, NoCredentialsError

from burst_client.errors import CredentialsMissing, EndpointUnreachable, JobNotFound, StackNotDeployed
from burst_client.gateway import STACK_OUTPUTS, Gateway
from tests.support import stubbed_client, three_round_history

ARN = "arn:aws:states:us-east-1:123456789012:execution:janelia-burst-compute-dev-lifecycle:job"
STACK = "janelia-burst-compute-dev"


def outputs(*keys: str) -> list[dict[str, str]]:
    return [{"OutputKey": key, "OutputValue": f"value-of-{key}"} for key in keys]


def described_stack(keys: tuple[str, ...] = tuple(STACK_OUTPUTS)) -> dict[str, Any]:
    stack = {"StackName": STACK, "CreationTime": "2026-11-24T12:00:00Z", "StackStatus": "CREATE_COMPLETE"}
    return {"Stacks": [{**stack, "Outputs": outputs(*keys)}]}


@pytest.fixture
def stubbed() -> Any:
    """(gateway, {service: stubber}) with stubbed CloudFormation, Step Functions and Lambda clients."""
    made = {service: stubbed_client(service) for service in ("cloudformation", "stepfunctions", "lambda")}
    gateway = Gateway(lambda service: made[service][0])
    yield gateway, {service: stubber for service, (_, stubber) in made.items()}
    for _, stubber in made.values():
        stubber.assert_no_pending_responses()


def test_stack_found(stubbed: Any) -> None:
    gateway, stubbers = stubbed
    stubbers["cloudformation"].add_response("describe_stacks", described_stack(), {"StackName": STACK})
    stack = gateway.stack("janelia", "dev")
    assert stack.name == STACK
    assert stack.tasks_table == "value-of-TasksTable"
    assert stack.state_machine_arns == ("value-of-JobLifecycleStateMachine", "value-of-ExpressJobLifecycleStateMachine")
    assert stack.dispatch_function == "value-of-DispatchLambdaFunction"


def test_missing_stack_says_how_to_deploy_it(stubbed: Any) -> None:
    gateway, stubbers = stubbed
    stubbers["cloudformation"].add_client_error(
        "describe_stacks", "ValidationError", f"Stack with id {STACK} does not exist", 400
    )
    with pytest.raises(StackNotDeployed, match=r"not deployed in us-east-1: deploy it with `npx sls deploy -s dev"):
        gateway.stack("janelia", "dev")


def test_stack_without_outputs_is_not_a_burst_stack(stubbed: Any) -> None:
    gateway, stubbers = stubbed
    stubbers["cloudformation"].add_response("describe_stacks", described_stack(("TasksTable",)))
    with pytest.raises(StackNotDeployed, match=r"has no output.s. MapJobsInputsBucket, .*is it a burst-compute stack"):
        gateway.stack("janelia", "dev")


def test_other_stack_errors_propagate(stubbed: Any) -> None:
    gateway, stubbers = stubbed
    stubbers["cloudformation"].add_client_error("describe_stacks", "AccessDenied", "not allowed", 403)
    with pytest.raises(BotoClientError, match="AccessDenied"):
        gateway.stack("janelia", "dev")


def test_history_is_read_through_the_paginator(stubbed: Any) -> None:
    gateway, stubbers = stubbed
    events = three_round_history()
    pages = [events[:10], events[10:20], events[20:]]
    for index, page in enumerate(pages):
        request: dict[str, Any] = {"executionArn": ARN, "maxResults": 1000}
        if index:
            request["nextToken"] = f"token-{index}"
        answer: dict[str, Any] = {"events": page}
        if index < len(pages) - 1:
            answer["nextToken"] = f"token-{index + 1}"
        stubbers["stepfunctions"].add_response("get_execution_history", answer, request)
    got = gateway.execution_history(ARN)
    assert [event["id"] for event in got] == [event["id"] for event in events]


def test_missing_execution_is_job_not_found(stubbed: Any) -> None:
    gateway, stubbers = stubbed
    stubbers["stepfunctions"].add_client_error("get_execution_history", "ExecutionDoesNotExist", "no", 400)
    with pytest.raises(JobNotFound, match="not found"):
        gateway.execution_history(ARN)
    stubbers["stepfunctions"].add_client_error("describe_execution", "InvalidArn", "bad", 400)
    with pytest.raises(JobNotFound):
        gateway.describe_execution(ARN)


def test_map_runs_are_listed_through_the_paginator(stubbed: Any) -> None:
    gateway, stubbers = stubbed
    run = {"executionArn": ARN, "stateMachineArn": "arn:sm", "startDate": "2026-11-24T12:00:00Z"}
    stubbers["stepfunctions"].add_response(
        "list_map_runs", {"mapRuns": [{**run, "mapRunArn": "arn:run:1"}], "nextToken": "t"}, {"executionArn": ARN}
    )
    stubbers["stepfunctions"].add_response(
        "list_map_runs", {"mapRuns": [{**run, "mapRunArn": "arn:run:2"}]}, {"executionArn": ARN, "nextToken": "t"}
    )
    assert [r["mapRunArn"] for r in gateway.map_runs(ARN)] == ["arn:run:1", "arn:run:2"]


def test_deployed_definition_is_decoded(stubbed: Any) -> None:
    gateway, stubbers = stubbed
    definition = {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}
    answer = {
        "stateMachineArn": "arn:sm",
        "name": "sm",
        "definition": json.dumps(definition),
        "roleArn": "arn:aws:iam::123456789012:role/r",
        "type": "STANDARD",
        "creationDate": "2026-11-24T12:00:00Z",
    }
    stubbers["stepfunctions"].add_response("describe_state_machine", answer, {"stateMachineArn": "arn:sm"})
    assert gateway.state_machine_definition("arn:sm") == definition


def test_invoke_answers_payload_and_function_error(stubbed: Any) -> None:
    gateway, stubbers = stubbed
    from botocore.response import StreamingBody

    body = json.dumps({"errorType": "InvalidEvent", "errorMessage": "no"}).encode()
    answer = {"StatusCode": 200, "FunctionError": "Unhandled", "Payload": StreamingBody(io.BytesIO(body), len(body))}
    stubbers["lambda"].add_response("invoke", answer, {"FunctionName": "f", "Payload": b'{"a": 1}'})
    assert gateway.invoke("f", {"a": 1}) == ({"errorType": "InvalidEvent", "errorMessage": "no"}, "Unhandled")


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (NoCredentialsError(), CredentialsMissing),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:4566/"), EndpointUnreachable),
    ],
)
def test_connection_and_credential_errors_are_the_clients_own(raised: Exception, expected: type) -> None:
    class Broken:
        def __getattr__(self, name: str) -> Any:
            def fail(**kwargs: Any) -> Any:
                raise raised

            return fail

    gateway = Gateway(lambda service: Broken())
    with pytest.raises(expected):
        gateway.describe_execution(ARN)
    with pytest.raises(expected):
        gateway.function_configuration("f")


def test_newest_events_is_one_reversed_request(stubbed: Any) -> None:
    gateway, stubbers = stubbed
    events = three_round_history()[-3:][::-1]
    stubbers["stepfunctions"].add_response(
        "get_execution_history", {"events": events}, {"executionArn": ARN, "reverseOrder": True, "maxResults": 3}
    )
    assert gateway.newest_events(ARN, 3) == events


def test_latest_execution_is_the_last_redrive_on_either_state_machine(stubbed: Any) -> None:
    gateway, stubbers = stubbed
    standard = "arn:aws:states:us-east-1:123456789012:stateMachine:janelia-burst-compute-dev-lifecycle"
    express = f"{standard}-express"
    sfn = stubbers["stepfunctions"]

    def execution(machine: str, name: str) -> str:
        return machine.replace(":stateMachine:", ":execution:") + f":{name}"

    def described(machine: str, name: str) -> dict[str, Any]:
        return {
            "executionArn": execution(machine, name),
            "stateMachineArn": machine,
            "status": "SUCCEEDED",
            "startDate": "2026-11-24T12:00:00Z",
        }

    # job-1 ran on the STANDARD machine, its redrive 1 on the EXPRESS one; there is no redrive 2
    sfn.add_response("describe_execution", described(standard, "job-1"), {"executionArn": execution(standard, "job-1")})
    sfn.add_client_error(
        "describe_execution",
        "ExecutionDoesNotExist",
        expected_params={"executionArn": execution(standard, "job-1-redrive-1")},
    )
    sfn.add_response(
        "describe_execution",
        described(express, "job-1-redrive-1"),
        {"executionArn": execution(express, "job-1-redrive-1")},
    )
    for machine in (standard, express):
        sfn.add_client_error(
            "describe_execution",
            "ExecutionDoesNotExist",
            expected_params={"executionArn": execution(machine, "job-1-redrive-2")},
        )
    latest = gateway.latest_execution((standard, express), "job-1")
    assert latest is not None and latest["executionArn"] == execution(express, "job-1-redrive-1")


def test_missing_s3_object_reads_as_none_other_errors_propagate() -> None:
    s3, stubber = stubbed_client("s3")
    gateway = Gateway(lambda service: s3)
    stubber.add_client_error("get_object", "NoSuchKey", http_status_code=404)
    assert gateway.read_json_or_none("s3://bucket/results/job/summary.json") is None
    stubber.add_client_error("get_object", "AccessDenied", http_status_code=403)
    with pytest.raises(BotoClientError, match="AccessDenied"):
        gateway.read_json_or_none("s3://bucket/results/job/summary.json")
    stubber.assert_no_pending_responses()
