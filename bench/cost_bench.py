"""What the reference job costs per design: EXPRESS children, STANDARD children, and the original design.

The reference job is `burst cost --estimate --items 200000 --batch-size 40 --worker-ms 2000
--worker-mb 512 --max-parallelism 5000`: 5,000 batches of 2 s in one round, 1,000 bytes of results
per batch, a worker timeout of 6 s (assumed: 3 x its duration), so dispatch runs it as EXPRESS.
Every figure is `burst_client.cost.estimate` at the list prices of `burst_client/cost/prices.json`
(us-east-1, copied without network access: re-check them), computed in this run from
step-functions.yml:

* EXPRESS and STANDARD: the job on the state machines of step-functions.yml (a batch is BeforeDeadline,
  ExecuteBatch, RecordResult; EXPRESS children are billed per request and GB-second, STANDARD ones per
  state transition);
* original: the same parent workflow with the original per-batch design, two transitions per batch
  (ExecuteBatch, then PersistResults writing the row with dynamodb:putItem), STANDARD children, no
  Lambda per batch besides the worker.

The ratios are each design's cost over the original's. Not included: free tiers, data transfer,
storage, logs; the worker's own compute is in Lambda (the same in every design).
"""

from __future__ import annotations

import copy
from typing import Any

from burst_client.cost import CostReport, definition_for, estimate, load_definitions, workflow_paths
from burst_core.orchestration import ExecutionType

REFERENCE: dict[str, Any] = {
    "items": 200_000,
    "batch_size": 40,
    "worker_ms": 2_000,
    "worker_mb": 512,
    "max_parallelism": 5_000,
}
SERVICES = ("Step Functions", "Lambda", "DynamoDB", "S3")


def original_definition(standard: dict[str, Any]) -> dict[str, Any]:
    """``standard`` with the original's batch: ExecuteBatch -> PersistResults (dynamodb:putItem), STANDARD."""
    definition = copy.deepcopy(standard)
    name = workflow_paths(definition, ExecutionType.STANDARD).map_state
    processor = definition["States"][name]["ItemProcessor"]
    worker = {key: value for key, value in processor["States"]["ExecuteBatch"].items() if key != "Catch"}
    worker["Next"] = "PersistResults"
    persist = {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:putItem",
        "Parameters": {"TableName.$": "$.tasksTableName", "Item": {"jobId": {"S.$": "$.jobId"}}},
        "End": True,
    }
    processor["StartAt"] = "ExecuteBatch"
    processor["States"] = {"ExecuteBatch": worker, "PersistResults": persist}
    processor["ProcessorConfig"] = {"Mode": "DISTRIBUTED", "ExecutionType": ExecutionType.STANDARD.value}
    return definition


def _money(value: float) -> str:
    return f"{value:.4f}"


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.3f}" if base else "-"


def run() -> dict[str, Any]:
    from bench.common import write_result

    definitions = list(load_definitions().values())
    standard = definition_for(ExecutionType.STANDARD, definitions)
    original_def = original_definition(standard)
    reports: dict[str, CostReport] = {
        "EXPRESS": estimate(**REFERENCE, execution_type="EXPRESS", definition=definitions),
        "STANDARD": estimate(**REFERENCE, execution_type="STANDARD", definition=definitions),
        "original": estimate(**REFERENCE, execution_type="STANDARD", definition=original_def),
    }
    chosen = estimate(**REFERENCE, definition=definitions).execution_type
    original = reports["original"]
    base = original.by_service()
    table = []
    for design, report in reports.items():
        services = report.by_service()
        per_batch = report.facts["transitionsPerBatch"]
        children = report.execution_type or ""
        table.append(
            {
                "design": design + (" (dispatch's choice)" if design == chosen else ""),
                "children": children,
                "billed per batch": (
                    f"1 request + {report.facts['expressBilledMs']} ms x {report.facts['expressMemoryChunks']} x 64 MB"
                    if children == "EXPRESS"
                    else f"{per_batch} transitions"
                ),
                "total $": _money(report.total),
                **{f"{service} $": _money(services.get(service, 0.0)) for service in SERVICES[:3]},
                "total / original": _ratio(report.total, original.total),
                "Step Functions / original": _ratio(services["Step Functions"], base["Step Functions"]),
                "Lambda / original": _ratio(services["Lambda"], base["Lambda"]),
                "DynamoDB / original": _ratio(services["DynamoDB"], base["DynamoDB"]),
            }
        )
    express = reports["EXPRESS"]
    targets = {
        "dispatch chooses EXPRESS": chosen == "EXPRESS",
        "EXPRESS total <= $0.10": express.total <= 0.10,
        "EXPRESS Step Functions <= $0.02": express.by_service()["Step Functions"] <= 0.02,
    }
    data = {
        "description": __doc__,
        "reference": REFERENCE,
        "chosen": chosen,
        "designs": {
            design: {
                "total": report.total,
                "byService": report.by_service(),
                "ratioToOriginal": {
                    "total": report.total / original.total,
                    **{
                        service: report.by_service()[service] / base[service]
                        for service in SERVICES
                        if base.get(service)
                    },
                },
                "facts": report.facts,
                "items": [item.as_dict() for item in report.items],
                "assumptions": report.assumptions,
            }
            for design, report in reports.items()
        },
        "targets": targets,
        "recheck": original.prices.recheck,
    }
    write_result("cost", data, table)
    return targets


if __name__ == "__main__":
    run()
