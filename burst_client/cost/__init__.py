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

The package, by concern: :mod:`~burst_client.cost.prices` (prices.json), :mod:`~burst_client.cost.walk`
(the state machine definition, shipped as package data, and its walk), :mod:`~burst_client.cost.sizing`
(typical rows and request units), :mod:`~burst_client.cost.estimate`, :mod:`~burst_client.cost.actual`
(a pure function of a job's facts, :mod:`burst_client.facts`) and :mod:`~burst_client.cost.report` (the table).

Not included: data transfer, storage, CloudWatch Logs and X-Ray, free tiers, the client's own reads,
and whether AWS bills a distributed Map's child workflows exactly like other workflows (it documents
Express and Standard billing, not how it applies to Map Runs: ``prices.json``, rules).
"""

from burst_client.cost.actual import (
    actual,
    actual_cost,
)
from burst_client.cost.estimate import (
    default_worker_timeout_secs,
    estimate,
)
from burst_client.cost.prices import (
    PRICES_PATH,
    ExpressBilling,
    Price,
    Prices,
    load_prices,
)
from burst_client.cost.report import (
    CostReport,
    LineItem,
    format_table,
)
from burst_client.cost.sizing import (
    DEFAULT_EXPRESS_OVERHEAD_MS,
    DEFAULT_FRAMEWORK_MS,
    ROW_OVERHEAD_BYTES,
    read_units,
    template_row,
    worker_output,
    write_units,
)
from burst_client.cost.walk import (
    COMBINER,
    FRAMEWORK_MEMORY_MB,
    STEP_FUNCTIONS_YML,
    WORKER,
    WorkflowPaths,
    batch_maps,
    definition_bytes,
    definition_for,
    function_key,
    load_definition,
    load_definitions,
    map_execution_type,
    with_execution_type,
    workflow_paths,
)
from burst_client.errors import (
    CostError,
)

__all__ = [
    "COMBINER",
    "DEFAULT_EXPRESS_OVERHEAD_MS",
    "DEFAULT_FRAMEWORK_MS",
    "FRAMEWORK_MEMORY_MB",
    "PRICES_PATH",
    "ROW_OVERHEAD_BYTES",
    "STEP_FUNCTIONS_YML",
    "WORKER",
    "CostError",
    "CostReport",
    "ExpressBilling",
    "LineItem",
    "Price",
    "Prices",
    "WorkflowPaths",
    "actual",
    "actual_cost",
    "batch_maps",
    "default_worker_timeout_secs",
    "definition_bytes",
    "definition_for",
    "estimate",
    "format_table",
    "function_key",
    "load_definition",
    "load_definitions",
    "load_prices",
    "map_execution_type",
    "read_units",
    "template_row",
    "with_execution_type",
    "worker_output",
    "workflow_paths",
    "write_units",
]
