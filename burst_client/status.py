"""A job's state and status: the words the SDK, ``burst status`` and ``status --json`` use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from burst_core.monitor import JOB_TIMED_OUT


class JobState(StrEnum):
    """A job's state, as ``burst status`` and ``status --json`` print it (README.md, the CLI)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    CANCELLED = "cancelled"

    @classmethod
    def of(cls, execution: Mapping[str, Any]) -> JobState:
        """The state of a job from its execution's DescribeExecution answer."""
        status = execution["status"]
        if status == "RUNNING":
            return cls.RUNNING
        if status == "SUCCEEDED":
            return cls.SUCCEEDED
        if status == "ABORTED":
            return cls.CANCELLED
        if status == "TIMED_OUT" or execution.get("error") == JOB_TIMED_OUT:
            return cls.TIMED_OUT
        return cls.FAILED


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    state: JobState
    num_batches: int
    done: int
    failed: int
    pending: int
    elapsed_secs: float
    error: str | None = None
    cause: str | None = None

    @property
    def finished(self) -> bool:
        return self.state is not JobState.RUNNING

    def as_dict(self) -> dict[str, Any]:
        return {
            "jobId": self.job_id,
            "state": self.state,
            "numBatches": self.num_batches,
            "done": self.done,
            "failed": self.failed,
            "pending": self.pending,
            "elapsedSecs": round(self.elapsed_secs, 3),
            "error": self.error,
            "cause": self.cause,
        }
