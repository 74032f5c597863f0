"""The local AWS endpoint with burst-compute, the testbed and the mask-search example deployed to it."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from burst_client import testing
from burst_client.aws import Clients
from burst_client.deploy import PROJECT_ROOT
from burst_client.endpoint_process import EndpointProcess
from burst_client.sdk import BurstClient, Job
from burst_core.persistence import TasksTable

ORG, STAGE = "janelia", "e2e"
TESTBED = Path(__file__).resolve().parent / "testbed"
EXAMPLE = PROJECT_ROOT / "examples" / "mask-search"
# several rounds in the rounds test: the deployment allows 4 (the default .env has 2)
DEPLOY_ENV = {"MAX_BATCHED_JOBS_ITERATIONS": "4"}
# the session's test credentials (shared with users' tests: burst_client.testing)
aws_credentials = testing.aws_credentials


@dataclass
class LocalStack:
    url: str
    client: BurstClient
    # batchExecutionType of the jobs the tests start (None: dispatch chooses)
    execution_type: str | None = None

    @property
    def clients(self) -> Clients:
        return self.client.clients

    def worker(self, service: str = "burst-testbed") -> str:
        return f"{ORG}-{service}-{STAGE}-worker"

    def combiner(self, service: str = "burst-testbed") -> str:
        return f"{ORG}-{service}-{STAGE}-combiner"

    def dispatch(self, worker: str, combiner: str, start: int, end: int, **options: Any) -> Job:
        options.setdefault("batch_execution_type", self.execution_type)
        return self.client.dispatch(worker, combiner, start, end, **options)

    def testbed_job(self, start: int, end: int, batch_size: int, *, slow: bool = False, **options: Any) -> Job:
        worker = self.worker().replace("-worker", "-slow-worker") if slow else self.worker()
        return self.dispatch(worker, self.combiner(), start, end, batch_size=batch_size, **options)

    def with_execution_type(self, execution_type: str) -> LocalStack:
        return dataclasses.replace(self, execution_type=execution_type)

    def combiner_input(self, job: Job) -> dict[str, Any]:
        body = (
            self.clients("s3")
            .get_object(Bucket=self.client.stack.bucket, Key=f"results/{job.job_id}/combiner-input.json")["Body"]
            .read()
        )
        return dict(json.loads(body))

    def invocations(self, job: Job) -> dict[int, list[dict[str, Any]]]:
        """Worker invocations per batch id (from the testbed worker's markers)."""
        s3, bucket = self.clients("s3"), self.client.stack.bucket
        found: dict[int, list[dict[str, Any]]] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=f"results/{job.job_id}/invocations/"
        ):
            for obj in page.get("Contents", []):
                batch_id = int(obj["Key"].split("/")[3])
                marker = json.loads(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
                found.setdefault(batch_id, []).append(marker)
        return found

    def rows(self, job: Job) -> list[dict[str, Any]]:
        """The job's rows as DynamoDB items, as the state machine wrote them."""
        return list(TasksTable(self.clients("dynamodb"), self.client.stack.tasks_table).items(job.job_id))


def bring_up(
    log_dir: Path, *, concurrency: int | None = None, example: bool = True
) -> tuple[EndpointProcess, LocalStack]:
    """An endpoint with burst-compute (this checkout), the testbed and (``example``) mask-search deployed."""
    services = [TESTBED, EXAMPLE] if example else [TESTBED]
    endpoint, url = testing.bring_up(
        log_dir, org=ORG, stage=STAGE, services=services, concurrency=concurrency, framework_env=DEPLOY_ENV
    )
    return endpoint, LocalStack(url, BurstClient(ORG, STAGE, clients=Clients(endpoint_url=url)))


@pytest.fixture(scope="session")
def deployed(aws_credentials: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """The endpoint with everything deployed, once per session."""
    endpoint, stack = bring_up(tmp_path_factory.mktemp("endpoint"))
    yield stack
    endpoint.stop()


@pytest.fixture(scope="session")
def deployed_throttled(aws_credentials: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A second endpoint whose account concurrency is 3 invocations at a time."""
    endpoint, stack = bring_up(tmp_path_factory.mktemp("throttled"), concurrency=3, example=False)
    yield stack
    endpoint.stop()


@pytest.fixture
def local(deployed: LocalStack) -> LocalStack:
    """The endpoint; dispatch chooses the batches' workflow type (a module may override this fixture to
    run its jobs with each type, see ``each_type``)."""
    return deployed


@pytest.fixture
def throttled(deployed_throttled: LocalStack) -> LocalStack:
    return deployed_throttled


EXECUTION_TYPES = ["EXPRESS", "STANDARD"]
