"""The client's one AWS gateway: every AWS read and write of the SDK, the timeline and the cost report.

Each method makes one kind of request (listing ones through boto3's paginators) and answers plain
dicts or the client's own types; AWS errors are mapped once, here, to the client's errors
(:mod:`burst_client.errors`): connection and credential errors by :func:`burst_client.aws.translated_errors`,
a missing stack to :class:`StackNotDeployed`, a missing execution to :class:`JobNotFound`. Other AWS
errors propagate as botocore's ``ClientError``.

Shaped like aws/chalice's ``TypedAWSClient`` (``chalice/awsclient.py``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError as BotoClientError

from burst_client.aws import Clients, translated_errors
from burst_client.errors import JobNotFound, StackNotDeployed
from burst_core.executions import latest_execution
from burst_core.persistence import TasksTable
from burst_core.storage import read_s3_json

# the Stack field of each output of a burst-compute stack (serverless.yml, resources.Outputs)
STACK_OUTPUTS = {
    "TasksTable": "tasks_table",
    "MapJobsInputsBucket": "bucket",
    "JobLifecycleStateMachine": "state_machine_arn",
    "ExpressJobLifecycleStateMachine": "express_state_machine_arn",
    "DispatchLambdaFunction": "dispatch_function",
    "MonitorLambdaFunction": "monitor_function",
}
_NO_EXECUTION = {"ExecutionDoesNotExist", "InvalidArn"}
_NO_OBJECT = {"NoSuchKey", "404", "NotFound"}
HISTORY_PAGE_SIZE = 1000


@dataclass(frozen=True)
class Stack:
    """The deployed burst-compute stack's outputs."""

    name: str
    tasks_table: str
    bucket: str
    state_machine_arn: str
    express_state_machine_arn: str
    dispatch_function: str
    monitor_function: str

    @property
    def state_machine_arns(self) -> tuple[str, str]:
        return self.state_machine_arn, self.express_state_machine_arn


def stack_name(org: str, stage: str) -> str:
    return f"{org}-burst-compute-{stage}"


def error_code(exc: BotoClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def _execution_errors(execution_arn: str) -> Iterator[None]:
    """translated_errors, and a missing execution as JobNotFound."""
    with translated_errors():
        try:
            yield
        except BotoClientError as exc:
            if error_code(exc) in _NO_EXECUTION:
                raise JobNotFound(f"execution {execution_arn} not found") from None
            raise


class Gateway:
    """Typed AWS calls of the client, through one set of boto3 clients (AWS or the local endpoint)."""

    def __init__(self, clients: Clients | Callable[[str], Any]) -> None:
        self.clients = clients

    @property
    def region(self) -> str:
        return str(getattr(self.clients, "region", "us-east-1"))

    def _sfn(self) -> Any:
        return self.clients("stepfunctions")

    # -- CloudFormation -------------------------------------------------------------------------------
    def stack(self, org: str, stage: str) -> Stack:
        """The burst-compute stack of ``org`` and ``stage``, from its outputs."""
        name = stack_name(org, stage)
        with translated_errors():
            try:
                described = self.clients("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
            except BotoClientError as exc:
                if "does not exist" in str(exc):
                    raise StackNotDeployed(
                        f"stack {name} is not deployed in {self.region}: deploy it with "
                        f"`npx sls deploy -s {stage} --org {org}` (or pass the right --org/--stage/--region)"
                    ) from None
                raise
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        missing = [key for key in STACK_OUTPUTS if key not in outputs]
        if missing:
            raise StackNotDeployed(f"stack {name} has no output(s) {', '.join(missing)}: is it a burst-compute stack?")
        return Stack(name, **{field: outputs[key] for key, field in STACK_OUTPUTS.items()})

    # -- Step Functions: executions --------------------------------------------------------------------
    def describe_execution(self, execution_arn: str) -> dict[str, Any]:
        with _execution_errors(execution_arn):
            return dict(self._sfn().describe_execution(executionArn=execution_arn))

    def latest_execution(self, state_machine_arns: Sequence[str], job_id: str) -> dict[str, Any] | None:
        """DescribeExecution of a job's latest execution (``<jobId>`` or ``<jobId>-redrive-<n>``), or None."""
        with translated_errors():
            latest = latest_execution(self._sfn(), state_machine_arns, job_id)
        return None if latest is None else latest[1]

    def execution_history(self, execution_arn: str) -> list[dict[str, Any]]:
        """Every event of an execution, oldest first (GetExecutionHistory's paginator)."""
        paginator = self._sfn().get_paginator("get_execution_history")
        events: list[dict[str, Any]] = []
        with _execution_errors(execution_arn):
            for page in paginator.paginate(
                executionArn=execution_arn, PaginationConfig={"PageSize": HISTORY_PAGE_SIZE}
            ):
                events.extend(page.get("events", []))
        events.sort(key=lambda event: int(event.get("id", 0)))
        return events

    def newest_events(self, execution_arn: str, count: int) -> list[dict[str, Any]]:
        """The ``count`` newest events of an execution, newest first (one request)."""
        with _execution_errors(execution_arn):
            answer = self._sfn().get_execution_history(executionArn=execution_arn, reverseOrder=True, maxResults=count)
        return list(answer.get("events", []))

    def stop_execution(self, execution_arn: str, error: str, cause: str) -> None:
        with _execution_errors(execution_arn):
            self._sfn().stop_execution(executionArn=execution_arn, error=error, cause=cause)

    def state_machine_definition(self, state_machine_arn: str) -> dict[str, Any]:
        """The definition (ASL) of a deployed state machine (DescribeStateMachine)."""
        with translated_errors():
            described = self._sfn().describe_state_machine(stateMachineArn=state_machine_arn)
        return dict(json.loads(described["definition"]))

    # -- Step Functions: map runs ----------------------------------------------------------------------
    def map_runs(self, execution_arn: str) -> list[dict[str, Any]]:
        """The map runs of an execution (ListMapRuns' paginator): their mapRunArn, startDate, ..."""
        runs: list[dict[str, Any]] = []
        with _execution_errors(execution_arn):
            for page in self._sfn().get_paginator("list_map_runs").paginate(executionArn=execution_arn):
                runs.extend(page.get("mapRuns", []))
        return runs

    def describe_map_run(self, map_run_arn: str) -> dict[str, Any]:
        """DescribeMapRun: itemCounts, executionCounts, status, ..."""
        with translated_errors():
            return dict(self._sfn().describe_map_run(mapRunArn=map_run_arn))

    # -- Lambda -----------------------------------------------------------------------------------------
    def function_configuration(self, function: str) -> dict[str, Any]:
        with translated_errors():
            return dict(self.clients("lambda").get_function_configuration(FunctionName=function))

    def account_settings(self) -> dict[str, Any]:
        with translated_errors():
            return dict(self.clients("lambda").get_account_settings())

    def invoke(self, function: str, event: Any) -> tuple[Any, str | None]:
        """Invoke a function synchronously: (its decoded answer, its FunctionError or None)."""
        with translated_errors():
            response = self.clients("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode())
            payload = json.loads(response["Payload"].read() or b"null")
        return payload, response.get("FunctionError")

    # -- DynamoDB and S3 ------------------------------------------------------------------------------
    def tasks_table(self, table: str) -> TasksTable:
        """The tasks table's gateway (burst_core.persistence) on this gateway's DynamoDB client."""
        return TasksTable(self.clients("dynamodb"), table)

    def read_json(self, uri: str) -> Any:
        """A JSON object of S3 (``s3://bucket/key``)."""
        with translated_errors():
            return read_s3_json(self.clients("s3"), uri)

    def read_json_or_none(self, uri: str) -> Any:
        """A JSON object of S3, or None when there is no such object."""
        try:
            return self.read_json(uri)
        except BotoClientError as exc:
            if error_code(exc) in _NO_OBJECT:
                return None
            raise
