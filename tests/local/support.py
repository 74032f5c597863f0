"""Helpers of the local endpoint's tests: start the endpoint as a user does, run sls, build functions."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.config import Config

from burst_client.aws import LOCAL_CREDENTIALS
from burst_client.cost import load_definition
from burst_client.deploy import sls
from burst_client.endpoint_process import free_port
from burst_client.local.runtime import FunctionSpec

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_SERVICE = Path(__file__).resolve().parent / "fixtures" / "service"
SLS = ROOT / "node_modules" / ".bin" / "sls"
REGION = LOCAL_CREDENTIALS["AWS_DEFAULT_REGION"]
SERVICE = "burst-local-fixture"
STAGE = "local"
WORKER = f"{SERVICE}-{STAGE}-worker"
SLOW = f"{SERVICE}-{STAGE}-slow"
NO_RETRIES = Config(retries={"total_max_attempts": 1}, read_timeout=120)

# An ELF header for an AArch64 shared object: what a wheel built for Lambda arm64 contains.
AARCH64_ELF = (
    b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + (3).to_bytes(2, "little") + (183).to_bytes(2, "little")
) + b"\x00" * 44
_FALLBACK = (
    '"""Like wrapt: use the C extension when it loads, else the pure-Python implementation."""\n'
    "try:\n"
    "    from {package}._speedups import FLAVOUR\n"
    "except ImportError:\n"
    '    FLAVOUR = "python"\n'
)
FAKE_EXTENSION_PACKAGE = {
    "fakewrapt/__init__.py": _FALLBACK.format(package="fakewrapt"),
    "fakeabi3/__init__.py": _FALLBACK.format(package="fakeabi3"),
}
FAKE_EXTENSION_BINARIES = {
    # the name pip gives it for Lambda arm64 / CPython 3.12 (not an import suffix on x86_64)
    "fakewrapt/_speedups.cpython-312-aarch64-linux-gnu.so": AARCH64_ELF,
    # a name every Linux CPython tries to load (dlopen then fails on the foreign architecture)
    "fakeabi3/_speedups.abi3.so": AARCH64_ELF,
}


@dataclass
class Endpoint:
    """A running ``python -m burst_client.local up`` and its console output."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    seen_pids: set[int] = field(default_factory=set)

    def client(self, service: str, **config: Any) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=NO_RETRIES.merge(Config(**config)) if config else NO_RETRIES,
        )

    def console(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_console(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            output = self.console()
            if text in output:
                return output
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not on the endpoint's console:\n{self.console()[-3000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)


def start_endpoint(log_path: Path, *args: str, env: dict[str, str] | None = None) -> Endpoint:
    port = free_port()
    command = [sys.executable, "-m", "burst_client.local", "up", "--port", str(port), *args]
    log = log_path.open("wb")
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env or dict(os.environ))
    log.close()
    endpoint = Endpoint(f"http://127.0.0.1:{port}", port, process, log_path)
    deadline = time.monotonic() + 60
    while "Local AWS endpoint:" not in endpoint.console():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"the endpoint did not start:\n{endpoint.console()}")
        time.sleep(0.05)
    return endpoint


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie of ours still "exists": look at its state
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def run_sls(service_dir: Path, url: str, *args: str, timeout: float = 240) -> str:
    """`sls <args> --stage local` against the endpoint, as burst_client.deploy runs it (raises DeployFailed)."""
    return sls([*args, "--stage", STAGE], service_dir, endpoint_url=url, timeout=timeout)


@dataclass
class Deployed:
    endpoint: Endpoint
    service_dir: Path

    def invoke(self, function: str, event: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        response: dict[str, Any] = self.endpoint.client("lambda").invoke(
            FunctionName=function, Payload=json.dumps(event).encode(), **kwargs
        )
        raw = response["Payload"].read()
        response["Body"] = json.loads(raw) if raw else None
        body = response["Body"]
        if isinstance(body, dict) and isinstance(body.get("pid"), int):
            self.endpoint.seen_pids.add(body["pid"])
        return response


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


FunctionFactory = Callable[..., str]


def create_tasks_table(dynamodb: Any, name: str) -> None:
    """A table with the keys of the framework's tasks table (serverless.yml, resources TasksTable)."""

    class Loader(yaml.SafeLoader):  # type: ignore[misc]  # CloudFormation tags (!Ref, ...) read as null
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    resources = yaml.load((ROOT / "serverless.yml").read_text(), Loader=Loader)["resources"]["Resources"]
    properties = resources["TasksTable"]["Properties"]
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=properties["AttributeDefinitions"],
        KeySchema=properties["KeySchema"],
        BillingMode=properties["BillingMode"],
    )


def create_function(
    lambda_client: Any, iam_client: Any, name: str, code: bytes, handler: str = "h.handler", **config: Any
) -> str:
    """Create a function directly (no CloudFormation); returns its ARN."""
    try:
        role = iam_client.get_role(RoleName="burst-local-tests")["Role"]["Arn"]
    except iam_client.exceptions.NoSuchEntityException:
        role = iam_client.create_role(RoleName="burst-local-tests", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    created = lambda_client.create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler=handler, Code={"ZipFile": code}, **config
    )
    return str(created["FunctionArn"])


def lifecycle_child_states(*names: str) -> dict[str, Any]:
    """Copies of the named states of the job lifecycle's per-batch child workflow, from step-functions.yml."""
    states = load_definition()["States"]["MapJobs"]["ItemProcessor"]["States"]
    return {name: json.loads(json.dumps(states[name])) for name in names}


def function_spec(name: str, handler: str = "h.handler", **changes: Any) -> FunctionSpec:
    """A function's runtime spec in the test account and region, 128 MB; ``changes`` override any field."""
    base = FunctionSpec(
        account_id="123456789012",
        region="us-east-1",
        name=name,
        function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        version="$LATEST",
        handler=handler,
        runtime="python3.12",
        timeout=10,
        memory_size=128,
        code_sha256=f"{name}-code",
    )
    return replace(base, **changes)
