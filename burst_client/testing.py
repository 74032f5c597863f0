"""pytest fixtures for services built on burst-compute: a local AWS endpoint with burst-compute and your service
deployed to it, and a BurstClient for them. No AWS account is involved.

Enable them in a ``conftest.py`` at the root of your service (``burst init`` writes it)::

    pytest_plugins = ["burst_client.testing"]

and use them in a test::

    def test_job(burst_service):
        job = burst_service.dispatch(0, 10_000, batch_size=1_000)   # its worker and combiner
        assert job.wait(timeout=300).state == "succeeded"
        assert job.output()["result"] == ...

Fixtures:

``aws_credentials`` (session)
    test credentials that can never reach an AWS account; AWS_PROFILE and AWS_ENDPOINT_URL unset.
``burst_endpoint`` (session)
    the local endpoint (``burst local up`` as a child process, on a free port), with burst-compute deployed
    to it: a :class:`BurstEndpoint`.
``burst_service`` (session)
    your service deployed to it too, with the service's own ``node_modules/.bin/sls`` (``npm install`` in
    it first): a :class:`DeployedService`.
``burst_client``
    the :class:`~burst_client.BurstClient` of that deployment.

What they need:

* the local endpoint: burst-compute installed with its ``local`` extra (moto);
* burst-compute's ``serverless.yml`` and its ``node_modules`` (``npm ci``), to deploy it: an installed package
  has neither, so the fixtures deploy it from a checkout of burst-compute, ``$BURST_COMPUTE_DIR``; by default
  the checkout this package is installed from (``pip install -e``), if it is one.

pytest ini options (e.g. ``[tool.pytest.ini_options]`` of pyproject.toml): ``burst_org`` (default janelia) and
``burst_stage`` (test) name the deployment, ``burst_service_dir`` is the service (default: the rootdir).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from burst_client.aws import LOCAL_CREDENTIALS, Clients
from burst_client.deploy import PROJECT_ROOT, sls
from burst_client.endpoint_process import EndpointProcess, free_port
from burst_client.errors import ToolMissing
from burst_client.sdk import BurstClient, Job

#: A checkout of burst-compute to deploy the framework from.
FRAMEWORK_DIR_ENV = "BURST_COMPUTE_DIR"
CREDENTIALS = {
    key: LOCAL_CREDENTIALS[key] for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
}
REGION = LOCAL_CREDENTIALS["AWS_DEFAULT_REGION"]
DEFAULT_ORG, DEFAULT_STAGE = "janelia", "test"
DEPLOY_TIMEOUT_SECONDS = 600
LOG_TAIL_CHARS = 3000
# what a copy of burst-compute's checkout to deploy from leaves out: what git ignores, and git itself
_NOT_COPIED = [".git", "node_modules", ".venv", ".serverless", "__pycache__", "*.pyc", ".*_cache", ".hypothesis"]
_NOT_COPIED += [".burst-local", "*.egg-info", "build", ".requirements"]
_SERVICE = re.compile(r"^service:\s*['\"]?([A-Za-z0-9-]+)['\"]?\s*(#.*)?$", re.MULTILINE)


def framework_dir() -> Path:
    """The checkout of burst-compute to deploy: $BURST_COMPUTE_DIR, else the one this package comes from."""
    configured = os.environ.get(FRAMEWORK_DIR_ENV)
    directory = Path(configured).expanduser() if configured else PROJECT_ROOT
    if not (directory / "serverless.yml").is_file():
        where = (
            f"{FRAMEWORK_DIR_ENV}={configured} has no serverless.yml"
            if configured
            else (f"burst_client is installed from {PROJECT_ROOT}, which is no checkout of burst-compute")
        )
        raise ToolMissing(
            f"cannot deploy burst-compute: {where}; set {FRAMEWORK_DIR_ENV} to a checkout of burst-compute "
            "in which `npm ci` ran"
        )
    return directory


def framework_copy(target: Path, framework: Path | None = None) -> Path:
    """A private copy of burst-compute's checkout to deploy from (its node_modules linked, not copied): `sls
    deploy` writes its artifacts into the service's directory, so two sessions deploying one checkout at once
    (several services' tests, or a deploy of your own meanwhile) would overwrite each other's."""
    source = framework or framework_dir()
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns(*_NOT_COPIED))
    (target / "node_modules").symlink_to(source / "node_modules")
    return target


def sls_executable(service_dir: Path, fallback_dir: Path | None = None) -> Path:
    """The service's own osls (``node_modules/.bin/sls``), else the one of ``fallback_dir`` (e.g. burst-compute's,
    for services that share its node_modules)."""
    for directory in (service_dir, fallback_dir):
        if directory is not None and (directory / "node_modules" / ".bin" / "sls").exists():
            return directory / "node_modules" / ".bin" / "sls"
    raise ToolMissing(f"osls is not installed in {service_dir}: run `npm install` there (Node.js 20 or later)")


def deploy_service(
    service_dir: Path,
    *,
    org: str,
    stage: str,
    endpoint_url: str,
    env: Mapping[str, str] | None = None,
    fallback_dir: Path | None = None,
) -> str:
    """``sls deploy --stage STAGE --org ORG`` of ``service_dir`` to the endpoint; its output, or DeployFailed."""
    return sls(
        ["deploy", "--stage", stage, "--org", org],
        service_dir,
        endpoint_url=endpoint_url,
        env=env,
        timeout=DEPLOY_TIMEOUT_SECONDS,
        executable=sls_executable(service_dir, fallback_dir),
    )


def bring_up(
    log_dir: Path,
    *,
    org: str,
    stage: str,
    services: Iterable[Path] = (),
    concurrency: int | None = None,
    framework_env: Mapping[str, str] | None = None,
) -> tuple[EndpointProcess, str]:
    """Start a local endpoint (its log: ``log_dir/endpoint.log``), deploy burst-compute (from a private copy of
    its checkout, ``log_dir/burst-compute``) and then ``services`` to it; returns the running endpoint and its
    URL. On failure the endpoint is stopped and its log's tail printed."""
    framework = framework_dir()
    copy = framework_copy(log_dir / "burst-compute", framework)
    endpoint = EndpointProcess(free_port(), log_dir / "endpoint.log", concurrency=concurrency)
    url = endpoint.start()
    try:
        deploy_service(copy, org=org, stage=stage, endpoint_url=url, env=framework_env)
        for service in services:
            deploy_service(service, org=org, stage=stage, endpoint_url=url, fallback_dir=framework)
    except BaseException:
        endpoint.stop()
        print((log_dir / "endpoint.log").read_text(errors="replace")[-LOG_TAIL_CHARS:])
        raise
    return endpoint, url


def service_name(service_dir: Path) -> str:
    """The ``service:`` of a serverless.yml."""
    match = _SERVICE.search((service_dir / "serverless.yml").read_text())
    if match is None:
        raise ToolMissing(f"{service_dir / 'serverless.yml'} has no `service: <name>` line")
    return match.group(1)


@dataclass
class BurstEndpoint:
    """A running local endpoint with burst-compute deployed to it as ``<org>-burst-compute-<stage>``."""

    url: str
    org: str
    stage: str
    log_path: Path

    def clients(self) -> Clients:
        return Clients(region=REGION, endpoint_url=self.url)

    def client(self) -> BurstClient:
        return BurstClient(self.org, self.stage, clients=self.clients())

    def deploy(self, service_dir: Path, env: Mapping[str, str] | None = None) -> DeployedService:
        """Deploy another service (with its own osls, else burst-compute's) with the endpoint's org and stage."""
        deploy_service(
            service_dir, org=self.org, stage=self.stage, endpoint_url=self.url, env=env, fallback_dir=framework_dir()
        )
        return DeployedService(service_name(service_dir), service_dir, self, self.client())


@dataclass
class DeployedService:
    """A service deployed to a :class:`BurstEndpoint`, and the BurstClient to run its jobs."""

    name: str
    directory: Path
    endpoint: BurstEndpoint
    client: BurstClient

    def function(self, name: str) -> str:
        """The deployed name of one of its functions: ``<org>-<service>-<stage>-<name>``."""
        return f"{self.endpoint.org}-{self.name}-{self.endpoint.stage}-{name}"

    def dispatch(
        self, start: int, end: int, *, worker: str = "worker", combiner: str = "combiner", **options: Any
    ) -> Job:
        """Start a job of the service's ``worker`` and ``combiner`` (the names of serverless.yml's functions) on
        indices [start, end); ``options`` are those of :meth:`BurstClient.dispatch` (batch_size=...)."""
        return self.client.dispatch(self.function(worker), self.function(combiner), start, end, **options)


# -- the pytest plugin ------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("burst_org", "org of the local deployment of burst-compute and the service", default=DEFAULT_ORG)
    parser.addini("burst_stage", "stage of the local deployment", default=DEFAULT_STAGE)
    parser.addini("burst_service_dir", "the service to deploy (default: the rootdir)", default="")


@pytest.fixture(scope="session")
def aws_credentials() -> Iterator[None]:
    """Test credentials for the session (they can never reach an AWS account); AWS_PROFILE and
    AWS_ENDPOINT_URL are unset meanwhile, so every client names the endpoint it talks to."""
    saved = {key: os.environ.get(key) for key in [*CREDENTIALS, "AWS_PROFILE", "AWS_ENDPOINT_URL"]}
    os.environ.update(CREDENTIALS)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def burst_endpoint(
    aws_credentials: None, tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[BurstEndpoint]:
    """The local endpoint with burst-compute deployed (once per session)."""
    org, stage = str(pytestconfig.getini("burst_org")), str(pytestconfig.getini("burst_stage"))
    log_dir = tmp_path_factory.mktemp("burst-endpoint")
    endpoint, url = bring_up(log_dir, org=org, stage=stage)
    try:
        yield BurstEndpoint(url, org, stage, log_dir / "endpoint.log")
    finally:
        endpoint.stop()


@pytest.fixture(scope="session")
def burst_service(burst_endpoint: BurstEndpoint, pytestconfig: pytest.Config) -> DeployedService:
    """The service under test (the rootdir, or the ini option burst_service_dir) deployed to the endpoint."""
    configured = str(pytestconfig.getini("burst_service_dir"))
    directory = (pytestconfig.rootpath / configured).resolve() if configured else pytestconfig.rootpath
    return burst_endpoint.deploy(directory)


@pytest.fixture
def burst_client(burst_service: DeployedService) -> BurstClient:
    """The BurstClient of the local deployment."""
    return burst_service.client
