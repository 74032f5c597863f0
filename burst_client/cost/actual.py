"""What a job's execution cost, measured from its facts (rows, execution history, map runs, the functions'
memory) and priced at list prices."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from burst_client.cost.prices import Prices, load_prices
from burst_client.cost.report import CostReport, ItemBuilder
from burst_client.cost.sizing import (
    DEFAULT_COMBINER_MB,
    DEFAULT_EXPRESS_OVERHEAD_MS,
    DEFAULT_FRAMEWORK_MS,
    FUNCTION_ORDER,
    RESULT_WRITER_PUTS_PER_ROUND,
    read_units,
    template_child_input,
    write_units,
)
from burst_client.cost.walk import (
    COMBINER,
    FRAMEWORK_MEMORY_MB,
    WORKER,
    batch_maps,
    definition_bytes,
    definition_for,
    function_key,
    workflow_paths,
)
from burst_client.errors import CostError
from burst_client.facts import JobFacts, fetch_facts, function_names
from burst_client.history import RUNNING, StateRun, redrive_cutoff
from burst_core.exceptions import InvalidWorkerOutput
from burst_core.job import parse_timestamp
from burst_core.orchestration import EXPRESS_MAX_WORKER_TIMEOUT_SECS, ExecutionType
from burst_core.persistence import BatchRecord, BatchStatus
from burst_core.results import results_location
from burst_core.storage import json_size

if TYPE_CHECKING:
    from burst_client.sdk import Job

LOG = logging.getLogger(__name__)


def _memory_of(facts: JobFacts, function: str, fallback: int, notes: list[str], label: str) -> int:
    try:
        return int(facts.functions[function]["MemorySize"])
    except (KeyError, TypeError, ValueError):
        notes.append(f"memory of {label} unknown: {fallback} MB assumed")
        return fallback


def _times(record: BatchRecord) -> tuple[float, float] | None:
    if not record.started_at or not record.ended_at:
        return None
    try:
        return parse_timestamp(record.started_at).timestamp(), parse_timestamp(record.ended_at).timestamp()
    except ValueError:
        raise CostError(f"batch {record.batch_id}: its startedAt/endedAt is not an RFC 3339 time") from None


def _child_executions(facts: JobFacts) -> int | None:
    """Child executions of the job's map runs (DescribeMapRun), or None when not available."""
    if facts.map_runs is None:
        return None
    try:
        return sum(int(described["executionCounts"]["total"]) for described in facts.map_runs.values())
    except (KeyError, TypeError, ValueError) as exc:
        LOG.info("map runs without executionCounts: %s", exc)
        return None


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
    """What a job's execution cost: its facts fetched once (:func:`burst_client.facts.fetch_facts`: rows,
    execution history, map runs, functions' configurations and, unless ``definition`` is given, the deployed
    definition), then priced by :func:`actual_cost`."""
    facts = fetch_facts(
        job.client.gateway, job.client.stack, job.job_id, job.describe(), costs=True, definition=definition
    )
    return actual_cost(facts, framework_ms=framework_ms, express_overhead_ms=express_overhead_ms, prices=prices)


def actual_cost(
    facts: JobFacts,
    *,
    framework_ms: Mapping[str, float] | None = None,
    express_overhead_ms: float = DEFAULT_EXPRESS_OVERHEAD_MS,
    prices: Prices | None = None,
) -> CostReport:
    """What a job's execution cost, from its facts (no AWS calls): its rows, its execution history and its map runs.

    Measured: every framework and combiner invocation of the parent execution with its retries and
    durations (history), the parent's state transitions, rounds, child executions (DescribeMapRun),
    worker durations (each row's startedAt..endedAt), rows and their sizes. Derived: STANDARD children's
    transitions (definition walk, per row by its status and attempts); EXPRESS children's duration
    (each row's startedAt..endedAt + ``express_overhead_ms``). Assumed: the duration of ``dispatch``."""
    prices = prices or load_prices()
    runs, info, state = facts.runs, facts.info, facts.state
    if facts.stack is None or facts.definition is None:
        raise CostError(
            f"job {facts.job_id}: its facts lack the stack or the definition (fetch_facts(..., costs=True))"
        )
    stack = facts.stack
    every = [_Row(record, record.size, _times(record)) for record in facts.rows]
    rows = every
    notes: list[str] = []
    cutoff = redrive_cutoff(state, info)
    if cutoff is not None:
        rows = [r for r in every if r.times is None or r.times[0] >= cutoff]
        notes.append(f"redrive {state['redrive']}: the rows of earlier executions are left out (but read)")
    kind = ExecutionType(_job_execution_type(runs, facts.definition, state))
    definition = definition_for(kind, facts.definition)
    paths = workflow_paths(definition, kind)
    durations = {**DEFAULT_FRAMEWORK_MS, **(framework_ms or {})}

    names = function_names(stack, state)
    fallback = {**FRAMEWORK_MEMORY_MB, WORKER: 1024, COMBINER: DEFAULT_COMBINER_MB}
    memory = {key: _memory_of(facts, name, fallback[key], notes, key) for key, name in names.items()}

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

    out = ItemBuilder(prices)
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

    children = _child_executions(facts)
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
        input_bytes = json_size(template_child_input(EXPRESS_MAX_WORKER_TIMEOUT_SECS, kind))
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

    measured: dict[str, Any] = {
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
        measured["workerMeanSecs"] = round(worker_seconds / len(ran), 3)
    if info.status == RUNNING:
        notes.insert(0, "the job is still running: this is the cost so far")
    notes += [
        "worker requests are the succeeded and failed rows; worker time is each row's startedAt..endedAt "
        "(includes Step Functions' invoke overhead; for a failed batch, its retries and waits; none for a row "
        f"without times: {untimed}); attempts before the one that wrote a row ({later_attempts} in all, from the "
        "rows' attempt) are not counted as worker requests or seconds",
        f"the dispatch duration is assumed: {durations['dispatch']:g} ms",
        "the combiner is assumed to read every row once; ResultWriter PUTs are modelled (2 a round)",
    ]
    return CostReport("actual", out.items, prices, measured, notes, job_id=facts.job_id, execution_type=kind.value)
