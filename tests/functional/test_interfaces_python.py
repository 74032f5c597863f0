"""docs/Interfaces.md's Python worker and combiner, run as written, on moto.

The code block of "Writing the worker and combiner in Python" is executed as a module; its handlers
get the doc's worker-input and combiner-input examples (with this stack's table and bucket), the
worker's outputs are written to the rows by the state machine's own RecordResult state.
"""

from __future__ import annotations

import json
import re
import types
from typing import Any

from burst_client.demo import load_imaging
from burst_core.combiner import Job
from tests.support import EXAMPLES, section

from .conftest import BUCKET, TABLE, TTL


def doc_module() -> types.ModuleType:
    """The doc's Python example as the module `search` (the name its serverless.yml handlers use)."""
    code = re.search(r"```python\n(.*?)\n```", section("## Writing the worker and combiner in Python"), flags=re.S)
    assert code is not None
    module = types.ModuleType("search")
    exec(compile(code[1], "docs/Interfaces.md", "exec"), module.__dict__)
    return module


def on_this_stack(example: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**example, "tasksTableName": TABLE, "resultsBucket": BUCKET, **changes}


def expected_matches(start: int, end: int, mask: list[str]) -> list[dict[str, Any]]:
    """What examples/mask-search scores for the images of [start, end)."""
    imaging = load_imaging()
    bits, care = imaging.parse_mask(mask)
    return [{"index": i, "score": imaging.score(i, bits, care)} for i in range(start, end)]


def test_the_python_worker_and_combiner_run_as_written(stack, lambda_context):
    search = doc_module()
    worker_input = on_this_stack(EXAMPLES["worker-input"])
    job_id, params = worker_input["jobId"], worker_input["jobParameters"]

    out = search.handler(worker_input, lambda_context)
    batch = expected_matches(worker_input["startIndex"], worker_input["endIndex"], params["mask"])
    assert out == {"results": batch, "nresults": len(batch)}  # the example service's scores
    stack.succeed(job_id, worker_input["batchId"], out)
    # the next batch, with a threshold: images scoring below it are left out (None)
    following = on_this_stack(
        worker_input,
        batchId=8,
        startIndex=800,
        endIndex=900,
        jobParameters={**params, "threshold": 0.6},
    )
    kept = [m for m in expected_matches(800, 900, params["mask"]) if m["score"] >= 0.6]
    assert 0 < len(kept) < 100
    out = search.handler(following, lambda_context)
    assert out == {"results": kept, "nresults": len(kept)}
    stack.succeed(job_id, 8, out)

    combiner_input = on_this_stack(EXAMPLES["combiner-input-succeeded"])
    assert combiner_input["jobId"] == job_id
    result = search.combine(combiner_input, lambda_context)
    best = sorted(batch + kept, key=lambda m: (-m["score"], m["index"]))[: params["topK"]]
    assert result == {"best": best, "failed": [f["batchId"] for f in combiner_input["failedBatches"]]}
    assert result["failed"] == [42]
    # the example service's search of both batches (the threshold left out only scores below the best)
    assert best == load_imaging().search(700, 900, params["mask"], params["topK"])


def test_the_python_worker_spills_what_does_not_fit_to_s3(stack, lambda_context):
    # 20,000 scores are about 700 KB of JSON: more than the batch's state holds
    search = doc_module()
    worker_input = on_this_stack(EXAMPLES["worker-input"], startIndex=0, endIndex=20_000)
    out = search.handler(worker_input, lambda_context)
    key = f"results/{worker_input['jobId']}/{worker_input['batchId']}.json"
    assert out == {"resultsS3Uri": f"s3://{BUCKET}/{key}", "nresults": 20_000}
    stored = json.loads(stack.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert stored == expected_matches(0, 20_000, worker_input["jobParameters"]["mask"])


# -- "A worker that writes its own row" --------------------------------------------------------------


def test_a_worker_that_writes_its_own_row(stack):
    """The row's own attributes survive RecordResult, except those the doc says it sets or removes."""
    job_id = "own-row"
    matches = [{"index": 702, "score": 0.6875}]
    stack.dynamodb.put_item(
        TableName=TABLE,
        Item={
            "jobId": {"S": job_id},
            "batchId": {"N": "7"},
            "results": {"S": json.dumps(matches)},
            "nresults": {"N": "1"},
            "ttl": {"N": "1800000000"},
            "note": {"S": "kept as written"},
            "status": {"S": "mine"},
            "attempt": {"N": "99"},
            "error": {"S": "stale"},
        },
    )
    stack.succeed(job_id, 7, None)  # the worker returned null
    (row,) = stack.rows(job_id)
    assert row["note"] == {"S": "kept as written"}
    assert row["ttl"] == {"N": "1800000000"}  # its own, not the job's
    assert (row["status"], row["output"], row["attempt"]) == ({"S": "succeeded"}, {"S": "null"}, {"N": "0"})
    assert "error" not in row
    (read,) = Job(on_this_stack(EXAMPLES["combiner-input-succeeded"], jobId=job_id)).results()
    assert (read.batch_id, read.results, read.nresults) == (7, matches, 1)

    stack.dynamodb.put_item(
        TableName=TABLE, Item={"jobId": {"S": job_id}, "batchId": {"N": "8"}, "results": {"S": "[]"}}
    )
    stack.succeed(job_id, 8, None)
    row = next(r for r in stack.rows(job_id) if r["batchId"] == {"N": "8"})
    assert row["ttl"] == {"N": str(TTL)}  # none of its own: the job's
