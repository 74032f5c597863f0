"""Each moto gap the local endpoint works around: plain moto still has it, and the workaround closes it.

When moto fixes a gap, the "plain moto" half of its test fails: drop the workaround then.
Everything runs in-process on mock_aws; workarounds are applied only inside ``workarounds.applied(...)``.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import backends as moto_backends
from moto import mock_aws
from moto.stepfunctions.parser import utils as parser_utils
from moto.stepfunctions.parser.asl.utils import boto_client, json_path

from burst_client.local import workarounds
from tests.local.support import lifecycle_child_states

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/burst-local-tests"
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})


@pytest.fixture(autouse=True)
def _no_workarounds(aws_env: None) -> Iterator[None]:
    workarounds.revert()  # in case something applied them in this process
    yield
    workarounds.revert()


@pytest.fixture
def sfn() -> Iterator[Any]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name=REGION)


def run(sfn: Any, definition: dict[str, Any] | str, execution_input: Any = None, timeout: float = 30) -> Any:
    body = definition if isinstance(definition, str) else json.dumps(definition)
    arn = sfn.create_state_machine(name=f"sm-{time.monotonic_ns()}", definition=body, roleArn=ROLE)
    execution = sfn.start_execution(stateMachineArn=arn["stateMachineArn"], input=json.dumps(execution_input or {}))
    return wait(sfn, execution["executionArn"], timeout)


def wait(sfn: Any, execution_arn: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while (described := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING":
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
    return described


def distributed_map(child: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "StartAt": "Map",
        "States": {
            "Map": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, **child},
                "End": True,
                **fields,
            }
        },
    }


def test_every_workaround_is_listed_once() -> None:
    names = [w.name for w in workarounds.WORKAROUNDS]
    assert len(names) == len(set(names))
    assert workarounds.apply_all() == names
    assert workarounds.apply_all() == []  # idempotent


# -- 1 --------------------------------------------------------------------------------------------------------
W3005_TEMPLATE = json.dumps(
    {
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic"},
            "Queue": {
                "Type": "AWS::SQS::Queue",
                "DependsOn": "Topic",
                "Properties": {"QueueName": {"Fn::GetAtt": ["Topic", "TopicName"]}},
            },
        }
    }
)
E3002_TEMPLATE = json.dumps({"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"Nope": 1}}}})


def test_validate_template_ignores_cfn_lint_warnings() -> None:
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        with pytest.raises(ClientError, match="dependency already enforced by a 'GetAtt'"):
            cloudformation.validate_template(TemplateBody=W3005_TEMPLATE)

        with workarounds.applied("validate-template-ignores-warnings"):
            cloudformation.validate_template(TemplateBody=W3005_TEMPLATE)
            with pytest.raises(ClientError, match="'Nope' was unexpected"):
                cloudformation.validate_template(TemplateBody=E3002_TEMPLATE)


# -- 2 --------------------------------------------------------------------------------------------------------
SUB_TEMPLATE = json.dumps(
    {
        "Resources": {
            "Topic": {
                "Type": "AWS::SNS::Topic",
                "Properties": {
                    "TopicName": {"Fn::Sub": ["t-${0f3e}-${AWS::Region}-${name}", {"0f3e": "digits", "name": "plain"}]}
                },
            }
        },
        "Outputs": {"Name": {"Value": {"Fn::GetAtt": ["Topic", "TopicName"]}}},
    }
)


def test_sub_substitutes_variables_starting_with_a_digit() -> None:
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        with pytest.raises(KeyError, match="0f3e"):
            cloudformation.create_stack(StackName="plain", TemplateBody=SUB_TEMPLATE)

        with workarounds.applied("sub-with-digit-variables"):
            cloudformation.create_stack(StackName="patched", TemplateBody=SUB_TEMPLATE)
        outputs = cloudformation.describe_stacks(StackName="patched")["Stacks"][0]["Outputs"]
        assert outputs[0]["OutputValue"] == "t-digits-us-east-1-plain"


# -- 3 --------------------------------------------------------------------------------------------------------
OUTPUT_TEMPLATE = json.dumps(
    {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}}}
)


def deploy_with_change_set(cloudformation: Any, stack: str) -> Any:
    cloudformation.create_change_set(
        StackName=stack, ChangeSetName="c1", ChangeSetType="CREATE", TemplateBody=OUTPUT_TEMPLATE
    )
    cloudformation.execute_change_set(StackName=stack, ChangeSetName="c1")
    return cloudformation.describe_stacks(StackName=stack)["Stacks"][0]


def test_change_set_deploy_has_outputs() -> None:
    with mock_aws():
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        assert "Outputs" not in deploy_with_change_set(cloudformation, "plain")

        with workarounds.applied("change-set-refreshes-outputs"):
            stack = deploy_with_change_set(cloudformation, "patched")
        assert stack["Outputs"][0]["OutputKey"] == "TopicArn"
        assert stack["Outputs"][0]["OutputValue"].startswith("arn:aws:sns:us-east-1:")


# -- 4 --------------------------------------------------------------------------------------------------------
def state_machine_template(definition: str) -> str:
    properties = {"StateMachineName": "from-cfn", "RoleArn": ROLE, "DefinitionString": definition}
    return json.dumps(
        {"Resources": {"Machine": {"Type": "AWS::StepFunctions::StateMachine", "Properties": properties}}}
    )


def test_state_machines_from_cloudformation_are_executable(sfn: Any) -> None:
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(StackName="plain", TemplateBody=state_machine_template(PASS))
    arn = cloudformation.describe_stack_resources(StackName="plain")["StackResources"][0]["PhysicalResourceId"]
    with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
        sfn.start_execution(stateMachineArn=arn)
    cloudformation.delete_stack(StackName="plain")

    with workarounds.applied("cfn-state-machines-in-executing-backend"):
        cloudformation.create_stack(StackName="patched", TemplateBody=state_machine_template(PASS))
        execution = sfn.start_execution(stateMachineArn=arn, input='{"x": 1}')
        assert wait(sfn, execution["executionArn"])["output"] == '{"x": 1}'

        updated = PASS.replace('"End": true', '"Result": "new", "End": true')
        cloudformation.update_stack(StackName="patched", TemplateBody=state_machine_template(updated))
        assert sfn.describe_state_machine(stateMachineArn=arn)["definition"] == updated

        cloudformation.delete_stack(StackName="patched")
        with pytest.raises(sfn.exceptions.StateMachineDoesNotExist):
            sfn.describe_state_machine(stateMachineArn=arn)


# -- 5 --------------------------------------------------------------------------------------------------------
def test_executions_without_a_name_get_a_uuid(sfn: Any) -> None:
    arn = sfn.create_state_machine(name="nameless", definition=PASS, roleArn=ROLE)["stateMachineArn"]
    first = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    assert first.endswith(":None")
    wait(sfn, first)
    with pytest.raises(sfn.exceptions.ExecutionAlreadyExists):
        sfn.start_execution(stateMachineArn=arn)

    with workarounds.applied("execution-name-defaults-to-uuid"):
        names = {sfn.start_execution(stateMachineArn=arn)["executionArn"].rsplit(":", 1)[1] for _ in range(2)}
    assert len(names) == 2
    assert all(re.fullmatch(r"[0-9a-f-]{36}", name) for name in names)


# -- 6 --------------------------------------------------------------------------------------------------------
def test_integer_tolerated_failure_percentage_is_valid(sfn: Any) -> None:
    definition = json.dumps(distributed_map(json.loads(PASS), ToleratedFailurePercentage=100))
    with pytest.raises(ClientError, match="ToleratedFailurePercentage"):
        sfn.create_state_machine(name="plain", definition=definition, roleArn=ROLE)

    with workarounds.applied("integer-tolerated-failure-percentage"):
        arn = sfn.create_state_machine(name="patched", definition=definition, roleArn=ROLE)["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=arn, input='{"items": [1, 2]}')
        assert wait(sfn, execution["executionArn"])["status"] == "SUCCEEDED"
    assert sfn.describe_state_machine(stateMachineArn=arn)["definition"] == definition  # stored as written


# -- 7 --------------------------------------------------------------------------------------------------------
def test_result_writer_parameters_read_the_state_input(sfn: Any) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="results-bucket")
    writer = {
        "Resource": "arn:aws:states:::s3:putObject",
        "Parameters": {"Bucket.$": "$.bucket", "Prefix.$": "States.Format('jobs/{}', $.job)"},
    }
    definition = distributed_map(json.loads(PASS), ResultWriter=writer)
    execution_input = {"bucket": "results-bucket", "job": "j1", "items": [1, 2, 3]}
    plain = run(sfn, definition, execution_input)
    assert plain["status"] == "FAILED"
    assert "The JSONPath '$.bucket' could not be found in the input '[1, 2, 3]'" in plain["cause"]

    with workarounds.applied("result-writer-reads-state-input"):
        patched = run(sfn, definition, execution_input)
    assert patched["status"] == "SUCCEEDED", patched
    details = json.loads(patched["output"])["ResultWriterDetails"]
    assert details["Bucket"] == "results-bucket"
    assert details["Key"].startswith("jobs/j1/")
    assert s3.get_object(Bucket="results-bucket", Key=details["Key"])["ContentLength"] > 0


# -- 8 --------------------------------------------------------------------------------------------------------
def test_map_workers_do_not_recurse_per_item(sfn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    crashed: list[type[BaseException]] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: crashed.append(args.exc_type))
    definition = distributed_map(json.loads(PASS), MaxConcurrency=1)
    many = {"items": list(range(1100))}

    arn = sfn.create_state_machine(name="plain", definition=json.dumps(definition), roleArn=ROLE)
    execution_arn = sfn.start_execution(stateMachineArn=arn["stateMachineArn"], input=json.dumps(many))["executionArn"]
    deadline = time.monotonic() + 60
    while not crashed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert crashed == [RecursionError]
    assert sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"  # and stays so

    with workarounds.applied("map-workers-iterate"):
        assert run(sfn, definition, many, timeout=60)["status"] == "SUCCEEDED"
        inline = json.loads(json.dumps(definition).replace('"DISTRIBUTED"', '"INLINE"'))
        del inline["States"]["Map"]["ItemProcessor"]["ProcessorConfig"]["ExecutionType"]
        assert run(sfn, inline, many, timeout=60)["status"] == "SUCCEEDED"
    assert crashed == [RecursionError]


# -- 9 --------------------------------------------------------------------------------------------------------
def test_jsonpath_expressions_are_parsed_once() -> None:
    def parse(path: str) -> Any:
        return json_path.__dict__["parse"](path)  # what extract_json calls

    assert parse("$.a.b") is not parse("$.a.b")  # a new parser per evaluation
    started = time.perf_counter()
    for _ in range(20):
        parse("$.a.b")
    uncached = (time.perf_counter() - started) / 20

    with workarounds.applied("jsonpath-parse-cache"):
        assert parse("$.a.b") is parse("$.a.b")
        assert json_path.extract_json("$.a.b", {"a": {"b": 3}}) == 3
    assert uncached > 0.0002  # ~1 ms on a slow machine, the reason for the cache


# -- 10 -------------------------------------------------------------------------------------------------------
def test_moto_module_list_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    listdir = os.listdir

    def counting_listdir(path: str) -> list[str]:
        calls.append(str(path))
        return listdir(path)

    monkeypatch.setattr(os, "listdir", counting_listdir)
    assert "stepfunctions" in list(moto_backends.list_of_moto_modules())
    assert "awslambda" in list(moto_backends.list_of_moto_modules())
    assert len(calls) == 2  # once per request the server handles

    with workarounds.applied("moto-module-list-cache"):
        calls.clear()
        assert "stepfunctions" in moto_backends.list_of_moto_modules()
        assert "awslambda" in moto_backends.list_of_moto_modules()
        assert calls == []


# -- 11 -------------------------------------------------------------------------------------------------------
def test_interpreter_reuses_its_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTO_PORT", "4566")  # server mode: no mock_aws, calls go to the endpoint
    first = boto_client.boto_client_for(REGION, "lambda")
    assert first is not boto_client.boto_client_for(REGION, "lambda")
    assert first.meta.endpoint_url == "http://localhost:4566"

    with workarounds.applied("interpreter-client-cache"):
        cached = boto_client.boto_client_for(REGION, "lambda")
        assert cached is boto_client.boto_client_for(REGION, "lambda")
        assert cached is not boto_client.boto_client_for(REGION, "s3")
        assert cached.meta.endpoint_url == "http://127.0.0.1:4566"
        assert cached.meta.config.max_pool_connections >= 1000
        assert cached.meta.config.retries["total_max_attempts"] == 1  # moto's own settings kept


# -- 11b ------------------------------------------------------------------------------------------------------
def test_interpreter_requests_are_answered_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import EndpointConnectionError

    from burst_client.endpoint_process import free_port

    monkeypatch.setenv("MOTO_PORT", str(free_port()))  # nothing listens there
    arn = "arn:aws:lambda:us-east-1:123456789012:function:fn"
    seen: list[dict[str, Any]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        seen.append({**environ, "body": environ["wsgi.input"].read(length)})
        start_response("200 OK", [("X-Amz-Function-Error", "Unhandled"), ("Content-Type", "application/json")])
        return [b'{"errorMessage": "boom"}']

    workarounds.serve_in_process(app)
    try:
        # the gap: without 11b the request goes over HTTP
        with workarounds.applied("interpreter-client-cache"), pytest.raises(EndpointConnectionError):
            boto_client.boto_client_for(REGION, "lambda").invoke(FunctionName=arn, Payload=b"{}")
        assert seen == []

        with workarounds.applied("interpreter-client-cache", "interpreter-in-process"):
            answer = boto_client.boto_client_for(REGION, "lambda").invoke(FunctionName=arn, Payload=b'{"a": 1}')
    finally:
        workarounds.serve_in_process(None)

    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"
    assert json.loads(answer["Payload"].read()) == {"errorMessage": "boom"}
    (environ,) = seen
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["PATH_INFO"] == f"/2015-03-31/functions/{arn}/invocations"  # unquoted, as werkzeug does
    assert environ["body"] == b'{"a": 1}'
    assert environ["HTTP_HOST"] == f"127.0.0.1:{os.environ['MOTO_PORT']}"
    assert environ["HTTP_AUTHORIZATION"].startswith("AWS4-HMAC-SHA256 Credential=ak/")  # moto reads the account


def test_wsgi_environ_keeps_the_raw_uri_and_query() -> None:
    from botocore.awsrequest import AWSRequest

    request = AWSRequest(
        method="GET", url="http://127.0.0.1:4566/bucket/a%20b%2Bc?list-type=2&prefix=x%2Fy", headers={"X-A": "1"}
    ).prepare()
    environ = workarounds.wsgi_environ(request)
    assert environ["PATH_INFO"] == "/bucket/a b+c"
    assert environ["RAW_URI"] == "/bucket/a%20b%2Bc?list-type=2&prefix=x%2Fy"
    assert environ["QUERY_STRING"] == "list-type=2&prefix=x%2Fy"
    assert environ["HTTP_X_A"] == "1"
    assert environ["CONTENT_LENGTH"] == "0"
    assert environ["wsgi.input"].read() == b""


# -- 11c ------------------------------------------------------------------------------------------------------
def put_item_task(**fields: Any) -> dict[str, Any]:
    return {
        "StartAt": "Put",
        "States": {
            "Put": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": "t", "Item": {"k": {"S.$": "$.k"}}},
                "End": True,
                **fields,
            }
        },
    }


def threads_started(sfn: Any, definition: dict[str, Any], monkeypatch: pytest.MonkeyPatch, runs: int = 3) -> int:
    """How many threads running the definition `runs` times starts."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    if "t" not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    started: list[threading.Thread] = []
    start = threading.Thread.start

    def counting_start(thread: threading.Thread) -> None:
        started.append(thread)
        start(thread)

    with monkeypatch.context() as patch:
        patch.setattr(threading.Thread, "start", counting_start)
        for n in range(runs):
            assert run(sfn, definition, {"k": str(n)})["status"] == "SUCCEEDED"
    return len(started)


def test_tasks_without_a_timeout_run_in_the_calling_thread(sfn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = threads_started(sfn, put_item_task(), monkeypatch)
    with workarounds.applied("tasks-without-timeout-inline"):
        inline = threads_started(sfn, put_item_task(), monkeypatch)
        timed = threads_started(sfn, put_item_task(TimeoutSeconds=30), monkeypatch)
    assert plain - inline == 2 * 3  # the gap: a thread per Task and per program, here one Task per run
    assert timed == plain - 3  # a Task with a timeout keeps its thread (the timeout needs it)


def test_inline_tasks_give_the_same_output(sfn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    definition = put_item_task(ResultSelector={"written": True, "key.$": "States.Format('k={}', $$.State.Name)"})
    del definition["States"]["Put"]["End"]
    definition["States"]["Put"].update(ResultPath="$.put", Next="Again")
    definition["States"]["Again"] = {**put_item_task()["States"]["Put"], "ResultPath": "$.again"}
    threads_started(sfn, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}, monkeypatch, runs=1)

    plain = run(sfn, definition, {"k": "a"})
    with workarounds.applied("tasks-without-timeout-inline"):
        inline = run(sfn, definition, {"k": "a"})
    assert plain["status"] == inline["status"] == "SUCCEEDED"
    assert json.loads(inline["output"]) == json.loads(plain["output"])
    assert json.loads(inline["output"])["k"] == "a"
    assert json.loads(inline["output"])["put"]["written"] is True


def test_finished_interpreter_threads_are_dropped(sfn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    finished = [threading.Thread(target=lambda: None) for _ in range(600)]
    for thread in finished:
        thread.start()
        thread.join()
    parser_utils.TMP_THREADS.extend(finished)
    monkeypatch.setitem(workarounds._prune_at, "size", 512)  # as in a fresh endpoint
    try:
        with workarounds.applied("tasks-without-timeout-inline"):
            threads_started(sfn, put_item_task(), monkeypatch, runs=1)
        assert not any(thread in parser_utils.TMP_THREADS for thread in finished)
    finally:
        parser_utils.TMP_THREADS[:] = [t for t in parser_utils.TMP_THREADS if t not in finished]


# -- 11d ------------------------------------------------------------------------------------------------------
def test_response_method_names_are_listed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core import responses as moto_responses
    from moto.dynamodb.responses import DynamoHandler

    calls: list[object] = []
    getmembers = inspect.getmembers

    def counting_getmembers(obj: Any, predicate: Any = None) -> Any:
        calls.append(obj)
        return getmembers(obj, predicate)

    monkeypatch.setattr(inspect, "getmembers", counting_getmembers)
    assert "put_item" in moto_responses.method_names_from_class(DynamoHandler)
    assert "put_item" in moto_responses.method_names_from_class(DynamoHandler)
    assert len(calls) == 2  # once per request the server handles

    with workarounds.applied("response-method-names-cache"):
        calls.clear()
        assert "put_item" in moto_responses.method_names_from_class(DynamoHandler)
        assert "query" in moto_responses.method_names_from_class(DynamoHandler)
        assert len(calls) == 1


# -- 12, 13 ---------------------------------------------------------------------------------------------------
# the service's deadline guard; past the deadline it goes to PastDeadline, else to ExecuteBatch
DEADLINE_CHECK = {
    "StartAt": "StampStart",
    "States": {
        **lifecycle_child_states("StampStart", "BeforeDeadline"),
        "PastDeadline": {"Type": "Pass", "Result": "late", "ResultPath": "$.verdict", "End": True},
        "ExecuteBatch": {"Type": "Pass", "Result": "in time", "ResultPath": "$.verdict", "End": True},
    },
}


def test_timestamp_rules_accept_fractional_seconds(sfn: Any) -> None:
    past = {"deadline": "2000-01-01T00:00:00.000Z"}
    assert json.loads(run(sfn, DEADLINE_CHECK, past)["output"])["verdict"] == "in time"  # wrong

    with workarounds.applied("rfc3339-timestamp-comparisons"):
        assert json.loads(run(sfn, DEADLINE_CHECK, past)["output"])["verdict"] == "late"
        future = {"deadline": "2099-01-01T00:00:00+01:00"}
        assert json.loads(run(sfn, DEADLINE_CHECK, future)["output"])["verdict"] == "in time"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-24T23:27:39Z", "2026-11-24T23:27:39+00:00"),
        ("2026-11-24T23:27:39.865Z", "2026-11-24T23:27:39.865000+00:00"),
        ("2026-11-24T23:27:39.123456789Z", "2026-11-24T23:27:39.123456+00:00"),
        ("2026-11-24T23:27:39.1-05:00", "2026-11-24T23:27:39.100000-05:00"),
        ("2026-11-24 23:27:39Z", None),
        ("2026-11-24T23:27:39", None),
        ("2026-13-24T23:27:39Z", None),
    ],
)
def test_parse_rfc3339(text: str, expected: str | None) -> None:
    parsed = workarounds.parse_rfc3339(text)
    assert (parsed.isoformat() if parsed else None) == expected


def test_entered_time_has_aws_format(sfn: Any) -> None:
    plain = json.loads(run(sfn, DEADLINE_CHECK, {"deadline": "2099-01-01T00:00:00Z"})["output"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", plain["timing"]["startedAt"])

    with workarounds.applied("entered-time-format"):
        patched = json.loads(run(sfn, DEADLINE_CHECK, {"deadline": "2099-01-01T00:00:00Z"})["output"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", patched["timing"]["startedAt"])


# -- 14 -------------------------------------------------------------------------------------------------------
ODD_ITEMS_FAIL = {
    "StartAt": "Check",
    "States": {
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Broken"}],
            "Default": "Fine",
        },
        "Broken": {"Type": "Fail", "Error": "Batch.Broken", "Cause": "odd item"},
        "Fine": {"Type": "Pass", "End": True},
    },
}
ONE_IN_FOUR = {"items": [{"fail": False}, {"fail": True}, {"fail": False}, {"fail": False}]}


def test_map_fails_beyond_its_failure_tolerance(sfn: Any) -> None:
    assert run(sfn, distributed_map(ODD_ITEMS_FAIL), ONE_IN_FOUR)["status"] == "SUCCEEDED"  # wrong

    with workarounds.applied("map-failure-tolerance"):
        untolerated = run(sfn, distributed_map(ODD_ITEMS_FAIL), ONE_IN_FOUR)
        within = run(sfn, distributed_map(ODD_ITEMS_FAIL, ToleratedFailurePercentage=25.0), ONE_IN_FOUR)
        above = run(sfn, distributed_map(ODD_ITEMS_FAIL, ToleratedFailureCount=0), ONE_IN_FOUR)
        caught = distributed_map(
            ODD_ITEMS_FAIL,
            Catch=[{"ErrorEquals": ["States.ExceedToleratedFailureThreshold"], "Next": "Recovered"}],
        )
        del caught["States"]["Map"]["End"]
        caught["States"]["Map"]["Next"] = "Done"
        caught["States"]["Recovered"] = {"Type": "Pass", "Result": {"recovered": True}, "End": True}
        caught["States"]["Done"] = {"Type": "Succeed"}
        recovered = run(sfn, caught, ONE_IN_FOUR)

    assert untolerated["status"] == "FAILED"
    assert untolerated["error"] == "States.ExceedToleratedFailureThreshold"
    assert within["status"] == "SUCCEEDED"
    assert above["status"] == "FAILED"
    assert recovered["status"] == "SUCCEEDED", recovered
    assert json.loads(recovered["output"]) == {"recovered": True}


def test_stopped_execution_with_a_map_is_aborted_not_failed(sfn: Any) -> None:
    waiting = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3, "End": True}}}
    with workarounds.applied("map-failure-tolerance"):
        arn = sfn.create_state_machine(name="stopped", definition=json.dumps(distributed_map(waiting)), roleArn=ROLE)
        execution = sfn.start_execution(stateMachineArn=arn["stateMachineArn"], input='{"items": [1, 2, 3]}')
        time.sleep(0.5)
        sfn.stop_execution(executionArn=execution["executionArn"])
        assert wait(sfn, execution["executionArn"])["status"] == "ABORTED"
        time.sleep(3)  # the children's Waits end: the map run must not turn the execution into FAILED
        assert sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "ABORTED"


@pytest.mark.parametrize(
    ("failed", "total", "count", "percentage", "exceeded"),
    [
        (0, 10, None, None, False),
        (1, 10, None, None, True),
        (1, 10, 1, None, False),
        (2, 10, 1, None, True),
        (2, 10, None, 20.0, False),
        (3, 10, None, 20.0, True),
        (2, 10, 5, 10.0, True),  # either threshold
        (2, 10, 1, 50.0, True),
        (2, 10, 5, 50.0, False),
    ],
)
def test_exceeds_tolerance(
    failed: int, total: int, count: int | None, percentage: float | None, exceeded: bool
) -> None:
    assert workarounds.exceeds_tolerance(failed, total, count, percentage) is exceeded


# -- 15 -------------------------------------------------------------------------------------------------------
def test_plain_moto_has_no_lambda_account_settings() -> None:
    """The endpoint answers it itself: see tests/local/test_cli.py::test_concurrency_from_the_environment."""
    with mock_aws():
        with pytest.raises(ClientError, match="Not yet implemented"):
            boto3.client("lambda", region_name=REGION).get_account_settings()
        settings = workarounds.lambda_account_settings("123456789012", REGION, concurrency=7)
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 7
    assert settings["AccountUsage"]["FunctionCount"] == 0
