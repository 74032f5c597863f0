"""A service made by `burst init`, as its user works with it: deployed with its own osls, tested with its own
tests (burst_client.testing), running a job on burst-compute's helpers layer."""

from __future__ import annotations

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
