"""The functions' logs in the endpoint's CloudWatch Logs, as Lambda writes them (burst_client.local.function_logs).

Through a running endpoint: what an invocation printed and logged is read back with boto3's CloudWatch Logs
client, in the log stream of its execution environment, between its START and REPORT lines. In-process: the
writer's batching, its flush and its errors, and the moto sink.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from burst_client.local.function_logs import FunctionLogs, LogEvent, MotoLogs, log_group_name
from burst_client.local.runtime import FunctionSpec
from tests.local.support import Endpoint, create_function, make_zip

STREAM_NAME = re.compile(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}")
HANDLER = """
import logging, os, time

def handler(event, context):
    print("printed", event["n"])
    logging.getLogger().warning("logged %s", event["n"])
    if event.get("fail"):
        raise ValueError("asked to fail " + str(event["n"]))
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"stream": context.log_stream_name, "group": context.log_group_name, "pid": os.getpid()}
"""
ROLE = "arn:aws:iam::123456789012:role/burst-local-tests"


@pytest.fixture
def function(endpoint: Endpoint) -> str:
    """A function of its own (the endpoint is shared by the session): its name."""
    name = f"logs-{uuid.uuid4().hex[:8]}"
    create_function(endpoint.client("lambda"), endpoint.client("iam"), name, make_zip({"h.py": HANDLER}), Timeout=2)
    return name


def invoke(endpoint: Endpoint, function: str, event: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(request id, answer) of a RequestResponse invocation."""
    response = endpoint.client("lambda").invoke(FunctionName=function, Payload=json.dumps(event).encode())
    body = json.loads(response["Payload"].read())
    if isinstance(body, dict) and isinstance(body.get("pid"), int):
        endpoint.seen_pids.add(body["pid"])
    return str(response["ResponseMetadata"]["RequestId"]), body


def invocation_events(events: list[dict[str, Any]], request_id: str) -> list[str]:
    """The messages from the START line of request_id to its REPORT line."""
    messages = [event["message"] for event in events]
    first = messages.index(f"START RequestId: {request_id} Version: $LATEST")
    last = next(i for i, m in enumerate(messages) if m.startswith(f"REPORT RequestId: {request_id}\t"))
    return messages[first : last + 1]


def test_an_invocations_lines_are_in_its_environments_stream(endpoint: Endpoint, function: str) -> None:
    request_id, body = invoke(endpoint, function, {"n": 1})
    logs = endpoint.client("logs")
    group = f"/aws/lambda/{function}"
    assert body["group"] == group  # created by the first write, as Lambda does
    assert STREAM_NAME.fullmatch(body["stream"])
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert [s["logStreamName"] for s in streams] == [body["stream"]]

    events = logs.get_log_events(logGroupName=group, logStreamName=body["stream"], startFromHead=True)["events"]
    assert events[0]["message"] == "INIT_START Runtime Version: python:local"  # a cold start
    lines = invocation_events(events, request_id)
    assert lines[1] == "printed 1"
    assert re.fullmatch(rf"\[WARNING\]\t\S+Z\t{request_id}\tlogged 1", lines[2])
    assert lines[3] == f"END RequestId: {request_id}"
    report = lines[4].split("\t")
    assert report[0] == f"REPORT RequestId: {request_id}"
    assert report[1].startswith("Duration: ") and report[2].startswith("Billed Duration: ")
    assert report[3] == "Memory Size: 128 MB"
    assert int(re.fullmatch(r"Max Memory Used: (\d+) MB", report[4])[1]) > 0  # type: ignore[index]
    assert report[5].startswith("Init Duration: ")
    timestamps = [event["timestamp"] for event in events]
    assert timestamps == sorted(timestamps)
    assert abs(timestamps[-1] / 1000 - time.time()) < 30

    # a warm invocation: the same stream, no INIT_START; filter_log_events finds its lines by request id
    second, again = invoke(endpoint, function, {"n": 2})
    assert again["stream"] == body["stream"]
    found = logs.filter_log_events(logGroupName=group, filterPattern=f'"{second}"')["events"]
    assert [e["message"].split("\t")[0] for e in found] == [
        f"START RequestId: {second} Version: $LATEST",
        "[WARNING]",
        f"END RequestId: {second}",
        f"REPORT RequestId: {second}",
    ]
    assert {e["logStreamName"] for e in found} == {body["stream"]}
    everything = logs.filter_log_events(logGroupName=group)["events"]
    assert [e["message"] for e in everything].count("INIT_START Runtime Version: python:local") == 1
    assert "printed 2" in invocation_events(everything, second)


def test_a_failed_invocation_logs_its_traceback(endpoint: Endpoint, function: str) -> None:
    request_id, body = invoke(endpoint, function, {"n": 3, "fail": True})
    assert body["errorType"] == "ValueError"
    assert body["requestId"] == request_id  # what a failed batch's row keeps in its cause
    events = endpoint.client("logs").filter_log_events(logGroupName=f"/aws/lambda/{function}")["events"]
    lines = invocation_events(events, request_id)
    assert "[ERROR] ValueError: asked to fail 3" in lines
    assert "Traceback (most recent call last):" in lines
    assert lines[-2] == f"END RequestId: {request_id}"


def test_a_timed_out_invocation_logs_the_timeout(endpoint: Endpoint, function: str) -> None:
    request_id, body = invoke(endpoint, function, {"n": 4, "sleep": 5})
    assert body["errorType"] == "Sandbox.Timedout"
    assert f"RequestId: {request_id} Error: Task timed out" in body["errorMessage"]
    events = endpoint.client("logs").filter_log_events(logGroupName=f"/aws/lambda/{function}")["events"]
    lines = invocation_events(events, request_id)
    assert lines[1] == "printed 4"
    assert any(line.endswith(f"{request_id} Task timed out after 2.00 seconds") for line in lines)
    # the killed environment's successor logs to a stream of its own
    _, after = invoke(endpoint, function, {"n": 5})
    streams = endpoint.client("logs").describe_log_streams(logGroupName=f"/aws/lambda/{function}")["logStreams"]
    assert len(streams) == 2 and after["stream"] in {s["logStreamName"] for s in streams}


def test_concurrent_invocations_log_to_their_own_streams(endpoint: Endpoint, function: str) -> None:
    answers: list[tuple[str, dict[str, Any]]] = []
    threads = [
        threading.Thread(target=lambda n=n: answers.append(invoke(endpoint, function, {"n": n, "sleep": 0.5})))
        for n in (10, 11)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({body["stream"] for _, body in answers}) == 2  # two environments at once
    logs = endpoint.client("logs")
    for request_id, body in answers:
        events = logs.get_log_events(
            logGroupName=f"/aws/lambda/{function}", logStreamName=body["stream"], startFromHead=True
        )["events"]
        printed = [m for m in invocation_events(events, request_id) if m.startswith("printed")]
        assert len(printed) == 1


def test_a_state_machines_lambda_result_names_the_logged_request(endpoint: Endpoint, function: str) -> None:
    # ExecuteBatch's ResultSelector (step-functions.yml): the request id of the row is the one in the logs
    definition = {
        "StartAt": "Invoke",
        "States": {
            "Invoke": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function, "Payload": {"n": 20}},
                "ResultSelector": {"output.$": "$.Payload", "requestId.$": "$.SdkResponseMetadata.RequestId"},
                "End": True,
            }
        },
    }
    sfn = endpoint.client("stepfunctions")
    machine = sfn.create_state_machine(name=f"{function}-sm", definition=json.dumps(definition), roleArn=ROLE)
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input="{}")
    deadline = time.monotonic() + 30
    while (described := sfn.describe_execution(executionArn=execution["executionArn"]))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    endpoint.seen_pids.add(output["output"]["pid"])
    events = endpoint.client("logs").filter_log_events(
        logGroupName=f"/aws/lambda/{function}", filterPattern=f'"{output["requestId"]}"'
    )["events"]
    assert events[0]["message"] == f"START RequestId: {output['requestId']} Version: $LATEST"
    assert events[0]["logStreamName"] == output["output"]["stream"]


# -- the writer, in-process -------------------------------------------------------------------------------------
def spec(name: str = "fn") -> FunctionSpec:
    return FunctionSpec(
        account_id="123456789012",
        region="us-east-1",
        name=name,
        function_arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        version="$LATEST",
        handler="h.handler",
        runtime="python3.12",
        timeout=3,
        memory_size=128,
        code_sha256="x",
    )


class RecordingSink:
    def __init__(self, fail_first: bool = False) -> None:
        self.calls: list[tuple[str, str, str, str, list[LogEvent]]] = []
        self.fail_first = fail_first
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, account_id: str, region: str, group: str, stream: str, events: list[LogEvent]) -> None:
        self.gate.wait(5)
        if self.fail_first:
            self.fail_first = False
            raise RuntimeError("sink down")
        self.calls.append((account_id, region, group, stream, list(events)))


@pytest.fixture
def writer() -> Iterator[tuple[FunctionLogs, RecordingSink]]:
    sink = RecordingSink()
    logs = FunctionLogs(sink)
    yield logs, sink
    logs.close()


def test_what_queued_up_is_written_with_one_put_per_stream(writer: tuple[FunctionLogs, RecordingSink]) -> None:
    logs, sink = writer
    sink.gate.clear()  # the writer blocks in its first put while the next invocations queue up
    logs.record(spec(), "s0", [(1, "START RequestId: a"), (2, "REPORT RequestId: a")])
    time.sleep(0.1)
    logs.record(spec(), "s1", [(5, "START RequestId: b"), (6, "REPORT RequestId: b")])
    logs.record(spec(), "s1", [(3, "START RequestId: c"), (4, "REPORT RequestId: c")])  # an earlier one, later
    logs.record(spec("other"), "s1", [(7, "x")])
    logs.record(spec(), "s2", [])  # nothing to write
    sink.gate.set()
    assert logs.flush()
    assert [(group, stream) for _, _, group, stream, _ in sink.calls] == [
        ("/aws/lambda/fn", "s0"),
        ("/aws/lambda/fn", "s1"),
        ("/aws/lambda/other", "s1"),
    ]
    assert sink.calls[1][4] == [  # in chronological order, as PutLogEvents requires
        (3, "START RequestId: c"),
        (4, "REPORT RequestId: c"),
        (5, "START RequestId: b"),
        (6, "REPORT RequestId: b"),
    ]


def test_report_lines_get_the_workers_peak_memory(writer: tuple[FunctionLogs, RecordingSink]) -> None:
    logs, sink = writer
    report = "REPORT RequestId: a\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 0 MB"
    logs.record(spec(), "s", [(1, "START RequestId: a"), (2, report)], pid=os.getpid())
    logs.record(spec(), "s", [(3, "START RequestId: b"), (4, report.replace("a\t", "b\t", 1))], pid=None)
    assert logs.flush()
    written = [message for _, message in sink.calls[0][4]]
    assert re.search(r"\tMax Memory Used: [1-9]\d* MB$", written[1])
    assert written[3].endswith("Max Memory Used: 0 MB")  # no process to ask


def test_a_failing_sink_does_not_stop_the_writer() -> None:
    sink = RecordingSink(fail_first=True)
    logs = FunctionLogs(sink)
    try:
        logs.record(spec(), "s", [(1, "lost")])
        assert logs.flush()
        logs.record(spec(), "s", [(2, "kept")])
        assert logs.flush()
        assert [events for *_, events in sink.calls] == [[(2, "kept")]]
    finally:
        logs.close()
    assert logs.flush()  # closed: nothing to wait for


def test_moto_sink_creates_the_group_and_stream_and_keeps_the_newest_events(aws_env: None) -> None:
    with mock_aws():
        client = boto3.client("logs", region_name="us-east-1")
        sink = MotoLogs(max_events_per_stream=3)
        group = log_group_name("fn")
        now = int(time.time() * 1000)
        sink("123456789012", "us-east-1", group, "2026/01/01/[$LATEST]ab", [(now, "one"), (now + 1, "two")])
        sink("123456789012", "us-east-1", group, "2026/01/01/[$LATEST]ab", [(now + 2, "three"), (now + 3, "four")])
        assert [g["logGroupName"] for g in client.describe_log_groups()["logGroups"]] == [group]
        events = client.get_log_events(logGroupName=group, logStreamName="2026/01/01/[$LATEST]ab")["events"]
        assert [e["message"] for e in events] == ["two", "three", "four"]


def test_lines_are_written_when_read_or_when_many_have_queued_up(monkeypatch: pytest.MonkeyPatch) -> None:
    from burst_client.local import function_logs

    monkeypatch.setattr(function_logs, "PENDING_LIMIT", 3)
    sink = RecordingSink()
    logs = FunctionLogs(sink)
    try:
        logs.record(spec(), "s", [(1, "a")])
        logs.record(spec(), "s", [(2, "b")])
        time.sleep(0.2)
        assert sink.calls == []  # a job's invocations do not wait on, nor share the interpreter with, the writer
        logs.record(spec(), "s", [(3, "c")])  # the limit: written without being asked
        deadline = time.monotonic() + 5
        while not sink.calls and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [events for *_, events in sink.calls] == [[(1, "a"), (2, "b"), (3, "c")]]
        logs.record(spec(), "s", [(4, "d")])
        assert logs.flush()  # a reader asks: written
        assert [events for *_, events in sink.calls][-1] == [(4, "d")]
    finally:
        logs.close()
