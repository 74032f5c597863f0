"""Each moto gap the local endpoint works around: plain moto still has it, and the workaround closes it.

When moto fixes a gap, the "plain moto" half of its test fails: drop the workaround then.
Everything runs in-process on mock_aws; workarounds are applied only inside ``moto_patches.applied(...)``.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
import pkgutil
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError
from moto import backends as moto_backends
from moto import mock_aws
from moto.stepfunctions.parser import utils as parser_utils
from moto.stepfunctions.parser.asl.utils import boto_client, json_path

from burst_client.local import moto_patches
from burst_client.local.moto_patches import express as express_patches
from burst_client.local.moto_patches import in_process, lambda_, registry, speed
from burst_client.local.moto_patches.dynamodb import plain_update
from burst_client.local.moto_patches.map_runs import exceeds_tolerance
from burst_client.local.moto_patches.stepfunctions import parse_rfc3339
from burst_core.job import iso_timestamp
from tests.local.support import create_tasks_table, lifecycle_child_states

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/burst-local-tests"
PASS = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})


@pytest.fixture(autouse=True)
def _no_workarounds(aws_env: None) -> Iterator[None]:
    moto_patches.revert()  # in case something applied them in this process
    yield
    moto_patches.revert()


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


def recorded_calls(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, record: Callable[..., Any] = lambda *_, **__: None
) -> list[Any]:
    """``record(*args, **kwargs)`` of every call of ``owner.name`` from now on (the call itself goes on)."""
    calls: list[Any] = []
    original = getattr(owner, name)

    def recording(*args: Any, **kwargs: Any) -> Any:
        calls.append(record(*args, **kwargs))
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, recording)
    return calls


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
    for module in pkgutil.iter_modules(moto_patches.__path__):  # one the package forgot would register only now
        importlib.import_module(f"{moto_patches.__name__}.{module.name}")
    assert registry.workarounds() == moto_patches.WORKAROUNDS
    names = [w.name for w in moto_patches.WORKAROUNDS]
    numbers = [w.number for w in moto_patches.WORKAROUNDS]
    assert len(names) == len(set(names))
    assert len(numbers) == len(set(numbers))
    assert [w.order for w in moto_patches.WORKAROUNDS] == sorted(w.order for w in moto_patches.WORKAROUNDS)
    assert moto_patches.apply_all() == names
    assert moto_patches.apply_all() == []  # idempotent


def test_a_workaround_is_registered_from_its_docstring(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_registered", {})

    @registry.workaround("an-example")
    def example() -> registry.Undo:
        """Gap 7b (speed): the first paragraph is the gap,
        over several lines if need be

        The details follow.
        """
        return lambda: None

    (registered,) = registry.workarounds()
    assert (registered.name, registered.number, registered.gap) == (
        "an-example",
        "7b",
        "the first paragraph is the gap, over several lines if need be",
    )
    assert registered.apply is example
    with pytest.raises(ValueError, match="registered twice"):
        registry.workaround("an-example")(example)
    with pytest.raises(ValueError, match="must start with 'Gap N: <the gap>'"):
        registry.workaround("undocumented")(lambda: lambda: None)


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

        with moto_patches.applied("validate-template-ignores-warnings"):
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

        with moto_patches.applied("sub-with-digit-variables"):
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

        with moto_patches.applied("change-set-refreshes-outputs"):
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

    with moto_patches.applied("cfn-state-machines-in-executing-backend"):
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

    with moto_patches.applied("execution-name-defaults-to-uuid"):
        names = {sfn.start_execution(stateMachineArn=arn)["executionArn"].rsplit(":", 1)[1] for _ in range(2)}
    assert len(names) == 2
    assert all(re.fullmatch(r"[0-9a-f-]{36}", name) for name in names)


# -- 6 --------------------------------------------------------------------------------------------------------
def test_integer_tolerated_failure_percentage_is_valid(sfn: Any) -> None:
    definition = json.dumps(distributed_map(json.loads(PASS), ToleratedFailurePercentage=100))
    with pytest.raises(ClientError, match="ToleratedFailurePercentage"):
        sfn.create_state_machine(name="plain", definition=definition, roleArn=ROLE)

    with moto_patches.applied("integer-tolerated-failure-percentage"):
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

    with moto_patches.applied("result-writer-reads-state-input"):
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

    with moto_patches.applied("map-workers-iterate"):
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

    with moto_patches.applied("jsonpath-parse-cache"):
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

    with moto_patches.applied("moto-module-list-cache"):
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

    with moto_patches.applied("interpreter-client-cache"):
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

    moto_patches.serve_in_process(app)
    try:
        # the gap: without 11b the request goes over HTTP
        with moto_patches.applied("interpreter-client-cache"), pytest.raises(EndpointConnectionError):
            boto_client.boto_client_for(REGION, "lambda").invoke(FunctionName=arn, Payload=b"{}")
        assert seen == []

        with moto_patches.applied("interpreter-client-cache", "interpreter-in-process"):
            answer = boto_client.boto_client_for(REGION, "lambda").invoke(FunctionName=arn, Payload=b'{"a": 1}')
    finally:
        moto_patches.serve_in_process(None)

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
    environ = in_process.wsgi_environ(request)
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
    with moto_patches.applied("tasks-without-timeout-inline"):
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
    with moto_patches.applied("tasks-without-timeout-inline"):
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
    monkeypatch.setitem(speed._prune_at, "size", 512)  # as in a fresh endpoint
    try:
        with moto_patches.applied("tasks-without-timeout-inline"):
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

    with moto_patches.applied("response-method-names-cache"):
        calls.clear()
        assert "put_item" in moto_responses.method_names_from_class(DynamoHandler)
        assert "query" in moto_responses.method_names_from_class(DynamoHandler)
        assert len(calls) == 1


# -- 12, 13 ---------------------------------------------------------------------------------------------------
# the service's deadline guard (a Choice on $$.State.EnteredTime): past the deadline it goes to PastDeadline,
# else to ExecuteBatch; Stamp records the EnteredTime it saw
DEADLINE_CHECK = {
    "StartAt": "Stamp",
    "States": {
        "Stamp": {
            "Type": "Pass",
            "Parameters": {"startedAt.$": "$$.State.EnteredTime"},
            "ResultPath": "$.timing",
            "Next": "BeforeDeadline",
        },
        **lifecycle_child_states("BeforeDeadline"),
        "PastDeadline": {"Type": "Pass", "Result": "late", "ResultPath": "$.verdict", "End": True},
        "ExecuteBatch": {"Type": "Pass", "Result": "in time", "ResultPath": "$.verdict", "End": True},
    },
}


def test_timestamp_rules_accept_fractional_seconds(sfn: Any) -> None:
    past = {"deadline": "2000-01-01T00:00:00.000Z"}
    assert json.loads(run(sfn, DEADLINE_CHECK, past)["output"])["verdict"] == "in time"  # wrong

    with moto_patches.applied("rfc3339-timestamp-comparisons"):
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
    parsed = parse_rfc3339(text)
    assert (parsed.isoformat() if parsed else None) == expected


def test_entered_time_has_aws_format(sfn: Any) -> None:
    plain = json.loads(run(sfn, DEADLINE_CHECK, {"deadline": "2099-01-01T00:00:00Z"})["output"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", plain["timing"]["startedAt"])

    with moto_patches.applied("entered-time-format"):
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

    with moto_patches.applied("map-failure-tolerance"):
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
    with moto_patches.applied("map-failure-tolerance"):
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
    assert exceeds_tolerance(failed, total, count, percentage) is exceeded


# -- 15 -------------------------------------------------------------------------------------------------------
def test_plain_moto_has_no_lambda_account_settings() -> None:
    """The endpoint answers it itself: see tests/local/test_cli.py::test_concurrency_from_the_environment."""
    with mock_aws():
        with pytest.raises(ClientError, match="Not yet implemented"):
            boto3.client("lambda", region_name=REGION).get_account_settings()
        settings = lambda_.lambda_account_settings("123456789012", REGION, concurrency=7)
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 7
    assert settings["AccountUsage"]["FunctionCount"] == 0


# -- helpers of 16 to 19: Lambda functions answered in-process, Map runs observed --------------------------------
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:{}"
TABLE = "rows"


@pytest.fixture
def lambdas(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[Any], Any]]:
    """Lambda functions by name: Python callables moto's Invoke runs (an exception: an Unhandled error)."""
    from moto.awslambda.models import LambdaBackend

    handlers: dict[str, Callable[[Any], Any]] = {}

    def invoke(  # noqa: PLR0917 - moto's signature
        self: Any, function_name: str, qualifier: Any, body: Any, headers: Any, response_headers: dict[str, str]
    ) -> bytes:
        handler = handlers[function_name.rsplit(":", 1)[-1]]
        try:
            return json.dumps(handler(json.loads(body or b"{}"))).encode()
        except Exception as exc:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()

    monkeypatch.setattr(LambdaBackend, "invoke", invoke)
    return handlers


def invoke_state(function: str, **fields: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": FUNCTION.format(function), "Payload.$": "$"},
        **fields,
    }


def rows_table() -> Any:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return dynamodb


def row_keys(dynamodb: Any) -> list[str]:
    return sorted(item["k"]["S"] for item in dynamodb.scan(TableName=TABLE)["Items"])


WRITE_ROW = {
    "Type": "Task",
    "Resource": "arn:aws:states:::dynamodb:putItem",
    "Parameters": {"TableName": TABLE, "Item": {"k": {"S.$": "States.Format('{}', $.i)"}}},
    "End": True,
}


def start(sfn: Any, definition: dict[str, Any], execution_input: Any) -> str:
    arn = sfn.create_state_machine(name=f"sm-{time.monotonic_ns()}", definition=json.dumps(definition), roleArn=ROLE)
    execution = sfn.start_execution(stateMachineArn=arn["stateMachineArn"], input=json.dumps(execution_input))
    return str(execution["executionArn"])


def map_run(sfn: Any, execution_arn: str) -> dict[str, Any]:
    """The execution's (only) Map run, described; waits for it to exist."""
    deadline = time.monotonic() + 10
    while not (runs := sfn.list_map_runs(executionArn=execution_arn)["mapRuns"]):
        assert time.monotonic() < deadline, "no Map run"
        time.sleep(0.01)
    described: dict[str, Any] = sfn.describe_map_run(mapRunArn=runs[0]["mapRunArn"])
    return described


def counts(described: dict[str, Any], which: str = "itemCounts") -> dict[str, int]:
    keys = ("total", "pending", "running", "succeeded", "failed", "timedOut", "aborted")
    return {key: described[which][key] for key in keys}


def until(condition: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)
    return value


# -- 16 -------------------------------------------------------------------------------------------------------
CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}]
CAUGHT = {"Type": "Pass", "Result": "caught", "End": True}


def one_task(task: dict[str, Any]) -> dict[str, Any]:
    return {"StartAt": "Work", "States": {"Work": {**task, "End": True}, "Caught": CAUGHT}}


PASS_ON = {"StartAt": "Out", "States": {"Out": {"Type": "Pass", "End": True}}}  # its output: its input


def test_oversized_payloads_fail_the_execution(sfn: Any, lambdas: dict[str, Callable[[Any], Any]]) -> None:
    calls: list[int] = []

    def blob(event: dict[str, Any]) -> dict[str, Any]:
        calls.append(len(json.dumps(event)))
        return {"blob": "x" * event.get("n", 0)}

    lambdas["blob"] = blob
    big_result = invoke_state("blob", ResultSelector={"small": True})  # the Payload is big, the output not
    caught = one_task({**big_result, "Catch": CATCH_ALL})
    caught_by_name = one_task(
        {**big_result, "Catch": [{"ErrorEquals": ["States.DataLimitExceeded"], "Next": "Caught"}]}
    )
    retried = one_task(
        {**big_result, "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 1}]}
    )
    doubled = invoke_state("blob", ResultPath=None, OutputPath="$.n", Catch=CATCH_ALL)
    doubled["Parameters"] = {"FunctionName": FUNCTION.format("blob"), "Payload": {"a.$": "$.pad", "b.$": "$.pad"}}
    big_input = one_task(doubled)
    exactly_the_quota = {"p": "y" * (262_144 - 8)}  # {"p":"yy...y"}: 262,144 bytes
    accents = {"p": "é" * 100_000}  # 200,008 bytes of UTF-8, 600,009 with moto's \u escapes
    over_the_quota = {"p": "y" * (262_144 - 7)}
    result = {"n": 270_000}
    pad = {"n": 1, "pad": "p" * 140_000}

    plain = [run(sfn, caught, result), run(sfn, caught_by_name, result)]
    assert [p["status"] for p in plain] == ["SUCCEEDED", "SUCCEEDED"]  # caught
    calls.clear()
    plain_retried = run(sfn, retried, result)
    assert len(calls) == 2  # retried
    assert plain_retried["error"] == "States.DataLimitExceeded"
    assert "'lambda' returned a result" in plain_retried["cause"]  # the resource type, not the state
    calls.clear()
    assert run(sfn, big_input, pad)["status"] == "SUCCEEDED"
    assert calls[0] > 280_000  # the payload was sent
    assert run(sfn, PASS_ON, exactly_the_quota)["error"] == "States.DataLimitExceeded"
    assert run(sfn, PASS_ON, accents)["error"] == "States.DataLimitExceeded"

    with moto_patches.applied("state-data-limit"):
        calls.clear()
        terminal = [run(sfn, caught, result), run(sfn, caught_by_name, result), run(sfn, retried, result)]
        assert len(calls) == 3  # one call each: no retry
        calls.clear()
        oversized_input = run(sfn, big_input, pad)
        assert calls == []
        assert run(sfn, PASS_ON, exactly_the_quota)["status"] == "SUCCEEDED"
        assert run(sfn, PASS_ON, accents)["status"] == "SUCCEEDED"
        over = run(sfn, PASS_ON, over_the_quota)
        assert run(sfn, caught, {"n": 10})["status"] == "SUCCEEDED"  # small ones pass

    for failed in terminal:
        assert (failed["status"], failed["error"]) == ("FAILED", "States.DataLimitExceeded")
        assert failed["cause"] == (
            "The state/task 'Work' returned a result with a size exceeding the maximum number of bytes service limit."
        )
    assert (oversized_input["status"], oversized_input["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert oversized_input["cause"].startswith("The state/task 'Work' has an input with a size exceeding")
    assert over["error"] == "States.DataLimitExceeded"
    assert "'Out' returned a result" in over["cause"]


# -- 17 -------------------------------------------------------------------------------------------------------
def gated_child(function: str = "gate") -> dict[str, Any]:
    """Calls the Lambda function, fails if it answers {"fail": true}, else writes the item's row."""
    return {
        "StartAt": "Work",
        "States": {
            "Work": invoke_state(
                function, ResultSelector={"fail.$": "$.Payload.fail"}, ResultPath="$.result", Next="Check"
            ),
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.result.fail", "BooleanEquals": True, "Next": "Broken"}],
                "Default": "Write",
            },
            "Broken": {"Type": "Fail", "Error": "Batch.Broken", "Cause": "odd item"},
            "Write": WRITE_ROW,
        },
    }


def items(*fail: bool) -> dict[str, Any]:
    return {"items": [{"i": i, "fail": f} for i, f in enumerate(fail)]}


class Gate:
    """A Lambda function whose invocations wait until the test opens the gate; records who entered."""

    def __init__(self) -> None:
        self.entered: list[int] = []
        self.open = threading.Event()

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        self.entered.append(event["i"])
        self.open.wait(10)
        return {"fail": event["fail"]}


def test_map_run_counts_all_items_from_the_start(sfn: Any, lambdas: dict[str, Callable[[Any], Any]]) -> None:
    definition = distributed_map(gated_child(), MaxConcurrency=1, ToleratedFailurePercentage=100.0)

    def run_counts() -> tuple[dict[str, int], dict[str, int], dict[str, Any]]:
        rows_table()
        lambdas["gate"] = gate = Gate()
        execution_arn = start(sfn, definition, items(False, True, False))
        until(lambda: gate.entered)
        while_running = counts(map_run(sfn, execution_arn))
        gate.open.set()
        wait(sfn, execution_arn)
        return while_running, counts(map_run(sfn, execution_arn)), map_run(sfn, execution_arn)

    plain_running, plain_end, plain_run = run_counts()
    assert plain_running == {**plain_running, "total": 1, "pending": 0, "running": 1}  # only the started one
    assert counts(plain_run, "executionCounts")["running"] == 1  # never back to 0 after the failure

    boto3.client("dynamodb", region_name=REGION).delete_table(TableName=TABLE)
    with moto_patches.applied("map-run-counters"):
        running, end, described = run_counts()
    zero = {"pending": 0, "running": 0, "succeeded": 0, "failed": 0, "timedOut": 0, "aborted": 0}
    assert running == {**zero, "total": 3, "pending": 2, "running": 1}
    assert end == counts(described, "executionCounts") == {**zero, "total": 3, "succeeded": 2, "failed": 1}
    assert described["status"] == "SUCCEEDED"
    assert plain_end == end  # the same at the end, except executionCounts.running


def test_stopped_parent_aborts_its_map_run(sfn: Any, lambdas: dict[str, Callable[[Any], Any]]) -> None:
    definition = distributed_map(gated_child(), MaxConcurrency=1, ToleratedFailurePercentage=100.0)

    def stopped() -> dict[str, Any]:
        rows_table()
        lambdas["gate"] = gate = Gate()
        execution_arn = start(sfn, definition, items(False, False, False))
        until(lambda: gate.entered)
        sfn.stop_execution(executionArn=execution_arn)
        gate.open.set()
        until(lambda: map_run(sfn, execution_arn)["status"] != "RUNNING")
        assert sfn.describe_execution(executionArn=execution_arn)["status"] == "ABORTED"
        described = map_run(sfn, execution_arn)
        assert row_keys(boto3.client("dynamodb", region_name=REGION)) == []  # the Write after the Lambda call
        boto3.client("dynamodb", region_name=REGION).delete_table(TableName=TABLE)
        return described

    plain = stopped()
    assert plain["status"] == "SUCCEEDED"
    assert counts(plain)["aborted"] == 1
    assert counts(plain)["failed"] == 2  # the items after the stop: failed, not pending

    with moto_patches.applied("map-run-counters"):
        patched = stopped()
    assert patched["status"] == "ABORTED"
    zero = {"pending": 0, "running": 0, "succeeded": 0, "failed": 0, "timedOut": 0, "aborted": 0}
    assert counts(patched) == counts(patched, "executionCounts") == {**zero, "total": 3, "aborted": 1, "pending": 2}


# -- 14 (failing fast, with 17) -------------------------------------------------------------------------------
class FailWhenThreeEntered(Gate):
    """A failing item answers once three invocations have entered; the others wait for the gate."""

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        self.entered.append(event["i"])
        if event["fail"]:
            until(lambda: len(self.entered) >= 3)
            return {"fail": True}
        self.open.wait(10)
        return {"fail": False}


def run_failing_map(
    sfn: Any, lambdas: dict[str, Callable[[Any], Any]], definition: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Items 0 (fails), 1 and 2 start together, 3 and 4 wait; the gate opens once item 0 has failed."""
    dynamodb = rows_table()
    lambdas["gate"] = gate = FailWhenThreeEntered()
    execution_arn = start(sfn, definition, items(True, False, False, False, False))
    until(lambda: gate.entered)  # the execution runs: its Map run can be listed (see 20)
    until(lambda: counts(map_run(sfn, execution_arn))["failed"] == 1)
    gate.open.set()
    described = wait(sfn, execution_arn)
    rows = row_keys(dynamodb)
    dynamodb.delete_table(TableName=TABLE)
    return described, map_run(sfn, execution_arn), rows


def test_map_run_fails_fast_and_aborts_standard_children(sfn: Any, lambdas: dict[str, Callable[[Any], Any]]) -> None:
    definition = distributed_map(gated_child(), MaxConcurrency=3)

    plain, _, plain_rows = run_failing_map(sfn, lambdas, definition)
    assert plain["status"] == "SUCCEEDED"
    assert plain_rows == ["1", "2", "3", "4"]  # every item ran

    with moto_patches.applied("map-failure-tolerance"):  # without 17: the threshold is checked at the end
        at_the_end, _, late_rows = run_failing_map(sfn, lambdas, definition)
    assert at_the_end["error"] == "States.ExceedToleratedFailureThreshold"
    assert late_rows == ["1", "2", "3", "4"]

    with moto_patches.applied("map-run-counters", "map-failure-tolerance"):
        failed, described, rows = run_failing_map(sfn, lambdas, definition)
    assert (failed["status"], failed["error"]) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    assert rows == []  # 1 and 2 were stopped while their Lambda call ran: their Write did not run
    assert described["status"] == "FAILED"
    zero = {"pending": 0, "running": 0, "succeeded": 0, "failed": 0, "timedOut": 0, "aborted": 0}
    assert counts(described) == {**zero, "total": 5, "failed": 1, "aborted": 2, "pending": 2}


@pytest.mark.parametrize(
    ("tolerance", "failures", "outcome"),
    [
        ({"ToleratedFailureCountPath": "$.count", "count": 1}, 1, "SUCCEEDED"),
        ({"ToleratedFailureCountPath": "$.count", "count": 1}, 2, "FAILED"),
        ({"ToleratedFailurePercentagePath": "$.percentage", "percentage": 25}, 1, "SUCCEEDED"),  # 1 of 4
        ({"ToleratedFailurePercentagePath": "$.percentage", "percentage": 25}, 2, "FAILED"),
    ],
)
def test_tolerance_paths_are_evaluated(sfn: Any, tolerance: dict[str, Any], failures: int, outcome: str) -> None:
    path_field, value_field = list(tolerance)
    definition = distributed_map(ODD_ITEMS_FAIL, **{path_field: tolerance[path_field]})
    execution_input = {"items": [{"fail": n < failures} for n in range(4)], value_field: tolerance[value_field]}
    with moto_patches.applied("map-run-counters", "map-failure-tolerance"):
        assert run(sfn, definition, execution_input)["status"] == outcome


# -- 18 -------------------------------------------------------------------------------------------------------
def express(definition: dict[str, Any]) -> dict[str, Any]:
    definition["States"]["Map"]["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = "EXPRESS"
    return definition


def test_express_children_time_out(
    sfn: Any, lambdas: dict[str, Callable[[Any], Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    definition = express(distributed_map(gated_child(), ToleratedFailureCount=1))
    with pytest.raises(ClientError, match="""mismatched input '"EXPRESS"' expecting '"STANDARD"'"""):
        sfn.create_state_machine(name="plain", definition=json.dumps(definition), roleArn=ROLE)

    monkeypatch.setattr(express_patches, "EXPRESS_MAX_DURATION_SECS", 1.0)  # item 0 takes well under a second
    dynamodb = rows_table()
    slow = threading.Event()

    def item_1_is_slow(event: dict[str, Any]) -> dict[str, Any]:
        if event["i"] == 1:
            slow.wait(10)
        return {"fail": False}

    lambdas["gate"] = item_1_is_slow
    with moto_patches.applied("express-child-workflows", "map-run-counters", "map-failure-tolerance"):
        arn = sfn.create_state_machine(name="express", definition=json.dumps(definition), roleArn=ROLE)
        execution = sfn.start_execution(stateMachineArn=arn["stateMachineArn"], input=json.dumps(items(False, False)))
        described = wait(sfn, execution["executionArn"])
        slow.set()  # item 1's Lambda call returns only now, after its child timed out
        time.sleep(0.2)
        tolerated = map_run(sfn, execution["executionArn"])

        monkeypatch.setattr(express_patches, "EXPRESS_MAX_DURATION_SECS", 300)
        slow.clear()
        within = run(sfn, definition, items(False))
    assert sfn.describe_state_machine(stateMachineArn=arn["stateMachineArn"])["definition"] == json.dumps(definition)
    assert described["status"] == "SUCCEEDED", (described, tolerated)  # one timed-out child is tolerated
    assert row_keys(dynamodb) == ["0"]  # item 1's Write did not run after its Lambda call returned
    expected = {"pending": 0, "running": 0, "failed": 0, "aborted": 0, "total": 2, "succeeded": 1, "timedOut": 1}
    assert counts(tolerated) == counts(tolerated, "executionCounts") == expected
    assert within["status"] == "SUCCEEDED"


def test_express_children_are_not_stopped(sfn: Any, lambdas: dict[str, Callable[[Any], Any]]) -> None:
    definition = express(distributed_map(gated_child(), MaxConcurrency=3))
    with moto_patches.applied("express-child-workflows", "map-run-counters", "map-failure-tolerance"):
        failed, described, rows = run_failing_map(sfn, lambdas, definition)

        # nor by the parent's StopExecution
        dynamodb = rows_table()
        lambdas["gate"] = gate = Gate()
        execution_arn = start(sfn, definition, items(False, False))
        until(lambda: len(gate.entered) == 2)
        sfn.stop_execution(executionArn=execution_arn)
        gate.open.set()
        until(lambda: map_run(sfn, execution_arn)["status"] != "RUNNING")
        stopped = map_run(sfn, execution_arn)
    assert (failed["status"], failed["error"]) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    assert rows == ["1", "2"]  # the running Express children ran to their end
    zero = {"pending": 0, "running": 0, "succeeded": 0, "failed": 0, "timedOut": 0, "aborted": 0}
    assert counts(described) == {**zero, "total": 5, "failed": 1, "succeeded": 2, "pending": 2}
    assert row_keys(dynamodb) == ["0", "1"]
    assert stopped["status"] == "ABORTED"
    assert counts(stopped) == {**zero, "total": 2, "succeeded": 2}


# -- 19 -------------------------------------------------------------------------------------------------------
WRITER = {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "results", "Prefix": "jobs/j1"}}


def written(s3: Any) -> dict[str, Any]:
    """Every object of the results bucket, by key (JSON)."""
    listed = s3.list_objects_v2(Bucket="results").get("Contents", [])
    return {o["Key"]: json.loads(s3.get_object(Bucket="results", Key=o["Key"])["Body"].read()) for o in listed}


def by_name(files: dict[str, Any], name: str) -> tuple[str, Any]:
    ((key, body),) = [(key, body) for key, body in files.items() if key.endswith("/" + name)]
    return key, body


def kinds(event: dict[str, Any]) -> dict[str, Any]:
    """A worker: returns a small result, a result over the 256 KiB quota, or fails."""
    if event["kind"] == "fail":
        raise ValueError(f"item {event['i']} is odd")
    return {"i": event["i"], "blob": "x" * (270_000 if event["kind"] == "big" else 3)}


KINDS_CHILD = {"StartAt": "Work", "States": {"Work": invoke_state("kinds", OutputPath="$.Payload", End=True)}}


def kinds_input(*kinds: str) -> dict[str, Any]:
    return {"items": [{"i": i, "kind": kind} for i, kind in enumerate(kinds)]}


def test_result_writer_writes_every_childs_record(sfn: Any, lambdas: dict[str, Callable[[Any], Any]]) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="results")
    lambdas["kinds"] = kinds
    tolerant = distributed_map(KINDS_CHILD, ResultWriter=WRITER, ToleratedFailurePercentage=100.0)
    intolerant = distributed_map(KINDS_CHILD, ResultWriter=WRITER, MaxConcurrency=1)
    three = kinds_input("ok", "fail", "big")

    plain = run(sfn, tolerant, three)
    assert plain["status"] == "SUCCEEDED"
    ((key, manifest),) = written(s3).items()
    assert key.endswith("/manifest.json")
    assert manifest["ResultFiles"] == {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    s3.delete_object(Bucket="results", Key=key)
    with moto_patches.applied("map-run-counters", "map-failure-tolerance"):
        assert run(sfn, intolerant, three)["error"] == "States.ExceedToleratedFailureThreshold"
    assert written(s3) == {}  # nothing for a failed Map run

    with moto_patches.applied("state-data-limit", "map-run-counters", "map-failure-tolerance", "result-writer-files"):
        succeeded = run(sfn, tolerant, three)
        files = written(s3)
        sizes = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket="results")["Contents"]}
        for key in files:
            s3.delete_object(Bucket="results", Key=key)
        failed = run(sfn, intolerant, kinds_input("ok", "fail", "ok", "ok"))
        failed_files = written(s3)

    assert succeeded["status"] == "SUCCEEDED"
    output = json.loads(succeeded["output"])
    manifest_key, manifest = by_name(files, "manifest.json")
    assert output["ResultWriterDetails"] == {"Bucket": "results", "Key": manifest_key}
    run_id = output["MapRunArn"].rsplit(":", 1)[1]
    assert manifest_key == f"jobs/j1/{run_id}/manifest.json"
    assert manifest["DestinationBucket"] == "results"
    assert manifest["MapRunArn"] == output["MapRunArn"]
    assert manifest["ResultFiles"]["PENDING"] == []  # only files with records
    for status in ("SUCCEEDED", "FAILED"):
        (listed,) = manifest["ResultFiles"][status]
        assert listed["Key"] == f"jobs/j1/{run_id}/{status}_0.json"
        assert listed["Size"] == sizes[listed["Key"]]
    assert len(files) == 3

    (ok,) = files[f"jobs/j1/{run_id}/SUCCEEDED_0.json"]
    assert json.loads(ok["Input"]) == {"i": 0, "kind": "ok"}
    assert json.loads(ok["Output"]) == {"i": 0, "blob": "xxx"}
    assert ok["InputDetails"] == ok["OutputDetails"] == {"Included": True}
    assert (ok["Status"], ok["RedriveCount"], ok["RedriveStatus"]) == ("SUCCEEDED", 0, "NOT_REDRIVABLE")
    state_machine_arn = map_run(sfn, succeeded["executionArn"])["mapRunArn"].rsplit(":", 1)[0]
    assert ok["StateMachineArn"] == state_machine_arn.replace(":mapRun:", ":stateMachine:")
    assert ok["ExecutionArn"] == f"{ok['StateMachineArn'].replace(':stateMachine:', ':execution:')}:{ok['Name']}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ok["StartDate"])
    assert ok["StartDate"] <= ok["StopDate"]
    odd, big = files[f"jobs/j1/{run_id}/FAILED_0.json"]
    assert (odd["Status"], odd["Error"], odd["RedriveStatus"]) == ("FAILED", "ValueError", "REDRIVABLE")
    assert json.loads(odd["Cause"])["errorMessage"] == "item 1 is odd"
    assert "Output" not in odd
    assert (big["Status"], big["Error"]) == ("FAILED", "States.DataLimitExceeded")
    assert big["Cause"].startswith("The state/task 'Work' returned a result with a size exceeding")

    assert failed["error"] == "States.ExceedToleratedFailureThreshold"
    _, failed_manifest = by_name(failed_files, "manifest.json")
    assert [len(failed_manifest["ResultFiles"][status]) for status in ("FAILED", "PENDING", "SUCCEEDED")] == [1, 1, 1]
    _, pending = by_name(failed_files, "PENDING_0.json")
    assert pending == [
        {"Input": json.dumps(item, separators=(",", ":")), "InputDetails": {"Included": True}, "Status": "PENDING"}
        for item in ({"i": 2, "kind": "ok"}, {"i": 3, "kind": "ok"})
    ]
    _, (odd_again,) = by_name(failed_files, "FAILED_0.json")
    assert odd_again["Error"] == "ValueError"


def test_result_writer_records_aborted_and_timed_out_children(
    sfn: Any, lambdas: dict[str, Callable[[Any], Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="results")
    standard = distributed_map(gated_child(), MaxConcurrency=3, ResultWriter=WRITER)
    with moto_patches.applied("map-run-counters", "map-failure-tolerance"):
        assert run_failing_map(sfn, lambdas, standard)[0]["error"] == "States.ExceedToleratedFailureThreshold"
    assert written(s3) == {}

    with moto_patches.applied("map-run-counters", "map-failure-tolerance", "result-writer-files"):
        run_failing_map(sfn, lambdas, standard)
        aborted_files = written(s3)
        for key in aborted_files:
            s3.delete_object(Bucket="results", Key=key)
        with moto_patches.applied("express-child-workflows"):
            monkeypatch.setattr(express_patches, "EXPRESS_MAX_DURATION_SECS", 0.5)
            lambdas["slow"] = slow = Gate()
            timing_out = express(distributed_map(gated_child("slow"), ToleratedFailureCount=1, ResultWriter=WRITER))
            try:
                assert run(sfn, timing_out, items(False))["status"] == "SUCCEEDED"
            finally:
                slow.open.set()
        timed_out_files = written(s3)

    _, (broken, *aborted) = by_name(aborted_files, "FAILED_0.json")
    assert (broken["Status"], broken["Error"], broken["Cause"]) == ("FAILED", "Batch.Broken", "odd item")
    assert [(a["Status"], json.loads(a["Input"])["i"]) for a in sorted(aborted, key=lambda a: a["Input"])] == [
        ("ABORTED", 1),
        ("ABORTED", 2),
    ]
    assert all("Output" not in a and "Error" not in a for a in aborted)
    _, pending = by_name(aborted_files, "PENDING_0.json")
    assert [json.loads(p["Input"])["i"] for p in pending] == [3, 4]
    _, (timed_out,) = by_name(timed_out_files, "FAILED_0.json")
    assert (timed_out["Status"], timed_out["Error"]) == ("TIMED_OUT", "States.Timeout")
    assert timed_out["Cause"] == "The execution ran longer than an Express workflow's maximum duration of 0.5 seconds."


# -- 20 -------------------------------------------------------------------------------------------------------
def test_map_runs_are_found_while_an_execution_starts(sfn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    starting = sfn.create_state_machine(name="starting", definition=PASS, roleArn=ROLE)["stateMachineArn"]
    done = run(sfn, distributed_map(json.loads(PASS)), {"items": [1]})
    map_run_arn = sfn.list_map_runs(executionArn=done["executionArn"])["mapRuns"][0]["mapRunArn"]
    parsing = threading.Event()
    parse = ExecutionWorker._get_evaluation_entrypoint

    def slow_parse(self: Any) -> Any:
        parsing.wait(10)  # as a long definition takes
        return parse(self)

    monkeypatch.setattr(ExecutionWorker, "_get_evaluation_entrypoint", slow_parse)
    execution_arn = sfn.start_execution(stateMachineArn=starting)["executionArn"]
    unknown = map_run_arn.rsplit(":", 1)[0] + ":nope"
    try:
        with pytest.raises(AttributeError, match="map_run_record_pool_manager"):
            sfn.list_map_runs(executionArn=execution_arn)
        with pytest.raises(AttributeError, match="map_run_record_pool_manager"):
            sfn.describe_map_run(mapRunArn=map_run_arn)  # another execution's Map run

        with moto_patches.applied("map-runs-of-starting-executions"):
            assert sfn.list_map_runs(executionArn=execution_arn)["mapRuns"] == []
            assert sfn.describe_map_run(mapRunArn=map_run_arn)["status"] == "SUCCEEDED"
            sfn.update_map_run(mapRunArn=map_run_arn, maxConcurrency=5)
            assert sfn.describe_map_run(mapRunArn=map_run_arn)["maxConcurrency"] == 5
            with pytest.raises(sfn.exceptions.ResourceNotFound, match="Resource not found"):
                sfn.describe_map_run(mapRunArn=unknown)
    finally:
        parsing.set()
    assert wait(sfn, execution_arn)["status"] == "SUCCEEDED"


# -- what the job path calls, through a running endpoint (no gap: checks) --------------------------------------
@pytest.fixture
def local_endpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[Any]:
    """An endpoint served from this process (its interpreter's requests answered in-process: 11, 11b)."""
    from moto.core.config import default_user_config

    from burst_client.local import EndpointConfig, LocalEndpoint

    monkeypatch.setenv("MOTO_PORT", "0")  # the endpoint sets it: restored afterwards
    monkeypatch.setitem(default_user_config, "stepfunctions", default_user_config.get("stepfunctions"))
    endpoint = LocalEndpoint(EndpointConfig(port=0, concurrency=50, work_dir=tmp_path))
    endpoint.start()
    try:
        yield endpoint
    finally:
        endpoint.stop()


def endpoint_client(endpoint: Any, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint.url, region_name=REGION)


def test_dynamodb_integration_through_the_endpoint(local_endpoint: Any) -> None:
    sfn = endpoint_client(local_endpoint, "stepfunctions")
    dynamodb = endpoint_client(local_endpoint, "dynamodb")
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    update = {
        "TableName": TABLE,
        "Key": {"k": {"S.$": "$.k"}},
        "UpdateExpression": "SET #r = :r, #n = if_not_exists(#n, :zero) + :one, #f = if_not_exists(#f, :me) REMOVE #s",
        "ExpressionAttributeNames": {"#r": "result", "#n": "attempts", "#f": "first", "#s": "stale"},
        "ExpressionAttributeValues": {
            ":r": {"S.$": "States.JsonToString($.result)"},
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
            ":me": {"S.$": "$$.Execution.Name"},
        },
        "ConditionExpression": "attribute_exists(k)",
        "ReturnValues": "ALL_NEW",
    }
    definition = {
        "StartAt": "Choose",
        "States": {
            "Choose": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.put", "BooleanEquals": True, "Next": "Put"}],
                "Default": "Update",
            },
            "Put": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {"TableName": TABLE, "Item": {"k": {"S.$": "$.k"}, "stale": {"S": "yes"}}},
                "ResultPath": None,
                "Next": "Update",
            },
            "Update": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:updateItem",
                "Parameters": update,
                "ResultSelector": {"attempts.$": "$.Attributes.attempts.N"},
                "Catch": [
                    {
                        "ErrorEquals": ["DynamoDB.ConditionalCheckFailedException"],
                        "ResultPath": "$.error",
                        "Next": "Absent",
                    }
                ],
                "End": True,
            },
            "Absent": {"Type": "Pass", "Parameters": {"error.$": "$.error.Error"}, "End": True},
        },
    }
    first = run(sfn, definition, {"k": "a", "put": True, "result": {"rows": [1, 2]}})
    second = run(sfn, definition, {"k": "a", "put": False, "result": {"rows": [3]}})
    absent = run(sfn, definition, {"k": "b", "put": False, "result": {}})

    assert json.loads(first["output"]) == {"attempts": "1"}, first
    assert json.loads(second["output"]) == {"attempts": "2"}
    assert json.loads(absent["output"]) == {"error": "DynamoDB.ConditionalCheckFailedException"}
    item = dynamodb.get_item(TableName=TABLE, Key={"k": {"S": "a"}})["Item"]
    assert item == {
        "k": {"S": "a"},
        "result": {"S": '{"rows":[3]}'},
        "attempts": {"N": "2"},
        "first": {"S": first["name"]},
    }


def test_lambda_settings_through_the_endpoint(local_endpoint: Any) -> None:
    from tests.local.support import create_function, make_zip

    lambda_client = endpoint_client(local_endpoint, "lambda")
    arn = create_function(
        lambda_client,
        endpoint_client(local_endpoint, "iam"),
        "worker",
        make_zip({"h.py": "def handler(event, context):\n    return event\n"}),
        Timeout=42,
    )
    assert lambda_client.get_function_configuration(FunctionName=arn)["Timeout"] == 42
    assert "ReservedConcurrentExecutions" not in lambda_client.get_function_concurrency(FunctionName="worker")
    assert "Concurrency" not in lambda_client.get_function(FunctionName="worker")
    put = lambda_client.put_function_concurrency(FunctionName="worker", ReservedConcurrentExecutions=7)
    assert put["ReservedConcurrentExecutions"] == 7
    assert lambda_client.get_function_concurrency(FunctionName=arn)["ReservedConcurrentExecutions"] == 7
    assert lambda_client.get_function(FunctionName="worker")["Concurrency"] == {"ReservedConcurrentExecutions": 7}
    limits = lambda_client.get_account_settings()["AccountLimit"]
    assert (limits["ConcurrentExecutions"], limits["UnreservedConcurrentExecutions"]) == (50, 43)
    lambda_client.delete_function_concurrency(FunctionName="worker")
    assert "ReservedConcurrentExecutions" not in lambda_client.get_function_concurrency(FunctionName="worker")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function_concurrency(FunctionName="nope")


def test_map_runs_through_the_endpoint(local_endpoint: Any) -> None:
    sfn = endpoint_client(local_endpoint, "stepfunctions")
    described = run(sfn, distributed_map(ODD_ITEMS_FAIL, ToleratedFailureCount=1), ONE_IN_FOUR)
    assert described["status"] == "SUCCEEDED"
    (listed,) = sfn.list_map_runs(executionArn=described["executionArn"])["mapRuns"]
    assert listed["executionArn"] == described["executionArn"]
    map_run_arn = listed["mapRunArn"]
    zero = {"pending": 0, "running": 0, "succeeded": 0, "failed": 0, "timedOut": 0, "aborted": 0}
    assert counts(sfn.describe_map_run(mapRunArn=map_run_arn)) == {**zero, "total": 4, "succeeded": 3, "failed": 1}


# -- 21 -------------------------------------------------------------------------------------------------------
START_TIME = {
    "StartAt": "Stamp",
    "States": {
        "Stamp": {"Type": "Pass", "Parameters": {"start.$": "States.Format('{}', $$.Execution.StartTime)"}, "End": True}
    },
}


def test_execution_start_time_is_a_string(sfn: Any) -> None:
    plain = run(sfn, START_TIME)
    assert (plain["status"], plain["error"]) == ("FAILED", "States.Runtime")
    assert "Object of type datetime is not JSON serializable" in plain["cause"]

    with moto_patches.applied("execution-start-time-string"):
        patched = run(sfn, START_TIME)
    start = json.loads(patched["output"])["start"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", start)
    assert start == iso_timestamp(patched["startDate"])


# -- 22 -------------------------------------------------------------------------------------------------------
WHO_AM_I = {
    "StartAt": "Who",
    "States": {
        "Who": {
            "Type": "Pass",
            "Parameters": {"id.$": "$$.Execution.Id", "name.$": "$$.Execution.Name", "input.$": "$$.Execution.Input"},
            "End": True,
        }
    },
}


def test_map_children_have_their_own_execution_context(sfn: Any) -> None:
    definition = distributed_map(
        WHO_AM_I, Label="Batches", ItemSelector={"value.$": "$$.Map.Item.Value", "parent.$": "$$.Execution.Id"}
    )
    plain_parent = run(sfn, definition, {"items": [7]})
    (plain,) = json.loads(plain_parent["output"])
    assert plain["id"] == plain_parent["executionArn"]  # the parent's
    assert plain["input"] == {"items": [7]}

    with moto_patches.applied("map-run-counters", "execution-start-time-string", "map-child-execution-context"):
        parent = run(sfn, definition, {"items": [7, 8]})
        started = json.loads(run(sfn, distributed_map(START_TIME), {"items": [1]})["output"])[0]["start"]
    first, second = json.loads(parent["output"])
    assert first["input"] == {"value": 7, "parent": parent["executionArn"]}  # ItemSelector: the parent's context
    assert second["input"] == {"value": 8, "parent": parent["executionArn"]}
    assert re.fullmatch(r"[0-9a-f-]{36}", first["name"])
    assert first["name"] != second["name"]
    execution_arn_prefix = parent["stateMachineArn"].replace(":stateMachine:", ":execution:") + "/Batches:"
    assert first["id"] == execution_arn_prefix + first["name"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", started)


# -- 23 ---------------------------------------------------------------------------------------------------------
def test_map_children_keep_no_history(sfn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager

    recorded: list[int] = []
    original = EventManager.add_event

    def counting(self: Any, *args: Any, **kwargs: Any) -> int:
        recorded.append(id(self))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(EventManager, "add_event", counting)
    child = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "End": True}}}
    definition = distributed_map(child)

    def history_types() -> tuple[list[str], int]:
        recorded.clear()
        described = run(sfn, definition, {"items": list(range(20))})
        assert described["status"] == "SUCCEEDED"
        events = sfn.get_execution_history(executionArn=described["executionArn"], maxResults=1000)["events"]
        return [event["type"] for event in events], len(recorded)

    plain, plain_count = history_types()
    assert plain_count >= len(plain) + 20 * 4  # each child's states were recorded too, in a manager nobody reads
    with moto_patches.applied("map-children-history-unread"):
        patched, patched_count = history_types()
    assert patched == plain  # the execution's own history is the same
    assert patched_count == len(patched)


# -- 24 ---------------------------------------------------------------------------------------------------------
TABLE_24 = "plain-updates"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        create_tasks_table(client, TABLE_24)
        yield client


def update_outcome(dynamodb: Any, batch: int, request: dict[str, Any]) -> Any:
    key = {"jobId": {"S": "j"}, "batchId": {"N": str(batch)}}
    try:
        dynamodb.update_item(TableName=TABLE_24, Key=key, **request)
    except ClientError as exc:
        return ("error", exc.response["Error"]["Code"], exc.response["Error"]["Message"])
    return dynamodb.get_item(TableName=TABLE_24, Key=key, ConsistentRead=True).get("Item")


ROW_WRITE = {
    "UpdateExpression": "SET #s = :s, #o = :o, #t = if_not_exists(#t, :t) REMOVE #e, #c",
    "ExpressionAttributeNames": {"#s": "status", "#o": "output", "#t": "ttl", "#e": "error", "#c": "cause"},
    "ExpressionAttributeValues": {":s": {"S": "succeeded"}, ":o": {"S": '{"results": [1]}'}, ":t": {"N": "7"}},
}
UPDATES = [
    ROW_WRITE,
    {**ROW_WRITE, "ExpressionAttributeValues": {**ROW_WRITE["ExpressionAttributeValues"], ":o": {"S": ""}}},
    {
        "UpdateExpression": "set #a=:a, #b = if_not_exists(#a, :b)",
        "ExpressionAttributeNames": {"#a": "a", "#b": "b"},
        "ExpressionAttributeValues": {":a": {"N": "1"}, ":b": {"BOOL": True}},
    },
    {  # the same attribute set and removed
        "UpdateExpression": "SET #o = :o REMOVE #o",
        "ExpressionAttributeNames": {"#o": "output"},
        "ExpressionAttributeValues": {":o": {"S": "x"}},
    },
    {  # a key attribute
        "UpdateExpression": "SET #k = :k",
        "ExpressionAttributeNames": {"#k": "jobId"},
        "ExpressionAttributeValues": {":k": {"S": "other"}},
    },
    {  # a value that is not defined
        "UpdateExpression": "SET #a = :missing, #b = :x",
        "ExpressionAttributeNames": {"#a": "a", "#b": "b"},
        "ExpressionAttributeValues": {":x": {"S": "x"}},
    },
    {  # a set value (moto's own rules)
        "UpdateExpression": "SET #a = :a",
        "ExpressionAttributeNames": {"#a": "a"},
        "ExpressionAttributeValues": {":a": {"SS": []}},
    },
    {  # not a plain action
        "UpdateExpression": "SET #a = #a + :one",
        "ExpressionAttributeNames": {"#a": "n"},
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    },
    {  # too large for an item
        "UpdateExpression": "SET #a = :a",
        "ExpressionAttributeNames": {"#a": "a"},
        "ExpressionAttributeValues": {":a": {"S": "x" * 410_000}},
    },
]


@pytest.mark.parametrize("existing", [None, {"status": {"S": "failed"}, "error": {"S": "E"}, "ttl": {"N": "5"}}])
def test_plain_update_items_end_as_moto_ends_them(
    dynamodb: Any, existing: dict[str, Any] | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.dynamodb.models import DynamoDBBackend

    reached: list[str] = []  # the keys of the updates that got past the handler to the backend
    backend_update = DynamoDBBackend.update_item

    @functools.wraps(backend_update)
    def noting(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        reached.append(key["batchId"]["N"])
        return backend_update(self, table_name, key, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "update_item", noting)

    def outcomes() -> list[Any]:
        for table in dynamodb.scan(TableName=TABLE_24)["Items"]:
            dynamodb.delete_item(TableName=TABLE_24, Key={"jobId": table["jobId"], "batchId": table["batchId"]})
        if existing is not None:
            for batch in range(len(UPDATES)):
                item = {"jobId": {"S": "j"}, "batchId": {"N": str(batch)}, **existing}
                dynamodb.put_item(TableName=TABLE_24, Item=item)
        return [update_outcome(dynamodb, batch, request) for batch, request in enumerate(UPDATES)]

    plain = outcomes()
    reached.clear()  # from here on: what reaches the backend with the fast path
    with moto_patches.applied("plain-update-item"):
        assert outcomes() == plain
    assert plain[0]["ttl"] == ({"N": "5"} if existing else {"N": "7"})  # if_not_exists kept its own
    # the updates the fast path leaves to moto reach moto's backend (not stopped by the handler before it),
    # and moto refuses them: the errors compared above are the backend's
    for case in (3, 4, 5):
        assert plain_update(UPDATES[case]["UpdateExpression"]) is not None
        assert plain[case][0] == "error", plain[case]
        assert str(case) in reached


def test_plain_update_items_skip_moto_validation(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.parsing import validators

    validated: list[int] = []
    original = validators.Validator.validate

    def counting(self: Any) -> Any:
        validated.append(1)
        return original(self)

    monkeypatch.setattr(validators.Validator, "validate", counting)
    update_outcome(dynamodb, 1, ROW_WRITE)
    assert len(validated) == 2  # a new item is validated twice
    validated.clear()
    with moto_patches.applied("plain-update-item"):
        update_outcome(dynamodb, 2, ROW_WRITE)
    assert validated == []


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("SET #a = :a", ((("#a", None, ":a"),), ())),
        (
            "set #a=:a , #b = if_not_exists( #b , :b ) remove #c,#d",
            ((("#a", None, ":a"), ("#b", "#b", ":b")), ("#c", "#d")),
        ),
        ("SET a = :a", None),
        ("SET #a = #b", None),
        ("SET #a = :a + :b", None),
        ("ADD #a :a", None),
        ("REMOVE #a", None),
        ("SET #a = :a REMOVE #b.c", None),
        ("SET #a = list_append(#a, :a)", None),
    ],
)
def test_plain_update_expressions(expression: str, expected: Any) -> None:
    found = plain_update(expression)
    assert (found and (found.sets, found.removes)) == expected


# -- 25 ---------------------------------------------------------------------------------------------------------
def test_botocore_invocation_ids_keep_the_interpreter_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    import uuid

    from botocore import endpoint

    drawn_from_urandom: list[int] = []
    real_urandom = os.urandom

    def counting_urandom(size: int) -> bytes:
        drawn_from_urandom.append(size)
        return real_urandom(size)

    monkeypatch.setattr(os, "urandom", counting_urandom)
    endpoint.uuid.uuid4()
    assert drawn_from_urandom == [16]  # plain botocore: the OS's random source, which releases the lock
    drawn_from_urandom.clear()
    with moto_patches.applied("invocation-ids-keep-the-lock"):
        ids = {str(endpoint.uuid.uuid4()) for _ in range(1000)}
        assert all(uuid.UUID(text).version == 4 for text in ids)
    assert drawn_from_urandom == []
    assert len(ids) == 1000


# -- 26 ---------------------------------------------------------------------------------------------------------
ITEM_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("put_item", {"TableName": TABLE_24, "Item": {"jobId": {"S": "j"}, "batchId": {"N": "1"}, "n": {"N": "2"}}}),
    ("get_item", {"TableName": TABLE_24, "Key": {"jobId": {"S": "j"}, "batchId": {"N": "1"}}, "ConsistentRead": True}),
    ("update_item", {"TableName": TABLE_24, "Key": {"jobId": {"S": "j"}, "batchId": {"N": "1"}}, **ROW_WRITE}),
    (  # the summary's conditional write of a failure: refused when the row exists
        "update_item",
        {
            "TableName": TABLE_24,
            "Key": {"jobId": {"S": "j"}, "batchId": {"N": "1"}},
            "UpdateExpression": "SET #s = :s",
            "ConditionExpression": "attribute_not_exists(#s)",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":s": {"S": "failed"}},
            "ReturnValues": "ALL_NEW",
        },
    ),
    ("update_item", {"TableName": TABLE_24, "Key": {"jobId": {"S": "j"}, "batchId": {"N": "2"}}, **UPDATES[5]}),
    ("get_item", {"TableName": "no-such-table", "Key": {"jobId": {"S": "j"}, "batchId": {"N": "1"}}}),
    ("put_item", {"TableName": TABLE_24, "Item": {"jobId": {"S": "j"}}}),  # no sort key
    ("put_item", {"TableName": TABLE_24, "Item": {"jobId": {"S": "j"}, "batchId": {"N": "3"}}, "Unknown": 1}),
    (
        "delete_item",
        {"TableName": TABLE_24, "Key": {"jobId": {"S": "j"}, "batchId": {"N": "1"}}, "ReturnValues": "ALL_OLD"},
    ),
    ("get_item", {"TableName": TABLE_24, "Key": {"jobId": {"S": "j"}, "batchId": {"N": "1"}}}),
    # values the interpreter's unvalidated client passes on: a binary as its base64 text, a null parameter,
    # a number that is not a string; and a refused condition that returns the item (a modeled error field)
    (
        "put_item",
        {
            "TableName": TABLE_24,
            "Item": {"jobId": {"S": "j"}, "batchId": {"N": "4"}, "blob": {"B": "aGk="}},
            "ReturnValues": None,
        },
    ),
    ("put_item", {"TableName": TABLE_24, "Item": {"jobId": {"S": "j"}, "batchId": {"N": "5"}, "n": {"N": 5}}}),
    ("get_item", {"TableName": TABLE_24, "Key": {"jobId": {"S": "j"}, "batchId": {"N": "4"}}}),
    (
        "update_item",
        {
            "TableName": TABLE_24,
            "Key": {"jobId": {"S": "j"}, "batchId": {"N": "4"}},
            "UpdateExpression": "SET #s = :s",
            "ConditionExpression": "attribute_not_exists(#b)",
            "ExpressionAttributeNames": {"#s": "status", "#b": "blob"},
            "ExpressionAttributeValues": {":s": {"S": "failed"}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
    ),
]


def item_call_outcomes(client: Any) -> list[Any]:
    outcomes: list[Any] = []
    for method, params in ITEM_CALLS:
        try:
            answer = getattr(client, method)(**params)
        except ClientError as exc:
            status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
            fields = {key: value for key, value in exc.response.items() if key != "ResponseMetadata"}
            outcomes.append((type(exc).__name__, fields, status))  # with the modeled fields (message, Item)
        except Exception as exc:  # what the caller sees, whatever it is
            outcomes.append((type(exc).__name__, str(exc)))
        else:
            outcomes.append({key: value for key, value in answer.items() if key != "ResponseMetadata"})
    return outcomes


def test_interpreter_item_calls_skip_the_request_layers(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str] = []
    parsed_by_moto = recorded_calls(monkeypatch, in_process, "normalize_request", lambda r: r.headers["X-Amz-Target"])

    def noting(request: Any, **_: Any) -> None:
        sent.append(request.headers["X-Amz-Target"].decode().split(".")[1])

    with moto_patches.applied("interpreter-client-cache"):
        interpreter = boto_client.boto_client_for(REGION, "dynamodb")
        interpreter.meta.events.register("before-send", noting)
        plain = item_call_outcomes(interpreter)
    # the gap: every call is built, signed and sent as an HTTP request for moto's request layer to parse
    assert sent == [method.title().replace("_", "") for method, params in ITEM_CALLS if "Unknown" not in params]
    assert "ConditionalCheckFailedException" in str(plain[3])
    assert plain[5][0] == "ResourceNotFoundException"
    assert plain[7] == ("KeyError", "'Unknown'")  # the interpreter's client does not validate
    assert plain[11][1]["Error"]["Code"] == "SerializationException"  # moto's parser refuses {"N": 5}
    assert plain[12]["Item"]["blob"] == {"B": b"aGk="}  # the text's bytes: botocore encodes them, moto decodes
    assert plain[13][1]["Item"]["blob"] == {"B": b"aGk="}  # the modeled field of ConditionalCheckFailed

    sent.clear()
    with moto_patches.applied("interpreter-client-cache", "interpreter-dynamodb-in-process"):
        direct = boto_client.boto_client_for(REGION, "dynamodb")
        direct.meta.events.register("before-send", noting)
        assert item_call_outcomes(direct) == plain  # the same answers, the same errors
        assert sent == []
        # only the requests moto's parser would change or refuse (a binary, a null, a number not a string)
        # are built, signed and parsed as in moto's in-process mode
        assert [bytes(target).decode().split(".")[1] for target in parsed_by_moto] == ["PutItem", "PutItem"]
        direct.describe_table(TableName=TABLE_24)  # any other call is the client's own
        assert sent == ["DescribeTable"]


def test_direct_item_calls_validate_as_their_client_does(dynamodb: Any) -> None:
    with moto_patches.applied("interpreter-dynamodb-in-process"):
        direct = in_process._InProcessDynamoDB(dynamodb)  # a client that validates its parameters
        with pytest.raises(ParamValidationError, match='Unknown parameter in input: "Unknown"'):
            direct.put_item(**ITEM_CALLS[7][1])
        with pytest.raises(ParamValidationError, match=r"Invalid type for parameter Item\.batchId\.N"):
            direct.put_item(TableName=TABLE_24, Item={"jobId": {"S": "j"}, "batchId": {"N": 1}})
        assert "Item" not in direct.get_item(TableName=TABLE_24, Key={"jobId": {"S": "j"}, "batchId": {"N": "1"}})


# -- 27 ---------------------------------------------------------------------------------------------------------
JSON_TYPES = (dict, list, str, int, float, bool, type(None))
NESTED = {"items": [{"id": n, "tags": ["a", {"deep": [n, n + 0.5, None, True]}]} for n in range(3)], "label": "x"}


def counting_deepcopies(monkeypatch: pytest.MonkeyPatch) -> list[type]:
    """The classes of the values copy.deepcopy is called with (outermost calls only)."""
    import copy

    calls: list[type] = []
    depth = [0]
    original = copy.deepcopy

    def counting(value: Any, *args: Any, **kwargs: Any) -> Any:
        if depth[0] == 0:
            calls.append(value.__class__)
        depth[0] += 1
        try:
            return original(value, *args, **kwargs)
        finally:
            depth[0] -= 1

    monkeypatch.setattr(copy, "deepcopy", counting)
    return calls


def test_json_values_are_copied_as_json(sfn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    definition = {
        "StartAt": "Shape",
        "States": {
            "Shape": {
                "Type": "Pass",
                "Parameters": {
                    "items.$": "$.items",
                    "label.$": "States.Format('job {}', $.label)",
                    "state.$": "$$.State.Name",
                },
                "ResultPath": "$.shaped",
                "Next": "Each",
            },
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.shaped.items",
                "MaxConcurrency": 1,  # iterations in order, so that the histories compare
                "ItemProcessor": {"StartAt": "Item", "States": {"Item": {"Type": "Pass", "End": True}}},
                "ResultSelector": {"count.$": "States.ArrayLength($)", "all.$": "$"},
                "ResultPath": "$.each",
                "Next": "Pick",
            },
            "Pick": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.each.count", "NumericEquals": 3, "Next": "Done"}],
                "Default": "Done",
            },
            "Done": {"Type": "Pass", "OutputPath": "$.each", "End": True},
        },
    }

    def outcome() -> tuple[Any, list[Any], list[type]]:
        calls.clear()
        described = run(sfn, definition, NESTED)
        assert described["status"] == "SUCCEEDED", described
        events = sfn.get_execution_history(executionArn=described["executionArn"], maxResults=1000)["events"]
        details = [(event["type"], {k: v for k, v in event.items() if k.endswith("EventDetails")}) for event in events]
        return json.loads(described["output"]), details, [cls for cls in calls if cls in JSON_TYPES]

    calls = counting_deepcopies(monkeypatch)
    plain_output, plain_history, plain_copies = outcome()
    assert len(plain_copies) > 20  # the gap: every state's input, path result and parameters go through deepcopy
    with moto_patches.applied("json-values-copied-as-json"):
        output, history, copies = outcome()
    assert copies == []
    assert output == plain_output
    assert output["all"] == NESTED["items"]
    assert history == plain_history


def test_json_copy_is_a_deep_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime

    calls = counting_deepcopies(monkeypatch)
    value = {"nested": NESTED, "shared": NESTED["items"][0]}
    copied = speed.json_copy(value)
    assert copied == value and calls == []
    copied["nested"]["items"][0]["tags"][1]["deep"].append("changed")
    copied["shared"]["id"] = 99
    assert value["nested"]["items"][0]["tags"][1]["deep"] == [0, 0.5, None, True]
    assert value["shared"]["id"] == 0 and value["nested"]["items"][0]["id"] == 0

    when = datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)
    other = {"when": when, "pair": (1, [2]), "bytes": b"x"}
    copied_other = speed.json_copy(other)
    assert copied_other == other
    assert sorted(cls.__name__ for cls in calls) == ["bytes", "datetime", "tuple"]  # not JSON: deepcopy as before
    copied_other["pair"][1].append(3)
    assert other["pair"] == (1, [2])


# -- 28, 29 -----------------------------------------------------------------------------------------------------
VARIED_ITEMS = [
    {"status": {"S": "succeeded"}, "attempt": {"N": "1"}, "startedAt": {"S": "2026-01-01T00:00:00.000Z"}},
    {"status": {"S": ""}, "ok": {"BOOL": False}, "gone": {"NULL": True}, "n": {"N": "-0.5"}},
    {"status": {"S": "failed"}, "blob": {"B": b"\x00\xffraw"}, "blobs": {"BS": [b"a", b"b"]}},
    {"tags": {"SS": ["b", "a"]}, "ids": {"NS": ["2", "1"]}, "attempt": {"N": "1.50"}, "status": {"S": "x"}},
    {"m": {"M": {"inner": {"L": [{"S": "a"}, {"N": "1e3"}, {"M": {"b": {"B": b"\x01"}}}]}}}, "attempt": {"N": "1e3"}},
    {
        "m": {"M": {"inner": {"L": [{"S": "a"}, {"BOOL": True}, {"NULL": True}]}}},
        "status": {"S": "ünïcode"},
        "lst": {"L": [{"S": "zero"}, {"N": "1"}]},
    },
]
PROJECTIONS = ["#s, attempt", "#s, attempt, #x", "m.inner[1], #s", "tags, ids, #s", "#b, #s", "m, #s", "lst[1], #s"]
PROJECTED_NAMES = {"#s": "status", "#x": "missing", "#b": "blob"}


def answers(dynamodb: Any) -> list[Any]:
    """Every varied item as GetItem, Query and Scan answer it, whole and projected (or the error)."""
    calls: list[tuple[str, dict[str, Any]]] = [("scan", {}), ("query", {})]
    calls += [("get_item", {"Key": {"jobId": {"S": "j"}, "batchId": {"N": str(n)}}}) for n in range(len(VARIED_ITEMS))]
    calls += [
        (
            "query",
            {
                "ProjectionExpression": p,
                "ExpressionAttributeNames": {k: v for k, v in PROJECTED_NAMES.items() if k in p},
            },
        )
        for p in PROJECTIONS
    ]
    outcomes = []
    for method, params in calls:
        key_condition = {"KeyConditionExpression": "jobId = :j", "ExpressionAttributeValues": {":j": {"S": "j"}}}
        try:
            answer = getattr(dynamodb, method)(
                TableName=TABLE_24, **(key_condition if method == "query" else {}), **params
            )
            outcomes.append({k: v for k, v in answer.items() if k != "ResponseMetadata"})
        except ClientError as exc:
            outcomes.append(exc.response["Error"])
    return outcomes


def put_varied_items(dynamodb: Any) -> None:
    for n, item in enumerate(VARIED_ITEMS):
        dynamodb.put_item(TableName=TABLE_24, Item={"jobId": {"S": "j"}, "batchId": {"N": str(n)}, **item})


def answers_without_and_with(dynamodb: Any, workaround: str, calls: list[Any]) -> tuple[list[Any], int]:
    """The varied items' answers without ``workaround`` (checked to be the same with it), and how many of the
    recorded ``calls`` plain moto made (``calls`` then holds those made with the workaround)."""
    put_varied_items(dynamodb)
    plain = answers(dynamodb)
    plain_calls = len(calls)
    calls.clear()
    with moto_patches.applied(workaround):
        assert answers(dynamodb) == plain
    return plain, plain_calls


def test_plain_attribute_values_are_serialized_as_they_are(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core.serialize import XFormedAttributePicker

    picked = recorded_calls(monkeypatch, XFormedAttributePicker, "__call__", lambda _, context: context.key)
    plain, plain_picks = answers_without_and_with(dynamodb, "attribute-values-serialized-as-json", picked)
    assert plain[2 + 2]["Item"]["blob"] == {"B": b"\x00\xffraw"}  # binary still base64-encoded, decoded by botocore
    assert plain_picks > 3 * len(picked)  # the gap: a pick per member of every attribute; now binary ones only
    assert "BS" in picked and "B" in picked


def test_top_level_projections_give_moto_s_answer(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models.dynamo_type import Item

    conversions = recorded_calls(monkeypatch, Item, "to_regular_json")
    plain, plain_conversions = answers_without_and_with(dynamodb, "top-level-projections-picked", conversions)
    projected = plain[-len(PROJECTIONS) :]
    assert projected[0]["Items"][0] == {"status": {"S": "succeeded"}, "attempt": {"N": "1"}}
    assert projected[0]["Items"][3]["attempt"] == {"N": "1.50"}
    assert projected[0]["Items"][4]["attempt"] == {"N": "1E+3"}  # moto's round trip rewrites it: kept
    assert projected[-1]["Items"][5]["lst"] == {"L": [{"N": "1"}]}  # a top-level list index
    # the gap: a whole-item conversion per projected name and item; now none for the items whose every
    # attribute survives moto's round trip (the first two), in the projections of top-level names only
    top_level_names = [2, 3, 0, 3, 2, 2, 0]
    assert plain_conversions - len(conversions) == 2 * sum(top_level_names) == 24


# -- 30 ---------------------------------------------------------------------------------------------------------
LAMBDA_CODE = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail: " + event["fail"])
    return {"doubled": event["n"] * 2, "function": context.function_name}
"""


def test_interpreter_lambda_calls_skip_the_request_layers(local_endpoint: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from burst_client.local import LambdaInvokeMiddleware
    from tests.local.support import create_function, make_zip

    arn = create_function(
        endpoint_client(local_endpoint, "lambda"),
        endpoint_client(local_endpoint, "iam"),
        "doubler",
        make_zip({"h.py": LAMBDA_CODE}),
    )
    catch_all = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}]
    definition = {
        "StartAt": "Integration",
        "States": {
            "Integration": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName.$": "$.function", "Payload.$": "$.payload"},
                "ResultPath": "$.integration",
                "Catch": catch_all,
                "Next": "Direct",
            },
            "Direct": {
                "Type": "Task",
                "Resource": arn,  # the older form: the function's ARN as the resource
                "InputPath": "$.payload",
                "ResultPath": "$.direct",
                "Catch": catch_all,
                "End": True,
            },
            "Caught": {"Type": "Pass", "End": True},
        },
    }
    cases = {
        "succeeds": {"function": arn, "payload": {"n": 21}},
        "fails": {"function": "doubler", "payload": {"n": 1, "fail": "yes"}},
        "unknown": {"function": "nope", "payload": {"n": 1}},
        "numeric name": {"function": 5, "payload": {"n": 1}},  # botocore renders it into the path
        "throttled": {"function": arn, "payload": {"n": 1}},
    }
    sfn = endpoint_client(local_endpoint, "stepfunctions")
    wsgi_invokes = recorded_calls(monkeypatch, LambdaInvokeMiddleware, "_invoke", lambda *args: args[-1])

    def outcomes() -> dict[str, Any]:
        found = {}
        for case, execution_input in cases.items():
            with monkeypatch.context() as throttle:
                if case == "throttled":
                    throttle.setattr(local_endpoint.runtime.pool, "acquire", lambda block: False)
                described = run(sfn, definition, execution_input)
            assert described["status"] == "SUCCEEDED", described
            # request ids differ from run to run
            output = re.sub(r"Request ID: [^;)]+", "Request ID: <id>", described["output"])
            output = re.sub(r'("RequestId":\s*")[0-9a-f-]{36}', r"\1<id>", output)  # SdkResponseMetadata (32)
            found[case] = json.loads(re.sub(r'requestId\\":\\"[0-9a-f-]{36}', "requestId: <id>", output))
        return found

    moto_patches.revert("interpreter-lambda-in-process")
    try:
        plain = outcomes()
        plain_wsgi = list(wsgi_invokes)
    finally:
        moto_patches.apply("interpreter-lambda-in-process")
    wsgi_invokes.clear()
    direct = outcomes()

    assert direct == plain
    assert direct["succeeds"]["integration"]["Payload"] == {"doubled": 42, "function": "doubler"}
    assert direct["succeeds"]["integration"]["SdkResponseMetadata"] == {"RequestId": "<id>"}
    assert direct["succeeds"]["direct"] == {"doubled": 42, "function": "doubler"}
    assert direct["fails"]["error"]["Error"] == "ValueError"
    assert "asked to fail: yes" in direct["fails"]["error"]["Cause"]
    assert direct["unknown"]["error"]["Error"] == "Lambda.ResourceNotFoundException"
    assert direct["throttled"]["error"]["Error"] == "Lambda.TooManyRequestsException"
    assert "Status Code: 429" in direct["throttled"]["error"]["Cause"]
    assert direct["numeric name"]["error"]["Error"] == "Lambda.ResourceNotFoundException"
    assert len(plain_wsgi) == 1 + 2 + 1 + 1 + 1  # the gap: every invocation through the WSGI layer
    assert wsgi_invokes == ["nope", "5"]  # now only those moto answers


# -- 31 -------------------------------------------------------------------------------------------------------
def layer_zip(text: str) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("python/helper.py", text)
    return buffer.getvalue()


def layer_template(key: str) -> str:
    layer = {
        "Content": {"S3Bucket": "layer-artifacts", "S3Key": key},
        "LayerName": "janelia-burst-compute-dev-helpers",
        "CompatibleRuntimes": ["python3.12"],
        "CompatibleArchitectures": ["arm64"],
    }
    function = {
        "FunctionName": "janelia-svc-dev-worker",
        "Runtime": "python3.12",
        "Handler": "index.handler",
        "Role": {"Fn::GetAtt": ["Role", "Arn"]},
        "Code": {"ZipFile": "def handler(event, context): pass"},
        "Layers": [{"Ref": "HelpersLambdaLayer"}],
    }
    return json.dumps(
        {
            "Resources": {
                "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}},
                "HelpersLambdaLayer": {"Type": "AWS::Lambda::LayerVersion", "Properties": layer},
                "Worker": {"Type": "AWS::Lambda::Function", "Properties": function},
            },
            "Outputs": {"HelpersLayer": {"Value": {"Ref": "HelpersLambdaLayer"}}},
        }
    )


def test_layers_from_cloudformation_keep_name_arn_and_functions() -> None:
    layer_arn = "arn:aws:lambda:us-east-1:123456789012:layer:janelia-burst-compute-dev-helpers"
    first = layer_zip("V = 1")
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="layer-artifacts")
        s3.put_object(Bucket="layer-artifacts", Key="v1.zip", Body=first)
        s3.put_object(Bucket="layer-artifacts", Key="v2.zip", Body=layer_zip("V = 2"))
        cloudformation = boto3.client("cloudformation", region_name=REGION)
        awslambda = boto3.client("lambda", region_name=REGION)

        def output(stack: str) -> str:
            return str(cloudformation.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"][0]["OutputValue"])

        cloudformation.create_stack(StackName="plain", TemplateBody=layer_template("v1.zip"))
        (layer,) = awslambda.list_layers()["Layers"]
        assert layer["LayerName"].startswith("plain-HelpersLambdaLayer-")  # a) not its LayerName
        assert "CompatibleArchitectures" not in layer["LatestMatchingVersion"]
        assert output("plain").startswith("<moto.awslambda.models.LayerVersion object")  # b)
        assert awslambda.get_function_configuration(FunctionName="janelia-svc-dev-worker")["Layers"] == []  # c)
        cloudformation.update_stack(StackName="plain", TemplateBody=layer_template("v2.zip"))
        versions = awslambda.list_layer_versions(LayerName=layer["LayerName"])["LayerVersions"]
        assert [v["Version"] for v in versions] == [1]  # d) no new version
        cloudformation.delete_stack(StackName="plain")
        assert awslambda.list_layers()["Layers"] != []  # d) left behind
        awslambda.delete_layer_version(LayerName=layer["LayerName"], VersionNumber=1)

        with moto_patches.applied("cfn-lambda-layers"):
            cloudformation.create_stack(StackName="patched", TemplateBody=layer_template("v1.zip"))
            assert output("patched") == f"{layer_arn}:1"
            version = awslambda.get_layer_version(LayerName="janelia-burst-compute-dev-helpers", VersionNumber=1)
            assert (version["CompatibleRuntimes"], version["CompatibleArchitectures"]) == (["python3.12"], ["arm64"])
            worker = awslambda.get_function_configuration(FunctionName="janelia-svc-dev-worker")
            assert [layer["Arn"] for layer in worker["Layers"]] == [f"{layer_arn}:1"]

            cloudformation.update_stack(StackName="patched", TemplateBody=layer_template("v2.zip"))
            assert output("patched") == f"{layer_arn}:2"
            versions = awslambda.list_layer_versions(LayerName="janelia-burst-compute-dev-helpers")["LayerVersions"]
            assert [v["Version"] for v in versions] == [2]  # replaced: the old version is deleted
            # ... but a function that still uses it runs with it, as on AWS
            retired = lambda_.layer_version(f"{layer_arn}:1")
            assert retired is not None and retired.code_bytes == first

            cloudformation.delete_stack(StackName="patched")
            assert awslambda.list_layer_versions(LayerName="janelia-burst-compute-dev-helpers")["LayerVersions"] == []
            assert lambda_.layer_version(f"{layer_arn}:2") is not None
            assert lambda_.layer_version(f"{layer_arn}:9") is None


# -- 32 -------------------------------------------------------------------------------------------------------
def test_lambda_results_carry_the_request_id(sfn: Any, lambdas: dict[str, Callable[[Any], Any]]) -> None:
    lambdas["echo"] = lambda event: event
    # what ExecuteBatch selects (step-functions.yml)
    selecting = one_task(
        invoke_state("echo", ResultSelector={"output.$": "$.Payload", "requestId.$": "$.SdkResponseMetadata.RequestId"})
    )
    whole = one_task(invoke_state("echo"))

    plain = run(sfn, selecting, {"n": 1})
    assert (plain["status"], plain["error"]) == ("FAILED", "States.Runtime")
    assert "SdkResponseMetadata" not in json.loads(run(sfn, whole, {"n": 1})["output"])

    with moto_patches.applied("lambda-result-request-id"):
        patched = run(sfn, selecting, {"n": 1})
        result = json.loads(run(sfn, whole, {"n": 2})["output"])
    assert patched["status"] == "SUCCEEDED"
    output = json.loads(patched["output"])
    assert output["output"] == {"n": 1}
    assert re.fullmatch(r"[0-9A-Za-z-]{20,}", output["requestId"])
    assert result["Payload"] == {"n": 2}
    assert set(result["SdkResponseMetadata"]) == {"RequestId"}
    assert result["SdkResponseMetadata"]["RequestId"] != output["requestId"]  # one per invocation


# -- 33 -------------------------------------------------------------------------------------------------------
PASSES = {
    "StartAt": "P0",
    "States": {f"P{i}": {"Type": "Pass", **({"Next": f"P{i + 1}"} if i < 59 else {"End": True})} for i in range(60)},
}


def test_execution_history_is_paged_and_reversed(sfn: Any) -> None:
    arn = run(sfn, PASSES)["executionArn"]
    plain = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=5)
    assert plain["events"][0]["type"] == "ExecutionStarted" and len(plain["events"]) == 122  # the gap

    with moto_patches.applied("execution-history-pages"):
        newest = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=5)
        assert [event["type"] for event in newest["events"]][:2] == ["ExecutionSucceeded", "PassStateExited"]
        assert len(newest["events"]) == 5 and "nextToken" in newest
        pages = list(sfn.get_paginator("get_execution_history").paginate(executionArn=arn))
        with pytest.raises(sfn.exceptions.InvalidToken):
            sfn.get_execution_history(executionArn=arn, nextToken="not-a-token")
    assert [len(page["events"]) for page in pages] == [100, 22]  # AWS's default page of 100 events
    ids = [int(event["id"]) for page in pages for event in page["events"]]
    assert ids == list(range(1, 123))
