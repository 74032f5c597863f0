"""Run the Serverless Framework (osls) for this project or an example service, e.g. against the local endpoint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from burst_client.aws import LOCAL_CREDENTIALS
from burst_client.errors import BurstClientError, ToolMissing

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class DeployFailed(BurstClientError):
    """`sls` exited with an error."""


def sls_environment(endpoint_url: str | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["SLS_TELEMETRY_DISABLED"] = "1"
    env.setdefault("BURST_PYTHON", sys.executable)
    if endpoint_url:
        env.update(LOCAL_CREDENTIALS)
        env.pop("AWS_PROFILE", None)
        env["AWS_ENDPOINT_URL"] = endpoint_url
    env.update(extra or {})
    return env


def sls(
    command: list[str],
    service_dir: Path = PROJECT_ROOT,
    *,
    endpoint_url: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
    executable: Path | None = None,
) -> str:
    """Run ``sls <command>`` in ``service_dir`` (this project's osls, or ``executable``); returns its output or
    raises DeployFailed."""
    if executable is None:
        if shutil.which("npx") is None:
            raise ToolMissing("npx not found: install Node.js 20 or later, then run `npm ci` in the project")
        executable = PROJECT_ROOT / "node_modules" / ".bin" / "sls"
        if not executable.exists():
            raise ToolMissing(f"the Serverless Framework is not installed: run `npm ci` in {PROJECT_ROOT}")
    result = subprocess.run(
        [str(executable), *command],
        cwd=service_dir,
        env=sls_environment(endpoint_url, env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-25:])
        raise DeployFailed(f"`sls {' '.join(command)}` failed in {service_dir}:\n{tail}")
    return result.stdout


def deploy(
    service_dir: Path, stage: str, org: str, *, endpoint_url: str | None = None, env: Mapping[str, str] | None = None
) -> str:
    return sls(["deploy", "--stage", stage, "--org", org], service_dir, endpoint_url=endpoint_url, env=env)
