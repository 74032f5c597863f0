"""What only Lambda handlers use: shared boto3 clients, settings and logging set-up.

Clients are created on first use and reused by warm Lambda environments. Library functions take
their clients as parameters. boto3 honours AWS_ENDPOINT_URL, so the same code reaches AWS or the
local endpoint.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

import boto3
from botocore.config import Config

from burst_core import tracing
from burst_core.config import ENV_LOG_LEVEL, Settings

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8}, max_pool_connections=32)


@functools.cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)


@functools.cache
def settings() -> Settings:
    return Settings.from_env()


def init() -> None:
    """Called once at import by each handler module: log level and (optional) X-Ray tracing."""
    logging.getLogger("burst_core").setLevel(os.environ.get(ENV_LOG_LEVEL, "INFO"))
    tracing.configure()
