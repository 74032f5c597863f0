"""What a burst job costs: an estimate before it runs and a report after it ran.

    from burst_client.cost import actual, estimate

    print(estimate(items=10_000, batch_size=100, worker_ms=2_000, worker_mb=1_024).table())
    print(actual(job).table())          # measured from the job's rows and execution history

Line items, at the list prices of ``prices.json`` (one region, re-check them before relying on them):

* Lambda requests and GB-seconds (arm64) of every function involved: the worker and ``persist`` once
  per batch, ``cleanup`` once per round, ``monitor`` once per round (progress between rounds, then the
  summary), ``dispatchNextBatches`` once per extra round, ``dispatch`` and the combiner once.
* Step Functions STANDARD state transitions, counted by walking the state machine definition (the
  deployed one, or ``step-functions.yml``): per batch, the distributed Map's child execution from its
  ``StartAt`` to the worker's Task and on to a successful end (child executions are billed by their
  transitions like any other); per round, the parent's loop from the Map state back to itself; once,
  the parent's path from the Map state through the combiner to its end.
* DynamoDB on-demand request units: one PutItem per batch (1 WRU per KB of the row), and Query reads
  by the monitor, the summary and the combiner (1 RRU per 4 KB read, strongly consistent).
* S3 requests: each round's batch file (PUT, the Map's ItemReader GET, cleanup DELETE), the Map's
  ResultWriter (manifest and results file: 2 PUTs a round), and results spilled to S3 (PUT, GET).

Not included: data transfer, storage, CloudWatch Logs and X-Ray, free tiers, the client's own reads.
"""

from __future__ import annotations

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
from burst_client.errors import ClientError
from burst_client.timeline import (
    FAILED_STATUS,
    StateRun,
    execution_history,
    job_rows,
    parse_time,
    state_runs,
)
from burst_core import config
from burst_core.partition import plan_partition
from burst_core.persistence import MAX_INLINE_RESULTS_BYTES

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
    "persist": 512,
    "cleanup": 128,
}
# Assumed average durations of the framework's functions (ms) where nothing measured them.
DEFAULT_FRAMEWORK_MS: Mapping[str, float] = {
    "dispatch": 500.0,
    "dispatchNextBatches": 300.0,
    "monitor": 300.0,
    "persist": 100.0,
    "cleanup": 100.0,
}
DEFAULT_COMBINER_MS = 5000.0
DEFAULT_COMBINER_MB = 1024
DEFAULT_RESULT_BYTES = 1000
# serverless.yml's defaults of MAX_PARALLELISM and MAX_BATCHED_JOBS_ITERATIONS
DEFAULT_MAX_PARALLELISM = config.DEFAULT_MAX_PARALLELISM
DEFAULT_MAX_ROUNDS = config.DEFAULT_MAX_BATCHED_JOBS_ITERATIONS
# the distributed Map's ResultWriter: manifest.json and one results file per round
RESULT_WRITER_PUTS_PER_ROUND = 2
WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096

WORKER, COMBINER = "worker", "combiner"
FUNCTION_ORDER = (WORKER, "persist", "dispatch", "dispatchNextBatches", "monitor", "cleanup", COMBINER)
_DYNAMIC_FUNCTIONS = {"workerFunctionName": WORKER, "combinerFunctionName": COMBINER}


class CostError(ClientError):
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
class Prices:
    region: str
    currency: str
    as_of: str
    recheck: str
    prices: Mapping[str, Price]

    def __getitem__(self, key: str) -> Price:
        try:
            return self.prices[key]
        except KeyError:
            raise CostError(f"prices file has no price {key!r}") from None


def load_prices(path: str | Path = PRICES_PATH) -> Prices:
    """The list prices of ``prices.json`` (or another file of the same shape)."""
    source = Path(path)
    try:
        data = json.loads(source.read_text())
        prices = {
            key: Price(key, float(entry["price"]), int(entry["per"]), str(entry["unit"]), str(entry["source"]))
            for key, entry in data["prices"].items()
        }
        return Prices(str(data["region"]), str(data["currency"]), str(data["pricesAsOf"]), str(data["recheck"]), prices)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CostError(f"cannot read prices from {source}: {exc}") from exc


# -- the state machine definition ------------------------------------------------------------------------
def load_definition(path: str | Path = STEP_FUNCTIONS_YML) -> dict[str, Any]:
    """The job lifecycle definition (ASL) from a serverless-step-functions file like step-functions.yml."""
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
        machines = document["stateMachines"]
        definition = next(iter(machines.values()))["definition"]
    except (OSError, yaml.YAMLError, KeyError, TypeError, StopIteration) as exc:
        raise CostError(
            f"cannot read a state machine definition from {source}: {exc} (without the project's "
            "step-functions.yml, pass the deployed one: deployed_definition(sfn, state_machine_arn))"
        ) from exc
    return dict(definition)


def deployed_definition(sfn: Any, state_machine_arn: str) -> dict[str, Any]:
    """The definition of a deployed state machine (states:DescribeStateMachine)."""
    with translated_errors():
        described = sfn.describe_state_machine(stateMachineArn=state_machine_arn)
    return dict(json.loads(described["definition"]))


def function_key(function: Any) -> str:
    """Which function a Task invokes: worker, combiner, a framework function's key, or the name itself.

    Understands ``$.workerFunctionName``-style paths, ``{"Fn::GetAtt": ["PersistLambdaFunction", "Arn"]}``
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


@dataclass(frozen=True)
class WorkflowPaths:
    """The state visits of a job's normal run, derived from the definition.

    A job of ``n`` batches in ``r`` rounds enters ``len(prefix) + (r - 1) * len(round_loop) + len(final)``
    states of the parent execution and ``len(batch)`` states of each batch's child execution
    (``len(failed_batch)`` when its worker failed without retries)."""

    map_state: str
    prefix: tuple[str, ...]  # parent: StartAt up to (not including) the Map state
    round_loop: tuple[str, ...]  # parent: Map state .. back to it (a round followed by another)
    final: tuple[str, ...]  # parent: Map state .. combiner .. a successful end
    batch: tuple[str, ...]  # child: StartAt .. worker .. a successful end
    failed_batch: tuple[str, ...]  # child: StartAt .. worker, then its Catch-all .. a successful end
    shortest_batch: tuple[str, ...]  # child: the shortest way to an end (e.g. past the deadline)
    functions: Mapping[str, str]  # Task state name -> function key (parent and child)

    def transitions(self, num_batches: int, rounds: int, failed: int = 0) -> int:
        parent = len(self.prefix) + max(rounds - 1, 0) * len(self.round_loop) + len(self.final)
        return parent + (num_batches - failed) * len(self.batch) + failed * len(self.failed_batch)

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


def _referenced(state: Mapping[str, Any], key: str) -> bool:
    return _task_function(state) == key


def workflow_paths(definition: Mapping[str, Any]) -> WorkflowPaths:
    """Walk the definition: the parent's round loop and final path, a batch's child path."""
    states: Mapping[str, Any] = definition.get("States") or {}
    if not states or definition.get("StartAt") not in states:
        raise CostError("the state machine definition has no States or no valid StartAt")
    maps = [name for name, s in states.items() if s.get("Type") == "Map"]
    distributed = [
        name
        for name in maps
        if ((states[name].get("ItemProcessor") or {}).get("ProcessorConfig") or {}).get("Mode") == "DISTRIBUTED"
    ]
    if not (distributed or maps):
        raise CostError("the state machine definition has no Map state: is it burst-compute's job lifecycle?")
    map_state = (distributed or maps)[0]
    processor = states[map_state].get("ItemProcessor") or states[map_state].get("Iterator") or {}
    children: Mapping[str, Any] = processor.get("States") or {}
    child_start = processor.get("StartAt")
    if not isinstance(child_start, str) or child_start not in children:
        raise CostError(f"the Map state {map_state} has no item processor with a valid StartAt")

    functions = {name: key for name, s in {**states, **children}.items() if (key := _task_function(s)) is not None}
    workers = [name for name, s in children.items() if _referenced(s, WORKER)]
    if not workers:
        raise CostError(f"no Task state of {map_state}'s item processor invokes $.workerFunctionName")
    worker = workers[0]

    to_worker = _shortest(children, child_start, _named(worker))
    after_worker = _shortest(children, worker, lambda n: _ends_well(children[n]))
    if to_worker is None or after_worker is None:
        raise CostError(f"no path from {child_start} through {worker} to a successful end in {map_state}")
    batch = to_worker + after_worker[1:]
    failed_batch = list(to_worker)
    catch_all = next(
        (c["Next"] for c in children[worker].get("Catch", []) or [] if "States.ALL" in c.get("ErrorEquals", [])),
        None,
    )
    if isinstance(catch_all, str) and catch_all in children:
        recovery = _shortest(children, catch_all, lambda n: _ends_well(children[n]))
        failed_batch += recovery or [catch_all]
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
    for combiner in [name for name, s in states.items() if _referenced(s, COMBINER)]:
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
        prefix=tuple(prefix[:-1]),
        round_loop=tuple(loop),
        final=tuple(final),
        batch=tuple(batch),
        failed_batch=tuple(failed_batch),
        shortest_batch=tuple(shortest),
        functions=functions,
    )


# -- DynamoDB item size ------------------------------------------------------------------------------------
def _number_size(text: str) -> int:
    digits = text.lstrip("+-").replace(".", "").split("e")[0].split("E")[0].strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def _value_size(value: Mapping[str, Any]) -> int:
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return _number_size(str(inner))
    if kind == "B":
        return len(inner) if isinstance(inner, bytes | bytearray) else len(str(inner))
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "SS":
        return sum(len(str(v).encode()) for v in inner)
    if kind == "NS":
        return sum(_number_size(str(v)) for v in inner)
    if kind == "BS":
        return sum(len(v) for v in inner)
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in inner.items())
    return len(json.dumps(inner))


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes of a DynamoDB item (typed JSON), as DynamoDB sizes it: attribute names plus values."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def template_row(result_bytes: int) -> dict[str, Any]:
    """A typical succeeded batch row holding ``result_bytes`` of inline results (docs/Interfaces.md)."""
    return {
        "jobId": {"S": "5f0c6d1e-1d2b-4c1e-9a57-2b8f0e6c1a44"},
        "batchId": {"N": "12345"},
        "status": {"S": "succeeded"},
        "ttl": {"N": "1796168319"},
        "startedAt": {"S": "2026-11-24T12:00:03.120Z"},
        "endedAt": {"S": "2026-11-24T12:00:04.870Z"},
        "nresults": {"N": "123"},
        "resultsMimeType": {"S": "application/json"},
        "results": {"S": "x" * result_bytes},
    }


ROW_OVERHEAD_BYTES = item_size(template_row(0))


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
def estimate(
    items: int,
    batch_size: int,
    worker_ms: float,
    worker_mb: int,
    *,
    max_parallelism: int = DEFAULT_MAX_PARALLELISM,
    max_rounds: int = DEFAULT_MAX_ROUNDS,
    combiner_ms: float = DEFAULT_COMBINER_MS,
    combiner_mb: int = DEFAULT_COMBINER_MB,
    result_bytes: int = DEFAULT_RESULT_BYTES,
    framework_ms: Mapping[str, float] | None = None,
    memory_mb: Mapping[str, int] | None = None,
    definition: Mapping[str, Any] | None = None,
    prices: Prices | None = None,
) -> CostReport:
    """The cost of a job of ``items`` indices before it runs.

    ``max_parallelism`` and ``max_rounds`` are the job's maxParallelism and the deployment's
    MAX_BATCHED_JOBS_ITERATIONS: the batch size is enlarged as dispatch would. ``result_bytes`` is the
    size of one batch's serialised results (rows above 350 KiB are spilled to S3). ``framework_ms`` and
    ``memory_mb`` override the assumed durations and the memory sizes of the framework's functions.
    ``definition`` is the state machine (default: step-functions.yml)."""
    for name, value in (("items", items), ("batch_size", batch_size), ("worker_mb", worker_mb)):
        if value <= 0:
            raise CostError(f"{name} must be positive, got {value}")
    if worker_ms < 0 or combiner_ms < 0 or result_bytes < 0:
        raise CostError("durations and result_bytes must not be negative")
    prices = prices or load_prices()
    paths = workflow_paths(definition if definition is not None else load_definition())
    try:
        partition = plan_partition(0, items, batch_size, max_parallelism, max_rounds)
    except ValueError as exc:
        raise CostError(str(exc)) from exc
    batches, rounds = partition.num_batches, partition.num_rounds
    durations = {**DEFAULT_FRAMEWORK_MS, **(framework_ms or {}), WORKER: worker_ms, COMBINER: combiner_ms}
    memory = {**FRAMEWORK_MEMORY_MB, **(memory_mb or {}), WORKER: worker_mb, COMBINER: combiner_mb}

    out = _Builder(prices)
    invocations = paths.invocations(batches, rounds)
    invocations["dispatch"] += 1
    for key in [*FUNCTION_ORDER, *sorted(set(invocations) - set(FUNCTION_ORDER))]:
        count = invocations.get(key, 0)
        if key not in durations or key not in memory:
            raise CostError(f"no duration or memory size for function {key!r} (pass framework_ms/memory_mb)")
        out.lambda_function(key, count, count * _gb_seconds(durations[key], memory[key]))

    transitions = paths.transitions(batches, rounds)
    out.add(
        "Step Functions",
        "state transitions",
        transitions,
        "stepfunctions.standardTransition",
        f"{batches} x {len(paths.batch)} per batch + {rounds - 1} x {len(paths.round_loop)} per extra round "
        f"+ {len(paths.prefix) + len(paths.final)} once",
    )

    spilled = result_bytes > MAX_INLINE_RESULTS_BYTES
    row_bytes = item_size(template_row(0)) + (len("resultsS3Uri") + 100 - len("results") if spilled else result_bytes)
    out.add("DynamoDB", "batch rows (PutItem)", batches * write_units(row_bytes), "dynamodb.onDemandWrite")
    reads = 0
    for done in range(1, rounds):  # progress after each round but the last
        reads += read_units(min(done * partition.max_parallelism, batches) * row_bytes)
    reads += 2 * read_units(batches * row_bytes)  # the summary and the combiner read every row
    out.add("DynamoDB", "row reads (Query)", reads, "dynamodb.onDemandRead", "monitor, summary and combiner")

    out.add("S3", "batch files (PUT)", rounds, "s3.put")
    out.add("S3", "map results (PUT)", RESULT_WRITER_PUTS_PER_ROUND * rounds, "s3.put", "ResultWriter")
    out.add("S3", "batch files (GET)", rounds, "s3.get", "ItemReader")
    out.add("S3", "batch files (DELETE)", rounds, "s3.delete")
    if spilled:
        out.add("S3", "spilled results (PUT)", batches, "s3.put")
        out.add("S3", "spilled results (GET)", batches, "s3.get", "read once by the combiner")

    assumed = {k: v for k, v in DEFAULT_FRAMEWORK_MS.items() if k not in (framework_ms or {})}
    assumptions = [
        "function durations (ms): " + ", ".join(f"{k} {v:g}" for k, v in durations.items()),
        "memory (MB): " + ", ".join(f"{k} {v}" for k, v in memory.items()),
        f"every batch succeeds at the first attempt; a row is {row_bytes} bytes ({result_bytes} bytes of results)",
        "the combiner reads every row once; worker retries, throttling and the client's polling are not included",
    ]
    if assumed:
        assumptions.insert(0, "durations of " + ", ".join(assumed) + " are typical values, not measured")
    facts = {
        "items": items,
        "batchSize": partition.batch_size,
        "numBatches": batches,
        "rounds": rounds,
        "maxParallelism": partition.max_parallelism,
        "transitionsPerBatch": len(paths.batch),
    }
    if partition.batch_size != batch_size:
        assumptions.append(f"dispatch enlarges the batch size from {batch_size} to {partition.batch_size}")
    return CostReport("estimate", out.items, prices, facts, assumptions)


# -- actual ------------------------------------------------------------------------------------------------
def _memory_of(lambda_client: Any, function: str, fallback: int, notes: list[str], label: str) -> int:
    try:
        with translated_errors():
            return int(lambda_client.get_function_configuration(FunctionName=function)["MemorySize"])
    except (BotoClientError, BotoCoreError, ClientError, KeyError, ValueError) as exc:
        notes.append(f"memory of {label} unknown ({exc.__class__.__name__}): {fallback} MB assumed")
        return fallback


def _row_times(row: Mapping[str, Any]) -> tuple[float, float] | None:
    started, ended = row.get("startedAt", {}).get("S"), row.get("endedAt", {}).get("S")
    if not started or not ended:
        return None
    return parse_time(started).timestamp(), parse_time(ended).timestamp()


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


def actual(
    job: Job,
    *,
    framework_ms: Mapping[str, float] | None = None,
    definition: Mapping[str, Any] | None = None,
    prices: Prices | None = None,
) -> CostReport:
    """What a job's execution cost, from its rows, its execution history and its map runs.

    Measured: worker durations (each row's startedAt..endedAt), every framework and combiner invocation
    of the parent execution with its retries (history), the parent's state transitions, rounds, rows and
    their sizes. Derived: the child executions' transitions (definition walk, per succeeded or failed
    batch). Assumed: the duration of ``persist`` and ``dispatch`` (``framework_ms``)."""
    prices = prices or load_prices()
    clients = job.client.clients
    sfn, stack = clients("stepfunctions"), job.client.stack
    events = execution_history(sfn, job.execution_arn)
    runs, info = state_runs(events)
    state = info.input or job.input
    rows = job_rows(clients("dynamodb"), stack.tasks_table, job.job_id)
    if isinstance(state.get("redrive"), int) and state["redrive"] > 0 and info.started is not None:
        cutoff = info.started.timestamp() - 1.0
        rows = [r for r in rows if (t := _row_times(r)) is None or t[0] >= cutoff]
    if definition is None:
        arn = job.describe().get("stateMachineArn") or stack.state_machine_arn
        definition = deployed_definition(sfn, arn)
    paths = workflow_paths(definition)
    notes: list[str] = []
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

    failed = sum(1 for r in rows if r.get("status", {}).get("S") == FAILED_STATUS)
    spilled = sum(1 for r in rows if "resultsS3Uri" in r)
    timed = [t for r in rows if (t := _row_times(r)) is not None]
    worker_seconds = sum(max(end - start, 0.0) for start, end in timed)
    if len(timed) < len(rows):
        notes.append(f"{len(rows) - len(timed)} row(s) have no times: their worker duration is counted as 0")

    out = _Builder(prices)
    requests: Counter[str] = Counter({WORKER: len(rows), "persist": len(rows), "dispatch": 1})
    seconds: dict[str, float] = {
        WORKER: worker_seconds,
        "persist": len(rows) * durations["persist"] / 1000,
        "dispatch": durations["dispatch"] / 1000,
    }
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
        note = "measured" if key not in {"persist", "dispatch"} else "assumed duration"
        out.lambda_function(key, requests.get(key, 0), seconds.get(key, 0.0) * mb / 1024, note)

    parent = len(runs) + retries
    children = _child_executions(sfn, runs)
    child_transitions = (len(rows) - failed) * len(paths.batch) + failed * len(paths.failed_batch)
    without_row = 0
    if children is not None and children > len(rows):
        without_row = children - len(rows)
        child_transitions += without_row * len(paths.shortest_batch)
        notes.append(
            f"{without_row} child execution(s) left no row (past the deadline or not recorded): "
            f"counted as {len(paths.shortest_batch)} transitions each"
        )
    out.add("Step Functions", "state transitions (job)", parent, "stepfunctions.standardTransition", "history")
    out.add(
        "Step Functions",
        "state transitions (batches)",
        child_transitions,
        "stepfunctions.standardTransition",
        f"{len(paths.batch)} per batch, {len(paths.failed_batch)} per failed batch",
    )

    sizes = [(item_size(r), _row_times(r)) for r in rows]
    out.add("DynamoDB", "batch rows (PutItem)", sum(write_units(size) for size, _ in sizes), "dynamodb.onDemandWrite")
    reads = 0
    for run in runs:
        if run.kind != "Task" or paths.functions.get(run.name) not in {"monitor", COMBINER}:
            continue
        for attempt in run.attempts:
            moment = attempt.start.timestamp()
            read = sum(size for size, t in sizes if t is None or t[1] <= moment)
            reads += read_units(read)
    out.add("DynamoDB", "row reads (Query)", reads, "dynamodb.onDemandRead", "monitor, summary and combiner")

    rounds = sum(1 for run in runs if run.kind == "Map")
    cleanups = sum(1 for run in runs if paths.functions.get(run.name) == "cleanup")
    out.add("S3", "batch files (PUT)", rounds, "s3.put")
    out.add("S3", "map results (PUT)", RESULT_WRITER_PUTS_PER_ROUND * rounds, "s3.put", "ResultWriter (modelled)")
    out.add("S3", "batch files (GET)", rounds, "s3.get", "ItemReader")
    out.add("S3", "batch files (DELETE)", cleanups, "s3.delete")
    out.add("S3", "spilled results (PUT)", spilled, "s3.put")
    out.add("S3", "spilled results (GET)", spilled, "s3.get", "read once by the combiner")

    facts: dict[str, Any] = {
        "numBatches": state.get("numBatches"),
        "rows": len(rows),
        "failed": failed,
        "rounds": rounds,
        "childExecutions": children,
        "taskRetries": retries,
        "status": info.status,
    }
    if timed:
        facts["workerMeanSecs"] = round(worker_seconds / len(timed), 3)
    if info.status == "running":
        notes.insert(0, "the job is still running: this is the cost so far")
    notes += [
        "worker time is each row's startedAt..endedAt (includes Step Functions' invoke overhead); worker "
        "retries are not visible in the rows and not counted",
        "persist and dispatch durations are assumed: "
        + ", ".join(f"{k} {durations[k]:g} ms" for k in ("persist", "dispatch")),
        "the combiner is assumed to read every row once; ResultWriter PUTs are modelled (2 a round)",
    ]
    return CostReport("actual", out.items, prices, facts, notes, job_id=job.job_id)


# -- concurrency ------------------------------------------------------------------------------------------
def concurrency_warning(lambda_client: Any, max_parallelism: int) -> str | None:
    """A warning when ``max_parallelism`` exceeds the account's unreserved Lambda concurrency, else None.

    Batches above the limit are throttled; the state machine retries them with backoff (at most 8
    attempts), which slows the job and can fail batches. None as well when the limit cannot be read
    (logged): the check is advice, not a gate."""
    try:
        with translated_errors():
            settings = lambda_client.get_account_settings()
        unreserved = int(settings["AccountLimit"]["UnreservedConcurrentExecutions"])
    except (BotoClientError, BotoCoreError, ClientError, KeyError, TypeError, ValueError) as exc:
        reason = (str(exc).splitlines() or [exc.__class__.__name__])[0][:200]
        LOG.warning("cannot read the account's Lambda concurrency (lambda:GetAccountSettings): %s", reason)
        return None
    if max_parallelism <= unreserved:
        return None
    region = getattr(getattr(lambda_client, "meta", None), "region_name", None) or "this region"
    return (
        f"maxParallelism {max_parallelism} exceeds the account's unreserved Lambda concurrency in {region} "
        f"({unreserved}): the batches above it are throttled and retried with backoff, which slows the job "
        f"and may fail batches. Lower maxParallelism to {unreserved} or less, or request a higher "
        "'Concurrent executions' quota (Service Quotas, AWS Lambda)."
    )
