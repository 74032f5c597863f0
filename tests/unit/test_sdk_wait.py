"""Job.wait's polling: the interval grows from poll_interval to max_poll_interval, and the timeout holds."""

from __future__ import annotations

from typing import Any

import pytest

from burst_client.errors import JobWaitTimeout
from burst_client.sdk import Job, JobState, JobStatus


class ScriptedJob(Job):
    """A job whose status() answers RUNNING `polls_running` times, then SUCCEEDED."""

    def __init__(self, polls_running: int) -> None:
        super().__init__(client=None, job_id="job-1", execution_arn="arn")  # type: ignore[arg-type]
        self.polls_running = polls_running
        self.polls = 0

    @property
    def num_batches(self) -> int:
        return 10

    def status(self) -> JobStatus:
        self.polls += 1
        state = JobState.RUNNING if self.polls <= self.polls_running else JobState.SUCCEEDED
        done = min(self.polls, 10)
        return JobStatus("job-1", state, 10, done, 0, 10 - done, float(self.polls))


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def test_interval_grows_to_the_maximum() -> None:
    job, fake = ScriptedJob(polls_running=12), FakeTime()
    status = job.wait(poll_interval=1.0, max_poll_interval=4.0, sleep=fake.sleep, clock=fake.clock)
    assert status.state is JobState.SUCCEEDED and job.polls == 13
    assert fake.sleeps[:3] == pytest.approx([1.0, 1.25, 1.5625])
    assert fake.sleeps == sorted(fake.sleeps)
    assert max(fake.sleeps) == 4.0 and fake.sleeps[-3:] == [4.0, 4.0, 4.0]


def test_timeout_is_kept_to_even_with_long_intervals() -> None:
    job, fake = ScriptedJob(polls_running=1000), FakeTime()
    with pytest.raises(JobWaitTimeout, match="job-1 still running after 10 s"):
        job.wait(timeout=10, poll_interval=3.0, max_poll_interval=60.0, sleep=fake.sleep, clock=fake.clock)
    assert fake.now == pytest.approx(10.0)  # the last sleep was cut to the deadline


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"poll_interval": 0}, "poll_interval"), ({"max_poll_interval": 0.5}, "max_poll_interval")]
)
def test_bad_intervals_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ScriptedJob(polls_running=0).wait(**kwargs)
