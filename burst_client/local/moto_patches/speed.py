"""Speed of moto's server and interpreter: caches, threads, copies, ids."""

from __future__ import annotations

import copy
import functools
import itertools
import logging
import types
from typing import Any

from botocore import endpoint as botocore_endpoint
from moto import backends as moto_backends
from moto.core import responses as moto_responses
from moto.stepfunctions.parser import utils as parser_utils
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.string import string_expression
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.exec.state_map import state_map as state_map_module
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import distributed_iteration_component
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service
from moto.stepfunctions.parser.asl.eval import environment as environment_module
from moto.stepfunctions.parser.asl.eval import states as states_module
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event import event_manager as event_manager_module
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.utils import json_path

from burst_client.local import ids
from burst_client.local.moto_patches.registry import Undo, patch, undo_all, workaround

LOG = logging.getLogger(__name__)


@workaround("jsonpath-parse-cache")
def _apply_jsonpath_parse_cache() -> Undo:
    """Gap 9 (speed): every JSONPath evaluation builds a new jsonpath_ng parser (~1 ms each)

    The interpreter parses every JSONPath with jsonpath_ng each time it evaluates it, and jsonpath_ng builds a new PLY
    parser per call: ~1 ms per path, ~9 ms per batch of the job lifecycle's child workflow
    (moto.stepfunctions.parser.asl.utils.json_path.extract_json, ResultPath). Cache them.
    """
    undos = [
        patch(json_path, "parse", functools.lru_cache(maxsize=4096)(json_path.__dict__["parse"])),
        patch(result_path, "parse", functools.lru_cache(maxsize=4096)(result_path.__dict__["parse"])),
    ]
    return undo_all(undos)


@workaround("moto-module-list-cache")
def _apply_moto_module_list_cache() -> Undo:
    """Gap 10 (speed): every request lists moto's package directory under the server's global lock

    The server resolves every request's backend under one global lock, and on the way lists moto's package directory
    (moto.backends.list_of_moto_modules: os.listdir + ~200 stat calls per request). The directory does not change while
    the server runs: list it once.
    """
    modules = tuple(moto_backends.list_of_moto_modules())

    def list_of_moto_modules() -> tuple[str, ...]:
        return modules

    return patch(moto_backends, "list_of_moto_modules", list_of_moto_modules)


@workaround("tasks-without-timeout-inline")
def _apply_tasks_without_timeout_inline() -> Undo:
    """Gap 11c (speed, memory): every Task and execution runs in a new thread, and every such thread is kept forever
    (TMP_THREADS)

    Every Task state, and every execution (a Map's children too), runs in a thread of its own, started by the calling
    thread only to wait for it with the timeout (ExecuteState. _evaluate_with_timeout, Program.eval), even without
    TimeoutSeconds, when the wait cannot time out; and every such thread is kept for good in
    moto.stepfunctions.parser.utils.TMP_THREADS, its closure holding the state's input and output, so the endpoint's
    memory grows with every batch. Run Tasks and programs without a timeout in the calling thread, and drop finished
    threads from TMP_THREADS (nothing reads it).
    """
    original = ExecutionState.__dict__["_evaluate_with_timeout"]

    def evaluate_with_timeout(self: ExecutionState, env: Environment) -> None:
        _prune_tmp_threads()
        if not self.timeout.is_default_value():
            original(self, env)
            return
        self.timeout.eval(env=env)
        env.stack.pop()
        frame = env.open_frame()
        frame.states.reset(input_value=env.states.get_input())
        frame.stack = vars(execute_state)["copy"].deepcopy(env.stack)  # as moto's own copies it (workaround 27)
        try:
            self._eval_execution(frame)
            output = frame.stack[-1]
        finally:
            frame.set_ended()
            env.close_frame(frame)
        # from here on as the original does with the thread's output
        env.stack.append(output)
        if not self._is_language_query_jsonpath():
            env.states.set_result(output)
        if self.assign_decl:
            self.assign_decl.eval(env=env)
        if self.result_selector:
            self.result_selector.eval(env=env)
        if self.result_path:
            self.result_path.eval(env)
        else:
            env.states.reset(input_value=env.stack.pop())

    original_program_eval = Program.__dict__["eval"]

    def program_eval(self: Program, env: Environment) -> None:
        if self.timeout_seconds is not None:
            original_program_eval(self, env)
            return
        env.next_state_name = self.start_at.start_at_name
        try:
            super(Program, self).eval(env)
        except Exception:  # the original's thread would have printed it and carried on
            LOG.exception("state machine program failed")

    undos = [
        patch(ExecutionState, "_evaluate_with_timeout", evaluate_with_timeout),
        patch(Program, "eval", program_eval),
    ]
    return undo_all(undos)


_PRUNE_THREADS_ABOVE = 512
_prune_at = {"size": _PRUNE_THREADS_ABOVE}


def _prune_tmp_threads() -> None:
    """Drop finished threads once the list has doubled since the last pruning (a Map's running threads
    stay in it, so a fixed threshold would scan them on every Task)."""
    if len(parser_utils.TMP_THREADS) > _prune_at["size"]:
        parser_utils.TMP_THREADS[:] = [thread for thread in parser_utils.TMP_THREADS if thread.is_alive()]
        _prune_at["size"] = max(_PRUNE_THREADS_ABOVE, 2 * len(parser_utils.TMP_THREADS))


@workaround("response-method-names-cache")
def _apply_response_method_names_cache() -> Undo:
    """Gap 11d (speed): every request lists its handler class's methods with inspect.getmembers

    Every request lists the handler class's methods with inspect.getmembers to find the action
    (moto.core.responses.BaseResponse.call_action -> method_names_from_class), ~0.3 ms for DynamoDB's handler. Classes
    do not change while the server runs: list each once.
    """
    original = moto_responses.__dict__["method_names_from_class"]

    @functools.lru_cache(maxsize=256)
    def method_names_from_class(clazz: object) -> frozenset[str]:
        return frozenset(original(clazz))

    return patch(moto_responses, "method_names_from_class", method_names_from_class)


@workaround("map-children-history-unread")
def _apply_map_children_history_unread() -> Undo:
    """Gap 23 (speed): a Map run's children record history events that nothing reads, under one lock

    The history events of a distributed Map's child workflows are recorded, under a lock that all the children of a run
    share, in an EventManager that nothing ever reads: DistributedIterationComponent._eval_body gives the run a fresh
    one and drops it when the run ends (moto has no child executions to describe). It took about a fifth of the
    endpoint's interpreter time in a job of no-op batches. On AWS an EXPRESS child has no execution history at all, a
    STANDARD child one of its own
    (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-standard-vs-express.html). Give the run a manager
    that only numbers the events.
    """
    return patch(distributed_iteration_component, "EventManager", _UnreadHistory)


class _UnreadHistory(EventManager):
    """The event manager of a distributed Map run's children: events are numbered, not kept."""

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)

    def add_event(
        self,
        context: Any,
        event_type: Any,
        event_details: Any = None,
        timestamp: Any = None,
        update_source_event_id: bool = True,
    ) -> int:
        event_id = next(self._ids)  # atomic in CPython
        context.last_published_event_id = event_id
        if update_source_event_id:
            context.source_event_id = event_id
        return event_id


@workaround("invocation-ids-keep-the-lock")
def _apply_invocation_ids_keep_the_lock() -> Undo:
    """Gap 25 (speed): botocore's uuid4 request ids release the interpreter lock (os.urandom) on every request

    Botocore gives every request an invocation id from uuid.uuid4() (Endpoint._update_retries_context), whose os.urandom
    call releases the interpreter lock: in the endpoint, where the interpreter's requests (workaround 11b) and the Map's
    children share one lock, each of them then waits for the lock to come back. The ids only need to be unique: draw
    them from the random module, which keeps the lock (burst_client.local.ids).
    """
    return patch(botocore_endpoint, "uuid", types.SimpleNamespace(uuid4=ids.uuid4))


@workaround("json-values-copied-as-json")
def _apply_json_values_copied_as_json() -> Undo:
    """Gap 27 (speed): the interpreter copies every JSON value it reads or writes with copy.deepcopy's generic machinery

    The interpreter copies every value it reads or writes with copy.deepcopy (a state's input, each JSONPath result, the
    Task's parameters, the result, the context object, the frame's stack): about 40% of the endpoint's CPU in a no-op
    job, most of it deepcopy's generic machinery (its memo, its dispatch per object), for values that are JSON: dicts,
    lists, strings, numbers, booleans and null. Copy those as JSON (a new dict or list per container, the immutable
    scalars as they are), anything else with copy.deepcopy as before. JSON has no identities, so the copies are the same
    values, as independent of the original as deepcopy's. (deepcopy's memo keeps two references to one value aliased in
    the copy, e.g. the nested matches of "$..*"; JSON, and so AWS, has no such aliasing: json_copy gives AWS's answer
    there.)
    """
    json_copying = types.SimpleNamespace(deepcopy=json_copy)
    return undo_all([patch(module, "copy", json_copying) for module in _JSON_COPYING_MODULES])


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def json_copy(value: Any) -> Any:
    """A deep copy of ``value``: JSON containers and scalars directly, anything else by ``copy.deepcopy``."""
    cls = value.__class__
    if cls is dict:
        return {key: item if item.__class__ in _JSON_SCALARS else json_copy(item) for key, item in value.items()}
    if cls is list:
        return [item if item.__class__ in _JSON_SCALARS else json_copy(item) for item in value]
    if cls in _JSON_SCALARS:
        return value
    return copy.deepcopy(value)


# the interpreter's modules whose copies are of JSON values (states, paths, parameters, stacks, event details)
_JSON_COPYING_MODULES = (
    states_module,
    string_expression,
    result_path,
    state_task_service,
    execute_state,
    state_map_module,
    environment_module,
    event_manager_module,
)
