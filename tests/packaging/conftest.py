"""Run the Serverless Framework once per configuration and share its output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT


@dataclass
class Package:
    directory: Path
    template: dict[str, Any]
    state: dict[str, Any]

    @property
    def resources(self) -> dict[str, Any]:
        return dict(self.template["Resources"])

    def zip(self) -> zipfile.ZipFile:
        return zipfile.ZipFile(self.directory / "burst-compute.zip")


def sls_env() -> dict[str, str]:
    env = dict(os.environ)
    # python3.12 of this venv packages the requirements (serverless-python-requirements' pythonBin)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["SLS_TELEMETRY_DISABLED"] = "1"
    env.pop("AWS_ENDPOINT_URL", None)
    return env


def sls_package(tmp_path_factory: pytest.TempPathFactory, *args: str) -> Package:
    if shutil.which("npx") is None:
        pytest.fail("npx is not on PATH: install Node.js 20+ and run `npm ci`")
    out = tmp_path_factory.mktemp("sls")
    result = subprocess.run(
        ["npx", "sls", "package", *args, "--package", str(out)],
        cwd=ROOT,
        env=sls_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    template = json.loads((out / "cloudformation-template-update-stack.json").read_text())
    state = json.loads((out / "serverless-state.json").read_text())
    return Package(out, template, state)


@pytest.fixture(scope="session")
def prod_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    return sls_package(tmp_path_factory, "-s", "prod", "--org", "myorg")


@pytest.fixture(scope="session")
def default_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    return sls_package(tmp_path_factory)


@pytest.fixture(scope="session")
def traced_package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    return sls_package(tmp_path_factory, "-s", "prod", "--org", "myorg", "--region", "eu-west-1", "--tracing", "true")
