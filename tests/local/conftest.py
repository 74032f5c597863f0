"""Fixtures of the local endpoint's tests: the endpoint as a child process, and the fixture service on it.

The endpoint runs as ``python -m burst_client.local up`` (as a user starts it), on a free port, with its
console captured in a file the tests read. ``deployed`` runs a real ``sls deploy --stage local`` of
tests/local/fixtures/service (copied to a temporary directory, plus packages with aarch64 extensions).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.local.support import (
    FAKE_EXTENSION_BINARIES,
    FAKE_EXTENSION_PACKAGE,
    FIXTURE_SERVICE,
    ROOT,
    SLS,
    Deployed,
    Endpoint,
    pid_alive,
    run_sls,
    start_endpoint,
)


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """The endpoint shared by the session (concurrency 1000); stopped with SIGTERM at the end."""
    running = start_endpoint(tmp_path_factory.mktemp("endpoint") / "console.log")
    yield running
    code = running.stop()
    assert code == 0, running.console()[-3000:]
    orphans = [pid for pid in running.seen_pids if pid_alive(pid)]
    assert not orphans, f"worker processes left behind: {orphans}"


@pytest.fixture(scope="session")
def deployed(endpoint: Endpoint, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    """The fixture service deployed with `sls deploy --stage local` (osls, serverless-step-functions)."""
    if not SLS.exists():
        pytest.skip("node_modules/.bin/sls is missing (npm ci)")
    service_dir = tmp_path_factory.mktemp("fixture") / "service"
    shutil.copytree(FIXTURE_SERVICE, service_dir, ignore=shutil.ignore_patterns(".serverless", "__pycache__"))
    (service_dir / "node_modules").symlink_to(ROOT / "node_modules")
    for name, text in FAKE_EXTENSION_PACKAGE.items():
        (service_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (service_dir / name).write_text(text)
    for name, data in FAKE_EXTENSION_BINARIES.items():
        (service_dir / name).write_bytes(data)
    run_sls(service_dir, endpoint.url, "deploy")
    return Deployed(endpoint, service_dir)
