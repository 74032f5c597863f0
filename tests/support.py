"""Helpers shared by test modules (test files never import each other): the repository's root, the JSON
examples of docs/Interfaces.md, and synthetic execution histories and rows for the timeline and cost tests."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# -- docs/Interfaces.md ------------------------------------------------------------------------------------
DOC = (ROOT / "docs" / "Interfaces.md").read_text()
EXAMPLES: dict[str, Any] = {
    name: json.loads(body)
    for name, body in re.findall(r"<!-- example: ([\w-]+) -->\n```json\n(.*?)\n```", DOC, flags=re.S)
}


def section(*titles: str) -> str:
    """The text under the last heading of ``titles`` (each found after the one before), to the next heading."""
    start = 0
    for title in titles:
        start = DOC.index(f"\n{title}\n", start)
    end = DOC.find("\n#", start + len(titles[-1]) + 2)
    return DOC[start : end if end != -1 else len(DOC)]


# -- synthetic histories and rows -----------------------------------------------------------------------------
T0 = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
JOB = "5f0c6d1e-1d2b-4c1e-9a57-2b8f0e6c1a44"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def rfc3339(seconds: float, *, aws: bool = True) -> str:
    """A time as Step Functions writes $$.State.EnteredTime: AWS "...123Z", moto "...123456+00:00"."""
    moment = at(seconds)
    if aws:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.isoformat()


class History:
    """Builds an execution history in the documented event shapes."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, kind: str, seconds: float, details_key: str | None = None, **details: Any) -> None:
        event: dict[str, Any] = {"id": len(self.events) + 1, "type": kind, "timestamp": at(seconds)}
        event["previousEventId"] = len(self.events)
        if details_key:
            event[details_key] = details
        self.events.append(event)

    def state(self, kind: str, name: str, start: float, end: float, state_input: Any = None) -> None:
        self.add(
            f"{kind}StateEntered", start, "stateEnteredEventDetails", name=name, input=json.dumps(state_input or {})
        )
        self.add(f"{kind}StateExited", end, "stateExitedEventDetails", name=name, output="{}")

    def task(self, name: str, start: float, end: float, function: str, *, fail_first: bool = False) -> None:
        params = json.dumps({"FunctionName": f"arn:aws:lambda:us-east-1:123456789012:function:{function}"})
        self.add("TaskStateEntered", start, "stateEnteredEventDetails", name=name, input="{}")
        scheduled = {"resourceType": "lambda", "resource": "invoke", "region": "us-east-1", "parameters": params}
        if fail_first:
            self.add("TaskScheduled", start, "taskScheduledEventDetails", **scheduled)
            self.add("TaskStarted", start, "taskStartedEventDetails", resourceType="lambda", resource="invoke")
            self.add(
                "TaskFailed",
                start + 0.01,
                "taskFailedEventDetails",
                resourceType="lambda",
                resource="invoke",
                error="Lambda.TooManyRequestsException",
            )
        self.add("TaskScheduled", start, "taskScheduledEventDetails", **scheduled)
        self.add("TaskStarted", start, "taskStartedEventDetails", resourceType="lambda", resource="invoke")
        self.add("TaskSucceeded", end, "taskSucceededEventDetails", resourceType="lambda", resource="invoke")
        self.add("TaskStateExited", end, "stateExitedEventDetails", name=name, output="{}")

    def map_round(
        self,
        start: float,
        end: float,
        first: int,
        nxt: int,
        *,
        map_state_end: str = "MapStateSucceeded",
        last: int | None = None,
        carried: int = 0,
    ) -> None:
        last = nxt - 1 if last is None else last
        state_input = {"round": {"firstBatchId": first, "lastBatchId": last, "nextBatchId": nxt, "carried": carried}}
        self.add("MapStateEntered", start, "stateEnteredEventDetails", name="MapJobs", input=json.dumps(state_input))
        self.add("MapRunStarted", start, "mapRunStartedEventDetails", mapRunArn=f"arn:aws:states:::mapRun:x/{first}")
        self.add("MapRunSucceeded", end)
        self.add(map_state_end, end)
        self.add("MapStateExited", end, "stateExitedEventDetails", name="MapJobs", output="{}")


def job_input(num_batches: int, **extra: Any) -> dict[str, Any]:
    return {"jobId": JOB, "numBatches": num_batches, "startTime": rfc3339(0), **extra}


def three_round_history(num_batches: int = 12, *, map_state_end: str = "MapStateSucceeded") -> list[dict[str, Any]]:
    """dispatch 0..0.5 s; 3 rounds of 4 batches, 10 s each, each followed by DispatchNextBatches (0.3 s,
    throttled once after round 1) and AnotherRound; Summarize 0.3 s; Combine 2 s; success (step-functions.yml)."""
    h = History()
    h.add(
        "ExecutionStarted",
        0.4,
        "executionStartedEventDetails",
        input=json.dumps(job_input(num_batches)),
        roleArn="arn:aws:iam::123456789012:role/x",
    )
    clock = 0.5
    for r in range(3):
        h.map_round(clock, clock + 10, 4 * r, 4 * r + 4, map_state_end=map_state_end)
        next_round = "janelia-burst-compute-dev-dispatchNextBatches"
        h.task("DispatchNextBatches", clock + 10, clock + 10.3, next_round, fail_first=r == 0)
        h.state("Choice", "AnotherRound", clock + 10.3, clock + 10.3)
        clock += 10.3
    h.task("Summarize", clock, clock + 0.3, "janelia-burst-compute-dev-monitor")
    h.state("Choice", "CheckForErrors", clock + 0.3, clock + 0.3)
    h.task("Combine", clock + 0.3, clock + 2.3, "janelia-mysearch-dev-combiner")
    h.state("Pass", "JobSucceeded", clock + 2.3, clock + 2.3)
    h.add("ExecutionSucceeded", clock + 2.3, "executionSucceededEventDetails", output="{}")
    return h.events


def row(batch_id: int, start: float, duration: float, status: str = "succeeded", *, aws: bool = True) -> dict[str, Any]:
    """A row as the state machine writes it (RecordResult or RecordFailure)."""
    item: dict[str, Any] = {
        "jobId": {"S": JOB},
        "batchId": {"N": str(batch_id)},
        "status": {"S": status},
        "startedAt": {"S": rfc3339(start, aws=aws)},
        "endedAt": {"S": rfc3339(start + duration, aws=aws)},
        "attempt": {"N": "0"},
        "ttl": {"N": "1796168319"},
    }
    if status == "failed":
        item["error"] = {"S": "ValueError"}
        item["cause"] = {"S": "bad input"}
    else:
        item["output"] = {"S": json.dumps({"results": [batch_id], "nresults": 1})}
    return item


def deferred_row(batch_id: int) -> dict[str, Any]:
    """A row as Defer writes it: throttled until the retries ran out, no times."""
    return {
        "jobId": {"S": JOB},
        "batchId": {"N": str(batch_id)},
        "status": {"S": "deferred"},
        "error": {"S": "Lambda.TooManyRequestsException"},
        "cause": {"S": "Rate Exceeded."},
        "attempt": {"N": "7"},
        "ttl": {"N": "1796168319"},
    }


# -- stubbed AWS clients ------------------------------------------------------------------------------------
def stubbed_client(service: str) -> tuple[Any, Any]:
    """A boto3 client of ``service`` that never reaches AWS, and its activated botocore Stubber."""
    import boto3
    from botocore.stub import Stubber

    client = boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber


def stub_query(stubber: Any, *pages: list[dict[str, Any]], expected: dict[str, Any] | None = None) -> None:
    """Queue the answers of a paginated Query: ``pages`` of items in turn, each but the last with the key
    of its last item as LastEvaluatedKey; with ``expected``, each request must be it (the ones after the
    first with that ExclusiveStartKey)."""

    def key(item: dict[str, Any]) -> dict[str, Any]:
        return {"jobId": item["jobId"], "batchId": item["batchId"]}

    for index, items in enumerate(pages):
        answer: dict[str, Any] = {"Items": items}
        if index < len(pages) - 1:
            answer["LastEvaluatedKey"] = key(items[-1])
        request = None
        if expected is not None:
            request = {**expected, "ExclusiveStartKey": key(pages[index - 1][-1])} if index else dict(expected)
        stubber.add_response("query", answer, request)


def fake_stack(name: str = "janelia-burst-compute-dev") -> Any:
    """The outputs of a deployed stack named ``name`` (a burst_client.gateway.Stack)."""
    from burst_client.gateway import Stack

    arn = f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"
    return Stack(
        name=name,
        tasks_table=f"{name}-tasks",
        bucket=f"{name}-mapjobsinputs",
        state_machine_arn=f"{arn}-lifecycle",
        express_state_machine_arn=f"{arn}-express-lifecycle",
        dispatch_function=f"{name}-dispatch",
        monitor_function=f"{name}-monitor",
    )
