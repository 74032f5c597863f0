"""burst_client.logs: a batch's worker lines from CloudWatch Logs, against stubbed AWS answers (botocore Stubber)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from burst_client.errors import BatchNotFound, LogsNotFound
from burst_client.gateway import Gateway
from burst_client.logs import (
    LogLine,
    batch_logs,
    failed_batch_ids,
    function_name_of,
    request_id_of,
)
from burst_client.sdk import Job
from burst_core.persistence import BatchRecord, BatchStatus

RID = "8f507cfc-2b4d-4697-b07a-ac58fc914c95"
OTHER = "0b0e52a1-5a8b-4bb5-9a35-3f29c9a1d7e2"
WORKER = "janelia-search-dev-worker"
GROUP = f"/aws/lambda/{WORKER}"
STREAM = "2026/11/24/[$LATEST]3893aa017fac4485b47bb75b671a283c"
STARTED, ENDED = "2026-11-24T12:00:03.120Z", "2026-11-24T12:00:04.870Z"
T0 = int(datetime(2026, 11, 24, 12, 0, 3, 200000, tzinfo=UTC).timestamp() * 1000)  # the START line


class FakeClients:
    region = "us-east-1"

    def __init__(self) -> None:
        self.clients = {
            service: boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
            for service in ("logs", "dynamodb", "lambda")
        }
        self.stubs = {service: Stubber(client) for service, client in self.clients.items()}

    def __call__(self, service: str) -> Any:
        return self.clients[service]


@dataclass
class Stubbed:
    job: Job
    clients: FakeClients

    @property
    def logs(self) -> Stubber:
        return self.clients.stubs["logs"]

    def row(self, **attributes: str) -> None:
        item = {"jobId": {"S": "job-1"}, "batchId": {"N": "3"}}
        item.update({name: {"S": value} for name, value in attributes.items()})
        self.clients.stubs["dynamodb"].add_response("query", {"Items": [item]})

    def no_row(self) -> None:
        self.clients.stubs["dynamodb"].add_response("query", {"Items": []})

    def function(self, log_group: str | None = None) -> None:
        if log_group is None:  # e.g. no lambda:GetFunctionConfiguration permission
            self.clients.stubs["lambda"].add_client_error("get_function_configuration", "AccessDeniedException")
        else:
            self.clients.stubs["lambda"].add_response(
                "get_function_configuration", {"FunctionName": WORKER, "LoggingConfig": {"LogGroup": log_group}}
            )

    def found(self, *events: dict[str, Any], group: str = GROUP, start: str = STARTED, end: str = ENDED) -> None:
        """filter_log_events' answer for the request id over the padded window."""
        self.logs.add_response(
            "filter_log_events",
            {"events": list(events)},
            {
                "logGroupName": group,
                "startTime": millis(start) - 5000,
                "endTime": millis(end) + 5000,
                "filterPattern": f'"{RID}"',
            },
        )

    def stream(self, *messages: str, group: str = GROUP, token: str = "f/1", after: str | None = None) -> None:
        """get_log_events' page of the stream from the START line's time on (``after``: the token passed)."""
        events = [{"timestamp": T0 + i, "message": m, "ingestionTime": T0 + i} for i, m in enumerate(messages)]
        expected = {
            "logGroupName": group,
            "logStreamName": STREAM,
            "startTime": T0,
            "endTime": millis(ENDED) + 5000,
            "startFromHead": True,
        }
        if after is not None:
            expected["nextToken"] = after
        self.logs.add_response(
            "get_log_events", {"events": events, "nextForwardToken": token, "nextBackwardToken": "b/0"}, expected
        )


def millis(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def event(message: str, timestamp: int = T0) -> dict[str, Any]:
    return {"logStreamName": STREAM, "timestamp": timestamp, "message": message, "eventId": "1"}


@pytest.fixture
def stubbed() -> Iterator[Stubbed]:
    clients = FakeClients()
    client = SimpleNamespace(clients=clients, gateway=Gateway(clients), stack=SimpleNamespace(tasks_table="tasks"))
    job = Job(client, "job-1", "arn:aws:states:us-east-1:123456789012:execution:lifecycle:job-1")  # type: ignore[arg-type]
    job.__dict__["input"] = {"numBatches": 10, "workerFunctionName": WORKER, "startTime": "2026-11-24T12:00:00.000Z"}
    for stub in clients.stubs.values():
        stub.activate()
    yield Stubbed(job, clients)
    for stub in clients.stubs.values():
        stub.assert_no_pending_responses()  # every stubbed call was made
        stub.deactivate()


START = f"START RequestId: {RID} Version: $LATEST\n"
REPORT = (
    f"REPORT RequestId: {RID}\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\n"
)


def test_a_succeeded_batchs_lines_from_start_to_report(stubbed: Stubbed) -> None:
    stubbed.row(status="succeeded", startedAt=STARTED, endedAt=ENDED, requestId=RID)
    stubbed.function(GROUP)
    stubbed.found(event(f"[INFO]\t2026-11-24T12:00:03.300Z\t{RID}\tsearching\n", T0 + 1), event(START))
    stubbed.stream(
        f"REPORT RequestId: {OTHER}\tDuration: 2.00 ms\n",  # the invocation before, in the same millisecond
        START,
        "searching 100 images\n",
        f"END RequestId: {RID}\n",
        REPORT,
        f"START RequestId: {OTHER} Version: $LATEST\n",  # the next one: never read
    )
    found = batch_logs(stubbed.job, 3)
    assert (found.request_id, found.log_group, found.log_stream, found.complete) == (RID, GROUP, STREAM, True)
    assert found.function_name == WORKER
    assert [line.message for line in found.lines] == [
        START[:-1],
        "searching 100 images",
        f"END RequestId: {RID}",
        REPORT[:-1],
    ]
    assert found.lines[0] == LogLine(datetime.fromtimestamp((T0 + 1) / 1000, UTC), START[:-1])  # its 2nd event


def test_job_logs_gives_the_lines(stubbed: Stubbed) -> None:
    stubbed.row(status="succeeded", startedAt=STARTED, endedAt=ENDED, requestId=RID)
    stubbed.function(None)  # the default group
    stubbed.found(event(START))
    stubbed.stream(START, "hello\n", REPORT)
    assert [line.message for line in stubbed.job.logs(3)] == [START[:-1], "hello", REPORT[:-1]]


def test_a_failed_batchs_request_id_comes_from_its_cause_and_its_log_group_from_its_config(stubbed: Stubbed) -> None:
    cause = json.dumps({"errorMessage": "corrupt image 4217", "errorType": "ValueError", "requestId": RID})
    stubbed.row(status="failed", error="ValueError", cause=cause, startedAt=STARTED, endedAt=ENDED)
    stubbed.function("/custom/workers")
    stubbed.found(event(START), group="/custom/workers")
    stubbed.stream(
        START,
        "[ERROR] ValueError: corrupt image 4217\n",
        "Traceback (most recent call last):\n",
        group="/custom/workers",
    )
    stubbed.stream(group="/custom/workers", after="f/1")  # the same token back: the end of the stream
    found = batch_logs(stubbed.job, 3)
    assert found.log_group == "/custom/workers"
    assert not found.complete  # the REPORT line is not (yet) in the stream
    assert [line.message for line in found.lines][1:] == [
        "[ERROR] ValueError: corrupt image 4217",
        "Traceback (most recent call last):",
    ]


def test_lambdas_json_log_format_is_read_too(stubbed: Stubbed) -> None:
    start = json.dumps({"time": STARTED, "type": "platform.start", "record": {"requestId": RID, "version": "$LATEST"}})
    report = json.dumps({"time": ENDED, "type": "platform.report", "record": {"requestId": RID, "metrics": {}}})
    stubbed.row(status="succeeded", startedAt=STARTED, endedAt=ENDED, requestId=RID)
    stubbed.function(GROUP)
    stubbed.found(event(start))
    stubbed.stream(start, json.dumps({"level": "INFO", "requestId": RID, "message": "hi"}), report)
    found = batch_logs(stubbed.job, 3)
    assert found.complete and len(found.lines) == 3


def test_a_missing_log_group_is_one_line(stubbed: Stubbed) -> None:
    stubbed.row(status="succeeded", startedAt=STARTED, endedAt=ENDED, requestId=RID)
    stubbed.function(GROUP)
    stubbed.logs.add_client_error(
        "filter_log_events", "ResourceNotFoundException", "The specified log group does not exist."
    )
    with pytest.raises(LogsNotFound) as raised:
        batch_logs(stubbed.job, 3)
    assert str(raised.value) == (
        f"batch 3 of job job-1: log group {GROUP} does not exist in us-east-1: the worker has never logged there, "
        "or the group was deleted"
    )


def test_lines_gone_from_the_group_say_they_may_have_expired(stubbed: Stubbed) -> None:
    stubbed.row(status="succeeded", startedAt=STARTED, endedAt=ENDED, requestId=RID)
    stubbed.function(GROUP)
    stubbed.found()  # nothing in the window
    stubbed.logs.add_response(
        "describe_log_groups",
        {"logGroups": [{"logGroupName": GROUP, "retentionInDays": 14}]},
        {"logGroupNamePrefix": GROUP},
    )
    with pytest.raises(
        LogsNotFound, match="keeps log events 14 days, so they may have expired, or they are not ingested yet"
    ):
        batch_logs(stubbed.job, 3)


@pytest.mark.parametrize(
    ("attributes", "why"),
    [
        (
            {
                "status": "failed",
                "error": "States.DataLimitExceeded",
                "cause": "The state/task 'ExecuteBatch' returned a result with a size exceeding the maximum ...",
            },
            "it failed with States.DataLimitExceeded, whose cause names no Lambda request",
        ),
        ({"status": "succeeded"}, "it was written before the framework recorded request ids"),
        ({}, "its worker wrote it itself and the state machine has not confirmed it"),
    ],
)
def test_a_row_without_request_id_is_one_line_and_reads_no_logs(
    stubbed: Stubbed, attributes: dict[str, str], why: str
) -> None:
    stubbed.row(startedAt=STARTED, endedAt=ENDED, **attributes)
    stubbed.function(GROUP)
    with pytest.raises(LogsNotFound) as raised:
        batch_logs(stubbed.job, 3)  # the stubbed logs client would fail any call
    assert str(raised.value) == (
        f"batch 3 of job job-1: its row has no worker request id ({why}); its lines cannot be told apart from "
        f"other batches': look in log group {GROUP} between 2026-11-24T11:59:58.120Z and 2026-11-24T12:00:09.870Z"
    )  # the row's startedAt..endedAt, padded


def test_a_deferred_batch_has_not_run(stubbed: Stubbed) -> None:
    stubbed.row(status="deferred", error="Lambda.TooManyRequestsException", cause="Rate Exceeded.", endedAt=ENDED)
    stubbed.function(GROUP)
    with pytest.raises(
        LogsNotFound, match=r"was deferred \(its invocations were throttled: Lambda.TooManyRequestsException\)"
    ):
        batch_logs(stubbed.job, 3)


def test_a_batch_without_row_or_out_of_range(stubbed: Stubbed) -> None:
    stubbed.no_row()
    with pytest.raises(BatchNotFound, match="batch 3 of job job-1 has no row: it has not run"):
        batch_logs(stubbed.job, 3)
    with pytest.raises(BatchNotFound, match="job job-1 has no batch 10: its batch ids are 0 to 9"):
        batch_logs(stubbed.job, 10)


def test_failed_batch_ids_are_those_of_the_failed_rows(stubbed: Stubbed) -> None:
    rows = [
        {"batchId": {"N": str(i)}, "status": {"S": status}, "error": {"S": "E"}}
        for i, status in enumerate(["succeeded", "failed", "deferred", "failed"])
    ]
    stubbed.clients.stubs["dynamodb"].add_response("query", {"Items": rows})
    assert failed_batch_ids(stubbed.job) == [1, 3]


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (BatchRecord(1, BatchStatus.SUCCEEDED, request_id=RID), RID),
        (
            BatchRecord(1, BatchStatus.FAILED, "ValueError", json.dumps({"errorType": "ValueError", "requestId": RID})),
            RID,
        ),
        # a timeout (or a crashed runtime): only the message names it
        (
            BatchRecord(
                1,
                BatchStatus.FAILED,
                "Sandbox.Timedout",
                json.dumps(
                    {
                        "errorType": "Sandbox.Timedout",
                        "errorMessage": f"RequestId: {RID} Error: Task timed out after 3.00 seconds",
                    }
                ),
            ),
            RID,
        ),
        (BatchRecord(1, BatchStatus.FAILED, "Sandbox.Timedout", f"RequestId: {RID} Error: Task timed out"), RID),
        # an init error on AWS: an empty requestId
        (
            BatchRecord(
                1, BatchStatus.FAILED, "Runtime.ImportModuleError", json.dumps({"requestId": "", "errorMessage": "x"})
            ),
            None,
        ),
        # a Lambda service error names the Invoke request ("Request ID"), not an invocation
        (
            BatchRecord(
                1,
                BatchStatus.FAILED,
                "Lambda.ServiceException",
                f"(Service: AWSLambda; Request ID: {RID}; Proxy: null)",
            ),
            None,
        ),
        (BatchRecord(1, BatchStatus.FAILED, "States.Timeout", None), None),
    ],
)
def test_request_id_of(record: BatchRecord, expected: str | None) -> None:
    assert request_id_of(record) == expected


@pytest.mark.parametrize(
    "worker",
    [
        "my-worker",
        "my-worker:live",
        "123456789012:function:my-worker",
        "arn:aws:lambda:us-east-1:123456789012:function:my-worker",
        "arn:aws:lambda:us-east-1:123456789012:function:my-worker:7",
    ],
)
def test_function_name_of(worker: str) -> None:
    assert function_name_of(worker) == "my-worker"
