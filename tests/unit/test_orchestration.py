"""EXPRESS or STANDARD batch workflows, and their retry budget."""

import pytest

from burst_client.cost import load_definition
from burst_core.orchestration import (
    EXPRESS_MAX_DURATION_SECS,
    EXPRESS_MAX_WORKER_TIMEOUT_SECS,
    EXPRESS_SAFETY_SECS,
    RAMP_CAPS,
    STANDARD_MAX_ATTEMPTS,
    ExecutionType,
    RetryPolicy,
    choose_execution_type,
    retry_policy,
)


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [(3, "EXPRESS"), (EXPRESS_MAX_WORKER_TIMEOUT_SECS, "EXPRESS"), (EXPRESS_MAX_WORKER_TIMEOUT_SECS + 1, "STANDARD")],
)
def test_express_when_two_attempts_and_a_minute_of_backoff_fit(timeout, expected):
    assert choose_execution_type(None, timeout) == expected


def test_a_requested_type_wins_when_it_fits():
    assert choose_execution_type(ExecutionType.STANDARD, 3) == "STANDARD"
    assert choose_execution_type(ExecutionType.EXPRESS, 60) == "EXPRESS"
    with pytest.raises(ValueError, match="the worker's timeout is 900 s"):
        choose_execution_type(ExecutionType.EXPRESS, 900)


@pytest.mark.parametrize("timeout", [1, 3, 30, 60, EXPRESS_MAX_WORKER_TIMEOUT_SECS])
def test_an_express_batch_never_outlives_express_five_minutes(timeout):
    policy = retry_policy(ExecutionType.EXPRESS, timeout, 3600)
    # every wait at its cap, and every attempt that may run to the worker's timeout doing so
    worst = policy.worst_case_backoff_secs() + policy.max_failures * timeout
    assert worst <= EXPRESS_MAX_DURATION_SECS - EXPRESS_SAFETY_SECS
    # one more attempt would not fit
    longer = RetryPolicy(policy.max_attempts + 1, policy.max_failures, policy.max_cap)
    assert (
        longer.worst_case_backoff_secs() + policy.max_failures * timeout
        > EXPRESS_MAX_DURATION_SECS - EXPRESS_SAFETY_SECS
    )
    assert policy.max_attempts >= 5  # at least the whole ramp, with a minute of backoff


@pytest.mark.parametrize("jobs_timeout", [60, 3600, 86_400, 7 * 86_400])
def test_a_standard_batch_retries_until_the_deadline(jobs_timeout):
    policy = retry_policy(ExecutionType.STANDARD, 900, jobs_timeout)
    assert policy.max_attempts == STANDARD_MAX_ATTEMPTS
    # the expected wait (half the cap, full jitter) of all attempts reaches the deadline
    expected_wait = sum(policy.cap(n) / 2 for n in range(1, policy.max_attempts))
    assert expected_wait >= jobs_timeout


def test_the_state_machines_retry_state():
    state = RetryPolicy(12, 2, 32).as_state()
    assert state == {
        "attempt": 0,
        "failures": 0,
        "caps": list(RAMP_CAPS),
        "ramp": len(RAMP_CAPS),
        "maxCap": 32,
        "maxAttempts": 12,
        "maxFailures": 2,
    }
    assert [RetryPolicy(12, 2, 32).cap(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 32, 32]


def test_an_express_batch_keeps_room_for_its_row_write_retries():
    # every wait of the row write's Retry at its longest, from step-functions.yml
    states = load_definition()["States"]["MapJobs"]["ItemProcessor"]["States"]
    for name in ("RecordResult", "RecordFailure", "Defer"):
        (retry,) = states[name]["Retry"]
        waits = [
            min(retry["IntervalSeconds"] * retry["BackoffRate"] ** n, retry.get("MaxDelaySeconds", float("inf")))
            for n in range(retry["MaxAttempts"])
        ]
        assert sum(waits) <= EXPRESS_SAFETY_SECS / 2, (name, waits)  # half for the waits, half for latency
