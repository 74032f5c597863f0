"""The worker's log lines of one batch, from CloudWatch Logs: identically on AWS and on the local endpoint.

Lambda writes each invocation's lines to one log stream (one per execution environment) of the function's
log group, from ``START RequestId: <id> Version: ...`` to ``REPORT RequestId: <id> ...``
(https://docs.aws.amazon.com/lambda/latest/dg/python-logging.html). A batch's row names the request id of
its worker's invocation (``requestId``; for a failed batch, Lambda's error payload in ``cause`` carries it),
and bounds it in time (``startedAt``..``endedAt``). So:

1. the row, from the tasks table (:meth:`burst_core.persistence.TasksTable.record`);
2. the worker's log group: ``/aws/lambda/<workerFunctionName>`` of the job's input, unless the function's
   LoggingConfig names another;
3. ``FilterLogEvents`` over the row's time window (padded by :data:`WINDOW_PAD`), for events holding the
   request id: the START line, and with it the stream;
4. ``GetLogEvents`` of that stream from the START line until the REPORT line of the same request id.

Other batches run by the same worker process log to the same stream, before START and after REPORT; those run
at the same time by other processes log to other streams: neither is read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError as BotoClientError

from burst_client.aws import translated_errors
from burst_client.errors import BatchNotFound, LogsNotFound
from burst_core.job import iso_timestamp, parse_timestamp
from burst_core.persistence import BatchRecord, BatchStatus

if TYPE_CHECKING:
    from burst_client.gateway import Gateway
    from burst_client.sdk import Job

#: Added before the row's startedAt and after its endedAt: the state machine's and Lambda's clocks differ,
#: and CloudWatch Logs timestamps a line when the runtime reads it.
WINDOW_PAD = timedelta(seconds=5)
#: GetLogEvents pages read at most from the START line on (10,000 events or 1 MB each).
MAX_STREAM_PAGES = 100
# A timeout's (or a crashed runtime's) error payload names the request only in its message:
# {"errorType": "Sandbox.Timedout", "errorMessage": "RequestId: <id> Error: Task timed out after 3.00 seconds"}
_MESSAGE_REQUEST_ID = re.compile(r"RequestId: ([0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12})")
_REQUEST_ID = re.compile(r"[0-9A-Za-z-]{1,64}")


@dataclass(frozen=True)
class LogLine:
    """One log event of the worker's invocation."""

    timestamp: datetime  # UTC, as CloudWatch Logs recorded it
    message: str  # without its trailing newline


@dataclass(frozen=True)
class BatchLogs:
    """A batch's worker invocation and its log lines, START to REPORT."""

    job_id: str
    batch_id: int
    request_id: str
    function_name: str
    log_group: str
    log_stream: str
    lines: tuple[LogLine, ...]
    complete: bool  # the REPORT line was found (else the invocation's lines may still be coming)


def failed_batch_ids(job: Job) -> list[int]:
    """The ids of the job's failed batches, in order (its rows of status ``failed``)."""
    return [failure.batch_id for failure in job.failures()]


def request_id_of(record: BatchRecord) -> str | None:
    """The Lambda request id of the batch's worker invocation: the row's ``requestId`` (a succeeded batch),
    else the one in its ``cause`` (Lambda's error payload: ``requestId``, or ``RequestId: <id>`` in the message
    of a timeout); None when neither names one."""
    if record.request_id:
        return record.request_id
    if not record.cause:
        return None
    text = record.cause
    try:
        payload = json.loads(record.cause)
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        if isinstance(payload.get("requestId"), str) and payload["requestId"]:
            return str(payload["requestId"])
        if isinstance(payload.get("errorMessage"), str):
            text = payload["errorMessage"]
    found = _MESSAGE_REQUEST_ID.search(text)
    return found.group(1) if found else None


def function_name_of(worker: str) -> str:
    """The function name in a FunctionName as Lambda accepts it: name, name:qualifier, a partial or full ARN."""
    parts = worker.split(":")
    if worker.startswith("arn:") and len(parts) >= 7:
        return parts[6]
    if len(parts) >= 3 and parts[1] == "function":  # 123456789012:function:name[:qualifier]
        return parts[2]
    return parts[0]


def log_group_of(gateway: Gateway, worker: str) -> str:
    """The log group the worker logs to: its LoggingConfig's, else Lambda's default ``/aws/lambda/<name>``
    (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-loggroups.html)."""
    default = f"/aws/lambda/{function_name_of(worker)}"
    try:
        config = gateway.function_configuration(worker)
    except BotoClientError:  # not allowed to read it, or the function is gone (its logs stay): the default
        return default
    group = (config.get("LoggingConfig") or {}).get("LogGroup")
    return str(group) if group else default


def _json_record(message: str, event_type: str) -> dict[str, Any] | None:
    """The ``record`` of a platform event in Lambda's JSON log format, if ``message`` is one of ``event_type``."""
    if not message.startswith("{"):
        return None
    try:
        event = json.loads(message)
    except ValueError:
        return None
    if isinstance(event, dict) and event.get("type") == event_type and isinstance(event.get("record"), dict):
        return dict(event["record"])
    return None


def _is_platform_line(message: str, kind: str, request_id: str | None) -> bool:
    """Whether ``message`` is Lambda's START (``kind`` "start") or REPORT line of ``request_id`` (of any
    request when None), in the text or the JSON log format."""
    prefix = f"{kind.upper()} RequestId: "
    if message.startswith(prefix):
        return request_id is None or message[len(prefix) :].startswith(request_id)
    record = _json_record(message, f"platform.{kind}")
    return record is not None and (request_id is None or record.get("requestId") == request_id)


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _line(event: dict[str, Any]) -> LogLine:
    return LogLine(datetime.fromtimestamp(event["timestamp"] / 1000, UTC), str(event["message"]).rstrip("\n"))


def _error_code(exc: BotoClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class _Finder:
    """One batch's lookup: the row, the window, the log group, then the lines."""

    def __init__(self, job: Job, batch_id: int, pad: timedelta) -> None:
        self.job, self.batch_id, self.pad = job, batch_id, pad
        self.logs = job.client.clients("logs")
        self.region = job.client.clients.region
        self.what = f"batch {batch_id} of job {job.job_id}"

    def record(self) -> BatchRecord:
        num_batches = self.job.num_batches
        if not 0 <= self.batch_id < num_batches:
            raise BatchNotFound(
                f"job {self.job.job_id} has no batch {self.batch_id}: its batch ids are 0 to {num_batches - 1}"
            )
        table = self.job.client.gateway.tasks_table(self.job.client.stack.tasks_table)
        with translated_errors():
            found = table.record(self.job.job_id, self.batch_id)
        if found is None:
            raise BatchNotFound(
                f"{self.what} has no row: it has not run (yet), or never started (past the job's deadline, or "
                f"stopped by its failure tolerance)"
            )
        return found

    def window(self, record: BatchRecord) -> tuple[datetime, datetime]:
        try:
            start = (
                parse_timestamp(record.started_at)
                if record.started_at
                else parse_timestamp(self.job.input["startTime"])
            )
        except (KeyError, TypeError, ValueError):
            start = datetime.fromtimestamp(0, UTC)
        try:
            end = parse_timestamp(record.ended_at) if record.ended_at else datetime.now(UTC)
        except ValueError:
            end = datetime.now(UTC)
        return start - self.pad, max(end, start) + self.pad

    def request_id(self, record: BatchRecord, group: str, start: datetime, end: datetime) -> str:
        if record.status is BatchStatus.DEFERRED:
            raise LogsNotFound(
                f"{self.what} was deferred (its invocations were throttled: {record.error}) and has not run since"
            )
        request_id = request_id_of(record)
        if request_id is None:
            if record.status is BatchStatus.FAILED:
                why = f"it failed with {record.error or 'an unknown error'}, whose cause names no Lambda request"
            elif record.status is BatchStatus.UNCONFIRMED:
                why = "its worker wrote it itself and the state machine has not confirmed it"
            else:
                why = "it was written before the framework recorded request ids"
            raise LogsNotFound(
                f"{self.what}: its row has no worker request id ({why}); its lines cannot be told apart from other "
                f"batches': look in log group {group} between {iso_timestamp(start)} and {iso_timestamp(end)}"
            )
        if not _REQUEST_ID.fullmatch(request_id):  # it goes into a filter pattern: take no chances
            raise LogsNotFound(f"{self.what}: its row's request id {request_id!r} is not a Lambda request id")
        return request_id

    def start_event(self, group: str, request_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        # a term with characters other than letters, digits and _ (a request id's dashes) is quoted
        # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html)
        pages = self.logs.get_paginator("filter_log_events").paginate(
            logGroupName=group, startTime=_millis(start), endTime=_millis(end), filterPattern=f'"{request_id}"'
        )
        try:
            with translated_errors():
                for page in pages:
                    for event in page.get("events", []):
                        if _is_platform_line(str(event["message"]), "start", request_id):
                            return dict(event)
        except BotoClientError as exc:
            if _error_code(exc) == "ResourceNotFoundException":
                raise LogsNotFound(
                    f"{self.what}: log group {group} does not exist in {self.region}: the worker has never logged "
                    f"there, or the group was deleted"
                ) from None
            raise
        raise LogsNotFound(
            f"{self.what}: no START line of request {request_id} in log group {group} between "
            f"{iso_timestamp(start)} and {iso_timestamp(end)}: {self.retention(group)}, or they are not ingested yet "
            f"(try again in a minute)"
        )

    def retention(self, group: str) -> str:
        """Why lines may be gone, from the group's retention."""
        try:
            with translated_errors():
                groups = self.logs.describe_log_groups(logGroupNamePrefix=group).get("logGroups", [])
        except BotoClientError:
            groups = []
        days = next((g.get("retentionInDays") for g in groups if g.get("logGroupName") == group), None)
        if days:
            return f"the group keeps log events {days} days, so they may have expired"
        return "they may have been deleted or expired"

    def stream_lines(
        self, group: str, stream: str, request_id: str, start_ms: int, end: datetime
    ) -> tuple[list[LogLine], bool]:
        """The stream's events from the START line of request_id to its REPORT line (True) or, when that is not
        there (yet), to the window's end or the next invocation's START (False)."""
        request: dict[str, Any] = {
            "logGroupName": group,
            "logStreamName": stream,
            "startTime": start_ms,
            "endTime": _millis(end),
            "startFromHead": True,
        }
        lines: list[LogLine] = []
        started = False
        with translated_errors():
            for _ in range(MAX_STREAM_PAGES):
                page = self.logs.get_log_events(**request)
                for event in page.get("events", []):
                    message = str(event["message"])
                    if not started:
                        started = _is_platform_line(message, "start", request_id)
                        if not started:
                            continue  # the end of the invocation before, in the same millisecond
                    elif _is_platform_line(message, "start", None):
                        return lines, False  # the next invocation: the REPORT line is missing
                    lines.append(_line(event))
                    if _is_platform_line(message, "report", request_id):
                        return lines, True
                token = page.get("nextForwardToken")
                if not token or token == request.get("nextToken"):  # the same token: the end of the stream
                    break
                request["nextToken"] = token
        return lines, False


def batch_logs(job: Job, batch_id: int, *, pad: timedelta = WINDOW_PAD) -> BatchLogs:
    """The worker's log lines of batch ``batch_id`` of ``job``, START to REPORT, from CloudWatch Logs.

    Raises :class:`~burst_client.errors.BatchNotFound` when the job has no such batch or no row for it, and
    :class:`~burst_client.errors.LogsNotFound` when the row names no request id (a deferred batch, a failure
    outside the worker such as States.DataLimitExceeded, an older row), the log group does not exist, or
    the lines are not there (expired, or not yet ingested); each with a one-line message.
    """
    finder = _Finder(job, batch_id, pad)
    record = finder.record()
    worker = str(job.input["workerFunctionName"])
    group = log_group_of(job.client.gateway, worker)
    start, end = finder.window(record)
    request_id = finder.request_id(record, group, start, end)
    event = finder.start_event(group, request_id, start, end)
    stream = str(event["logStreamName"])
    lines, complete = finder.stream_lines(group, stream, request_id, int(event["timestamp"]), end)
    return BatchLogs(job.job_id, batch_id, request_id, function_name_of(worker), group, stream, tuple(lines), complete)
