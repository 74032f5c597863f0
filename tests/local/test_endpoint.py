"""The fixture service deployed with `sls deploy --stage local` to the local endpoint, invoked through boto3.

Tests run in file order; the last one removes the stack with `sls remove`.
"""

from __future__ import annotations

import base64
import json
import re
import time

import pytest

from burst_client.aws import LOCAL_CREDENTIALS
from tests.local.support import SLOW, WORKER, Deployed, pid_alive, run_sls

REQUEST_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_deploy_created_the_stack_with_outputs(deployed: Deployed) -> None:
    cloudformation = deployed.endpoint.client("cloudformation")
    stack = cloudformation.describe_stacks(StackName="burst-local-fixture-local")["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    assert outputs["ResultsTableName"] == "burst-local-fixture-local-results"
    assert any(key.endswith("fanoutArn") for key in outputs), outputs  # serverless-step-functions' output
    functions = {f["FunctionName"] for f in deployed.endpoint.client("lambda").list_functions()["Functions"]}
    assert {WORKER, SLOW} <= functions


def test_request_response_runs_the_deployed_code(deployed: Deployed) -> None:
    response = deployed.invoke(WORKER, {"action": "echo", "n": 1})

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert response["ExecutedVersion"] == "$LATEST"
    body = response["Body"]
    assert body["event"] == {"action": "echo", "n": 1}
    env = body["env"]
    assert env["FIXTURE_GREETING"] == "hello-from-fixture"
    assert env["TABLE_NAME"] == "burst-local-fixture-local-results"
    assert env["AWS_ENDPOINT_URL"] == deployed.endpoint.url
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == WORKER
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "10"
    assert env["AWS_ACCESS_KEY_ID"] == LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"]
    context = body["context"]
    assert context["function_name"] == WORKER
    assert context["memory_limit_in_mb"] == "256"
    assert context["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:123456789012:function:{WORKER}"
    assert context["log_group_name"] == f"/aws/lambda/{WORKER}"
    assert REQUEST_ID.match(context["aws_request_id"])
    assert 8_000 < context["remaining_ms"] <= 10_000
    assert body["sys_path0"] == body["cwd"]  # the unpacked zip, first on sys.path


def test_warm_process_is_reused(deployed: Deployed) -> None:
    first = deployed.invoke(WORKER, {"action": "echo"})["Body"]
    second = deployed.invoke(WORKER, {"action": "echo"})["Body"]

    assert first["pid"] == second["pid"] == second["init_pid"]
    assert first["context"]["aws_request_id"] != second["context"]["aws_request_id"]


def test_handler_exception_is_an_unhandled_function_error(deployed: Deployed) -> None:
    response = deployed.invoke(WORKER, {"action": "fail", "marker": "boom"})

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    body = response["Body"]
    assert body["errorType"] == "ValueError"
    assert body["errorMessage"] == "fixture failure: boom"
    assert any("in handler" in frame for frame in body["stackTrace"])


def test_unserialisable_result_is_a_marshal_error(deployed: Deployed) -> None:
    response = deployed.invoke(WORKER, {"action": "unserialisable"})

    assert response["FunctionError"] == "Unhandled"
    assert response["Body"]["errorType"] == "Runtime.MarshalError"


def test_log_tail_and_console(deployed: Deployed) -> None:
    response = deployed.invoke(WORKER, {"action": "log", "marker": "tail-7"}, LogType="Tail")

    tail = base64.b64decode(response["LogResult"]).decode()
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    lines = tail.splitlines()
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert "printed to stdout tail-7" in lines
    assert "printed to stderr tail-7" in lines
    assert any(line.startswith("[INFO]") and line.endswith("logged at info tail-7") for line in lines)
    assert f"END RequestId: {request_id}" in lines
    assert lines[-1].startswith(f"REPORT RequestId: {request_id}\tDuration: ")
    assert "Memory Size: 256 MB" in lines[-1]
    console = deployed.endpoint.wait_console(f"[{WORKER} {request_id}] printed to stderr tail-7")
    assert f"[{WORKER} {request_id}] printed to stdout tail-7" in console


def test_event_invocation_runs_in_the_background(deployed: Deployed) -> None:
    response = deployed.invoke(WORKER, {"action": "put", "pk": "event-1", "value": "async"}, InvocationType="Event")

    assert response["StatusCode"] == 202
    table = deployed.endpoint.client("dynamodb")
    deadline = time.monotonic() + 20
    item = None
    while item is None and time.monotonic() < deadline:
        item = table.get_item(TableName="burst-local-fixture-local-results", Key={"pk": {"S": "event-1"}}).get("Item")
        time.sleep(0.1)
    assert item == {"pk": {"S": "event-1"}, "value": {"S": "async"}}


def test_dry_run_checks_without_running(deployed: Deployed) -> None:
    response = deployed.invoke(WORKER, {"action": "fail"}, InvocationType="DryRun")

    assert response["StatusCode"] == 204
    assert response["Body"] is None


def test_timeout_kills_the_worker(deployed: Deployed) -> None:
    pid = deployed.invoke(SLOW, {"action": "echo"})["Body"]["pid"]
    started = time.monotonic()
    response = deployed.invoke(SLOW, {"action": "sleep", "seconds": 5})
    elapsed = time.monotonic() - started

    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    body = response["Body"]
    assert body["errorType"] == "Sandbox.Timedout"
    assert re.fullmatch(r"RequestId: \S+ Error: Task timed out after 1\.00 seconds", body["errorMessage"])
    assert 0.9 < elapsed < 3
    assert not pid_alive(pid)
    assert deployed.invoke(SLOW, {"action": "echo"})["Body"]["pid"] != pid  # a fresh environment


def test_process_exit_is_a_runtime_exit_error(deployed: Deployed) -> None:
    response = deployed.invoke(WORKER, {"action": "exit", "code": 3})

    assert response["FunctionError"] == "Unhandled"
    assert response["Body"]["errorType"] == "Runtime.ExitError"
    assert response["Body"]["errorMessage"].endswith("Error: Runtime exited with error: exit status 3")
    assert "FunctionError" not in deployed.invoke(WORKER, {"action": "echo"})


@pytest.mark.parametrize(("module", "so_name"), [("fakewrapt", "cpython-312-aarch64"), ("fakeabi3", "abi3")])
def test_aarch64_extension_falls_back_to_pure_python(deployed: Deployed, module: str, so_name: str) -> None:
    """Packages built for Lambda arm64 carry aarch64 .so files: imports must fall back, not crash."""
    body = deployed.invoke(WORKER, {"action": "import", "module": module})["Body"]

    assert body["flavour"] == "python"
    assert body["file"].endswith(f"{module}/__init__.py")
    packaged = deployed.service_dir / module
    assert any(so_name in path.name for path in packaged.glob("*.so"))


def test_unknown_function_is_resource_not_found(deployed: Deployed) -> None:
    client = deployed.endpoint.client("lambda")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="burst-local-fixture-local-nope", Payload=b"{}")


def test_invalid_json_payload_is_rejected(deployed: Deployed) -> None:
    client = deployed.endpoint.client("lambda")
    with pytest.raises(client.exceptions.InvalidRequestContentException):
        client.invoke(FunctionName=WORKER, Payload=b"{not json")


def test_state_machine_deployed_by_cloudformation_runs(deployed: Deployed) -> None:
    sfn = deployed.endpoint.client("stepfunctions")
    machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    arn = machines["burst-local-fixture-local-fanout"]

    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"action": "echo", "via": "sfn"}))
    deadline = time.monotonic() + 30
    while (described := sfn.describe_execution(executionArn=execution["executionArn"]))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.1)

    assert described["status"] == "SUCCEEDED", described
    result = json.loads(described["output"])["result"]
    assert result["event"] == {"action": "echo", "via": "sfn"}
    deployed.endpoint.seen_pids.add(result["pid"])
    assert not execution["executionArn"].endswith(":None")


def test_sls_remove_deletes_the_stack_and_stops_its_workers(deployed: Deployed) -> None:
    pid = deployed.invoke(WORKER, {"action": "echo"})["Body"]["pid"]

    run_sls(deployed.service_dir, deployed.endpoint.url, "remove")

    functions = {f["FunctionName"] for f in deployed.endpoint.client("lambda").list_functions()["Functions"]}
    assert not functions & {WORKER, SLOW}
    stacks = deployed.endpoint.client("cloudformation").list_stacks()["StackSummaries"]
    assert all(s["StackStatus"] == "DELETE_COMPLETE" for s in stacks if s["StackName"] == "burst-local-fixture-local")
    deadline = time.monotonic() + 5
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid)
