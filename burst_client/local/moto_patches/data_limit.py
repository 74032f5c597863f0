"""Step Functions' payload size quota (States.DataLimitExceeded)."""

from __future__ import annotations

import json
from typing import Any

from moto.stepfunctions.parser.api import (
    HistoryEventType,
    LambdaFunctionFailedEventDetails,
    TaskFailedEventDetails,
)
from moto.stepfunctions.parser.asl.component.common.catch.catch_outcome import CatchOutcome
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.parargs import Parargs
from moto.stepfunctions.parser.asl.component.common.retry.retry_outcome import RetryOutcome
from moto.stepfunctions.parser.asl.component.state import state as state_module
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import StateTaskService
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

from burst_client.local.moto_patches.registry import Undo, patch, undo_all, workaround


@workaround("state-data-limit")
def _apply_state_data_limit() -> Undo:
    """Gap 16: States.DataLimitExceeded: input after Parameters unchecked, Retry/Catch intercept it, 256 KiB
    itself fails

    The 256 KiB payload quota ("256 KiB of data as a UTF-8 encoded string", for task results, state output and the input
    data of a state, https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html) fails a state with
    States.DataLimitExceeded when a connector's output (a lambda:invoke's whole output, Payload included), a state's
    output, or a state's input after Parameters exceeds it; it is "a terminal error which cannot be caught by the
    States.ALL error type" (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html): no Retry
    retries it and no Catch catches it, so the execution fails (a distributed Map child: only that child, which the Map
    run counts as failed). moto checks Task results and state outputs, but: a Retry retries and a Catch (States.ALL, or
    the error's name) catches the Task result's error; the input after Parameters is not checked (a 300 KB Lambda
    payload is sent); exactly 262,144 bytes already fail; the size is of json.dumps with ", " and ": " separators and
    \\u escapes, not of the UTF-8 JSON; and the cause names the resource type ("The state/task 'lambda' returned ..."),
    where AWS names the state ("The state/task 'PostCoeffgen' returned a result with a size exceeding the maximum number
    of bytes service limit.", as AWS reported it for a Task of that name). AWS's cause for an oversized input after
    Parameters is not documented; ours says "has an input".
    """
    original_parargs = Parargs.__dict__["_eval_body"]
    original_retry = ExecutionState.__dict__["_handle_retry"]
    original_catch = ExecutionState.__dict__["_handle_catch"]

    def verify_state_output(self: Any, env: Environment, value: Any) -> None:
        if payload_size(value) > MAX_PAYLOAD_BYTES:
            raise _data_limit_exceeded(env, self.name, "returned a result")

    def verify_lambda_result(self: Any, env: Environment, value: Any) -> None:
        if payload_size(value) > MAX_PAYLOAD_BYTES:
            raise _data_limit_exceeded(env, self.name, "returned a result", HistoryEventType.LambdaFunctionFailed)

    def parargs_eval_body(self: Parargs, env: Environment) -> None:
        original_parargs(self, env)
        if env.stack and payload_size(env.stack[-1]) > MAX_PAYLOAD_BYTES:
            raise _data_limit_exceeded(env, str(env.next_state_name), "has an input")

    def handle_retry(self: ExecutionState, env: Environment, failure_event: FailureEvent) -> RetryOutcome:
        if _is_data_limit_exceeded(failure_event):
            return RetryOutcome.CannotRetry
        result: RetryOutcome = original_retry(self, env, failure_event)
        return result

    def handle_catch(self: ExecutionState, env: Environment, failure_event: FailureEvent) -> None:
        if _is_data_limit_exceeded(failure_event):
            env.stack.append(CatchOutcome.NotCaught)
            return
        original_catch(self, env, failure_event)

    undos = [
        patch(state_module.CommonStateField, "_verify_size_quota", verify_state_output),
        patch(StateTaskService, "_verify_size_quota", verify_state_output),
        patch(StateTaskLambda, "_verify_size_quota", verify_lambda_result),
        patch(Parargs, "_eval_body", parargs_eval_body),
        patch(ExecutionState, "_handle_retry", handle_retry),
        patch(ExecutionState, "_handle_catch", handle_catch),
    ]
    return undo_all(undos)


MAX_PAYLOAD_BYTES = 262_144
DATA_LIMIT_EXCEEDED = StatesErrorNameType.StatesStatesDataLimitExceeded.to_name()


def payload_size(value: Any) -> int:
    """Bytes of ``value`` as Step Functions measures it, its JSON UTF-8 encoded; for a value whose JSON could not
    exceed the quota even at four bytes a character, its characters (the comparison comes out the same)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    if len(text) * 4 <= MAX_PAYLOAD_BYTES:  # within the quota whatever the characters: skip encoding
        return len(text)
    return len(text.encode("utf-8"))


def _data_limit_exceeded(
    env: Environment, state_name: str, what: str, event_type: HistoryEventType = HistoryEventType.TaskFailed
) -> FailureEventException:
    cause = f"The state/task '{state_name}' {what} with a size exceeding the maximum number of bytes service limit."
    error_name = StatesErrorName(typ=StatesErrorNameType.StatesStatesDataLimitExceeded)
    if event_type == HistoryEventType.LambdaFunctionFailed:
        details = EventDetails(  # type: ignore[typeddict-item]  # moto's total TypedDict
            lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=DATA_LIMIT_EXCEEDED, cause=cause)
        )
    else:
        details = EventDetails(  # type: ignore[typeddict-item]
            taskFailedEventDetails=TaskFailedEventDetails(error=DATA_LIMIT_EXCEEDED, cause=cause)
        )
    return FailureEventException(
        failure_event=FailureEvent(env=env, error_name=error_name, event_type=event_type, event_details=details)
    )


def _is_data_limit_exceeded(failure_event: FailureEvent) -> bool:
    return getattr(failure_event.error_name, "error_name", None) == DATA_LIMIT_EXCEEDED
