"""A service made by `burst init`, as its user works with it: deployed with its own osls, tested with its own
tests (burst_client.testing), running a job on burst-compute's helpers layer."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from burst_client import testing
from burst_client.deploy import sls_environment
from burst_client.endpoint_process import EndpointProcess, free_port
from tests.support import ROOT

from .conftest import ORG, SERVICE, Scaffold

pytestmark = pytest.mark.e2e

STAGE = "dev"
REGION = testing.REGION


def expected_statements(local: testing.BurstEndpoint) -> dict[str, list[dict[str, object]]]:
    """What each function's role may do, resolved: docs/Interfaces.md's permissions and its own logs."""
    clients = local.clients()
    [stack] = clients("cloudformation").describe_stacks(StackName=f"{ORG}-burst-compute-{STAGE}")["Stacks"]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}
    account = clients("sts").get_caller_identity()["Account"]
    results = f"arn:aws:s3:::{outputs['MapJobsInputsBucket']}/results/*"
    jobs = f"arn:aws:s3:::{outputs['MapJobsInputsBucket']}/jobs/*"

    def logs(function: str) -> dict[str, object]:
        group = f"arn:aws:logs:{REGION}:{account}:log-group:/aws/lambda/{ORG}-{SERVICE}-{STAGE}-{function}:*"
        return {
            "Sid": "WriteItsLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": group,
        }

    return {
        "worker": [
            logs("worker"),
            {"Sid": "StoreLargeResults", "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": results},
        ],
        "combiner": [
            logs("combiner"),
            {
                "Sid": "ReadBatchRows",
                "Effect": "Allow",
                "Action": ["dynamodb:Query"],
                "Resource": f"arn:aws:dynamodb:{REGION}:{account}:table/{outputs['TasksTable']}",
            },
            {
                "Sid": "ReadStoredResultsAndFailures",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": [results, jobs],
            },
            {"Sid": "StoreLargeResult", "Effect": "Allow", "Action": ["s3:PutObject"], "Resource": results},
        ],
    }


def check_roles(scaffold: Scaffold, local: testing.BurstEndpoint) -> None:
    """Each function runs with a role of its own, holding exactly its statements: in the template osls
    packaged, and as deployed."""
    template = json.loads(
        (scaffold.directory / ".serverless" / "cloudformation-template-update-stack.json").read_text()
    )
    resources = template["Resources"]
    assert "IamRoleLambdaExecution" not in resources  # no role shared by the functions
    assert sorted(key for key, value in resources.items() if value["Type"] == "AWS::IAM::Role") == [
        "CombinerRole",
        "WorkerRole",
    ]
    iam, awslambda = local.clients()("iam"), local.clients()("lambda")
    for function, statements in expected_statements(local).items():
        logical_id = f"{function.capitalize()}Role"
        assert resources[f"{function.capitalize()}LambdaFunction"]["Properties"]["Role"] == {
            "Fn::GetAtt": [logical_id, "Arn"]
        }
        role_name = f"{ORG}-{SERVICE}-{STAGE}-{REGION}-{function}"
        role = iam.get_role(RoleName=role_name)["Role"]
        configuration = awslambda.get_function_configuration(FunctionName=f"{ORG}-{SERVICE}-{STAGE}-{function}")
        assert configuration["Role"] == role["Arn"]
        assert role["AssumeRolePolicyDocument"]["Statement"] == [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
        assert iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"] == []
        policy_name = f"{ORG}-{SERVICE}-{STAGE}-{function}"
        assert iam.list_role_policies(RoleName=role_name)["PolicyNames"] == [policy_name]
        document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
        if isinstance(document, str):  # moto 5.2.5 returns a CloudFormation role's inline policy as Python's repr
            document = ast.literal_eval(document)
        assert document == {"Version": "2012-10-17", "Statement": statements}, function


def test_deploying_before_burst_compute_names_the_missing_stack(scaffold: Scaffold, tmp_path: Path):
    with EndpointProcess(free_port(), tmp_path / "endpoint.log") as url:
        result = subprocess.run(
            [str(scaffold.sls), "deploy", "--stage", STAGE, "--org", ORG],
            cwd=scaffold.directory,
            env=sls_environment(url),
            capture_output=True,
            text=True,
            timeout=300,
        )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    lines = [line for line in output.splitlines() if line.strip()]
    # osls's error block: "Error:" and the message (stderr also has Node's warnings and osls's version lines)
    assert lines[lines.index("Error:") + 1] == (
        f"burst-compute's stack {ORG}-burst-compute-{STAGE} is not deployed in us-east-1: deploy burst-compute "
        f"first, in its directory: npx sls deploy --stage {STAGE} --org {ORG} --region us-east-1"
    ), output
    assert output.count(f"{ORG}-burst-compute-{STAGE}") == 1, output  # said once
    assert "Value not found" not in output


def test_the_scaffold_deploys_passes_its_own_tests_and_runs_a_job(
    scaffold: Scaffold, tmp_path: Path, aws_credentials: None
):
    # the scaffold's own tests, as its user runs them (on an endpoint of their own), meanwhile
    env = {key: value for key, value in os.environ.items() if key not in {"AWS_ENDPOINT_URL", "AWS_PROFILE"}}
    env[testing.FRAMEWORK_DIR_ENV] = str(ROOT)
    own_tests = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={tmp_path / 'own-tests'}"],
        cwd=scaffold.directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        endpoint, url = testing.bring_up(tmp_path / "endpoint", org=ORG, stage=STAGE)
        try:
            assert testing.sls_executable(scaffold.directory) == scaffold.sls  # its own osls, not burst-compute's
            local = testing.BurstEndpoint(url, ORG, STAGE, tmp_path / "endpoint" / "endpoint.log")
            service = local.deploy(scaffold.directory)
            assert service.name == SERVICE
            check_roles(scaffold, local)
            with zipfile.ZipFile(scaffold.directory / ".serverless" / f"{SERVICE}.zip") as package:
                assert {name.split("/")[0] for name in package.namelist()} == {"prime_count"}  # burst_core: the layer
            job = service.dispatch(0, 20_000, batch_size=2_000)
            status = job.wait(timeout=300)
            assert (status.state, status.done, status.failed) == ("succeeded", 10, 0)
            assert job.output()["result"] == {
                "status": "succeeded",
                "primes": 2262,
                "largest": 19997,
                "batches": 10,
                "failedBatches": [],
            }
        finally:
            endpoint.stop()
    finally:
        output, _ = own_tests.communicate(timeout=600)
    assert own_tests.returncode == 0, output
    assert "3 passed" in output, output
