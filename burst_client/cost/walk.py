"""The job lifecycle's state machine definition, read and walked: which states a job, a round and a batch go
through, which Tasks invoke which function, which write a batch's row.

The definitions ship with the package (``step-functions.yml``, a link to the project's file, read with
PyYAML); a deployed state machine's definition (:meth:`burst_client.gateway.Gateway.state_machine_definition`)
walks the same.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from burst_client.errors import CostError
from burst_core.orchestration import ExecutionType
from burst_core.storage import json_size

LOG = logging.getLogger(__name__)

STEP_FUNCTIONS_YML = Path(__file__).with_name("step-functions.yml")
# serverless.yml: functions.<name>.memorySize (tests/unit/test_cost.py keeps them in step)
FRAMEWORK_MEMORY_MB: Mapping[str, int] = {
    "dispatch": 1024,
    "dispatchNextBatches": 1024,
    "monitor": 1024,
}
WORKER, COMBINER = "worker", "combiner"
_DYNAMIC_FUNCTIONS = {"workerFunctionName": WORKER, "combinerFunctionName": COMBINER}
# Step Functions' DynamoDB integrations that write a batch's row
_ROW_WRITES = ("dynamodb:putItem", "dynamodb:updateItem")


def load_definitions(path: str | Path = STEP_FUNCTIONS_YML) -> dict[str, dict[str, Any]]:
    """Every state machine's definition (ASL) in a serverless-step-functions file like step-functions.yml,
    by its key under ``stateMachines`` (YAML anchors and merge keys resolved)."""
    try:
        import yaml  # noqa: PLC0415 - only needed without a deployed state machine
    except ImportError as exc:
        raise CostError("reading step-functions.yml needs PyYAML (pip install pyyaml)") from exc

    class Loader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML has no type hints here
        """SafeLoader that reads CloudFormation tags (!Ref, !Sub, ...) as null."""

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    source = Path(path)
    try:
        document = yaml.load(source.read_text(), Loader=Loader)
        definitions = {str(key): dict(machine["definition"]) for key, machine in document["stateMachines"].items()}
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        definitions, reason = {}, f"{exc}"
    else:
        reason = "no state machine in it"
    if not definitions:
        raise CostError(
            f"cannot read a state machine definition from {source}: {reason} (without the project's "
            "step-functions.yml, pass the deployed one: deployed_definition(sfn, state_machine_arn))"
        )
    return definitions


def load_definition(
    path: str | Path = STEP_FUNCTIONS_YML, execution_type: ExecutionType | str | None = None
) -> dict[str, Any]:
    """The job lifecycle definition (ASL) from a file like step-functions.yml: the first state machine's,
    or the one running ``execution_type`` child workflows (:func:`definition_for`)."""
    definitions = list(load_definitions(path).values())
    if execution_type is None:
        return definitions[0]
    return definition_for(execution_type, definitions)


def with_execution_type(definition: Mapping[str, Any], execution_type: ExecutionType | str) -> dict[str, Any]:
    """A copy of ``definition`` whose batch Map states run ``execution_type`` child workflows."""
    kind = ExecutionType(str(execution_type).upper())
    changed: dict[str, Any] = copy.deepcopy(dict(definition))
    for name in batch_maps(changed):
        state = changed["States"][name]
        key = "ItemProcessor" if "ItemProcessor" in state else "Iterator"
        processor = state[key] = dict(state.get(key) or {})
        processor["ProcessorConfig"] = {**(processor.get("ProcessorConfig") or {}), "ExecutionType": kind.value}
    return changed


def definition_for(
    execution_type: ExecutionType | str, definitions: Mapping[str, Any] | Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """The definition (of one, or of several state machines) whose batch Map state runs ``execution_type``
    child workflows; when none does, the first one with its batch Map states changed to that type (as
    step-functions.yml writes its EXPRESS state machine: the STANDARD one with another ExecutionType)."""
    kind = ExecutionType(str(execution_type).upper())
    candidates = [definitions] if isinstance(definitions, Mapping) else list(definitions)
    if not candidates:
        raise CostError("no state machine definition given")
    for definition in candidates:
        if kind in batch_maps(definition).values():
            return dict(definition)
    return with_execution_type(candidates[0], kind)


def definition_bytes(definition: Mapping[str, Any]) -> int:
    """The definition's size as deployed (compact JSON; YAML anchors written out in full)."""
    return json_size(definition)


def function_key(function: Any) -> str:
    """Which function a Task invokes: worker, combiner, a framework function's key, or the name itself.

    Understands ``$.workerFunctionName``-style paths, ``{"Fn::GetAtt": ["MonitorLambdaFunction", "Arn"]}``
    (step-functions.yml) and function names or ARNs (a deployed definition, the execution history)."""
    if isinstance(function, Mapping) and isinstance(function.get("Fn::GetAtt"), list):
        logical = str(function["Fn::GetAtt"][0]).removesuffix("LambdaFunction")
        return logical[:1].lower() + logical[1:]
    text = str(function)
    for field_name, key in _DYNAMIC_FUNCTIONS.items():
        if text.startswith("$") and text.rstrip("'\"]").endswith(field_name):
            return key
    name = text.rsplit(":function:", maxsplit=1)[-1].split(":", maxsplit=1)[0]
    for key in sorted(FRAMEWORK_MEMORY_MB, key=len, reverse=True):
        if name == key or name.endswith(f"-{key}"):
            return key
    return name


def _task_function(state: Mapping[str, Any]) -> str | None:
    """The function key a Task state invokes, or None (not a Lambda task)."""
    if state.get("Type") != "Task":
        return None
    resource = str(state.get("Resource", ""))
    parameters = state.get("Parameters") or {}
    if ":lambda:invoke" in resource or resource.endswith(":states:::lambda:invoke"):
        if "FunctionName.$" in parameters:
            return function_key(parameters["FunctionName.$"])
        if "FunctionName" in parameters:
            return function_key(parameters["FunctionName"])
        return None
    if ":lambda:" in resource and ":function:" in resource:
        return function_key(resource)
    return None


def _writes_row(state: Mapping[str, Any]) -> bool:
    """Whether a state is a DynamoDB-integration Task writing an item (a batch's row)."""
    resource = str(state.get("Resource", ""))
    return state.get("Type") == "Task" and any(resource.endswith(f":states:::{write}") for write in _ROW_WRITES)


def _successors(state: Mapping[str, Any]) -> list[str]:
    """States reached without an error (Next, a Choice's rules and Default; never Catch)."""
    found: list[str] = []
    if isinstance(state.get("Next"), str):
        found.append(state["Next"])
    for rule in state.get("Choices", []) or []:
        if isinstance(rule, Mapping) and isinstance(rule.get("Next"), str):
            found.append(rule["Next"])
    if isinstance(state.get("Default"), str):
        found.append(state["Default"])
    return found


def _ends_well(state: Mapping[str, Any]) -> bool:
    return state.get("End") is True or state.get("Type") == "Succeed"


def _ends(state: Mapping[str, Any]) -> bool:
    """Any end of an execution, a Fail state's included."""
    return _ends_well(state) or state.get("Type") == "Fail"


def _named(target: str) -> Callable[[str], bool]:
    return lambda name: name == target


def _shortest(states: Mapping[str, Any], start: str, goal: Callable[[str], bool]) -> list[str] | None:
    """The shortest path of state names from ``start`` (included) to a state satisfying ``goal``."""
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        name = queue.popleft()
        if goal(name):
            path = [name]
            while (before := previous[path[-1]]) is not None:
                path.append(before)
            return path[::-1]
        for successor in _successors(states.get(name, {})):
            if successor in states and successor not in previous:
                previous[successor] = name
                queue.append(successor)
    return None


def _catches(state: Mapping[str, Any]) -> list[tuple[list[str], str]]:
    """(errors, next state) of a state's Catch rules, in order."""
    rules = []
    for rule in state.get("Catch", []) or []:
        if isinstance(rule, Mapping) and isinstance(rule.get("Next"), str):
            rules.append(([str(e) for e in rule.get("ErrorEquals", [])], rule["Next"]))
    return rules


def _processor(state: Mapping[str, Any]) -> Mapping[str, Any]:
    return state.get("ItemProcessor") or state.get("Iterator") or {}


def map_execution_type(state: Mapping[str, Any]) -> ExecutionType:
    """The child workflow type of a Map state (ProcessorConfig.ExecutionType; STANDARD when not given)."""
    value = str((_processor(state).get("ProcessorConfig") or {}).get("ExecutionType") or ExecutionType.STANDARD)
    try:
        return ExecutionType(value.upper())
    except ValueError:
        raise CostError(f"unknown ExecutionType {value!r} in a Map state's ProcessorConfig") from None


def batch_maps(definition: Mapping[str, Any]) -> dict[str, ExecutionType]:
    """The Map states that run batches (the distributed ones, else every Map), with their child workflow type."""
    states: Mapping[str, Any] = definition.get("States") or {}
    maps = [name for name, s in states.items() if s.get("Type") == "Map"]
    distributed = [
        name for name in maps if (_processor(states[name]).get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED"
    ]
    return {name: map_execution_type(states[name]) for name in distributed or maps}


@dataclass(frozen=True)
class WorkflowPaths:
    """The state visits of a job's normal run through one batch Map state, derived from the definition.

    A job of ``n`` batches in ``r`` rounds enters ``len(prefix) + (r - 1) * len(round_loop) + len(final)``
    states of the parent execution and ``len(batch)`` states of each batch's child workflow
    (``len(failed_batch)`` when its worker failed without retries, ``len(throttled_batch)`` when it was
    deferred after one throttled attempt; each further attempt adds ``len(retry_loop)``)."""

    map_state: str
    execution_type: ExecutionType
    prefix: tuple[str, ...]  # parent: StartAt up to (not including) the Map state
    round_loop: tuple[str, ...]  # parent: Map state .. back to it (a round followed by another)
    final: tuple[str, ...]  # parent: Map state .. combiner .. a successful end
    batch: tuple[str, ...]  # child: StartAt .. worker .. a successful end
    failed_batch: tuple[str, ...]  # child: StartAt .. worker, then its Catch-all .. an end (Fail included)
    throttled_batch: tuple[str, ...]  # child: StartAt .. worker, its first other Catch .. an end without it
    retry_loop: tuple[str, ...]  # child: worker, its first other Catch .. back to (not including) the worker
    shortest_batch: tuple[str, ...]  # child: the shortest way to an end (e.g. past the deadline)
    functions: Mapping[str, str]  # Task state name -> function key (parent and child)
    row_writes: frozenset[str]  # child Task states that write the batch's row (DynamoDB integration)

    def parent_transitions(self, rounds: int) -> int:
        return len(self.prefix) + max(rounds - 1, 0) * len(self.round_loop) + len(self.final)

    def batch_transitions(self, num_batches: int, failed: int = 0) -> int:
        return (num_batches - failed) * len(self.batch) + failed * len(self.failed_batch)

    def transitions(self, num_batches: int, rounds: int, failed: int = 0) -> int:
        """Every state transition of a job whose child workflows are STANDARD."""
        return self.parent_transitions(rounds) + self.batch_transitions(num_batches, failed)

    @property
    def row_writes_per_batch(self) -> int:
        return sum(1 for name in self.batch if name in self.row_writes)

    def invocations(self, num_batches: int, rounds: int) -> Counter[str]:
        """Lambda invocations along the paths (without dispatch, which runs before the execution)."""
        counts: Counter[str] = Counter()
        for path, times in (
            (self.prefix, 1),
            (self.round_loop, max(rounds - 1, 0)),
            (self.final, 1),
            (self.batch, num_batches),
        ):
            for name in path:
                if name in self.functions:
                    counts[self.functions[name]] += times
        return counts


def workflow_paths(definition: Mapping[str, Any], execution_type: ExecutionType | str | None = None) -> WorkflowPaths:
    """Walk the definition: the parent's round loop and final path through the batch Map state of
    ``execution_type`` (default: the first batch Map state), and a batch's child workflow paths.

    Handles several batch Map states (one per child workflow type) sharing one item processor: each
    job goes through one of them, every round."""
    states: Mapping[str, Any] = definition.get("States") or {}
    if not states or definition.get("StartAt") not in states:
        raise CostError("the state machine definition has no States or no valid StartAt")
    maps = batch_maps(definition)
    if not maps:
        raise CostError("the state machine definition has no Map state: is it burst-compute's job lifecycle?")
    if execution_type is None:
        map_state = next(iter(maps))
    else:
        wanted = ExecutionType(str(execution_type).upper())
        found = [name for name, kind in maps.items() if kind is wanted]
        if not found:
            raise CostError(f"the state machine definition has no Map state with {wanted.value} child workflows")
        map_state = found[0]
    processor = _processor(states[map_state])
    children: Mapping[str, Any] = processor.get("States") or {}
    child_start = processor.get("StartAt")
    if not isinstance(child_start, str) or child_start not in children:
        raise CostError(f"the Map state {map_state} has no item processor with a valid StartAt")

    functions = {name: key for name, s in {**states, **children}.items() if (key := _task_function(s)) is not None}
    workers = [name for name, s in children.items() if _task_function(s) == WORKER]
    if not workers:
        raise CostError(f"no Task state of {map_state}'s item processor invokes $.workerFunctionName")
    worker = workers[0]

    to_worker = _shortest(children, child_start, _named(worker))
    after_worker = _shortest(children, worker, lambda n: _ends_well(children[n]))
    if to_worker is None or after_worker is None:
        raise CostError(f"no path from {child_start} through {worker} to a successful end in {map_state}")
    batch = to_worker + after_worker[1:]
    catches = [(errors, target) for errors, target in _catches(children[worker]) if target in children]
    failed_batch = list(to_worker)
    catch_all = next((target for errors, target in catches if "States.ALL" in errors), None)
    if catch_all is not None:
        failed_batch += _shortest(children, catch_all, lambda n: _ends(children[n])) or [catch_all]
    throttled_batch: list[str] = []
    retry_loop: list[str] = []
    retried = next((target for errors, target in catches if "States.ALL" not in errors), None)
    if retried is not None:
        without_worker = {name: s for name, s in children.items() if name != worker}
        given_up = _shortest(without_worker, retried, lambda n: _ends(children[n]))
        throttled_batch = to_worker + given_up if given_up else []
        back = _shortest(children, retried, _named(worker))
        retry_loop = [worker, *back[:-1]] if back else []
    shortest = _shortest(children, child_start, lambda n: _ends_well(children[n])) or batch

    prefix = _shortest(states, str(definition["StartAt"]), _named(map_state))
    if prefix is None:
        raise CostError(f"the Map state {map_state} cannot be reached from {definition['StartAt']}")
    loop: list[str] = []
    for successor in _successors(states[map_state]):
        back = _shortest(states, successor, _named(map_state))
        if back is not None and (not loop or len(back) + 1 < len(loop)):
            loop = [map_state, *back[:-1]]
    final: list[str] | None = None
    for combiner in [name for name, s in states.items() if _task_function(s) == COMBINER]:
        there = _shortest(states, map_state, _named(combiner))
        end = _shortest(states, combiner, lambda n: _ends_well(states[n]))
        if there is not None and end is not None and (final is None or len(there) + len(end) - 1 < len(final)):
            final = there + end[1:]
    if final is None:
        final = _shortest(states, map_state, lambda n: _ends_well(states[n]))
        if final is None:
            raise CostError(f"no path from {map_state} to a successful end of the state machine")
        LOG.warning("no Task invokes $.combinerFunctionName: the final path ends without a combiner")
    return WorkflowPaths(
        map_state=map_state,
        execution_type=maps[map_state],
        prefix=tuple(prefix[:-1]),
        round_loop=tuple(loop),
        final=tuple(final),
        batch=tuple(batch),
        failed_batch=tuple(failed_batch),
        throttled_batch=tuple(throttled_batch),
        retry_loop=tuple(retry_loop),
        shortest_batch=tuple(shortest),
        functions=functions,
        row_writes=frozenset(name for name, s in children.items() if _writes_row(s)),
    )
