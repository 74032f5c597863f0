"""What a burst job costs: an estimate before it runs and a report after it ran.

    from burst_client.cost import actual, estimate

    print(estimate(items=10_000, batch_size=100, worker_ms=2_000, worker_mb=1_024).table())
    print(actual(job).table())          # measured from the job's rows and execution history

An estimate prices the job both ways a round's batches can run, as EXPRESS or as STANDARD child
workflows of the distributed Map, and reports the one dispatch would use
(:func:`burst_core.orchestration.choose_execution_type`, from the worker's timeout). Line items, at
the list prices of ``prices.json`` (one region, re-check them before relying on them):

* Lambda requests and GB-seconds (arm64): the worker once per batch, ``dispatch`` once,
  ``dispatchNextBatches`` once per round, ``monitor`` once (Summarize) and the combiner once, as the
  state machine definition invokes them.
* Step Functions, by walking the definition (the deployed one, or ``step-functions.yml``, which has
  one state machine per child workflow type: each type is priced with its own, see
  :func:`definition_for`): the parent execution's state transitions (STANDARD: once into the first
  round's Map state, a loop per further round, once from the last Map state through the combiner to
  the end). Per batch, a
  STANDARD child is billed by its transitions (from the item processor's ``StartAt`` through the
  worker's Task to a successful end: 3 states); an EXPRESS child by one request and its duration in
  GB-seconds (the worker's duration plus :data:`DEFAULT_EXPRESS_OVERHEAD_MS`, rounded up to 100 ms,
  times 64 MB memory chunks: 50 MB + the definition + the batch's data, at least one chunk).
* DynamoDB on-demand request units: the row write(s) of each batch the definition makes (its
  DynamoDB-integration Tasks: 1 WRU per KB of the row, which holds the worker's output as JSON), and
  strongly consistent Query reads (1 RRU per 4 KB of whole items: projections and filters do not
  reduce it): the summary and the combiner each read every row once, ``dispatchNextBatches`` reads
  its round's rows (looking for deferred batches).
* S3 requests: each round's batch file (PUT, the Map's ItemReader GET, DELETE), the Map's
  ResultWriter (manifest and results file: 2 PUTs a round), the summary (one PUT), and results a
  worker stores in S3 itself because they do not fit in its state (PUT, and the combiner's GET).

Not included: data transfer, storage, CloudWatch Logs and X-Ray, free tiers, the client's own reads,
and whether AWS bills a distributed Map's child workflows exactly like other workflows (it documents
Express and Standard billing, not how it applies to Map Runs: ``prices.json``, rules).
"""

from __future__ import annotations

import copy
import json
import logging
import math
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError as BotoClientError

from burst_client.aws import translated_errors
from burst_client.errors import BurstClientError
from burst_client.timeline import StateRun, execution_history, job_rows, parse_time, state_runs
from burst_core import config
from burst_core.exceptions import InvalidWorkerOutput
from burst_core.orchestration import (
    EXPRESS_MAX_WORKER_TIMEOUT_SECS,
    ExecutionType,
    choose_execution_type,
    retry_policy,
)
from burst_core.partition import plan_partition
from burst_core.persistence import BatchRecord, BatchStatus, item_size
from burst_core.results import results_location
from burst_core.worker import fits_inline

if TYPE_CHECKING:
    from burst_client.sdk import Job

LOG = logging.getLogger(__name__)

PRICES_PATH = Path(__file__).with_name("prices.json")
PROJECT_ROOT = Path(__file__).resolve().parent.parent
STEP_FUNCTIONS_YML = PROJECT_ROOT / "step-functions.yml"

# serverless.yml: functions.<name>.memorySize (tests/unit/test_cost.py keeps them in step)
FRAMEWORK_MEMORY_MB: Mapping[str, int] = {
    "dispatch": 1024,
    "dispatchNextBatches": 1024,
    "monitor": 1024,
}
# Assumed average durations of the framework's functions (ms) where nothing measured them. The
# monitor's Summarize reads every row of the job.
DEFAULT_FRAMEWORK_MS: Mapping[str, float] = {
    "dispatch": 500.0,
    "dispatchNextBatches": 300.0,
    "monitor": 1000.0,
}
DEFAULT_COMBINER_MS = 5000.0
DEFAULT_COMBINER_MB = 1024
DEFAULT_RESULT_BYTES = 1000
# Without a worker timeout, the estimate assumes one of this many times the worker's duration, in
# whole seconds (3 x ceil(worker_ms / 1000)): what dispatch reads from the deployed worker instead.
WORKER_TIMEOUT_FACTOR = 3
# An EXPRESS child runs a Choice, the worker's Task and the row write: its billed duration is the
# worker's plus this (the Lambda invoke's round trip, the DynamoDB write, the transitions). An
# assumption, not a measurement.
DEFAULT_EXPRESS_OVERHEAD_MS = 100.0
# serverless.yml's defaults of MAX_PARALLELISM and MAX_BATCHED_JOBS_ITERATIONS
DEFAULT_MAX_PARALLELISM = config.DEFAULT_MAX_PARALLELISM
DEFAULT_MAX_ROUNDS = config.DEFAULT_MAX_BATCHED_JOBS_ITERATIONS
# the distributed Map's ResultWriter: manifest.json and one results file per round
RESULT_WRITER_PUTS_PER_ROUND = 2
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
MIB = 1024 * 1024

WORKER, COMBINER = "worker", "combiner"
FUNCTION_ORDER = (WORKER, "dispatch", "dispatchNextBatches", "monitor", COMBINER)
_DYNAMIC_FUNCTIONS = {"workerFunctionName": WORKER, "combinerFunctionName": COMBINER}
# Step Functions' DynamoDB integrations that write a batch's row
_ROW_WRITES = ("dynamodb:putItem", "dynamodb:updateItem")


class CostError(BurstClientError):
    """The cost cannot be computed (the message says why)."""


# -- prices ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Price:
    key: str
    listed: float  # as listed: ``listed`` per ``per`` units
    per: int
    unit: str
    source: str

    @property
    def unit_price(self) -> float:
        return self.listed / self.per


@dataclass(frozen=True)
class ExpressBilling:
    """How an EXPRESS execution's duration is billed (``prices.json``, rules.stepfunctions.express)."""

    rounding_ms: int  # the duration is rounded up to this
    chunk_mb: int  # memory is billed in chunks of this
    base_mb: int  # memory used besides the definition and the execution's data

    def billed_ms(self, duration_ms: float) -> int:
        return max(1, math.ceil(max(duration_ms, 0.0) / self.rounding_ms)) * self.rounding_ms

    def chunks(self, definition_bytes: int, data_bytes: int) -> int:
        """64 MB chunks of 50 MB + the definition + the execution's data (at least one)."""
        used = self.base_mb * MIB + definition_bytes + data_bytes
        return max(1, math.ceil(used / (self.chunk_mb * MIB)))

    def gb_seconds(self, duration_ms: float, chunks: int) -> float:
        return self.billed_ms(duration_ms) / 1000 * chunks * self.chunk_mb / 1024


@dataclass(frozen=True)
class Prices:
    region: str
    currency: str
    as_of: str
    recheck: str
    prices: Mapping[str, Price]
    rules: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Price:
        try:
            return self.prices[key]
        except KeyError:
            raise CostError(f"prices file has no price {key!r}") from None

    def express_billing(self) -> ExpressBilling:
        rule = self.rules.get("stepfunctions.express") or {}
        try:
            return ExpressBilling(
                int(rule["durationRoundingMs"]), int(rule["memoryChunkMb"]), int(rule["baseMemoryMb"])
            )
        except (KeyError, TypeError, ValueError):
            raise CostError("prices file has no valid rules.stepfunctions.express (Express billing rules)") from None


def load_prices(path: str | Path = PRICES_PATH) -> Prices:
    """The list prices of ``prices.json`` (or another file of the same shape)."""
    source = Path(path)
    try:
        data = json.loads(source.read_text())
        prices = {
            key: Price(key, float(entry["price"]), int(entry["per"]), str(entry["unit"]), str(entry["source"]))
            for key, entry in data["prices"].items()
        }
        rules = {str(key): dict(value) for key, value in (data.get("rules") or {}).items()}
        return Prices(
            str(data["region"]), str(data["currency"]), str(data["pricesAsOf"]), str(data["recheck"]), prices, rules
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CostError(f"cannot read prices from {source}: {exc}") from exc


# -- the state machine definition ------------------------------------------------------------------------
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


def deployed_definition(sfn: Any, state_machine_arn: str) -> dict[str, Any]:
    """The definition of a deployed state machine (states:DescribeStateMachine)."""
    with translated_errors():
        described = sfn.describe_state_machine(stateMachineArn=state_machine_arn)
    return dict(json.loads(described["definition"]))


def definition_bytes(definition: Mapping[str, Any]) -> int:
    """The definition's size as deployed (compact JSON; YAML anchors written out in full)."""
    return len(json.dumps(definition, separators=(",", ":")).encode())


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


_TEMPLATE_JOB_ID = "5f0c6d1e-1d2b-4c1e-9a57-2b8f0e6c1a44"
_TEMPLATE_BUCKET = "janelia-burst-compute-dev-mapjobsinputs"
_TEMPLATE_NRESULTS = 123


def worker_output(result_bytes: int, *, in_s3: bool = False) -> str:
    """A typical worker output (compact JSON): ``result_bytes`` of results, or where the worker stored them."""
    if in_s3:
        uri = f"s3://{_TEMPLATE_BUCKET}/results/{_TEMPLATE_JOB_ID}/12345.json"
        return json.dumps({"resultsS3Uri": uri, "nresults": _TEMPLATE_NRESULTS}, separators=(",", ":"))
    results = "x" * max(result_bytes - 2, 0)  # a JSON string of result_bytes bytes, quotes included
    return json.dumps({"results": results, "nresults": _TEMPLATE_NRESULTS}, separators=(",", ":"))


def template_row(output: str) -> dict[str, Any]:
    """A typical succeeded batch row as RecordResult writes it, ``output`` holding the worker's output."""
    return {
        "jobId": {"S": _TEMPLATE_JOB_ID},
        "batchId": {"N": "12345"},
        "status": {"S": BatchStatus.SUCCEEDED.value},
        "output": {"S": output},
        "startedAt": {"S": "2026-11-24T12:00:03.120Z"},
        "endedAt": {"S": "2026-11-24T12:00:05.170Z"},
        "attempt": {"N": "0"},
        "requestId": {"S": "0f6f4b2e-3c1d-4b9a-8e7f-5a6b7c8d9e0f"},
        "ttl": {"N": "1796168319"},
    }


def template_child_input(worker_timeout_secs: int, execution_type: ExecutionType) -> dict[str, Any]:
    """A typical batch's state as the Map's ItemSelector makes it (the child workflow's input)."""
    return {
        "jobId": _TEMPLATE_JOB_ID,
        "batchId": 12345,
        "startIndex": 493800,
        "endIndex": 493840,
        "numBatches": 20000,
        "workerFunctionName": "janelia-mysearch-dev-worker",
        "jobParameters": {},
        "tasksTableName": "janelia-burst-compute-dev-tasks",
        "resultsBucket": _TEMPLATE_BUCKET,
        "deadline": "2026-11-24T13:00:00.000Z",
        "rowTtl": "1796168319",
        "retry": retry_policy(execution_type, worker_timeout_secs, config.DEFAULT_JOBS_TIMEOUT_SECS).as_state(),
    }


def worker_event(child_input: Mapping[str, Any]) -> dict[str, Any]:
    """The worker's event (ExecuteBatch's Payload) for a child workflow's input."""
    event = {key: child_input[key] for key in ("jobId", "batchId", "startIndex", "endIndex", "numBatches")}
    event.update(
        jobParameters=child_input["jobParameters"],
        tasksTableName=child_input["tasksTableName"],
        resultsBucket=child_input["resultsBucket"],
        deadline=child_input["deadline"],
        attempt=0,
    )
    return event


ROW_OVERHEAD_BYTES = item_size(template_row(worker_output(0)))


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(total_bytes: int) -> int:
    """Strongly consistent Query: 1 RRU per 4 KB of items read (summed, then rounded up; at least 1)."""
    return max(1, math.ceil(total_bytes / READ_UNIT_BYTES))


# -- the report --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LineItem:
    service: str
    item: str
    quantity: float
    unit: str
    unit_price: float
    note: str = ""

    @property
    def cost(self) -> float:
        return self.quantity * self.unit_price

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "item": self.item,
            "quantity": self.quantity,
            "unit": self.unit,
            "unitPrice": self.unit_price,
            "cost": self.cost,
            "note": self.note,
        }


@dataclass
class CostReport:
    kind: str  # "estimate" or "actual"
    items: list[LineItem]
    prices: Prices
    facts: dict[str, Any] = field(default_factory=dict)
    assumptions: list[str] = field(default_factory=list)
    job_id: str | None = None
    # estimates: the job priced with each child workflow type (this report is the one dispatch would use)
    alternatives: dict[str, CostReport] = field(default_factory=dict)
    execution_type: str | None = None  # the child workflow type this report prices

    @property
    def total(self) -> float:
        return sum(item.cost for item in self.items)

    def by_service(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for item in self.items:
            totals[item.service] = totals.get(item.service, 0.0) + item.cost
        return totals

    def find(self, service: str, item: str) -> LineItem:
        for line in self.items:
            if line.service == service and line.item == item:
                return line
        raise KeyError(f"no line item {service} / {item}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "jobId": self.job_id,
            "region": self.prices.region,
            "currency": self.prices.currency,
            "pricesAsOf": self.prices.as_of,
            "items": [item.as_dict() for item in self.items],
            "byService": self.by_service(),
            "total": self.total,
            "facts": self.facts,
            "assumptions": self.assumptions,
            "recheck": self.prices.recheck,
            "batchExecutionType": self.execution_type,
            "executionTypes": {
                kind: {"total": report.total, "byService": report.by_service(), "used": report is self}
                for kind, report in self.alternatives.items()
            },
        }

    def table(self) -> str:
        return format_table(self)


def _money(value: float) -> str:
    if 0 < abs(value) < 0.0000005:
        return "<0.000001"
    return f"{value:,.6f}"


def _price(value: float) -> str:
    return f"{value:.12f}".rstrip("0").rstrip(".") or "0"


def _quantity(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3f}"


def format_table(report: CostReport) -> str:
    """The report as a text table, with the facts it is based on, its assumptions and the price caveat."""
    currency = report.prices.currency
    heading = "Estimated cost" if report.kind == "estimate" else f"Cost of job {report.job_id}"
    lines = [f"{heading} ({report.prices.region}, {currency}, list prices as of {report.prices.as_of})"]
    if report.facts:
        lines.append("  " + ", ".join(f"{key}: {value}" for key, value in report.facts.items()))
    header = ("service", "item", "quantity", "unit", "unit price", "cost")
    rows = [
        (i.service, i.item, _quantity(i.quantity), i.unit, _price(i.unit_price), _money(i.cost)) for i in report.items
    ]
    widths = [max(len(str(row[c])) for row in [header, *rows]) for c in range(len(header))]
    right = {2, 4, 5}

    def line(row: Sequence[str]) -> str:
        cells = [
            str(v).rjust(w) if c in right else str(v).ljust(w) for c, (v, w) in enumerate(zip(row, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    lines += ["", line(header), line(["-" * w for w in widths])]
    lines += [line(row) for row in rows]
    lines.append(line(["-" * w for w in widths]))
    for service, amount in report.by_service().items():
        lines.append(line([service, "subtotal", "", "", "", _money(amount)]))
    lines.append(line(["TOTAL", "", "", "", "", f"{_money(report.total)} {currency}"]))
    if report.alternatives:
        lines += ["", "By child workflow type (batchExecutionType):"]
        width = max(len(kind) for kind in report.alternatives)
        for kind, other in report.alternatives.items():
            services = ", ".join(f"{service} {_money(amount)}" for service, amount in other.by_service().items())
            used = "  <- used" if other is report else ""
            lines.append(f"  {kind.ljust(width)}  {_money(other.total)} {currency}  ({services}){used}")
    if report.assumptions:
        lines += ["", "Assumptions:"] + [f"  - {text}" for text in report.assumptions]
    lines += ["", f"Prices: {report.prices.recheck}"]
    return "\n".join(lines)


class _Builder:
    """Collects line items at the prices of one Prices."""

    def __init__(self, prices: Prices) -> None:
        self.prices = prices
        self.items: list[LineItem] = []

    def add(self, service: str, item: str, quantity: float, price_key: str, note: str = "") -> None:
        if quantity <= 0:
            return
        price = self.prices[price_key]
        self.items.append(LineItem(service, item, quantity, price.unit, price.unit_price, note))

    def lambda_function(self, key: str, requests: float, gb_seconds: float, note: str = "") -> None:
        self.add("Lambda", f"{key} requests", requests, "lambda.request", note)
        self.add("Lambda", f"{key} compute", gb_seconds, "lambda.gbSecondArm64", note)


def _gb_seconds(milliseconds: float, memory_mb: float) -> float:
    return milliseconds / 1000 * memory_mb / 1024


# -- estimate ----------------------------------------------------------------------------------------------
def default_worker_timeout_secs(worker_ms: float) -> int:
    """The worker timeout an estimate assumes when none is given: 3 x ceil(worker_ms / 1000 ms), at least 1 s."""
    return max(1, WORKER_TIMEOUT_FACTOR * math.ceil(worker_ms / 1000))


@dataclass(frozen=True)
class _Job:
    """What an estimate knows of the job, whatever the child workflow type."""

    items: int
    batch_size: int
    batches: int
    rounds: int
    round_sizes: tuple[int, ...]
    max_parallelism: int
    worker_ms: float
    worker_timeout_secs: int
    result_bytes: int
    in_s3: bool
    row_bytes: int
    output_bytes: int
    durations: Mapping[str, float]
    memory: Mapping[str, int]
    express_overhead_ms: float


def _estimate_type(
    job: _Job, paths: WorkflowPaths, definition: Mapping[str, Any], prices: Prices, assumed: Sequence[str]
) -> CostReport:
    """The estimate of ``job`` with the child workflows of ``paths``' Map state."""
    kind = paths.execution_type
    out = _Builder(prices)
    invocations = paths.invocations(job.batches, job.rounds)
    invocations["dispatch"] += 1
    for key in [*FUNCTION_ORDER, *sorted(set(invocations) - set(FUNCTION_ORDER))]:
        count = invocations.get(key, 0)
        if key not in job.durations or key not in job.memory:
            raise CostError(f"no duration or memory size for function {key!r} (pass framework_ms/memory_mb)")
        out.lambda_function(key, count, count * _gb_seconds(job.durations[key], job.memory[key]))

    extra = job.rounds - 1
    out.add(
        "Step Functions",
        "state transitions (job)",
        paths.parent_transitions(job.rounds),
        "stepfunctions.standardTransition",
        f"{len(paths.prefix) + len(paths.final)} once + {extra} x {len(paths.round_loop)} per further round",
    )
    express_facts: dict[str, Any] = {}
    if kind is ExecutionType.STANDARD:
        out.add(
            "Step Functions",
            "state transitions (batches)",
            paths.batch_transitions(job.batches),
            "stepfunctions.standardTransition",
            f"{len(paths.batch)} per batch: " + " -> ".join(paths.batch),
        )
    else:
        billing = prices.express_billing()
        child_input = template_child_input(job.worker_timeout_secs, kind)
        data = len(json.dumps(child_input, separators=(",", ":")).encode()) + job.output_bytes
        chunks = billing.chunks(definition_bytes(definition), data)
        duration_ms = job.worker_ms + job.express_overhead_ms
        billed = billing.billed_ms(duration_ms)
        out.add("Step Functions", "express requests (batches)", job.batches, "stepfunctions.expressRequest")
        out.add(
            "Step Functions",
            "express duration (batches)",
            job.batches * billing.gb_seconds(duration_ms, chunks),
            "stepfunctions.expressGbSecond",
            f"{billed} ms x {chunks} x {billing.chunk_mb} MB per batch",
        )
        express_facts = {"expressBilledMs": billed, "expressMemoryChunks": chunks}

    writes = paths.row_writes_per_batch
    written_by = ", ".join(name for name in paths.batch if name in paths.row_writes) or "none"
    out.add(
        "DynamoDB",
        "batch rows (writes)",
        job.batches * writes * write_units(job.row_bytes),
        "dynamodb.onDemandWrite",
        f"{written_by}; {job.row_bytes}-byte rows",
    )
    every_row = read_units(job.batches * job.row_bytes)
    out.add("DynamoDB", "row reads (summary)", every_row, "dynamodb.onDemandRead", "Summarize reads every row")
    out.add("DynamoDB", "row reads (combiner)", every_row, "dynamodb.onDemandRead", "the combiner reads every row")
    out.add(
        "DynamoDB",
        "row reads (next round)",
        sum(read_units(size * job.row_bytes) for size in job.round_sizes),
        "dynamodb.onDemandRead",
        "dispatchNextBatches reads its round's rows (deferred batches)",
    )

    out.add("S3", "batch files (PUT)", job.rounds, "s3.put")
    out.add("S3", "map results (PUT)", RESULT_WRITER_PUTS_PER_ROUND * job.rounds, "s3.put", "ResultWriter")
    out.add("S3", "summary (PUT)", 1, "s3.put", "summary.json")
    out.add("S3", "batch files (GET)", job.rounds, "s3.get", "ItemReader")
    out.add("S3", "batch files (DELETE)", job.rounds, "s3.delete", "dispatchNextBatches")
    if job.in_s3:
        out.add("S3", "results in S3 (PUT)", job.batches, "s3.put", "stored by the worker")
        out.add("S3", "results in S3 (GET)", job.batches, "s3.get", "read once by the combiner")

    assumptions = [
        "function durations (ms): " + ", ".join(f"{k} {v:g}" for k, v in job.durations.items()),
        "memory (MB): " + ", ".join(f"{k} {v}" for k, v in job.memory.items()),
        f"every batch succeeds at the first attempt; a row is {job.row_bytes} bytes ({job.result_bytes} bytes of "
        "results" + (", stored in S3 by the worker: they do not fit in its state)" if job.in_s3 else ")"),
        "the combiner reads every row once; worker retries, throttling and the client's polling are not included",
    ]
    if assumed:
        assumptions.insert(0, "durations of " + ", ".join(assumed) + " are typical values, not measured")
    if kind is ExecutionType.EXPRESS:
        assumptions.append(
            f"an EXPRESS child lasts the worker's duration + {job.express_overhead_ms:g} ms (Step Functions' "
            "invoke, row write and transitions: an assumption), billed rounded up to "
            f"{prices.express_billing().rounding_ms} ms; each child is one Express request"
        )
    facts: dict[str, Any] = {
        "items": job.items,
        "batchSize": job.batch_size,
        "numBatches": job.batches,
        "rounds": job.rounds,
        "maxParallelism": job.max_parallelism,
        "batchExecutionType": kind.value,
        "workerTimeoutSecs": job.worker_timeout_secs,
        "transitionsPerBatch": len(paths.batch),
        **express_facts,
    }
    return CostReport("estimate", out.items, prices, facts, assumptions, execution_type=kind.value)


def estimate(
    items: int,
    batch_size: int,
    worker_ms: float,
    worker_mb: int,
    *,
    worker_timeout_secs: int | None = None,
    execution_type: ExecutionType | str | None = None,
    max_parallelism: int = DEFAULT_MAX_PARALLELISM,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    combiner_ms: float = DEFAULT_COMBINER_MS,
    combiner_mb: int = DEFAULT_COMBINER_MB,
    result_bytes: int = DEFAULT_RESULT_BYTES,
    express_overhead_ms: float = DEFAULT_EXPRESS_OVERHEAD_MS,
    framework_ms: Mapping[str, float] | None = None,
    memory_mb: Mapping[str, int] | None = None,
    definition: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    prices: Prices | None = None,
) -> CostReport:
    """The cost of a job of ``items`` indices before it runs, priced with EXPRESS and with STANDARD child
    workflows; the report returned is the one dispatch would use, the other is in ``alternatives``.

    ``worker_timeout_secs`` is the worker's Lambda timeout, from which dispatch chooses the child
    workflow type (default: :func:`default_worker_timeout_secs`); ``execution_type`` forces one, as a
    job's ``batchExecutionType`` does (EXPRESS for a worker that cannot fit is an error).
    ``max_parallelism`` and ``max_rounds`` are the job's maxParallelism and the deployment's
    MAX_BATCHED_JOBS_ITERATIONS: the batch size is enlarged as dispatch would. ``result_bytes`` is the
    size of one batch's serialised results (results that do not fit in the batch's state are stored in
    S3 by the worker). ``express_overhead_ms`` is what an EXPRESS child lasts beyond its worker.
    ``framework_ms`` and ``memory_mb`` override the assumed durations and the memory sizes of the
    framework's functions. ``definition`` is the state machine, or the state machines, of the job
    lifecycle (default: those of step-functions.yml); each child workflow type is priced with the one
    whose batch Map state runs it (:func:`definition_for`)."""
    for name, value in (("items", items), ("batch_size", batch_size), ("worker_mb", worker_mb)):
        if value <= 0:
            raise CostError(f"{name} must be positive, got {value}")
    if worker_ms < 0 or combiner_ms < 0 or result_bytes < 0 or express_overhead_ms < 0:
        raise CostError("durations and result_bytes must not be negative")
    if worker_timeout_secs is not None and worker_timeout_secs <= 0:
        raise CostError(f"worker_timeout_secs must be positive, got {worker_timeout_secs}")
    timeout = worker_timeout_secs if worker_timeout_secs is not None else default_worker_timeout_secs(worker_ms)
    requested = None if execution_type is None else ExecutionType(str(execution_type).upper())
    try:
        chosen = choose_execution_type(requested, timeout)
    except ValueError as exc:
        raise CostError(str(exc)) from None
    prices = prices or load_prices()
    given = list(load_definitions().values()) if definition is None else definition
    definitions = {kind: definition_for(kind, given) for kind in ExecutionType}
    try:
        partition = plan_partition(0, items, batch_size, max_parallelism, max_rounds)
    except ValueError as exc:
        raise CostError(str(exc)) from exc
    batches, rounds = partition.num_batches, partition.num_rounds
    child_input = template_child_input(timeout, chosen)
    in_s3 = not fits_inline(worker_event(child_input), json.loads(worker_output(result_bytes)))
    output = worker_output(result_bytes, in_s3=in_s3)
    job = _Job(
        items=items,
        batch_size=partition.batch_size,
        batches=batches,
        rounds=rounds,
        round_sizes=tuple(len(range(*partition.round_bounds(r))) for r in range(rounds)),
        max_parallelism=partition.max_parallelism,
        worker_ms=worker_ms,
        worker_timeout_secs=timeout,
        result_bytes=result_bytes,
        in_s3=in_s3,
        row_bytes=item_size(template_row(output)),
        output_bytes=len(output.encode()),
        durations={**DEFAULT_FRAMEWORK_MS, **(framework_ms or {}), WORKER: worker_ms, COMBINER: combiner_ms},
        memory={**FRAMEWORK_MEMORY_MB, **(memory_mb or {}), WORKER: worker_mb, COMBINER: combiner_mb},
        express_overhead_ms=express_overhead_ms,
    )
    assumed = [k for k in DEFAULT_FRAMEWORK_MS if k not in (framework_ms or {})]
    reports = {
        kind.value: _estimate_type(job, workflow_paths(definitions[kind], kind), definitions[kind], prices, assumed)
        for kind in ExecutionType
    }
    report = reports[chosen.value]
    report.alternatives = reports
    if worker_timeout_secs is None:
        origin = f"{timeout} s, assumed: {WORKER_TIMEOUT_FACTOR} x the worker's duration in whole seconds"
    else:
        origin = f"{timeout} s"
    if requested is not None:
        why = f"batchExecutionType {requested.value} was asked for (worker timeout {origin})"
    else:
        fits = "fits" if chosen is ExecutionType.EXPRESS else "does not fit"
        why = f"the worker's timeout ({origin}) {fits} an EXPRESS child (at most {EXPRESS_MAX_WORKER_TIMEOUT_SECS} s)"
    report.assumptions.insert(0, f"dispatch would run the batches as {chosen.value} child workflows: {why}")
    if timeout > EXPRESS_MAX_WORKER_TIMEOUT_SECS and ExecutionType.EXPRESS.value in reports:
        reports[ExecutionType.EXPRESS.value].assumptions.insert(
            0, f"not possible for this worker: its timeout ({timeout} s) exceeds {EXPRESS_MAX_WORKER_TIMEOUT_SECS} s"
        )
    if partition.batch_size != batch_size:
        for other in reports.values():
            other.assumptions.append(f"dispatch enlarges the batch size from {batch_size} to {partition.batch_size}")
    return report


# -- actual ------------------------------------------------------------------------------------------------
def _memory_of(lambda_client: Any, function: str, fallback: int, notes: list[str], label: str) -> int:
    try:
        with translated_errors():
            return int(lambda_client.get_function_configuration(FunctionName=function)["MemorySize"])
    except (BotoClientError, BotoCoreError, BurstClientError, KeyError, ValueError) as exc:
        notes.append(f"memory of {label} unknown ({exc.__class__.__name__}): {fallback} MB assumed")
        return fallback


def _times(record: BatchRecord) -> tuple[float, float] | None:
    if not record.started_at or not record.ended_at:
        return None
    return parse_time(record.started_at).timestamp(), parse_time(record.ended_at).timestamp()


def _child_executions(sfn: Any, runs: Iterable[StateRun]) -> int | None:
    """Child executions of the job's map runs (DescribeMapRun), or None when not available."""
    total = 0
    for run in runs:
        if run.kind != "Map":
            continue
        if not run.map_run_arn:
            return None
        try:
            described = sfn.describe_map_run(mapRunArn=run.map_run_arn)
            total += int(described["executionCounts"]["total"])
        except (BotoClientError, BotoCoreError, KeyError, ValueError) as exc:
            LOG.info("cannot describe map run %s: %s", run.map_run_arn, exc)
            return None
    return total


def _results_in_s3(record: BatchRecord) -> bool:
    """Whether a succeeded row's results were stored in S3 (by its worker), as results are read."""
    try:
        return results_location(record) is not None
    except (InvalidWorkerOutput, KeyError, TypeError, ValueError):
        return False


@dataclass(frozen=True)
class _Row:
    record: BatchRecord
    size: int
    times: tuple[float, float] | None


def _job_execution_type(runs: Sequence[StateRun], definition: Mapping[str, Any], state: Mapping[str, Any]) -> str:
    """The child workflow type the job ran with: its Map states' in the definition, else its input's."""
    maps = batch_maps(definition)
    for run in runs:
        if run.kind == "Map" and run.name in maps:
            return maps[run.name].value
    return str(state.get("batchExecutionType") or ExecutionType.STANDARD.value).upper()


def actual(
    job: Job,
    *,
    framework_ms: Mapping[str, float] | None = None,
    express_overhead_ms: float = DEFAULT_EXPRESS_OVERHEAD_MS,
    definition: Mapping[str, Any] | None = None,
    prices: Prices | None = None,
) -> CostReport:
    """What a job's execution cost, from its rows, its execution history and its map runs.

    Measured: every framework and combiner invocation of the parent execution with its retries and
    durations (history), the parent's state transitions, rounds, child executions (DescribeMapRun),
    worker durations (each row's startedAt..endedAt), rows and their sizes. Derived: STANDARD children's
    transitions (definition walk, per row by its status and attempts); EXPRESS children's duration
    (each row's startedAt..endedAt + ``express_overhead_ms``). Assumed: the duration of ``dispatch``."""
    prices = prices or load_prices()
    clients = job.client.clients
    sfn, stack = clients("stepfunctions"), job.client.stack
    events = execution_history(sfn, job.execution_arn)
    runs, info = state_runs(events)
    state = info.input or job.input
    every = []
    for record in job_rows(clients("dynamodb"), stack.tasks_table, job.job_id, attributes=None):
        every.append(_Row(record, record.size, _times(record)))
    rows = every
    notes: list[str] = []
    if isinstance(state.get("redrive"), int) and state["redrive"] > 0 and info.started is not None:
        cutoff = info.started.timestamp() - 1.0
        rows = [r for r in every if r.times is None or r.times[0] >= cutoff]
        notes.append(f"redrive {state['redrive']}: the rows of earlier executions are left out (but read)")
    if definition is None:
        arn = job.describe().get("stateMachineArn") or stack.state_machine_arn
        definition = deployed_definition(sfn, arn)
    kind = ExecutionType(_job_execution_type(runs, definition, state))
    definition = definition_for(kind, definition)
    paths = workflow_paths(definition, kind)
    durations = {**DEFAULT_FRAMEWORK_MS, **(framework_ms or {})}

    lambda_client = clients("lambda")
    names = {
        WORKER: str(state.get("workerFunctionName", "")),
        COMBINER: str(state.get("combinerFunctionName", "")),
        "dispatch": stack.dispatch_function,
        **{key: f"{stack.name}-{key}" for key in FRAMEWORK_MEMORY_MB if key != "dispatch"},
    }
    fallback = {**FRAMEWORK_MEMORY_MB, WORKER: 1024, COMBINER: DEFAULT_COMBINER_MB}
    memory = {key: _memory_of(lambda_client, name, fallback[key], notes, key) for key, name in names.items()}

    status_of = Counter(r.record.status for r in rows)
    failed, deferred = status_of[BatchStatus.FAILED], status_of[BatchStatus.DEFERRED]
    ran = [r for r in rows if r.times is not None]
    worker_seconds = sum(max(r.times[1] - r.times[0], 0.0) for r in ran if r.times is not None)
    # a succeeded or failed batch invoked its worker (a failed row without times too: its child failed
    # after the worker, e.g. with States.DataLimitExceeded, and Summarize recorded it); a deferred one was
    # throttled
    invoked = status_of[BatchStatus.SUCCEEDED] + failed
    untimed = sum(1 for r in rows if r.times is None)
    later_attempts = sum(r.record.attempt or 0 for r in rows)
    in_s3 = sum(1 for r in rows if r.record.status is BatchStatus.SUCCEEDED and _results_in_s3(r.record))

    out = _Builder(prices)
    requests: Counter[str] = Counter({WORKER: invoked, "dispatch": 1})
    seconds: dict[str, float] = {WORKER: worker_seconds, "dispatch": durations["dispatch"] / 1000}
    retries = 0
    for run in runs:
        if run.kind != "Task":
            continue
        key = paths.functions.get(run.name) or (function_key(run.function) if run.function else run.name)
        if run.function and run.function == names[COMBINER]:
            key = COMBINER
        requests[key] += len(run.attempts)
        retries += max(len(run.attempts) - 1, 0)
        for attempt in run.attempts:
            if attempt.end is not None:
                seconds[key] = seconds.get(key, 0.0) + max((attempt.end - attempt.start).total_seconds(), 0.0)
    for key in [*FUNCTION_ORDER, *sorted(set(requests) - set(FUNCTION_ORDER))]:
        mb = memory.get(key) or FRAMEWORK_MEMORY_MB.get(key, DEFAULT_COMBINER_MB)
        note = "assumed duration" if key == "dispatch" else "measured"
        out.lambda_function(key, requests.get(key, 0), seconds.get(key, 0.0) * mb / 1024, note)

    children = _child_executions(sfn, runs)
    without_row = max((children or 0) - len(rows), 0)
    out.add(
        "Step Functions", "state transitions (job)", len(runs) + retries, "stepfunctions.standardTransition", "history"
    )
    if kind is ExecutionType.STANDARD:
        loop = len(paths.retry_loop)
        transitions = 0
        for r in rows:
            attempts = r.record.attempt or 0
            if r.record.status is BatchStatus.SUCCEEDED:
                transitions += len(paths.batch) + attempts * loop
            elif r.record.status is BatchStatus.FAILED:
                transitions += len(paths.failed_batch) + attempts * loop
            else:
                transitions += len(paths.throttled_batch) + max(attempts - 1, 0) * loop
        transitions += without_row * len(paths.shortest_batch)
        out.add(
            "Step Functions",
            "state transitions (batches)",
            transitions,
            "stepfunctions.standardTransition",
            f"{len(paths.batch)} per batch, {len(paths.failed_batch)} per failed batch, "
            f"{len(paths.retry_loop)} per further attempt",
        )
        if without_row:
            notes.append(
                f"{without_row} child execution(s) left no row of their own (past the deadline, not recorded, or "
                f"a deferred batch run again): counted as {len(paths.shortest_batch)} transitions each"
            )
    else:
        billing = prices.express_billing()
        size = definition_bytes(definition)
        input_bytes = len(
            json.dumps(template_child_input(EXPRESS_MAX_WORKER_TIMEOUT_SECS, kind), separators=(",", ":")).encode()
        )
        gb_seconds = 0.0
        for r in rows:
            output = (r.record.output or "") if r.record.status is BatchStatus.SUCCEEDED else ""
            chunks = billing.chunks(size, input_bytes + len(str(output).encode()))
            lasted = (r.times[1] - r.times[0]) * 1000 + express_overhead_ms if r.times is not None else 0.0
            gb_seconds += billing.gb_seconds(lasted, chunks)
        gb_seconds += without_row * billing.gb_seconds(0.0, 1)
        out.add(
            "Step Functions",
            "express requests (batches)",
            children if children is not None else len(rows),
            "stepfunctions.expressRequest",
            "DescribeMapRun" if children is not None else "one per row",
        )
        out.add(
            "Step Functions",
            "express duration (batches)",
            gb_seconds,
            "stepfunctions.expressGbSecond",
            f"rows' startedAt..endedAt + {express_overhead_ms:g} ms",
        )
        notes.append(
            "EXPRESS children have no execution history: each one's duration is approximated by its row "
            f"(startedAt..endedAt + {express_overhead_ms:g} ms, rounded up to {billing.rounding_ms} ms)"
            + (
                f"; {untimed + without_row} child execution(s) without times (deferred, not recorded, past the "
                f"deadline, or run again) are counted at {billing.rounding_ms} ms, though they may have lasted up to "
                "the 5-minute limit"
                if untimed + without_row
                else ""
            )
        )
        if children is None:
            notes.append("the map runs could not be described: one Express request per row is assumed")

    out.add(
        "DynamoDB",
        "batch rows (writes)",
        sum(write_units(r.size) for r in rows) * max(paths.row_writes_per_batch, 1),
        "dynamodb.onDemandWrite",
        "each row's last write",
    )
    reads: Counter[str] = Counter()
    for run in runs:
        reader = paths.functions.get(run.name)
        if run.kind != "Task" or reader not in {"monitor", COMBINER, "dispatchNextBatches"}:
            continue
        bounds = (run.input or {}).get("round") if isinstance(run.input, Mapping) else None
        for attempt in run.attempts:
            moment = attempt.start.timestamp()
            read = [r for r in every if r.times is None or r.times[1] <= moment]
            if reader == "dispatchNextBatches":
                if not isinstance(bounds, Mapping):
                    continue
                first, last = int(bounds.get("firstBatchId", 0)), int(bounds.get("lastBatchId", -1))
                read = [r for r in read if first <= r.record.batch_id <= last]
            reads[reader] += read_units(sum(r.size for r in read))
    out.add("DynamoDB", "row reads (summary)", reads["monitor"], "dynamodb.onDemandRead", "Summarize")
    out.add("DynamoDB", "row reads (combiner)", reads[COMBINER], "dynamodb.onDemandRead", "modelled: every row once")
    out.add(
        "DynamoDB", "row reads (next round)", reads["dispatchNextBatches"], "dynamodb.onDemandRead", "the round's rows"
    )

    rounds = sum(1 for run in runs if run.kind == "Map")
    next_rounds = sum(1 for run in runs if paths.functions.get(run.name) == "dispatchNextBatches")
    summaries = sum(1 for run in runs if paths.functions.get(run.name) == "monitor" and run.status == "succeeded")
    combined = any(paths.functions.get(run.name) == COMBINER for run in runs)
    out.add("S3", "batch files (PUT)", rounds, "s3.put")
    out.add("S3", "map results (PUT)", RESULT_WRITER_PUTS_PER_ROUND * rounds, "s3.put", "ResultWriter (modelled)")
    out.add("S3", "summary (PUT)", summaries, "s3.put", "summary.json")
    out.add("S3", "batch files (GET)", rounds, "s3.get", "ItemReader")
    out.add("S3", "batch files (DELETE)", next_rounds, "s3.delete", "dispatchNextBatches")
    out.add("S3", "results in S3 (PUT)", in_s3, "s3.put", "stored by the worker")
    out.add("S3", "results in S3 (GET)", in_s3 if combined else 0, "s3.get", "read once by the combiner")

    facts: dict[str, Any] = {
        "numBatches": state.get("numBatches"),
        "batchExecutionType": kind.value,
        "rows": len(rows),
        "failed": failed,
        "deferred": deferred,
        "rounds": rounds,
        "childExecutions": children,
        "taskRetries": retries,
        "workerLaterAttempts": later_attempts,
        "status": info.status,
    }
    if ran:
        facts["workerMeanSecs"] = round(worker_seconds / len(ran), 3)
    if info.status == "running":
        notes.insert(0, "the job is still running: this is the cost so far")
    notes += [
        "worker requests are the succeeded and failed rows; worker time is each row's startedAt..endedAt "
        "(includes Step Functions' invoke overhead; for a failed batch, its retries and waits; none for a row "
        f"without times: {untimed}); attempts before the one that wrote a row ({later_attempts} in all, from the "
        "rows' attempt) are not counted as worker requests or seconds",
        f"the dispatch duration is assumed: {durations['dispatch']:g} ms",
        "the combiner is assumed to read every row once; ResultWriter PUTs are modelled (2 a round)",
    ]
    return CostReport("actual", out.items, prices, facts, notes, job_id=job.job_id, execution_type=kind.value)
