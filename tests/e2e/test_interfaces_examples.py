"""docs/Interfaces.md's dispatch example, dispatched as written on the local endpoint.

Only the stage differs: the doc names the `dev` deployment, the tests deploy `e2e`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support import EXAMPLES

from .conftest import STAGE, LocalStack

pytestmark = pytest.mark.e2e


def on_test_stage(example: dict[str, Any]) -> dict[str, Any]:
    """The example with its `janelia-...-dev-...` names turned into the test deployment's."""
    return dict(json.loads(json.dumps(example).replace("-dev-", f"-{STAGE}-")))


def test_the_dispatch_example_runs_and_every_batch_succeeds(local: LocalStack):
    event = on_test_stage(EXAMPLES["dispatch-input"])
    assert (event["workerFunctionName"], event["combinerFunctionName"]) == (
        local.worker("mask-search"),
        local.combiner("mask-search"),
    )
    assert {key: value for key, value in event.items() if not key.endswith("FunctionName")} == {
        key: value for key, value in EXAMPLES["dispatch-input"].items() if not key.endswith("FunctionName")
    }
    job = local.client.dispatch_event(event)
    answer, documented = job.dispatched, EXAMPLES["dispatch-output"]
    assert set(answer) == set(documented)
    for key in ("numBatches", "batchSize", "batchExecutionType", "maxParallelism"):
        assert answer[key] == documented[key], key

    status = job.wait(timeout=300)
    assert (status.state, status.done, status.failed, status.pending) == ("succeeded", answer["numBatches"], 0, 0)
    output = job.output()
    example = EXAMPLES["execution-output"]
    assert set(output) == set(example)
    assert output["status"] == example["status"]
    assert {key: output["summary"][key] for key in example["summary"]} == example["summary"]
    assert output["result"] == example["result"]  # the mask search's result, as the doc shows it
