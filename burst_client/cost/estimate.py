"""The cost of a job before it runs, priced with EXPRESS and with STANDARD child workflows."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from burst_client.cost.prices import Prices, load_prices
from burst_client.cost.report import CostReport, ItemBuilder, gb_seconds
from burst_client.cost.sizing import (
    DEFAULT_COMBINER_MB,
    DEFAULT_COMBINER_MS,
    DEFAULT_EXPRESS_OVERHEAD_MS,
    DEFAULT_FRAMEWORK_MS,
    DEFAULT_MAX_PARALLELISM,
    DEFAULT_MAX_ROUNDS,
    DEFAULT_RESULT_BYTES,
    FUNCTION_ORDER,
    RESULT_WRITER_PUTS_PER_ROUND,
    WORKER_TIMEOUT_FACTOR,
    read_units,
    template_child_input,
    template_row,
    worker_event,
    worker_output,
    write_units,
)
from burst_client.cost.walk import (
    COMBINER,
    FRAMEWORK_MEMORY_MB,
    WORKER,
    WorkflowPaths,
    definition_bytes,
    definition_for,
    load_definitions,
    workflow_paths,
)
from burst_client.errors import CostError
from burst_core.orchestration import EXPRESS_MAX_WORKER_TIMEOUT_SECS, ExecutionType, choose_execution_type
from burst_core.partition import plan_partition
from burst_core.persistence import item_size
from burst_core.storage import json_size
from burst_core.worker import fits_inline


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
    out = ItemBuilder(prices)
    invocations = paths.invocations(job.batches, job.rounds)
    invocations["dispatch"] += 1
    for key in [*FUNCTION_ORDER, *sorted(set(invocations) - set(FUNCTION_ORDER))]:
        count = invocations.get(key, 0)
        if key not in job.durations or key not in job.memory:
            raise CostError(f"no duration or memory size for function {key!r} (pass framework_ms/memory_mb)")
        out.lambda_function(key, count, count * gb_seconds(job.durations[key], job.memory[key]))

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
        data = json_size(child_input) + job.output_bytes
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
