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
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from tqdm import tqdm

from burst_client.aws import Clients, translated_errors
from burst_client.errors import DispatchRejected, InvalidResults, JobNotFound, JobWaitTimeout
from burst_client.gateway import Gateway
from burst_client.gateway import Stack as Stack  # noqa: PLC0414 - re-exported: BurstClient.stack is one
from burst_client.logs import LogLine, batch_logs
from burst_client.status import JobState as JobState  # noqa: PLC0414 - re-exported
from burst_client.status import JobStatus as JobStatus  # noqa: PLC0414 - re-exported
from burst_core.exceptions import InvalidWorkerOutput
from burst_core.keys import summary_key
from burst_core.monitor import JOB_TIMED_OUT, TOO_MANY_FAILURES
from burst_core.persistence import RESULT_ATTRIBUTES, TasksTable, outcomes
from burst_core.persistence import BatchFailure as BatchFailure  # noqa: PLC0414 - re-exported: failures() lists them
from burst_core.results import BatchResult, batch_results

CANCELLED_ERROR = "Burst.Cancelled"
# a job whose execution failed with these errors ran its combiner first (CombineError, step-functions.yml)
FAILED_AFTER_COMBINING = (TOO_MANY_FAILURES, JOB_TIMED_OUT)
COMBINE_ERROR_STATE = "CombineError"
# newest history events searched for CombineError's task: ExecutionFailed, FailStateEntered,
# TaskStateExited, TaskSucceeded, with room for a retried combiner
COMBINE_ERROR_HISTORY_EVENTS = 20
# results(): how many results stored in S3 are fetched ahead of the one yielded, in as many threads
RESULT_READ_AHEAD = 4


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
        execution = self.client.gateway.describe_execution(self.execution_arn)
        if execution["status"] != "RUNNING":
            self._ended = execution
        # the input never changes: keep it from this description rather than describe again for it
        if "input" not in self.__dict__:
            self.__dict__["input"] = dict(json.loads(execution["input"]))
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
        found = self.client.gateway.read_json_or_none(f"s3://{self.client.stack.bucket}/{key}")
        return None if found is None else dict(found)

    def counts(self) -> tuple[int, int]:
        """(batches done, batches failed) so far, from the Map Runs' item counters: a few requests
        whatever the job's size (one per round). While a job runs, a batch deferred to a later round or
        skipped past the deadline counts as done until the summary says otherwise."""
        gateway = self.client.gateway
        done = failed = 0
        for run in gateway.map_runs(self.execution_arn):
            items = gateway.describe_map_run(run["mapRunArn"])["itemCounts"]
            done += int(items.get("succeeded", 0))
            failed += int(items.get("failed", 0)) + int(items.get("timedOut", 0))
        # a redrive runs only the batches that had not succeeded
        done += self.num_batches - int(self.input.get("redrivenBatches", self.num_batches))
        return min(done, max(self.num_batches - failed, 0)), failed

    def status(self) -> JobStatus:
        """The job's state and batch counts: exact from the summary once the job has one, else from the
        Map Runs' counters. Its cost does not grow with the job's size."""
        execution = self.describe()
        state = JobState.of(execution)
        summary = self.summary() if state is not JobState.RUNNING else None
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
        return self.client.gateway.tasks_table(self.client.stack.tasks_table)

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
        found = self.client.gateway.read_json(str(uri)) if uri else summary.get("unprocessedBatches", [])
        return [(int(first), int(after)) for first, after in found]

    # -- control --------------------------------------------------------------------------------------
    def cancel(self, reason: str = "cancelled by the user") -> bool:
        """Stop the job's execution: its map run stops and no new batch starts. Returns False, and
        changes nothing, when the job had already ended (``status()`` says how)."""
        if self.describe()["status"] != "RUNNING":
            return False
        self.client.gateway.stop_execution(self.execution_arn, CANCELLED_ERROR, reason)
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
                return {"jobId": self.job_id, "status": JobState.SUCCEEDED.value, "summary": None, "result": output}
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
            output["result"] = self.client.gateway.read_json(str(result["resultS3Uri"]))
        return dict(output)

    def _combine_error_result(self) -> Any:
        """The combiner's result on the CombineError path: the output of the Lambda task of the last
        CombineError state, a few events from the end of the history (read newest first)."""
        events = self.client.gateway.newest_events(self.execution_arn, COMBINE_ERROR_HISTORY_EVENTS)
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
        self.gateway = Gateway(self.clients)

    @cached_property
    def stack(self) -> Stack:
        return self.gateway.stack(self.org, self.stage)

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
        payload, function_error = self.gateway.invoke(self.stack.dispatch_function, event)
        if function_error:
            error_type = payload.get("errorType", "Error") if isinstance(payload, dict) else "Error"
            message = payload.get("errorMessage", str(payload)) if isinstance(payload, dict) else str(payload)
            raise DispatchRejected(error_type, message)
        return Job(self, payload["jobId"], payload["workflowArn"], payload)

    def job(self, job_id: str) -> Job:
        """A job found again from its id: its latest execution (``<jobId>`` or ``<jobId>-redrive-<n>``)."""
        latest = self.gateway.latest_execution(self.stack.state_machine_arns, job_id)
        if latest is None:
            raise JobNotFound(f"job {job_id} not found in stack {self.stack.name} ({self.clients.region})")
        job = Job(self, job_id, latest["executionArn"])
        if latest["status"] != "RUNNING":  # found by describing it: an ended execution is not described again
            job._ended = latest
        job.__dict__["input"] = dict(json.loads(latest["input"]))
        return job
