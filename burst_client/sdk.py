"""Python SDK: start burst jobs and follow them, identically on AWS and on the local endpoint.

    from burst_client import BurstClient

    client = BurstClient(org="myorg", stage="prod")
    job = client.dispatch("myorg-search-prod-worker", "myorg-search-prod-combiner", 0, 100_000,
                          batch_size=100, job_parameters={"threshold": 0.8})
    status = job.wait(progress=True)
    print(status.state, job.output())

boto3 honours AWS_ENDPOINT_URL, so the same code reaches the local endpoint.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError as BotoClientError
from tqdm import tqdm

from burst_client.aws import Clients, translated_errors
from burst_client.errors import DispatchRejected, InvalidResults, JobNotFound, JobWaitTimeout, StackNotDeployed
from burst_client.logs import LogLine, batch_logs
from burst_core.dispatch import latest_execution
from burst_core.exceptions import InvalidWorkerOutput
from burst_core.keys import summary_key
from burst_core.monitor import JOB_TIMED_OUT, TOO_MANY_FAILURES
from burst_core.persistence import RESULT_ATTRIBUTES, TasksTable, outcomes
from burst_core.persistence import BatchFailure as BatchFailure  # noqa: PLC0414 - re-exported: failures() lists them
from burst_core.results import BatchResult, batch_results
from burst_core.storage import read_s3_json

RUNNING, SUCCEEDED, FAILED, TIMED_OUT, CANCELLED = "running", "succeeded", "failed", "timed out", "cancelled"
CANCELLED_ERROR = "Burst.Cancelled"
# a job whose execution failed with these errors ran its combiner first (CombineError, step-functions.yml)
FAILED_AFTER_COMBINING = (TOO_MANY_FAILURES, JOB_TIMED_OUT)
COMBINE_ERROR_STATE = "CombineError"
# newest history events searched for CombineError's task: ExecutionFailed, FailStateEntered,
# TaskStateExited, TaskSucceeded, with room for a retried combiner
COMBINE_ERROR_HISTORY_EVENTS = 20
# results(): how many results stored in S3 are fetched ahead of the one yielded, in as many threads
RESULT_READ_AHEAD = 4


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


def stack_name(org: str, stage: str) -> str:
    return f"{org}-burst-compute-{stage}"


def find_stack(clients: Clients, org: str, stage: str) -> Stack:
    name = stack_name(org, stage)
    with translated_errors():
        try:
            described = clients("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
        except BotoClientError as exc:
            if "does not exist" in str(exc):
                raise StackNotDeployed(
                    f"stack {name} is not deployed in {clients.region}: deploy it with "
                    f"`npx sls deploy -s {stage} --org {org}` (or pass the right --org/--stage/--region)"
                ) from None
            raise
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    needed = [
        "TasksTable",
        "MapJobsInputsBucket",
        "JobLifecycleStateMachine",
        "ExpressJobLifecycleStateMachine",
        "DispatchLambdaFunction",
        "MonitorLambdaFunction",
    ]
    missing = [key for key in needed if key not in outputs]
    if missing:
        raise StackNotDeployed(f"stack {name} has no output(s) {', '.join(missing)}: is it a burst-compute stack?")
    return Stack(
        name,
        outputs["TasksTable"],
        outputs["MapJobsInputsBucket"],
        outputs["JobLifecycleStateMachine"],
        outputs["ExpressJobLifecycleStateMachine"],
        outputs["DispatchLambdaFunction"],
        outputs["MonitorLambdaFunction"],
    )


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    state: str
    num_batches: int
    done: int
    failed: int
    pending: int
    elapsed_secs: float
    error: str | None = None
    cause: str | None = None

    @property
    def finished(self) -> bool:
        return self.state != RUNNING

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


def _state_of(execution: dict[str, Any]) -> str:
    status = execution["status"]
    if status == "RUNNING":
        return RUNNING
    if status == "SUCCEEDED":
        return SUCCEEDED
    if status == "ABORTED":
        return CANCELLED
    if status == "TIMED_OUT" or execution.get("error") == JOB_TIMED_OUT:
        return TIMED_OUT
    return FAILED


class Job:
    """A dispatched job: its execution and its batch rows."""

    def __init__(
        self, client: BurstClient, job_id: str, execution_arn: str, dispatched: dict[str, Any] | None = None
    ) -> None:
        self.client = client
        self.job_id = job_id
        self.execution_arn = execution_arn
        # dispatch's answer (docs/Interfaces.md), when this object started the job
        self.dispatched = dispatched or {}
        self._ended: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"Job({self.job_id!r})"

    def describe(self) -> dict[str, Any]:
        """DescribeExecution of the job's latest execution. An ended execution never changes, so its
        description is kept: a command that reads the state, then the output, describes it once."""
        if self._ended is not None and self._ended["executionArn"] == self.execution_arn:
            return self._ended
        with translated_errors():
            execution = dict(self.client.clients("stepfunctions").describe_execution(executionArn=self.execution_arn))
        if execution["status"] != "RUNNING":
            self._ended = execution
        return execution

    @cached_property
    def input(self) -> dict[str, Any]:
        """The job's state at dispatch (numBatches, batchSize, startTime, deadline, ...)."""
        return dict(json.loads(self.describe()["input"]))

    @property
    def num_batches(self) -> int:
        return int(self.input["numBatches"])

    def summary(self) -> dict[str, Any] | None:
        """The summary of the job's latest execution once it has one (docs/Interfaces.md, the
        combiner's input), else None."""
        key = summary_key(self.job_id, self.execution_arn.rsplit(":", 1)[-1])  # the execution's name
        try:
            with translated_errors():
                return dict(read_s3_json(self.client.clients("s3"), f"s3://{self.client.stack.bucket}/{key}"))
        except BotoClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                return None
            raise

    def counts(self) -> tuple[int, int]:
        """(batches done, batches failed) so far, from the Map Runs' item counters: a few requests
        whatever the job's size (one per round). While a job runs, a batch deferred to a later round or
        skipped past the deadline counts as done until the summary says otherwise."""
        sfn = self.client.clients("stepfunctions")
        done = failed = 0
        with translated_errors():
            for page in sfn.get_paginator("list_map_runs").paginate(executionArn=self.execution_arn):
                for run in page.get("mapRuns", []):
                    items = sfn.describe_map_run(mapRunArn=run["mapRunArn"])["itemCounts"]
                    done += int(items.get("succeeded", 0))
                    failed += int(items.get("failed", 0)) + int(items.get("timedOut", 0))
        # a redrive runs only the batches that had not succeeded
        done += self.num_batches - int(self.input.get("redrivenBatches", self.num_batches))
        return min(done, max(self.num_batches - failed, 0)), failed

    def status(self) -> JobStatus:
        """The job's state and batch counts: exact from the summary once the job has one, else from the
        Map Runs' counters. Its cost does not grow with the job's size."""
        execution = self.describe()
        state = _state_of(execution)
        summary = self.summary() if state != RUNNING else None
        if summary is not None:
            done, failed = int(summary["succeededBatches"]), int(summary["failedBatchCount"])
            pending = int(summary["unprocessedBatchCount"])
        else:
            done, failed = self.counts()
            pending = max(self.num_batches - done - failed, 0)
        start = execution["startDate"]
        end = execution.get("stopDate") or datetime.now(UTC)
        return JobStatus(
            job_id=self.job_id,
            state=state,
            num_batches=self.num_batches,
            done=done,
            failed=failed,
            pending=pending,
            elapsed_secs=(end - start).total_seconds(),
            error=execution.get("error"),
            cause=execution.get("cause"),
        )

    def wait(
        self,
        timeout: float | None = None,
        *,
        progress: bool = False,
        poll_interval: float = 1.0,
        max_poll_interval: float = 15.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> JobStatus:
        """Poll until the job ends; with ``progress`` show a bar of batches done and failed.

        Every poll reads the execution and its Map Runs' counters (DescribeMapRun allows about one call
        a second per account), so the interval grows by a quarter per poll from ``poll_interval`` to
        ``max_poll_interval``: short jobs are followed closely, long ones cheaply.
        """
        if poll_interval <= 0 or max_poll_interval < poll_interval:
            raise ValueError(
                f"poll_interval must be positive and at most max_poll_interval, got {poll_interval} and "
                f"{max_poll_interval}"
            )
        deadline = None if timeout is None else clock() + timeout
        interval = poll_interval
        bar = tqdm(total=self.num_batches, unit="batch", desc=self.job_id[:8], disable=not progress, dynamic_ncols=True)
        try:
            while True:
                status = self.status()
                bar.set_postfix(failed=status.failed, refresh=False)
                bar.update(status.done + status.failed - bar.n)
                if status.finished:
                    return status
                if deadline is not None and clock() >= deadline:
                    raise JobWaitTimeout(f"job {self.job_id} still running after {timeout:g} s")
                sleep(interval if deadline is None else max(min(interval, deadline - clock()), 0.0))
                interval = min(interval * 1.25, max_poll_interval)
        finally:
            bar.close()

    # -- results and failures ------------------------------------------------------------------------
    def _table(self) -> TasksTable:
        return TasksTable(self.client.clients("dynamodb"), self.client.stack.tasks_table)

    def results(self, *, parallelism: int = RESULT_READ_AHEAD) -> Iterator[BatchResult]:
        """Every succeeded batch's results in batch order (consistent reads; S3-stored results fetched).

        Streams in bounded memory, whatever the job's size: the rows are read one DynamoDB Query page (at
        most 1 MB) at a time, each batch's results yielded as its row is reached, and results stored in S3
        are fetched up to ``parallelism`` batches ahead of the one yielded, in as many threads. What is held
        at once is one page of rows and ``parallelism`` batches' results (bench/results/results_memory.md).
        """
        records = self._table().records(self.job_id, attributes=RESULT_ATTRIBUTES)
        with translated_errors():
            try:
                yield from batch_results(records, self.client.clients("s3"), read_ahead=parallelism)
            except InvalidWorkerOutput as exc:
                raise InvalidResults(f"job {self.job_id}: {exc}") from None

    def failures(self) -> list[BatchFailure]:
        """Failed batches with error and cause, in batch order (the job's summary records those whose
        child workflow failed before writing a row, e.g. with States.DataLimitExceeded)."""
        with translated_errors():
            return list(outcomes(self._table().records(self.job_id), self.num_batches).failed)

    def never_started(self) -> list[tuple[int, int]]:
        """``[first, next)`` ranges of the batch ids that never ran to an end (not started before the
        deadline, deferred until it, or stopped by the failure tolerance), from the job's summary: the
        complete list, also when the summary keeps it in S3. Empty while the job runs (no summary yet)."""
        summary = self.summary()
        if summary is None:
            return []
        uri = summary.get("unprocessedBatchesS3Uri")
        with translated_errors():
            found = read_s3_json(self.client.clients("s3"), str(uri)) if uri else summary.get("unprocessedBatches", [])
        return [(int(first), int(after)) for first, after in found]

    # -- control --------------------------------------------------------------------------------------
    def cancel(self, reason: str = "cancelled by the user") -> bool:
        """Stop the job's execution: its map run stops and no new batch starts. Returns False, and
        changes nothing, when the job had already ended (``status()`` says how)."""
        if self.describe()["status"] != "RUNNING":
            return False
        with translated_errors():
            self.client.clients("stepfunctions").stop_execution(
                executionArn=self.execution_arn, error=CANCELLED_ERROR, cause=reason
            )
        return True

    def redrive(self, jobs_timeout_secs: int | None = None) -> Job:
        """Run the failed and unrecorded batches again; their results merge into this job."""
        event: dict[str, Any] = {"redriveJobId": self.job_id}
        if jobs_timeout_secs is not None:
            event["jobsTimeoutSecs"] = jobs_timeout_secs
        job = self.client.dispatch_event(event)
        self.execution_arn = job.execution_arn
        self.__dict__.pop("input", None)
        return self

    def output(self) -> dict[str, Any] | None:
        """The job's outcome once its combiner ran: ``{"jobId", "status", "summary", "result"}`` with the
        combiner's result under ``result``; None while the job runs, when it was cancelled, or when the
        combiner itself failed.

        A job that failed or timed out still ran its combiner (CombineError) before its execution
        failed; that result is read from the execution's last history events (a failed execution has no
        output) and the summary from the stored summary. A result the combiner helper stored in S3
        (too large for the execution's state) is read back.
        """
        execution = self.describe()
        if execution["status"] == "SUCCEEDED" and execution.get("output"):
            output = json.loads(execution["output"])
            if not isinstance(output, dict):
                return {"jobId": self.job_id, "status": SUCCEEDED, "summary": None, "result": output}
        elif execution["status"] == "FAILED" and execution.get("error") in FAILED_AFTER_COMBINING:
            result = self._combine_error_result()
            if result is None:  # not found in the history's last events
                return None
            summary = self.summary()
            output = {
                "jobId": self.job_id,
                "status": summary["status"] if summary else None,
                "summary": summary,
                "result": result,
            }
        else:
            return None
        result = output.get("result")
        if isinstance(result, dict) and set(result) == {"resultS3Uri", "resultBytes"}:
            with translated_errors():
                output["result"] = read_s3_json(self.client.clients("s3"), str(result["resultS3Uri"]))
        return dict(output)

    def _combine_error_result(self) -> Any:
        """The combiner's result on the CombineError path: the output of the Lambda task of the last
        CombineError state, a few events from the end of the history (read newest first)."""
        sfn = self.client.clients("stepfunctions")
        with translated_errors():
            events = sfn.get_execution_history(
                executionArn=self.execution_arn, reverseOrder=True, maxResults=COMBINE_ERROR_HISTORY_EVENTS
            )["events"]
        exited = False
        for event in events:
            if event["type"] == "TaskStateExited":
                exited = event["stateExitedEventDetails"]["name"] == COMBINE_ERROR_STATE
            elif exited and event["type"] == "TaskSucceeded":
                return json.loads(event["taskSucceededEventDetails"]["output"]).get("Payload")
        return None

    def logs(self, batch_id: int) -> list[LogLine]:
        """The worker's log lines of one batch, from its invocation's START line to its REPORT line (CloudWatch
        Logs; on the local endpoint too). Raises BatchNotFound (no such batch, or no row yet) or LogsNotFound
        (the message says why: no request id in the row, no log group, lines expired or not ingested yet);
        :func:`burst_client.logs.batch_logs` also gives the log group, stream and request id."""
        return list(batch_logs(self, batch_id).lines)


class BurstClient:
    """Entry point of the SDK: finds the stack from org and stage, dispatches and finds jobs."""

    def __init__(
        self,
        org: str = "janelia",
        stage: str = "dev",
        *,
        region: str | None = None,
        profile: str | None = None,
        clients: Clients | None = None,
    ) -> None:
        self.org, self.stage = org, stage
        self.clients = clients or Clients(region=region, profile=profile)

    @cached_property
    def stack(self) -> Stack:
        return find_stack(self.clients, self.org, self.stage)

    def dispatch(
        self,
        worker: str,
        combiner: str,
        start: int,
        end: int,
        *,
        batch_size: int | None = None,
        max_parallelism: int | None = None,
        jobs_timeout_secs: int | None = None,
        tolerated_percentage_failure: float | None = None,
        job_parameters: dict[str, Any] | None = None,
        batch_execution_type: str | None = None,
    ) -> Job:
        event: dict[str, Any] = {
            "workerFunctionName": worker,
            "combinerFunctionName": combiner,
            "datasetStartIndex": start,
            "datasetEndIndex": end,
        }
        optional = {
            "batchSize": batch_size,
            "maxParallelism": max_parallelism,
            "jobsTimeoutSecs": jobs_timeout_secs,
            "toleratedPercentageFailure": tolerated_percentage_failure,
            "jobParameters": job_parameters,
            "batchExecutionType": batch_execution_type,
        }
        event.update({key: value for key, value in optional.items() if value is not None})
        return self.dispatch_event(event)

    def dispatch_event(self, event: dict[str, Any]) -> Job:
        """Invoke the dispatch function with a raw event (docs/Interfaces.md)."""
        with translated_errors():
            response = self.clients("lambda").invoke(
                FunctionName=self.stack.dispatch_function, Payload=json.dumps(event).encode()
            )
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            error_type = payload.get("errorType", "Error") if isinstance(payload, dict) else "Error"
            message = payload.get("errorMessage", str(payload)) if isinstance(payload, dict) else str(payload)
            raise DispatchRejected(error_type, message)
        return Job(self, payload["jobId"], payload["workflowArn"], payload)

    def job(self, job_id: str) -> Job:
        """A job found again from its id: its latest execution (``<jobId>`` or ``<jobId>-redrive-<n>``)."""
        with translated_errors():
            latest = latest_execution(
                self.clients("stepfunctions"),
                (self.stack.state_machine_arn, self.stack.express_state_machine_arn),
                job_id,
            )
        if latest is None:
            raise JobNotFound(f"job {job_id} not found in stack {self.stack.name} ({self.clients.region})")
        return Job(self, job_id, latest[1]["executionArn"])
