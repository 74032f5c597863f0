"""A service made by `burst init`, with its own osls installed (`npm install`, from npm's cache when it can)."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from burst_client import testing
from burst_client.scaffold import init_service

ORG, SERVICE = "myorg", "prime-count"
NPM_INSTALL = ["npm", "install", "--prefer-offline", "--no-audit", "--no-fund"]
# the session's test credentials (burst_client.testing's fixture)
aws_credentials = testing.aws_credentials


@dataclass(frozen=True)
class Scaffold:
    directory: Path
    npm_install_seconds: float

    @property
    def sls(self) -> Path:
        """The service's own osls."""
        return self.directory / "node_modules" / ".bin" / "sls"


@pytest.fixture(scope="session")
def scaffold(tmp_path_factory: pytest.TempPathFactory) -> Scaffold:
    if shutil.which("npm") is None:
        pytest.fail("npm is not on PATH: install Node.js 20+")
    directory = tmp_path_factory.mktemp("scaffold") / SERVICE
    init_service(directory, org=ORG)
    started = time.monotonic()
    result = subprocess.run(NPM_INSTALL, cwd=directory, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    print(f"\n`npm install` of the scaffold: {seconds:.1f} s")
    return Scaffold(directory, seconds)
