"""How a job's batches are orchestrated: EXPRESS or STANDARD child workflows, and their retry budget.

Step Functions bills STANDARD workflows per state transition ($0.025 per 1,000) and EXPRESS workflows
per request ($1 per million) and GB-second of duration; a distributed Map can run its child workflows
as either (https://aws.amazon.com/step-functions/pricing/). An EXPRESS execution lasts at most five
minutes, retries and waits included, after which it fails with States.Timeout
(https://docs.aws.amazon.com/step-functions/latest/dg/concepts-standard-vs-express.html). So a job's
batches run as EXPRESS children when two full attempts of its worker and a minute of backoff fit in
those five minutes, and as STANDARD children otherwise.

Throttled invocations (Lambda.TooManyRequestsException) are retried with full-jitter backoff whose
cap ramps up through :data:`RAMP_CAPS` and then stays at ``maxCap``; every attempt checks the job's
deadline first. A STANDARD child retries until the deadline, within Step Functions' 25,000 history
events per execution; an EXPRESS child retries while its five minutes allow and then defers the
batch to the next round. Other transient errors (service errors, worker timeouts) get
``maxFailures`` attempts in all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ExecutionType(StrEnum):
    """The type of a distributed Map's child workflows (ProcessorConfig.ExecutionType)."""

    EXPRESS = "EXPRESS"
    STANDARD = "STANDARD"


EXPRESS_MAX_DURATION_SECS = 300
# Room left in an EXPRESS child beside its worker's attempts and backoff: the row write's own retries
# (step-functions.yml: at most 1 + 2 + 4 + 8 s of waiting) and Step Functions' latency.
EXPRESS_SAFETY_SECS = 30
# An EXPRESS child must fit two full worker attempts and at least this much backoff.
EXPRESS_MIN_BACKOFF_SECS = 60
EXPRESS_MAX_WORKER_TIMEOUT_SECS = (EXPRESS_MAX_DURATION_SECS - EXPRESS_SAFETY_SECS - EXPRESS_MIN_BACKOFF_SECS) // 2

# The backoff cap of retry n (1-based) is RAMP_CAPS[n - 1], then maxCap.
RAMP_CAPS = (2, 4, 8, 16, 32)
STEADY_CAP_SECS = 32
# A STANDARD child's retry loop adds about 15 history events per attempt: 1,000 attempts stay well
# inside the 25,000 events an execution may have.
STANDARD_MAX_ATTEMPTS = 1000
# Attempts that may end in a transient error or a worker timeout (the first attempt included).
STANDARD_MAX_FAILURES = 3
EXPRESS_MAX_FAILURES = 2


def choose_execution_type(requested: ExecutionType | None, worker_timeout_secs: int) -> ExecutionType:
    """EXPRESS when the worker's timeout fits an EXPRESS child, else STANDARD, unless ``requested``.

    Raises ValueError when EXPRESS is requested for a worker that cannot fit."""
    fits = worker_timeout_secs <= EXPRESS_MAX_WORKER_TIMEOUT_SECS
    if requested is ExecutionType.EXPRESS and not fits:
        raise ValueError(
            f"an EXPRESS child workflow lasts at most {EXPRESS_MAX_DURATION_SECS} s with its retries; the worker's "
            f"timeout is {worker_timeout_secs} s (at most {EXPRESS_MAX_WORKER_TIMEOUT_SECS} s fits): use STANDARD"
        )
    if requested is not None:
        return requested
    return ExecutionType.EXPRESS if fits else ExecutionType.STANDARD


@dataclass(frozen=True)
class RetryPolicy:
    """The retry state every batch starts with (the state machine's ``$.retry``)."""

    max_attempts: int
    max_failures: int
    max_cap: int
    caps: tuple[int, ...] = RAMP_CAPS

    def worst_case_backoff_secs(self) -> int:
        """The longest a batch can wait between its attempts (every wait at its cap)."""
        return sum(self.cap(n) for n in range(1, self.max_attempts))

    def cap(self, retry: int) -> int:
        return self.caps[retry - 1] if retry <= len(self.caps) else self.max_cap

    def as_state(self) -> dict[str, Any]:
        return {
            "attempt": 0,
            "failures": 0,
            "caps": list(self.caps),
            "ramp": len(self.caps),
            "maxCap": self.max_cap,
            "maxAttempts": self.max_attempts,
            "maxFailures": self.max_failures,
        }


def retry_policy(execution_type: ExecutionType, worker_timeout_secs: int, jobs_timeout_secs: int) -> RetryPolicy:
    """The retry budget of a job's batches.

    STANDARD: up to :data:`STANDARD_MAX_ATTEMPTS` attempts, the steady cap large enough for them to
    reach the job's deadline (so the deadline, not the count, ends the retries). EXPRESS: as many
    attempts as keep two full worker attempts plus every wait inside the five minutes."""
    if execution_type is ExecutionType.STANDARD:
        # full jitter waits half the cap on average: the steady retries alone then reach the deadline
        steady_retries = STANDARD_MAX_ATTEMPTS - 1 - len(RAMP_CAPS)
        steady = max(STEADY_CAP_SECS, math.ceil(2 * jobs_timeout_secs / steady_retries))
        return RetryPolicy(STANDARD_MAX_ATTEMPTS, STANDARD_MAX_FAILURES, steady)
    budget = EXPRESS_MAX_DURATION_SECS - EXPRESS_SAFETY_SECS - EXPRESS_MAX_FAILURES * worker_timeout_secs
    policy = RetryPolicy(1, EXPRESS_MAX_FAILURES, STEADY_CAP_SECS)
    while True:
        longer = RetryPolicy(policy.max_attempts + 1, EXPRESS_MAX_FAILURES, STEADY_CAP_SECS)
        if longer.worst_case_backoff_secs() > budget:
            return policy
        policy = longer
