"""Environment variable names and the settings read from them, in one place.

Library code never reads the environment at import time: handlers call :func:`Settings.from_env`
and pass the result down. An explicit argument always wins over the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from burst_core.exceptions import ConfigurationError

# Names of the environment variables set by serverless.yml.
ENV_TASKS_TABLE = "TASKS_TABLE_NAME"
ENV_BATCH_INPUTS_BUCKET = "BATCH_INPUTS_BUCKET"
ENV_STATE_MACHINE_ARN = "STATE_MACHINE_ARN"
ENV_MAX_PARALLELISM = "MAX_PARALLELISM"
ENV_MAX_BATCHED_JOBS_ITERATIONS = "MAX_BATCHED_JOBS_ITERATIONS"
ENV_DEFAULT_JOBS_TIMEOUT_SECS = "DEFAULT_JOBS_TIMEOUT_SECS"
ENV_RESULTS_TTL_DAYS = "RESULTS_TTL_DAYS"
ENV_TRACING = "BURST_TRACING"
ENV_LOG_LEVEL = "BURST_LOG_LEVEL"

# Defaults, as in the original's .env files.
DEFAULT_MAX_PARALLELISM = 5000
DEFAULT_MAX_BATCHED_JOBS_ITERATIONS = 2
DEFAULT_JOBS_TIMEOUT_SECS = 3600
DEFAULT_RESULTS_TTL_DAYS = 7

# S3 key prefixes in the batch inputs bucket (the bucket's lifecycle rules expire them).
BATCH_FILES_PREFIX = "jobs/"
RESULTS_PREFIX = "results/"


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name}={raw!r}: expected a positive integer") from None
    if value <= 0:
        raise ConfigurationError(f"environment variable {name}={raw!r}: expected a positive integer")
    return value


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if not value:
        raise ConfigurationError(f"environment variable {name} is not set (it is set by serverless.yml)")
    return value


@dataclass(frozen=True)
class Settings:
    """Deployment settings of the burst-compute service."""

    tasks_table: str
    batch_inputs_bucket: str
    state_machine_arn: str
    max_parallelism: int = DEFAULT_MAX_PARALLELISM
    max_batched_jobs_iterations: int = DEFAULT_MAX_BATCHED_JOBS_ITERATIONS
    default_jobs_timeout_secs: int = DEFAULT_JOBS_TIMEOUT_SECS
    results_ttl_days: int = DEFAULT_RESULTS_TTL_DAYS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            tasks_table=_required(env, ENV_TASKS_TABLE),
            batch_inputs_bucket=_required(env, ENV_BATCH_INPUTS_BUCKET),
            state_machine_arn=env.get(ENV_STATE_MACHINE_ARN, ""),
            max_parallelism=_positive_int(env, ENV_MAX_PARALLELISM, DEFAULT_MAX_PARALLELISM),
            max_batched_jobs_iterations=_positive_int(
                env, ENV_MAX_BATCHED_JOBS_ITERATIONS, DEFAULT_MAX_BATCHED_JOBS_ITERATIONS
            ),
            default_jobs_timeout_secs=_positive_int(env, ENV_DEFAULT_JOBS_TIMEOUT_SECS, DEFAULT_JOBS_TIMEOUT_SECS),
            results_ttl_days=_positive_int(env, ENV_RESULTS_TTL_DAYS, DEFAULT_RESULTS_TTL_DAYS),
        )


def tracing_enabled(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get(ENV_TRACING, "").strip().lower() in {"1", "true", "yes", "on"}
