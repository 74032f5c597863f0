"""`npx sls package` output: names, outputs, IAM, bucket and table settings, state machine, zip."""

from __future__ import annotations

import importlib.util
import json
import re
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT

from .conftest import Package

pytestmark = pytest.mark.packaging

PREFIX = "myorg-burst-compute-prod"
FUNCTIONS = ["dispatch", "dispatchNextBatches", "monitor"]
STATE_MACHINES = {"JobLifecycleStateMachine": "STANDARD", "ExpressJobLifecycleStateMachine": "EXPRESS"}
# Actions that have no resource-level permissions, so "*" is their only resource
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html)
NO_RESOURCE_LEVEL = {"lambda:GetAccountSettings"}


def props(package: Package, logical_id: str) -> dict[str, Any]:
    return dict(package.resources[logical_id]["Properties"])


def statements(package: Package) -> list[dict[str, Any]]:
    found = []
    for resource in package.resources.values():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                found.extend(policy["PolicyDocument"]["Statement"])
        if resource["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            found.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    return found


def definition(package: Package, logical_id: str = "JobLifecycleStateMachine") -> dict[str, Any]:
    """A state machine's definition with its Fn::Sub variables replaced by function ARNs."""
    sub = props(package, logical_id)["DefinitionString"]["Fn::Sub"]
    text, variables = sub if isinstance(sub, list) else (sub, {})
    for name, value in variables.items():
        logical_id = value["Fn::GetAtt"][0]
        text = text.replace("${" + name + "}", f"arn:aws:lambda:us-east-1:123456789012:function:{logical_id}")
    assert "${" not in text
    return dict(json.loads(text))


# -- names ------------------------------------------------------------------------------------------
def test_stack_and_resource_names_carry_org_and_stage(prod_package: Package):
    assert prod_package.state["service"]["provider"]["stackName"] == PREFIX
    for name in FUNCTIONS:
        logical_id = name[0].upper() + name[1:] + "LambdaFunction"
        assert props(prod_package, logical_id)["FunctionName"] == f"{PREFIX}-{name}"
    assert props(prod_package, "TasksTable")["TableName"] == f"{PREFIX}-tasks"
    assert props(prod_package, "MapJobsInputsBucket")["BucketName"] == f"{PREFIX}-mapjobsinputs"
    assert props(prod_package, "JobLifecycleStateMachine")["StateMachineName"] == f"{PREFIX}-lifecycle"
    assert props(prod_package, "ExpressJobLifecycleStateMachine")["StateMachineName"] == f"{PREFIX}-lifecycle-express"
    assert props(prod_package, "IamRoleLambdaExecution")["RoleName"] == f"{PREFIX}-us-east-1-lambda"
    assert props(prod_package, "StateMachineRole")["RoleName"] == f"{PREFIX}-us-east-1-lifecycle"


def test_defaults_are_janelia_dev_us_east_1(default_package: Package):
    provider = default_package.state["service"]["provider"]
    assert (provider["stackName"], provider["region"]) == ("janelia-burst-compute-dev", "us-east-1")
    assert props(default_package, "DispatchLambdaFunction")["FunctionName"] == "janelia-burst-compute-dev-dispatch"


def test_region_option(traced_package: Package):
    assert traced_package.state["service"]["provider"]["region"] == "eu-west-1"
    assert props(traced_package, "StateMachineRole")["RoleName"] == f"{PREFIX}-eu-west-1-lifecycle"


def test_every_export_is_org_prefixed(prod_package: Package):
    outputs = prod_package.template["Outputs"]
    for key in [
        "TasksTable",
        "MapJobsInputsBucket",
        "JobLifecycleStateMachine",
        "ExpressJobLifecycleStateMachine",
        "DispatchLambdaFunction",
        "MonitorLambdaFunction",
        "HelpersLayer",
    ]:
        assert outputs[key]["Export"]["Name"] == f"{PREFIX}-{key}"
    for key, output in outputs.items():
        if "Export" in output:
            assert output["Export"]["Name"].startswith(PREFIX + "-"), key


def test_runtime_architecture_and_environment(prod_package: Package):
    for name in FUNCTIONS:
        function = props(prod_package, name[0].upper() + name[1:] + "LambdaFunction")
        assert (function["Runtime"], function["Architectures"]) == ("python3.12", ["arm64"])
        env = function["Environment"]["Variables"]
        assert (env["MAX_PARALLELISM"], env["MAX_BATCHED_JOBS_ITERATIONS"]) == ("5000", "2")
        assert env["TASKS_TABLE_NAME"] == {"Ref": "TasksTable"}
        assert env["BATCH_INPUTS_BUCKET"] == {"Ref": "MapJobsInputsBucket"}
        assert env["BURST_TRACING"] in (False, "false")
        assert env["BURST_STACK_PREFIX"] == PREFIX
        assert env["WORKER_FUNCTION_PATTERN"] == "myorg-*"
        assert env["EXPRESS_STATE_MACHINE_ARN"]["Fn::Sub"].endswith(f":stateMachine:{PREFIX}-lifecycle-express")
        assert "TracingConfig" not in function


def test_tracing_switch(traced_package: Package):
    function = props(traced_package, "MonitorLambdaFunction")
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["Environment"]["Variables"]["BURST_TRACING"] in (True, "true")
    for logical_id in STATE_MACHINES:
        assert props(traced_package, logical_id)["TracingConfiguration"] == {"Enabled": True}
    managed = props(traced_package, "StateMachineRole")["ManagedPolicyArns"]
    assert managed == [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AWSXrayWriteOnlyAccess"}]


# -- IAM --------------------------------------------------------------------------------------------
def test_no_statement_grants_every_resource(prod_package: Package):
    for statement in statements(prod_package):
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert "*" not in resources or set(actions) <= NO_RESOURCE_LEVEL, statement
    assert props(prod_package, "StateMachineRole")["ManagedPolicyArns"] == []


def test_workers_may_only_be_the_orgs_functions(prod_package: Package):
    pattern = [
        "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:myorg-*",
        "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:myorg-*:*",
    ]
    by_sid = {s.get("Sid"): s for s in statements(prod_package)}
    assert [r["Fn::Sub"] for r in by_sid["InvokeWorkersAndCombiners"]["Resource"]] == pattern
    # dispatch reads the configuration of the same functions, and no other
    checks = by_sid["CheckWorkersAndCombiners"]
    assert checks["Action"] == ["lambda:GetFunctionConfiguration", "lambda:GetFunctionConcurrency"]
    assert [r["Fn::Sub"] for r in checks["Resource"]] == pattern


def test_batch_rows_are_written_by_the_state_machine_not_by_a_lambda(prod_package: Package):
    by_sid = {s.get("Sid"): s for s in statements(prod_package)}
    assert by_sid["WriteBatchRows"]["Action"] == "dynamodb:UpdateItem"
    assert by_sid["WriteBatchRows"]["Resource"] == {"Fn::GetAtt": ["TasksTable", "Arn"]}
    framework = [r["Fn::GetAtt"][0] for r in by_sid["InvokeFrameworkFunctions"]["Resource"]]
    assert framework == ["MonitorLambdaFunction", "DispatchNextBatchesLambdaFunction"]


# -- storage ----------------------------------------------------------------------------------------
def test_tasks_table(prod_package: Package):
    table = props(prod_package, "TasksTable")
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["KeySchema"] == [
        {"AttributeName": "jobId", "KeyType": "HASH"},
        {"AttributeName": "batchId", "KeyType": "RANGE"},
    ]
    assert {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]} == {
        "jobId": "S",
        "batchId": "N",
    }
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_bucket_is_private_encrypted_tls_only_and_expires_job_files(prod_package: Package):
    bucket = props(prod_package, "MapJobsInputsBucket")
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    expiring = {r.get("Prefix"): r.get("ExpirationInDays") for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert str(expiring["jobs/"]) == "7"
    assert "results/" in expiring
    (deny,) = props(prod_package, "MapJobsInputsBucketPolicy")["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})


# -- linters ----------------------------------------------------------------------------------------
def test_cfn_lint_reports_nothing(prod_package: Package, traced_package: Package):
    for package in (prod_package, traced_package):
        template = package.directory / "cloudformation-template-update-stack.json"
        result = subprocess.run(
            [str(Path(sys.executable).parent / "cfn-lint"), str(template)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_checkov_passes_and_every_skip_has_a_reason(prod_package: Package):
    template = prod_package.directory / "cloudformation-template-update-stack.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "checkov.main",
            "-f",
            str(template),
            "--framework",
            "cloudformation",
            "--skip-download",
            "--output",
            "json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    report = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {"results": {}}
    failed = report.get("results", {}).get("failed_checks", [])
    assert failed == [], [(c["check_id"], c["resource"]) for c in failed]
    assert report["summary"]["passed"] > 0
    for resource in prod_package.resources.values():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 30, skip


# -- state machine ----------------------------------------------------------------------------------
def test_definitions_parse_with_the_asl_interpreter(prod_package: Package):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    from burst_client.local import moto_patches as workarounds

    # moto's grammar knows only STANDARD child workflows (a gap the local endpoint works around)
    with workarounds.applied("express-child-workflows", "integer-tolerated-failure-percentage"):
        for logical_id in STATE_MACHINES:
            AmazonStateLanguageParser.parse(json.dumps(definition(prod_package, logical_id)))


def test_the_two_state_machines_differ_only_in_their_batch_workflows_type(prod_package: Package):
    standard, express = (definition(prod_package, logical_id) for logical_id in STATE_MACHINES)
    for machine, expected in zip((standard, express), STATE_MACHINES.values(), strict=True):
        assert machine["States"]["MapJobs"]["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] == expected
        machine["States"]["MapJobs"]["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = "?"
        machine.pop("Comment")
    assert standard == express


def all_states(states: dict[str, Any]) -> dict[str, Any]:
    found = dict(states)
    for state in states.values():
        if "ItemProcessor" in state:
            found.update(all_states(state["ItemProcessor"]["States"]))
    return found


def error_names(states: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for state in states.values():
        for rule in state.get("Retry", []) + state.get("Catch", []):
            names.update(rule["ErrorEquals"])
    return names


def test_only_valid_error_names(prod_package: Package):
    predefined = {
        "States.ALL",
        "States.Timeout",
        "States.TaskFailed",
        "States.Permissions",
        "States.HeartbeatTimeout",
        "States.DataLimitExceeded",
        "States.Runtime",
    }
    for name in error_names(all_states(definition(prod_package)["States"])):
        assert not name.startswith("States.") or name in predefined, name


def test_worker_throttling_and_timeouts_are_retried_through_the_deadline_check(prod_package: Package):
    states = all_states(definition(prod_package)["States"])
    throttled, transient, other = states["ExecuteBatch"]["Catch"]
    assert (throttled["ErrorEquals"], throttled["Next"]) == (["Lambda.TooManyRequestsException"], "RetryThrottled")
    assert {"Sandbox.Timedout", "Lambda.Unknown"} <= set(transient["ErrorEquals"])
    assert (transient["Next"], other["ErrorEquals"], other["Next"]) == ("RetryFailed", ["States.ALL"], "RecordFailure")
    # RetryThrottled -> ThrottledGate -> RampWait | SteadyWait -> Backoff -> BeforeDeadline
    assert states["RampWait"]["Parameters"]["seconds.$"].startswith("States.MathRandom(")
    assert states["Backoff"]["Next"] == "BeforeDeadline"
    assert states["BeforeDeadline"]["Choices"][0] == {
        "Variable": "$$.State.EnteredTime",
        "TimestampGreaterThanEqualsPath": "$.deadline",
        "Next": "PastDeadline",
    }
    # a batch that succeeds at its first attempt: three states, the row written by DynamoDB's integration
    assert (states["ExecuteBatch"]["Next"], states["RecordResult"]["End"]) == ("RecordResult", True)
    assert states["RecordResult"]["Resource"] == "arn:aws:states:::dynamodb:updateItem"


def test_map_writes_results_to_s3_and_fails_at_the_jobs_tolerance(prod_package: Package):
    mapjobs = definition(prod_package)["States"]["MapJobs"]
    assert mapjobs["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert mapjobs["ResultPath"] == "$.mapRun"  # only the Map Run's ARN and its results' location
    assert mapjobs["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
    assert (
        mapjobs["ResultWriter"]["Parameters"]["Prefix.$"]
        == "States.Format('jobs/{}/{}/mapruns', $.jobId, $.executionName)"
    )
    assert mapjobs["ToleratedFailureCountPath"] == "$.round.toleratedFailureCount"
    # the framework's own Lambda steps fail into the summary, or visibly, never silently
    assert definition(prod_package)["States"]["DispatchNextBatches"]["Catch"][0]["Next"] == "RoundFailed"
    assert definition(prod_package)["States"]["Summarize"]["Catch"][0]["Next"] == "SummaryFailed"


# -- zip --------------------------------------------------------------------------------------------
ELF_MACHINE_AARCH64 = 183


def test_zip_holds_only_handlers_core_and_runtime_dependencies(prod_package: Package):
    with prod_package.zip() as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
    requirements = (ROOT / "requirements.txt").read_text()
    deps = {
        re.split(r"[=<>]", line)[0].strip().replace("-", "_").lower()
        for line in requirements.splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert "handlers" in tops and "burst_core" in tops
    assert tops - {"handlers", "burst_core"} == deps
    assert not any(name.startswith(("tests", "burst_client", "node_modules", ".venv")) for name in tops)


def test_native_dependencies_are_built_for_lambda_arm64_python312(prod_package: Package):
    with prod_package.zip() as archive:
        shared = [name for name in archive.namelist() if name.endswith(".so")]
        assert shared, "expected at least one compiled dependency (wrapt)"
        for name in shared:
            assert "cpython-312-aarch64-linux-gnu" in name, name
            header = archive.read(name)[:20]
            assert header[:4] == b"\x7fELF"
            (machine,) = struct.unpack("<H", header[18:20])
            assert machine == ELF_MACHINE_AARCH64, name


# -- the helpers layer ------------------------------------------------------------------------------------
# What the Lambda Python runtime provides besides the standard library: boto3 and its dependencies
# (https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html#python-sdk-included)
LAMBDA_RUNTIME_PACKAGES = ["boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"]


def test_helpers_layer_holds_burst_core_for_python312_on_both_architectures(prod_package: Package):
    layer = props(prod_package, "HelpersLambdaLayer")
    assert layer["LayerName"] == f"{PREFIX}-helpers"
    assert (layer["CompatibleRuntimes"], layer["CompatibleArchitectures"]) == (["python3.12"], ["x86_64", "arm64"])
    assert prod_package.template["Outputs"]["HelpersLayer"]["Value"] == {"Ref": "HelpersLambdaLayer"}
    with zipfile.ZipFile(prod_package.directory / "helpers.zip") as archive:
        names = sorted(archive.namelist())
    # Lambda puts the layer's python/ on sys.path; only sources, no bytecode of this machine
    assert names == sorted(f"python/burst_core/{path.name}" for path in (ROOT / "burst_core").glob("*.py"))


def test_helpers_layer_needs_only_what_the_lambda_runtime_provides(prod_package: Package, tmp_path: Path):
    """burst_core.worker and burst_core.combiner import with the layer, the standard library and boto3 alone."""
    opt = tmp_path / "opt"
    with zipfile.ZipFile(prod_package.directory / "helpers.zip") as archive:
        archive.extractall(opt)
    runtime = tmp_path / "runtime"  # the runtime's own libraries: boto3 and its dependencies, nothing else
    runtime.mkdir()
    for name in LAMBDA_RUNTIME_PACKAGES:
        found = importlib.util.find_spec(name)
        assert found is not None and found.origin is not None, name
        source = Path(found.origin)
        source = source.parent if source.name == "__init__.py" else source
        (runtime / source.name).symlink_to(source)
    script = (
        "import sys, json\n"
        f"sys.path[:0] = [{str(opt / 'python')!r}, {str(runtime)!r}]\n"
        "import burst_core.worker, burst_core.combiner\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    # -I: no environment, no user site-packages; -S: not even the interpreter's site-packages
    result = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    imported = set(json.loads(result.stdout)) - set(sys.stdlib_module_names) - {"__main__"}
    assert imported <= {"burst_core", *LAMBDA_RUNTIME_PACKAGES}, imported
    assert "burst_core" in imported
