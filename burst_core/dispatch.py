"""Starting a job: validate, partition, write the first round's batch file, start the execution.

Also the ``dispatchNextBatches`` step, which writes the batch file of each later round.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from burst_core.config import BATCH_FILES_PREFIX, Settings
from burst_core.exceptions import InvalidEvent, InvalidJobInput, JobStartFailed, PayloadTooLarge, StorageError
from burst_core.job import STATE_PAYLOAD_LIMIT_BYTES, deadline_for, iso_timestamp, parse_job_request
from burst_core.partition import Partition, plan_partition
from burst_core.persistence import STATUS_FAILED, TasksTable
from burst_core.tracing import subsegment

logger = logging.getLogger(__name__)


REDRIVE_FIELD = "redriveJobId"
MAX_REDRIVES = 100


def batch_file_key(job_id: str, first_batch_id: int, next_batch_id: int) -> str:
    return f"{BATCH_FILES_PREFIX}{job_id}/batches-{first_batch_id}-{next_batch_id}.json"


def execution_name(job_id: str, redrive: int = 0) -> str:
    """The job's first execution is named after the job; redrive ``n`` is ``<jobId>-redrive-<n>``."""
    return job_id if redrive == 0 else f"{job_id}-redrive-{redrive}"


def execution_arn(state_machine_arn: str, name: str) -> str:
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _partition_of(state: Mapping[str, Any]) -> Partition:
    try:
        return Partition(
            start=int(state["datasetStartIndex"]),
            end=int(state["datasetEndIndex"]),
            batch_size=int(state["batchSize"]),
            num_batches=int(state["numBatches"]),
            max_parallelism=int(state["maxParallelism"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidEvent(f"job state lacks a valid partition field: {exc}") from None


def latest_execution(stepfunctions: Any, state_machine_arn: str, job_id: str) -> tuple[int, dict[str, Any]] | None:
    """(redrive number, DescribeExecution answer) of the job's most recent execution, or None if it has
    none. Other AWS errors propagate as ClientError."""
    latest: tuple[int, dict[str, Any]] | None = None
    for redrive in range(MAX_REDRIVES + 1):
        arn = execution_arn(state_machine_arn, execution_name(job_id, redrive))
        try:
            latest = (redrive, stepfunctions.describe_execution(executionArn=arn))
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in {"ExecutionDoesNotExist", "InvalidArn"}:
                raise
            break
    return latest


def _dispatch_output(state: Mapping[str, Any], execution: Mapping[str, Any]) -> dict[str, Any]:
    """What dispatch answers (docs/Interfaces.md)."""
    return {
        "jobId": state["jobId"],
        "numBatches": state["numBatches"],
        "batchSize": state["batchSize"],
        "workflowArn": execution["executionArn"],
        "startTime": state["startTime"],
        "deadline": state["deadline"],
    }


class Dispatcher:
    """Writes batch files and starts executions. Clients and clock are injected."""

    def __init__(
        self,
        settings: Settings,
        *,
        s3: Any,
        stepfunctions: Any,
        dynamodb: Any = None,
        now: Callable[[], datetime] = _utcnow,
        new_job_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._settings = settings
        self._s3 = s3
        self._sfn = stepfunctions
        self._dynamodb = dynamodb
        self._now = now
        self._new_job_id = new_job_id

    def write_round(self, job_id: str, partition: Partition, first_batch_id: int) -> dict[str, Any]:
        """Write the batch file of the round starting at ``first_batch_id``; returns the round."""
        first, nxt = partition.round_bounds(first_batch_id)
        key = batch_file_key(job_id, first, nxt)
        body = partition.batches_json(first, nxt)
        with subsegment("write_batch_file", jobId=job_id, batches=nxt - first):
            try:
                self._s3.put_object(
                    Bucket=self._settings.batch_inputs_bucket,
                    Key=key,
                    Body=body,
                    ContentType="application/json",
                )
            except ClientError as exc:
                raise StorageError(
                    f"job {job_id}: cannot write batch file s3://{self._settings.batch_inputs_bucket}/{key}: {exc}"
                ) from exc
        return {
            "index": first // partition.max_parallelism,
            "firstBatchId": first,
            "nextBatchId": nxt,
            "inputJobsFile": key,
        }

    def dispatch(self, event: Any) -> dict[str, Any]:
        """Validate the request, write round 0 and start the job's execution (named after jobId).

        An event ``{"redriveJobId": ...}`` runs a finished job's failed batches again instead.
        """
        if isinstance(event, Mapping) and REDRIVE_FIELD in event:
            return self.redrive(event)
        request = parse_job_request(event)
        settings = self._settings
        max_parallelism = min(settings.max_parallelism, request.max_parallelism or settings.max_parallelism)
        partition = plan_partition(
            request.dataset_start_index,
            request.dataset_end_index,
            request.batch_size,
            max_parallelism,
            settings.max_batched_jobs_iterations,
        )
        timeout = request.jobs_timeout_secs or settings.default_jobs_timeout_secs
        start = self._now()
        job_id = self._new_job_id()
        state: dict[str, Any] = {
            "jobId": job_id,
            "workerFunctionName": request.worker_function_name,
            "combinerFunctionName": request.combiner_function_name,
            "datasetStartIndex": partition.start,
            "datasetEndIndex": partition.end,
            "batchSize": partition.batch_size,
            "requestedBatchSize": request.batch_size,
            "numBatches": partition.num_batches,
            "maxParallelism": max_parallelism,
            "jobsTimeoutSecs": timeout,
            "toleratedPercentageFailure": request.tolerated_percentage_failure,
            "jobParameters": request.job_parameters,
            "startTime": iso_timestamp(start),
            "deadline": iso_timestamp(deadline_for(start, timeout)),
            "tasksTableName": settings.tasks_table,
            "batchInputsBucket": settings.batch_inputs_bucket,
        }
        payload_size = len(json.dumps(state, separators=(",", ":")).encode()) + 512  # + round, retry
        if payload_size > STATE_PAYLOAD_LIMIT_BYTES:
            raise PayloadTooLarge(
                "jobParameters",
                f"the job's state would be {payload_size} bytes, over the "
                f"Step Functions limit of {STATE_PAYLOAD_LIMIT_BYTES}",
            )
        state["round"] = self.write_round(job_id, partition, 0)
        execution = self._start(job_id, execution_name(job_id), state)
        logger.info(
            "job %s dispatched: %d batches of %d (rounds of %d)",
            job_id,
            partition.num_batches,
            partition.batch_size,
            max_parallelism,
        )
        return _dispatch_output(state, execution)

    def _start(self, job_id: str, name: str, state: dict[str, Any]) -> dict[str, Any]:
        settings = self._settings
        try:
            with subsegment("start_execution", jobId=job_id):
                started: dict[str, Any] = self._sfn.start_execution(
                    stateMachineArn=settings.state_machine_arn, name=name, input=json.dumps(state)
                )
        except ClientError as exc:
            self._discard_batch_file(job_id, state["round"]["inputJobsFile"])
            raise JobStartFailed(f"job {job_id}: cannot start {settings.state_machine_arn}: {exc}") from exc
        return started

    def _latest_execution(self, job_id: str) -> tuple[int, dict[str, Any]]:
        try:
            latest = latest_execution(self._sfn, self._settings.state_machine_arn, job_id)
        except ClientError as exc:
            raise StorageError(f"job {job_id}: cannot describe its execution: {exc}") from exc
        if latest is None:
            raise InvalidJobInput(REDRIVE_FIELD, f"no job {job_id!r} in {self._settings.state_machine_arn}")
        return latest

    def redrive(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Run the failed (or never recorded) batches of a finished job again, as a new execution of the
        same job: their rows are overwritten and the combiner sees the merged results."""
        unknown = sorted(set(event) - {REDRIVE_FIELD, "jobsTimeoutSecs"})
        if unknown:
            raise InvalidJobInput(
                unknown[0],
                f"unknown field in a redrive request; expected {REDRIVE_FIELD} and optionally jobsTimeoutSecs",
            )
        job_id = event[REDRIVE_FIELD]
        if not isinstance(job_id, str) or not job_id:
            raise InvalidJobInput(REDRIVE_FIELD, f"expected the jobId of a finished job, got {job_id!r}")
        redrive, latest = self._latest_execution(job_id)
        if latest["status"] == "RUNNING":
            raise InvalidJobInput(REDRIVE_FIELD, f"job {job_id} is still running: wait for it or cancel it first")
        if redrive >= MAX_REDRIVES:
            raise InvalidJobInput(REDRIVE_FIELD, f"job {job_id} was redriven {MAX_REDRIVES} times already")
        state = dict(json.loads(latest["input"]))
        partition = _partition_of(state)
        recorded: set[int] = set()
        failed: list[int] = []
        for record in TasksTable(self._dynamodb, self._settings.tasks_table).records(job_id):
            recorded.add(record.batch_id)
            if record.status == STATUS_FAILED:
                failed.append(record.batch_id)
        batch_ids = sorted(failed + [b for b in range(partition.num_batches) if b not in recorded])
        if not batch_ids:
            raise InvalidJobInput(REDRIVE_FIELD, f"job {job_id} has no failed or missing batch to run again")
        timeout = event.get("jobsTimeoutSecs") or state["jobsTimeoutSecs"]
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0:
            raise InvalidJobInput("jobsTimeoutSecs", f"expected a positive integer, got {timeout!r}")
        start = self._now()
        key = f"{BATCH_FILES_PREFIX}{job_id}/redrive-{redrive + 1}.json"
        try:
            self._s3.put_object(
                Bucket=self._settings.batch_inputs_bucket,
                Key=key,
                Body=partition.batches_json_for(batch_ids),
                ContentType="application/json",
            )
        except ClientError as exc:
            raise StorageError(f"job {job_id}: cannot write the redrive batch file {key}: {exc}") from exc
        state.update(
            startTime=iso_timestamp(start),
            deadline=iso_timestamp(deadline_for(start, timeout)),
            jobsTimeoutSecs=timeout,
            redrive=redrive + 1,
            # one map run over the listed batches, then straight to the summary of all rows
            round={"index": 0, "firstBatchId": 0, "nextBatchId": partition.num_batches, "inputJobsFile": key},
        )
        execution = self._start(job_id, execution_name(job_id, redrive + 1), state)
        logger.info("job %s: redrive %d of %d batches", job_id, redrive + 1, len(batch_ids))
        return {**_dispatch_output(state, execution), "redrive": redrive + 1, "redrivenBatches": len(batch_ids)}

    def _discard_batch_file(self, job_id: str, key: str) -> None:
        try:
            self._s3.delete_object(Bucket=self._settings.batch_inputs_bucket, Key=key)
        except ClientError:  # the lifecycle rule expires it; the start failure is what matters
            logger.warning(
                "job %s: could not delete s3://%s/%s", job_id, self._settings.batch_inputs_bucket, key, exc_info=True
            )

    def next_round(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """The ``dispatchNextBatches`` step: write the batch file of the round after the current one."""
        job_id = state.get("jobId")
        current = state.get("round")
        if not isinstance(job_id, str) or not isinstance(current, Mapping):
            raise InvalidEvent("dispatchNextBatches event: expected the job state with jobId and round")
        partition = _partition_of(state)
        return self.write_round(job_id, partition, int(current["nextBatchId"]))


def delete_batch_file(s3: Any, event: Mapping[str, Any]) -> dict[str, Any]:
    """The cleanup step: delete one round's batch file (the bucket's lifecycle rule is the backstop)."""
    bucket, key = event.get("bucket"), event.get("key")
    if not isinstance(bucket, str) or not isinstance(key, str) or not key.startswith(BATCH_FILES_PREFIX):
        raise InvalidEvent(f"cleanup event: expected bucket and a key under {BATCH_FILES_PREFIX}, got {event!r}")
    s3.delete_object(Bucket=bucket, Key=key)
    return {"deleted": f"s3://{bucket}/{key}"}
