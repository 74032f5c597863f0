"""End-to-end: what AWS scale depends on, on the local endpoint: throttling, deferral, fail fast,
refused functions, and the cost of following a job."""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from burst_client.errors import DispatchRejected
from burst_client.sdk import Job
from burst_core import dispatch as dispatch_module
from burst_core.config import Settings
from burst_core.dispatch import Dispatcher
from burst_core.orchestration import ExecutionType, RetryPolicy

from .conftest import ORG, STAGE, LocalStack

pytestmark = pytest.mark.e2e

SLEEPY = {"sleepSecs": 10}


def statuses(local: LocalStack, job: Job) -> Counter[str]:
    return Counter(row["status"]["S"] for row in local.rows(job))


def test_throttled_batches_of_both_types_all_succeed_and_none_is_recorded_as_throttled(throttled: LocalStack):
    # an account that runs 3 invocations at once; two jobs of 12 batches of 10 s each: dispatch bounds
    # each job to 3 at once, and the two jobs together ask for 6, so half their invocations are throttled
    jobs = [
        throttled.with_execution_type(kind).testbed_job(0, 12, 1, slow=True, max_parallelism=12, job_parameters=SLEEPY)
        for kind in (ExecutionType.EXPRESS, ExecutionType.STANDARD)
    ]
    assert [job.input["maxConcurrency"] for job in jobs] == [3, 3]
    assert jobs[0].input["concurrencyLimit"] == "the account's unreserved Lambda concurrency (3)"
    with ThreadPoolExecutor(2) as pool:
        finished = list(pool.map(lambda job: job.wait(timeout=600), jobs))
    for job, status in zip(jobs, finished, strict=True):
        assert (status.state, status.done, status.failed, status.pending) == ("succeeded", 12, 0, 0)
        assert statuses(throttled, job) == {"succeeded": 12}
        assert job.output()["result"]["sum"] == sum(i * i for i in range(12))
    attempts = [int(row["attempt"]["N"]) for job in jobs for row in throttled.rows(job)]
    assert max(attempts) > 0, "the two jobs were expected to throttle each other"


def test_batches_still_throttled_after_their_retries_run_in_a_later_round(
    throttled: LocalStack, monkeypatch: pytest.MonkeyPatch
):
    # A job started with dispatch's own code but a retry budget of a single attempt and no bound on its
    # concurrency: every throttled batch is deferred at once, and the next rounds run it again.
    stack = throttled.client.stack
    clients = throttled.clients
    settings = Settings(
        stack.tasks_table,
        stack.bucket,
        stack.state_machine_arn,
        express_state_machine_arn=stack.express_state_machine_arn,
        stack_prefix=f"{ORG}-burst-compute-{STAGE}",
        worker_function_pattern=f"{ORG}-*",
    )
    monkeypatch.setattr(dispatch_module, "retry_policy", lambda *args: RetryPolicy(1, 2, 32))
    dispatcher = Dispatcher(
        settings,
        s3=clients("s3"),
        stepfunctions=clients("stepfunctions"),
        dynamodb=clients("dynamodb"),
        lambda_client=UnboundedLambda(clients("lambda")),
    )
    out = dispatcher.dispatch(
        {
            "workerFunctionName": throttled.worker("burst-testbed").replace("-worker", "-slow-worker"),
            "combinerFunctionName": throttled.combiner(),
            "datasetStartIndex": 0,
            "datasetEndIndex": 9,
            "batchSize": 1,
            "jobParameters": {"sleepSecs": 3},
        }
    )
    job = throttled.client.job(out["jobId"])
    status = job.wait(timeout=600)
    assert (status.state, status.done, status.failed) == ("succeeded", 9, 0)
    assert statuses(throttled, job) == {"succeeded": 9}
    ended_rounds = [
        json.loads(event["taskSucceededEventDetails"]["output"])["Payload"]
        for event in throttled.client.gateway.execution_history(job.execution_arn)
        if event["type"] == "TaskSucceeded" and '"carried"' in event["taskSucceededEventDetails"]["output"]
    ]
    assert sum(r["carried"] for r in ended_rounds) > 0, "some batches were expected to be deferred to a later round"


class UnboundedLambda:
    """The Lambda client, but the account's concurrency reads as unlimited (dispatch does not bound it)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_account_settings(self) -> dict[str, Any]:
        return {"AccountLimit": {"UnreservedConcurrentExecutions": 1000}}


@pytest.mark.parametrize("kind", [ExecutionType.EXPRESS, ExecutionType.STANDARD], ids=str)
def test_when_a_round_fails_beyond_the_tolerance_the_next_round_never_starts(local: LocalStack, kind: ExecutionType):
    # 20 batches in two rounds of 10, every batch fails, 10 % tolerated
    job = local.with_execution_type(kind).testbed_job(
        0, 20, 1, max_parallelism=10, tolerated_percentage_failure=10, job_parameters={"failBatches": list(range(20))}
    )
    status = job.wait(timeout=180)
    assert (status.state, status.error) == ("failed", "Burst.TooManyFailures")
    invoked = local.invocations(job)
    assert invoked and max(invoked) < 10, "no batch of round 2 ran"
    seen = local.combiner_input(job)
    assert seen["status"] == "failed"
    assert seen["succeededBatches"] + seen["failedBatchCount"] + seen["unprocessedBatchCount"] == 20
    assert seen["failedBatchCount"] == len(invoked)
    assert [10, 20] in seen["unprocessedBatches"] or seen["unprocessedBatches"][-1][1] == 20
    assert status.done + status.failed + status.pending == 20


def test_unknown_or_framework_functions_are_refused_and_nothing_starts(local: LocalStack):
    sfn = local.clients("stepfunctions")
    stack = local.client.stack

    def executions() -> int:
        return sum(
            len(sfn.list_executions(stateMachineArn=arn)["executions"])
            for arn in (stack.state_machine_arn, stack.express_state_machine_arn)
        )

    before = executions()
    misspelt_worker, misspelt_combiner = local.worker() + "s", local.combiner() + "s"
    refused = {
        (misspelt_worker, local.combiner()): f"workerFunctionName: no Lambda function '{misspelt_worker}'",
        (local.worker(), misspelt_combiner): f"combinerFunctionName: no Lambda function '{misspelt_combiner}'",
        (stack.dispatch_function, local.combiner()): "workerFunctionName: '{}' is one of burst-compute's own".format(
            stack.dispatch_function.rsplit(":", 1)[-1]
        ),
    }
    for (worker, combiner), message in refused.items():
        with pytest.raises(DispatchRejected) as caught:
            local.client.dispatch(worker, combiner, 0, 10)
        assert caught.value.error_type == "InvalidJobInput"
        assert caught.value.message.startswith(message), caught.value.message
    assert executions() == before


def count_requests(job: Job) -> Counter[str]:
    """The AWS requests one call of job.status() makes, by service and operation."""
    made: Counter[str] = Counter()

    def note(event_name: str, **_: Any) -> None:
        made[event_name.split(".", 1)[1]] += 1

    for service in ("stepfunctions", "dynamodb", "s3"):
        job.client.clients(service).meta.events.register("before-call", note)
    try:
        job.status()
    finally:
        for service in ("stepfunctions", "dynamodb", "s3"):
            job.client.clients(service).meta.events.unregister("before-call", note)
    return made


def test_following_a_job_costs_the_same_at_100_and_10000_batches(local: LocalStack):
    costs = {}
    for batches in (100, 10_000):
        job = local.testbed_job(0, batches, 1, max_parallelism=batches // 2)
        sfn = job.client.clients("stepfunctions")
        deadline = time.monotonic() + 120
        while not sfn.list_map_runs(executionArn=job.execution_arn)["mapRuns"]:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        job.__dict__.pop("input", None)
        job.input  # noqa: B018 - read once, as any follower does, before counting a poll
        running = count_requests(job)
        job.cancel()
        costs[batches] = running
        assert "dynamodb.Query" not in running
    assert costs[100] == costs[10_000], costs
