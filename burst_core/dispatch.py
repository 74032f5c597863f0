"""Starting a job: validate, check its functions, partition, write the first round's batch file, start.

Also the ``dispatchNextBatches`` step, which ends each round: it deletes the round's batch file and,
unless the job must stop, writes the next round's (deferred batches first).
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from burst_core.config import ENV_EXPRESS_STATE_MACHINE_ARN, Settings
from burst_core.exceptions import (
    ConfigurationError,
    InvalidEvent,
    InvalidJobInput,
    JobStartFailed,
    PayloadTooLarge,
    StorageError,
)
from burst_core.executions import MAX_REDRIVES, execution_name, latest_execution
from burst_core.functions import ConcurrencyLimit, LambdaFunctions
from burst_core.job import (
    STATE_PAYLOAD_LIMIT_BYTES,
    JobRequest,
    deadline_for,
    integer_field,
    iso_timestamp,
    parse_job_request,
    parse_timestamp,
    state_room,
)
from burst_core.keys import round_file_key
from burst_core.monitor import STOP_DEADLINE, STOP_DONE, STOP_MAP_RUN_FAILED, STOP_TOLERANCE, TOLERANCE_EXCEEDED
from burst_core.orchestration import ExecutionType, choose_execution_type, retry_policy
from burst_core.partition import Partition, plan_partition
from burst_core.persistence import TasksTable, outcomes
from burst_core.storage import put_json
from burst_core.tracing import subsegment

logger = logging.getLogger(__name__)


REDRIVE_FIELD = "redriveJobId"


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


def _dispatch_output(state: Mapping[str, Any], execution: Mapping[str, Any]) -> dict[str, Any]:
    """What dispatch answers (docs/Interfaces.md)."""
    return {
        "jobId": state["jobId"],
        "numBatches": state["numBatches"],
        "batchSize": state["batchSize"],
        "workflowArn": execution["executionArn"],
        "startTime": state["startTime"],
        "deadline": state["deadline"],
        "batchExecutionType": state["batchExecutionType"],
        "maxParallelism": state["maxParallelism"],
        "maxConcurrency": state["maxConcurrency"],
        "concurrencyLimit": state["concurrencyLimit"],
    }


def tolerated_failures(percentage: float, num_batches: int) -> int:
    """How many failed batches a job tolerates: its tolerated percentage of all its batches."""
    return math.floor(percentage * num_batches / 100 + 1e-9)


def _round(
    state: Mapping[str, Any],
    index: int,
    key: str,
    batch_ids: list[int],
    next_batch_id: int,
    *,
    failed: int = 0,
    carried: int = 0,
) -> dict[str, Any]:
    """A round of the job: its batch file, and how many more failures its Map Run tolerates (the job's
    tolerance less the failures of earlier rounds: the round fails fast once the job has too many)."""
    tolerated = tolerated_failures(float(state["toleratedPercentageFailure"]), int(state["numBatches"]))
    return {
        "index": index,
        "more": True,
        "inputJobsFile": key,
        "firstBatchId": min(batch_ids),
        "lastBatchId": max(batch_ids),
        "nextBatchId": next_batch_id,
        "carried": carried,
        "failed": failed,
        "toleratedFailureCount": max(tolerated - failed, 0),
        "stop": None,
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
        lambda_client: Any = None,
        now: Callable[[], datetime] = _utcnow,
        new_job_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._settings = settings
        self._s3 = s3
        self._sfn = stepfunctions
        self._dynamodb = dynamodb
        self._lambda = lambda_client
        self._now = now
        self._new_job_id = new_job_id

    # -- batch files ----------------------------------------------------------------------------
    def _write_batch_file(self, job_id: str, key: str, partition: Partition, batch_ids: list[int]) -> None:
        with subsegment("write_batch_file", jobId=job_id, batches=len(batch_ids)):
            try:
                put_json(self._s3, self._settings.batch_inputs_bucket, key, partition.batches_json_for(batch_ids))
            except ClientError as exc:
                raise StorageError(
                    f"job {job_id}: cannot write batch file s3://{self._settings.batch_inputs_bucket}/{key}: {exc}"
                ) from exc

    def _discard_batch_file(self, job_id: str, key: str) -> None:
        try:
            self._s3.delete_object(Bucket=self._settings.batch_inputs_bucket, Key=key)
        except ClientError:  # the lifecycle rule expires it
            logger.warning(
                "job %s: could not delete s3://%s/%s", job_id, self._settings.batch_inputs_bucket, key, exc_info=True
            )

    # -- the job's functions and how they run ------------------------------------------------------
    def _orchestration(self, request: JobRequest, round_size: int, timeout: int) -> dict[str, Any]:
        """Check the worker and combiner; the job's child workflow type, retry budget and concurrency."""
        if self._lambda is None:
            raise ValueError("dispatch needs a Lambda client to check the job's functions")
        functions = LambdaFunctions(self._lambda, self._settings)
        worker = functions.check("workerFunctionName", request.worker_function_name)
        functions.check("combinerFunctionName", request.combiner_function_name)
        try:
            execution_type = choose_execution_type(request.batch_execution_type, worker.timeout_secs)
        except ValueError as exc:
            raise InvalidJobInput("batchExecutionType", str(exc)) from None
        limit: ConcurrencyLimit = functions.concurrency(worker)
        if limit.limit == 0:
            raise InvalidJobInput(
                "workerFunctionName", f"{worker.name} cannot run: {limit.source} is 0 (see PutFunctionConcurrency)"
            )
        concurrency = min(round_size, limit.limit or round_size)  # round_size: at most the Map's 10,000
        return {
            "batchExecutionType": execution_type.value,
            "maxConcurrency": concurrency,
            "concurrencyLimit": limit.source,
            "retry": retry_policy(execution_type, worker.timeout_secs, timeout).as_state(),
        }

    def _row_ttl(self, start: datetime) -> str:
        return str(int((start + timedelta(days=self._settings.results_ttl_days)).timestamp()))

    # -- dispatch ---------------------------------------------------------------------------------
    def dispatch(self, event: Any) -> dict[str, Any]:
        """Validate the request, write round 0 and start the job's execution (named after jobId).

        An event ``{"redriveJobId": ...}`` runs a finished job's failed batches again instead.
        Nothing is written or started before the request and its functions are checked."""
        if isinstance(event, Mapping) and REDRIVE_FIELD in event:
            return self.redrive(event)
        request = parse_job_request(event)
        settings = self._settings
        round_size = min(settings.max_parallelism, request.max_parallelism or settings.max_parallelism)
        partition = plan_partition(
            request.dataset_start_index,
            request.dataset_end_index,
            request.batch_size,
            round_size,
            settings.max_batched_jobs_iterations,
        )
        timeout = request.jobs_timeout_secs or settings.default_jobs_timeout_secs
        orchestration = self._orchestration(request, round_size, timeout)
        start = self._now()
        job_id = self._new_job_id()
        name = execution_name(job_id)
        state: dict[str, Any] = {
            "jobId": job_id,
            "executionName": name,
            "workerFunctionName": request.worker_function_name,
            "combinerFunctionName": request.combiner_function_name,
            "datasetStartIndex": partition.start,
            "datasetEndIndex": partition.end,
            "batchSize": partition.batch_size,
            "requestedBatchSize": request.batch_size,
            "numBatches": partition.num_batches,
            "maxParallelism": round_size,
            "jobsTimeoutSecs": timeout,
            "toleratedPercentageFailure": request.tolerated_percentage_failure,
            "requestedBatchExecutionType": request.batch_execution_type,
            "jobParameters": request.job_parameters,
            "startTime": iso_timestamp(start),
            "deadline": iso_timestamp(deadline_for(start, timeout)),
            "tasksTableName": settings.tasks_table,
            "batchInputsBucket": settings.batch_inputs_bucket,
            "rowTtl": self._row_ttl(start),
            **orchestration,
        }
        first, nxt = partition.round_bounds(0)
        batch_ids = list(range(first, nxt))
        key = round_file_key(job_id, name, 0)
        state["round"] = _round(state, 0, key, batch_ids, nxt)
        self._check_size(state)
        state_machine_arn = self._state_machine(state["batchExecutionType"])  # before anything is written
        self._write_batch_file(job_id, key, partition, batch_ids)
        execution = self._start(job_id, name, state, state_machine_arn)
        logger.info(
            "job %s dispatched: %d batches of %d (rounds of %d), %s children, at most %d at once",
            job_id,
            partition.num_batches,
            partition.batch_size,
            round_size,
            state["batchExecutionType"],
            state["maxConcurrency"],
        )
        return _dispatch_output(state, execution)

    @staticmethod
    def _check_size(state: Mapping[str, Any]) -> None:
        room = state_room(state, 1024)  # 1 KiB: the round's growth
        if room < 0:
            raise PayloadTooLarge(
                "jobParameters",
                f"the job's state would be {STATE_PAYLOAD_LIMIT_BYTES - room} bytes, over the "
                f"Step Functions limit of {STATE_PAYLOAD_LIMIT_BYTES}",
            )

    def _state_machines(self) -> str:
        return " or ".join(self._settings.state_machine_arns) or "(no state machine configured)"

    def _state_machine(self, execution_type: str) -> str:
        """The lifecycle state machine whose batches are child workflows of ``execution_type``."""
        settings = self._settings
        if execution_type == ExecutionType.EXPRESS:
            if not settings.express_state_machine_arn:
                raise ConfigurationError(f"{ENV_EXPRESS_STATE_MACHINE_ARN} is not set (it is set by serverless.yml)")
            return settings.express_state_machine_arn
        return settings.state_machine_arn

    def _start(self, job_id: str, name: str, state: dict[str, Any], state_machine_arn: str) -> dict[str, Any]:
        try:
            with subsegment("start_execution", jobId=job_id):
                started: dict[str, Any] = self._sfn.start_execution(
                    stateMachineArn=state_machine_arn, name=name, input=json.dumps(state)
                )
        except ClientError as exc:
            self._discard_batch_file(job_id, state["round"]["inputJobsFile"])
            raise JobStartFailed(f"job {job_id}: cannot start {state_machine_arn}: {exc}") from exc
        return started

    # -- redrive ----------------------------------------------------------------------------------
    def _latest_execution(self, job_id: str) -> tuple[int, dict[str, Any]]:
        try:
            latest = latest_execution(self._sfn, self._settings.state_machine_arns, job_id)
        except ClientError as exc:
            raise StorageError(f"job {job_id}: cannot describe its execution: {exc}") from exc
        if latest is None:
            raise InvalidJobInput(REDRIVE_FIELD, f"no job {job_id!r} in {self._state_machines()}")
        return latest

    def redrive(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Run the failed, deferred or never recorded batches of a finished job again, as a new execution
        of the same job: their rows are overwritten and the combiner sees the merged results."""
        unknown = sorted(set(event) - {REDRIVE_FIELD, "jobsTimeoutSecs"})
        if unknown:
            raise InvalidJobInput(
                unknown[0],
                f"unknown field in a redrive request; expected {REDRIVE_FIELD} and optionally jobsTimeoutSecs",
            )
        job_id = event[REDRIVE_FIELD]
        if not isinstance(job_id, str) or not job_id:
            raise InvalidJobInput(REDRIVE_FIELD, f"expected the jobId of a finished job, got {job_id!r}")
        override = integer_field(event, "jobsTimeoutSecs", minimum=1)  # as dispatch validates it
        redrive, latest = self._latest_execution(job_id)
        if latest["status"] == "RUNNING":
            raise InvalidJobInput(REDRIVE_FIELD, f"job {job_id} is still running: wait for it or cancel it first")
        if redrive >= MAX_REDRIVES:
            raise InvalidJobInput(REDRIVE_FIELD, f"job {job_id} was redriven {MAX_REDRIVES} times already")
        state = dict(json.loads(latest["input"]))
        partition = _partition_of(state)
        table = TasksTable(self._dynamodb, self._settings.tasks_table)
        batch_ids = outcomes(table.records(job_id), partition.num_batches).not_succeeded
        if not batch_ids:
            raise InvalidJobInput(REDRIVE_FIELD, f"job {job_id} has no failed or missing batch to run again")
        timeout = override or int(state["jobsTimeoutSecs"])
        # the functions may have changed since: check them again, as a new job's
        requested = state.get("requestedBatchExecutionType")
        request = JobRequest(
            worker_function_name=state["workerFunctionName"],
            combiner_function_name=state["combinerFunctionName"],
            dataset_start_index=partition.start,
            dataset_end_index=partition.end,
            batch_execution_type=ExecutionType(requested) if requested else None,
        )
        orchestration = self._orchestration(request, partition.max_parallelism, timeout)
        start = self._now()
        name = execution_name(job_id, redrive + 1)
        key = round_file_key(job_id, name, 0)
        state.update(
            executionName=name,
            startTime=iso_timestamp(start),
            deadline=iso_timestamp(deadline_for(start, timeout)),
            jobsTimeoutSecs=timeout,
            redrive=redrive + 1,
            redrivenBatches=len(batch_ids),
            rowTtl=self._row_ttl(start),
            **orchestration,
        )
        # one map run over the listed batches (and rounds for those deferred), then the summary
        state["round"] = _round(state, 0, key, batch_ids, partition.num_batches)
        self._check_size(state)
        state_machine_arn = self._state_machine(state["batchExecutionType"])  # before anything is written
        self._write_batch_file(job_id, key, partition, batch_ids)
        execution = self._start(job_id, name, state, state_machine_arn)
        logger.info("job %s: redrive %d of %d batches", job_id, redrive + 1, len(batch_ids))
        return {**_dispatch_output(state, execution), "redrive": redrive + 1, "redrivenBatches": len(batch_ids)}

    # -- dispatchNextBatches ----------------------------------------------------------------------
    def next_round(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """The ``dispatchNextBatches`` step, after each round's Map Run.

        Deletes the round's batch file. The rounds stop when the Map Run failed (the job's failures
        exceeded its tolerance: fail fast), when the deadline has passed, or when no batch is left;
        otherwise the next round runs the batches this round deferred and as many new ones as fit."""
        job_id = state.get("jobId")
        current = state.get("round")
        if not isinstance(job_id, str) or not isinstance(current, Mapping):
            raise InvalidEvent("dispatchNextBatches event: expected the job state with jobId and round")
        partition = _partition_of(state)
        self._discard_batch_file(job_id, str(current["inputJobsFile"]))
        ended = {**current, "more": False, "carried": 0}
        failure = state.get("mapRunError")
        if isinstance(failure, Mapping):
            error = str(failure.get("Error") or "")
            reason = STOP_TOLERANCE if error == TOLERANCE_EXCEEDED else STOP_MAP_RUN_FAILED
            return {**ended, "stop": {"reason": reason, "error": error, "cause": str(failure.get("Cause") or "")}}
        if self._now() >= parse_timestamp(str(state["deadline"])):
            return {**ended, "stop": {"reason": STOP_DEADLINE, "error": None, "cause": None}}
        failed, started = int(current.get("failed", 0)), None
        run_arn = (state.get("mapRun") or {}).get("MapRunArn")
        if run_arn:
            try:
                run = self._sfn.describe_map_run(mapRunArn=run_arn)
            except ClientError as exc:
                raise StorageError(f"job {job_id}: cannot describe its Map Run {run_arn}: {exc}") from exc
            failed += int(run["itemCounts"]["failed"]) + int(run["itemCounts"]["timedOut"])
            started = run["startDate"]
        # a batch is carried when this round deferred it; one deferred earlier whose row was not written
        # again failed in this round before it could record that (the summary records its error)
        carried = [
            record.batch_id
            for record in TasksTable(self._dynamodb, self._settings.tasks_table).deferred(
                job_id, int(current["firstBatchId"]), int(current["lastBatchId"])
            )
            if started is None or not record.ended_at or parse_timestamp(record.ended_at) >= started
        ]
        first_new = int(current["nextBatchId"])
        next_new = min(first_new + max(partition.max_parallelism - len(carried), 0), partition.num_batches)
        batch_ids = carried + list(range(first_new, next_new))
        if not batch_ids:
            return {**ended, "failed": failed, "stop": {"reason": STOP_DONE, "error": None, "cause": None}}
        index = int(current["index"]) + 1
        key = round_file_key(job_id, str(state.get("executionName") or job_id), index)
        self._write_batch_file(job_id, key, partition, batch_ids)
        if carried:
            logger.info("job %s: round %d runs %d deferred batches again", job_id, index, len(carried))
        return _round(state, index, key, batch_ids, next_new, failed=failed, carried=len(carried))
