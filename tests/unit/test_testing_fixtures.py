"""burst_client.testing's helpers (the fixtures themselves run in tests/scaffold and tests/e2e)."""

from __future__ import annotations

from pathlib import Path

import pytest

from burst_client import testing
from burst_client.errors import ToolMissing
from tests.support import ROOT


def test_the_framework_comes_from_this_checkout_by_default(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(testing.FRAMEWORK_DIR_ENV, raising=False)
    assert testing.framework_dir() == ROOT


def test_burst_compute_dir_must_be_a_checkout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv(testing.FRAMEWORK_DIR_ENV, str(tmp_path))
    with pytest.raises(ToolMissing, match=f"BURST_COMPUTE_DIR={tmp_path} has no serverless.yml; set BURST_COMPUTE_DIR"):
        testing.framework_dir()


def test_a_service_uses_its_own_osls_else_the_frameworks(tmp_path: Path):
    own = tmp_path / "service" / "node_modules" / ".bin"
    own.mkdir(parents=True)
    assert testing.sls_executable(tmp_path / "service", ROOT) == ROOT / "node_modules" / ".bin" / "sls"
    (own / "sls").write_text("")
    assert testing.sls_executable(tmp_path / "service", ROOT) == own / "sls"
    with pytest.raises(ToolMissing, match=r"osls is not installed in .*: run `npm install` there"):
        testing.sls_executable(tmp_path)


@pytest.mark.parametrize(
    ("line", "name"), [("service: my-search", "my-search"), ("service: 'my-search'  # the name", "my-search")]
)
def test_service_name(tmp_path: Path, line: str, name: str):
    (tmp_path / "serverless.yml").write_text(f"# a service\n{line}\nprovider:\n  name: aws\n")
    assert testing.service_name(tmp_path) == name


def test_deployed_service_names_its_functions():
    endpoint = testing.BurstEndpoint("http://127.0.0.1:9", "myorg", "test", Path("endpoint.log"))
    service = testing.DeployedService("my-search", Path("."), endpoint, endpoint.client())
    assert service.function("worker") == "myorg-my-search-test-worker"
    assert (service.client.org, service.client.stage) == ("myorg", "test")


def test_the_framework_is_deployed_from_a_private_copy(tmp_path: Path):
    copy = testing.framework_copy(tmp_path / "burst-compute", ROOT)
    assert (copy / "serverless.yml").read_text() == (ROOT / "serverless.yml").read_text()
    assert (copy / "node_modules").resolve() == (ROOT / "node_modules").resolve()  # linked, not copied
    assert not (copy / ".git").exists() and not (copy / ".venv").exists()
    assert not list(copy.rglob("__pycache__")) and not list(copy.rglob(".serverless"))
    helpers = copy / "layers" / "helpers" / "python" / "burst_core"
    assert helpers.is_symlink() and helpers.resolve() == (copy / "burst_core").resolve()  # the copy's own
