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
ENV_EXPRESS_STATE_MACHINE_ARN = "EXPRESS_STATE_MACHINE_ARN"
ENV_MAX_PARALLELISM = "MAX_PARALLELISM"
ENV_MAX_BATCHED_JOBS_ITERATIONS = "MAX_BATCHED_JOBS_ITERATIONS"
ENV_DEFAULT_JOBS_TIMEOUT_SECS = "DEFAULT_JOBS_TIMEOUT_SECS"
ENV_RESULTS_TTL_DAYS = "RESULTS_TTL_DAYS"
ENV_STACK_PREFIX = "BURST_STACK_PREFIX"
ENV_WORKER_FUNCTION_PATTERN = "WORKER_FUNCTION_PATTERN"
ENV_TRACING = "BURST_TRACING"
ENV_LOG_LEVEL = "BURST_LOG_LEVEL"

# Defaults, as in the original's .env files.
DEFAULT_MAX_PARALLELISM = 5000
# A distributed Map runs at most 10,000 child workflows at once
# (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html).
DISTRIBUTED_MAP_MAX_CONCURRENCY = 10_000
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
    max_parallelism: int = DEFAULT_MAX_PARALLELISM  # batches per round: at most 10,000 (capped here)
    max_batched_jobs_iterations: int = DEFAULT_MAX_BATCHED_JOBS_ITERATIONS
    default_jobs_timeout_secs: int = DEFAULT_JOBS_TIMEOUT_SECS
    results_ttl_days: int = DEFAULT_RESULTS_TTL_DAYS
    # the same lifecycle with EXPRESS batch workflows ("" : only the one above)
    express_state_machine_arn: str = ""
    # The framework's own functions are named "<stack_prefix>-<name>"; workers and combiners must
    # match worker_function_pattern (an IAM-style pattern of function names, "*" and "?").
    stack_prefix: str = ""
    worker_function_pattern: str = "*"

    def __post_init__(self) -> None:
        # batches per round; each round is one Map Run, which runs at most 10,000 children at once
        if self.max_parallelism > DISTRIBUTED_MAP_MAX_CONCURRENCY:
            object.__setattr__(self, "max_parallelism", DISTRIBUTED_MAP_MAX_CONCURRENCY)

    @property
    def state_machine_arns(self) -> tuple[str, ...]:
        """Every lifecycle state machine a job may run on."""
        return tuple(arn for arn in (self.state_machine_arn, self.express_state_machine_arn) if arn)

    @property
    def region(self) -> str:
        """The region of the deployment (from the state machine's ARN)."""
        parts = self.state_machine_arn.split(":")
        return parts[3] if len(parts) > 4 else ""

    @property
    def account(self) -> str:
        parts = self.state_machine_arn.split(":")
        return parts[4] if len(parts) > 4 else ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            tasks_table=_required(env, ENV_TASKS_TABLE),
            batch_inputs_bucket=_required(env, ENV_BATCH_INPUTS_BUCKET),
            state_machine_arn=env.get(ENV_STATE_MACHINE_ARN, ""),
            express_state_machine_arn=env.get(ENV_EXPRESS_STATE_MACHINE_ARN, ""),
            max_parallelism=_positive_int(env, ENV_MAX_PARALLELISM, DEFAULT_MAX_PARALLELISM),
            max_batched_jobs_iterations=_positive_int(
                env, ENV_MAX_BATCHED_JOBS_ITERATIONS, DEFAULT_MAX_BATCHED_JOBS_ITERATIONS
            ),
            default_jobs_timeout_secs=_positive_int(env, ENV_DEFAULT_JOBS_TIMEOUT_SECS, DEFAULT_JOBS_TIMEOUT_SECS),
            results_ttl_days=_positive_int(env, ENV_RESULTS_TTL_DAYS, DEFAULT_RESULTS_TTL_DAYS),
            stack_prefix=env.get(ENV_STACK_PREFIX, ""),
            worker_function_pattern=env.get(ENV_WORKER_FUNCTION_PATTERN) or "*",
        )


def tracing_enabled(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get(ENV_TRACING, "").strip().lower() in {"1", "true", "yes", "on"}
