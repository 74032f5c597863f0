"""Step Functions gaps of the API and the ASL interpreter: execution names, Map workers, Map runs of starting
executions, timestamps, Lambda results, history pages."""

from __future__ import annotations

import base64
import contextlib
import datetime
import functools
import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast

from moto.stepfunctions import responses
from moto.stepfunctions.exceptions import InvalidToken, ResourceNotFound
from moto.stepfunctions.parser.api import InvocationResponse
from moto.stepfunctions.parser.asl.component.state import state as state_module
from moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.is_operator import (
    IsTimestamp,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import iteration_worker
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
    distributed_item_processor_worker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iterator import distributed_iterator_worker
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

from burst_client.local.moto_patches.registry import Undo, patch, undo_all, workaround
from burst_core.job import iso_timestamp


@workaround("execution-name-defaults-to-uuid")
def _apply_execution_name_defaults_to_uuid() -> Undo:
    """Gap 5: executions started without a name are named "None"

    The executing (parser) backend's StartExecution uses the name as given, None when the caller sent no name: the
    execution ARN ends in ":None" and the second nameless start fails with ExecutionAlreadyExists. AWS (and moto's plain
    backend) generate a UUID.
    """
    original = StepFunctionsParserBackend.start_execution

    @functools.wraps(original)
    def start_execution(
        self: StepFunctionsParserBackend, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)

    return patch(StepFunctionsParserBackend, "start_execution", start_execution)


@workaround("integer-tolerated-failure-percentage")
def _apply_integer_tolerated_failure_percentage() -> Undo:
    """Gap 6: an integer ToleratedFailurePercentage is an ASL syntax error

    The ASL grammar of moto's interpreter only accepts a decimal token for ToleratedFailurePercentage:
    `"ToleratedFailurePercentage": 100` (an integer, valid on AWS) fails CreateStateMachine with "ASLParserException ...
    no viable alternative at input '"ToleratedFailurePercentage":100'". Hand the parser 100.0 instead (the stored
    definition is left as the caller wrote it).
    """
    original = AmazonStateLanguageParser.parse

    def parse(definition: str) -> Any:
        return original(_normalise_definition(definition))

    return patch(AmazonStateLanguageParser, "parse", staticmethod(parse))


def _normalise_definition(definition: str) -> str:
    if "ToleratedFailurePercentage" not in definition:
        return definition
    try:
        document = json.loads(definition)
    except ValueError:
        return definition  # not JSON: let the parser report it
    changed = False
    for node in json_objects(document):
        value = node.get("ToleratedFailurePercentage")
        if isinstance(value, int) and not isinstance(value, bool):
            node["ToleratedFailurePercentage"] = float(value)
            changed = True
    return json.dumps(document) if changed else definition


def json_objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every object of a JSON document, each before those inside it (its values may be replaced meanwhile)."""
    if isinstance(node, dict):
        yield node
        for child in node.values():
            yield from json_objects(child)
    elif isinstance(node, list):
        for child in node:
            yield from json_objects(child)


@workaround("map-workers-iterate")
def _apply_map_workers_iterate() -> Undo:
    """Gap 8: a Map worker recurses once per item: RecursionError after ~950 items, execution hangs

    A Map iteration worker runs its next item by calling itself (IterationWorker._eval_pool and the distributed
    variants), one Python frame per item: a worker that gets more than ~950 items (e.g. 1,000 items with MaxConcurrency
    1, or 20,000 with MaxConcurrency 20) dies with RecursionError and the execution stays RUNNING forever. The recursive
    call is the last statement, so run it from a loop instead.
    """
    classes = (
        iteration_worker.IterationWorker,
        distributed_item_processor_worker.DistributedItemProcessorWorker,
        distributed_iterator_worker.DistributedIteratorWorker,
    )
    undos = [patch(cls, "_eval_pool", _iterative(cls.__dict__["_eval_pool"])) for cls in classes]
    return undo_all(undos)


def _iterative(original: Callable[[Any, Any, Any], None]) -> Callable[[Any, Any, Any], None]:
    def eval_pool(self: Any, job: Any, worker_frame: Any) -> None:
        state = self.__dict__
        if state.get("_burst_local_in_pool"):
            state["_burst_local_next"] = (job, worker_frame)  # the loop below runs it
            return
        state["_burst_local_in_pool"] = True
        try:
            pending: tuple[Any, Any] | None = (job, worker_frame)
            while pending is not None:
                state["_burst_local_next"] = None
                original(self, *pending)
                pending = state["_burst_local_next"]
        finally:
            state["_burst_local_in_pool"] = False

    return eval_pool


@workaround("rfc3339-timestamp-comparisons")
def _apply_rfc3339_timestamp_comparisons() -> Undo:
    """Gap 12: Choice timestamp rules fail on fractional seconds and offsets ($$.State.EnteredTime)

    Choice rules compare timestamps only in the form "2016-03-14T01:59:00Z" (IsTimestamp. string_to_timestamp uses
    strptime "%Y-%m-%dT%H:%M:%SZ"): with fractional seconds or a numeric offset, both valid RFC 3339 on AWS, the rule is
    silently false, or fails with a TypeError when only the other side parses. So a Choice on $$.State.EnteredTime
    (which always has a fraction) never matches. Parse RFC 3339.
    """
    return patch(IsTimestamp, "string_to_timestamp", staticmethod(parse_rfc3339))


_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def parse_rfc3339(text: str) -> datetime.datetime | None:
    """An aware datetime for an RFC 3339 timestamp with uppercase T and Z (as ASL requires), else None."""
    match = _RFC3339.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    seconds, fraction, zone = match.groups()
    fraction = (fraction or ".0")[:7].ljust(7, "0")  # microseconds at most
    try:
        return datetime.datetime.fromisoformat(seconds + fraction + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return None


@workaround("entered-time-format")
def _apply_entered_time_format() -> Undo:
    """Gap 13: $$.State.EnteredTime is "...:39.865001+00:00" instead of AWS's "...:39.865Z"

    $$.State.EnteredTime is datetime.isoformat(): "2026-11-24T23:27:39.865001+00:00"; AWS writes
    "2026-11-24T23:27:39.865Z" (milliseconds, Z), which is what code reading the value expects.
    """
    original = state_module.__dict__["StateData"]

    def state_data(**fields: Any) -> Any:
        entered = fields.get("EnteredTime")
        if isinstance(entered, str):
            with contextlib.suppress(ValueError):
                fields["EnteredTime"] = iso_timestamp(datetime.datetime.fromisoformat(entered))
        return original(**fields)

    return patch(state_module, "StateData", state_data)


@workaround("map-runs-of-starting-executions")
def _apply_map_runs_of_starting_executions() -> Undo:
    """Gap 20: DescribeMapRun/ListMapRuns fail (HTTP 500) while any execution is still parsing its definition

    An execution has no interpreter environment until its definition is parsed, in its own thread, after StartExecution
    has answered (moto.stepfunctions.parser.backend.execution_worker: env is None until then, tens of milliseconds for
    the job lifecycle's definition). ListMapRuns of such an execution, and DescribeMapRun and UpdateMapRun of *any* Map
    run while some execution is at that point (they look at every execution's environment), fail with AttributeError:
    HTTP 500 on the endpoint. On AWS an execution that has not reached its Map state has no Map run: ListMapRuns answers
    an empty list (https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListMapRuns.html), and the other
    Map runs are found. Skip executions without an environment. (And answer an unknown Map run's ARN with
    ResourceNotFound, which moto raises without its message argument: a TypeError, HTTP 500.)
    """

    def find(backend: StepFunctionsParserBackend, map_run_arn: str) -> Any:
        for execution in backend._get_executions():
            env = _execution_env(execution)
            record = env.map_run_record_pool_manager.get(map_run_arn) if env is not None else None
            if record is not None:
                return record
        raise ResourceNotFound(map_run_arn)

    def describe_map_run(self: StepFunctionsParserBackend, map_run_arn: str) -> dict[str, Any]:
        described: dict[str, Any] = find(self, map_run_arn).describe()
        return described

    def list_map_runs(self: StepFunctionsParserBackend, execution_arn: str) -> dict[str, Any]:
        env = _execution_env(self.describe_execution(execution_arn=execution_arn))
        records = env.map_run_record_pool_manager.get_all() if env is not None else []
        return {"mapRuns": [record.list_item() for record in records]}

    def update_map_run(
        self: StepFunctionsParserBackend,
        map_run_arn: str,
        max_concurrency: int,
        tolerated_failure_count: str,
        tolerated_failure_percentage: str,
    ) -> None:
        find(self, map_run_arn).update(
            max_concurrency=max_concurrency,
            tolerated_failure_count=tolerated_failure_count,
            tolerated_failure_percentage=tolerated_failure_percentage,
        )

    undos = [
        patch(StepFunctionsParserBackend, "describe_map_run", describe_map_run),
        patch(StepFunctionsParserBackend, "list_map_runs", list_map_runs),
        patch(StepFunctionsParserBackend, "update_map_run", update_map_run),
    ]
    return undo_all(undos)


def _execution_env(execution: Any) -> Environment | None:
    env: Environment | None = getattr(getattr(execution, "exec_worker", None), "env", None)
    return env


@workaround("execution-start-time-string")
def _apply_execution_start_time_string() -> Undo:
    """Gap 21: $$.Execution.StartTime is a datetime: reading it fails the state (not JSON serializable)

    $$.Execution.StartTime is a Python datetime in the context object (ExecutionWorker. _get_evaluation_environment
    passes the execution's start date where moto's own ExecutionData says "str  # Format: ISO 8601"): a state that reads
    it fails with States.Runtime "Object of type datetime is not JSON serializable", and an execution whose output holds
    it cannot be described (HTTP 500). On AWS it is an ISO 8601 string such as "2019-03-26T20:14:13.192Z"
    (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html).
    """
    original = ExecutionWorker.__dict__["_get_evaluation_environment"]

    def get_evaluation_environment(self: ExecutionWorker) -> Environment:
        env: Environment = original(self)
        execution: Any = env.states.context_object.context_object_data["Execution"]
        if isinstance(execution.get("StartTime"), datetime.datetime):
            execution["StartTime"] = iso_timestamp(execution["StartTime"])
        return env

    return patch(ExecutionWorker, "_get_evaluation_environment", get_evaluation_environment)


@workaround("lambda-result-request-id")
def _apply_lambda_result_request_id() -> Undo:
    """Gap 32: a lambda:invoke Task's result has no SdkResponseMetadata (the invocation's RequestId)

    The result of a lambda:invoke Task (the optimized integration) has only StatusCode, ExecutedVersion, Payload (and
    FunctionError, LogResult) (lambda_eval_utils.execute_lambda_function_integration keeps only the InvocationResponse
    fields of the client's answer); on AWS it also has SdkHttpMetadata and SdkResponseMetadata, whose RequestId is the
    invocation's request id, the one in its START/END/REPORT log lines (a TaskSucceeded output as AWS writes it:
    https://github.com/aws/aws-cdk/issues/6676; the integration:
    https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html). A ResultSelector selecting
    `$.SdkResponseMetadata.RequestId` fails the state with States.Runtime. Add SdkResponseMetadata from the client's
    ResponseMetadata (SdkHttpMetadata, the HTTP headers, is left out: nothing here reads it).
    """
    original = lambda_eval_utils.__dict__["select_from_typed_dict"]

    def select_from_typed_dict(typed_dict: Any, obj: Any) -> Any:
        selected = original(typed_dict=typed_dict, obj=obj)
        if typed_dict is InvocationResponse:
            request_id = (obj.get("ResponseMetadata") or {}).get("RequestId")
            if request_id:
                selected["SdkResponseMetadata"] = {"RequestId": request_id}
        return selected

    return patch(lambda_eval_utils, "select_from_typed_dict", select_from_typed_dict)


@workaround("execution-history-pages")
def _apply_execution_history_pages() -> Undo:
    """Gap 33: GetExecutionHistory ignores reverseOrder, maxResults and nextToken (all events, oldest first, one page)

    GetExecutionHistory ignores reverseOrder, maxResults and nextToken
    (moto.stepfunctions.responses.StepFunctionResponse.get_execution_history passes only the ARN): every event comes
    back, oldest first, in one page. On AWS the events come newest first with reverseOrder, at most maxResults per page
    (default 100, at most 1,000), with a nextToken to the next page (Step Functions API Reference, GetExecutionHistory).
    A client that reads only the last few events (the burst client reads the combiner's result of a failed job from
    them) would read the first ones instead. Pages are cut here from the full list; the token is the offset of the next
    page, opaque to the client as on AWS.
    """
    original = responses.StepFunctionResponse.get_execution_history

    @functools.wraps(original)
    def get_execution_history(self: Any) -> Any:
        result = original(self)
        history = dict(cast(dict[str, Any], result.result))
        events = list(history.get("events", []))
        if self._get_param("reverseOrder"):
            events.reverse()
        size = min(int(self._get_param("maxResults") or HISTORY_DEFAULT_PAGE), HISTORY_MAX_PAGE)
        token = self._get_param("nextToken")
        try:
            start = int(json.loads(base64.b64decode(token, validate=True))["offset"]) if token else 0
        except (ValueError, TypeError, KeyError):  # binascii.Error and JSONDecodeError are ValueErrors
            raise InvalidToken(repr(token)) from None
        history["events"] = events[start : start + size]
        history.pop("nextToken", None)
        if start + size < len(events):
            history["nextToken"] = base64.b64encode(json.dumps({"offset": start + size}).encode()).decode()
        return type(result)(history)

    return patch(responses.StepFunctionResponse, "get_execution_history", get_execution_history)


HISTORY_DEFAULT_PAGE = 100
HISTORY_MAX_PAGE = 1000
