"""Shared fixtures: AWS credentials that can never reach a real account, moto, a Lambda context."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from burst_client.aws import LOCAL_CREDENTIALS
from tests.support import ROOT


@dataclass
class FakeLambdaContext:
    function_name: str = "janelia-burst-compute-test-fn"
    memory_limit_in_mb: int = 256
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:janelia-burst-compute-test-fn"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and no endpoint override: moto intercepts every call."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in LOCAL_CREDENTIALS.items():
        monkeypatch.setenv(name, value)


def repo_path(*parts: str) -> Path:
    return ROOT.joinpath(*parts)


def env_without(*names: str) -> dict[str, Any]:
    return {k: v for k, v in os.environ.items() if k not in names}
