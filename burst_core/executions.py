"""A job's executions of the lifecycle state machines: how they are named and how the latest is found.

A job's first execution is named after the job, its redrives ``<jobId>-redrive-<n>``; each may have run on
either lifecycle state machine (STANDARD or EXPRESS batch workflows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botocore.exceptions import ClientError

MAX_REDRIVES = 100


def execution_name(job_id: str, redrive: int = 0) -> str:
    """The job's first execution is named after the job; redrive ``n`` is ``<jobId>-redrive-<n>``."""
    return job_id if redrive == 0 else f"{job_id}-redrive-{redrive}"


def execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def _describe(stepfunctions: Any, state_machine_arns: Sequence[str], name: str) -> dict[str, Any] | None:
    for state_machine_arn in state_machine_arns:
        try:
            return dict(stepfunctions.describe_execution(executionArn=execution_arn(state_machine_arn, name)))
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in {"ExecutionDoesNotExist", "InvalidArn"}:
                raise
    return None


def latest_execution(
    stepfunctions: Any, state_machine_arns: Sequence[str], job_id: str
) -> tuple[int, dict[str, Any]] | None:
    """(redrive number, DescribeExecution answer) of the job's most recent execution, on whichever of the
    lifecycle state machines it ran, or None if it has none. Other AWS errors propagate as ClientError."""
    latest: tuple[int, dict[str, Any]] | None = None
    for redrive in range(MAX_REDRIVES + 1):
        described = _describe(stepfunctions, state_machine_arns, execution_name(job_id, redrive))
        if described is None:
            break
        latest = (redrive, described)
    return latest
