"""Memory of reading a large job's results: Job.results() streams them in bounded memory.

A 10,000-batch job runs on the local endpoint (the framework and bench/service deployed to it): its
worker (burst_core's batch_worker, from the helpers layer) returns about 10 KB of results per batch,
and 1 MB for every 500th batch, which the helper stores in S3. Then, in this process, with tracemalloc:

* streamed: the peak of Python memory while iterating ``job.results()`` (counting the results, keeping
  none), beside the total size of all results (each batch's results as compact JSON): their ratio;
* held: the peak while ``list(job.results())`` keeps them all, for comparison (what reading the whole
  job before the first result costs).

Job.results() reads the rows one DynamoDB Query page (at most 1 MB) at a time and fetches S3-stored
results up to 4 batches ahead, so its peak stays the same whatever the job's size; the ratio shrinks as
the results grow.
"""

from __future__ import annotations

import os
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench.common import ORG, SERVICE, STAGE, run_bench_job, write_result
from burst_client.aws import Clients
from burst_client.deploy import PROJECT_ROOT, deploy
from burst_client.endpoint_process import EndpointProcess, free_port
from burst_client.sdk import BurstClient, Job
from burst_core.storage import json_size

BATCHES = 10_000
PARAMS = {"bytes": 10_000, "s3Every": 500, "s3Bytes": 1_000_000}
MB = 1024 * 1024


def sizes(job: Job) -> dict[str, int]:
    """What the job's results are (read once, untraced)."""
    total = batches = in_s3 = s3_bytes = largest = 0
    for result in job.results():
        size = json_size(result.results)
        total, batches, largest = total + size, batches + 1, max(largest, size)
        if result.results_s3_uri is not None:
            in_s3, s3_bytes = in_s3 + 1, s3_bytes + size
    return {"totalBytes": total, "batches": batches, "batchesInS3": in_s3, "s3Bytes": s3_bytes, "largestBytes": largest}


def streamed_peak(job: Job) -> tuple[int, int, float]:
    """(peak bytes, results counted, seconds) of iterating job.results() without keeping them."""
    tracemalloc.start()
    started = time.perf_counter()
    counted = sum(result.nresults for result in job.results())
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, counted, elapsed


def held_peak(job: Job) -> int:
    """Peak bytes of keeping every result (list(job.results()))."""
    tracemalloc.start()
    held = list(job.results())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(held) == BATCHES
    return peak


def run() -> dict[str, Any]:
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    log = Path(tempfile.mkdtemp()) / "endpoint.log"
    with EndpointProcess(free_port(), log) as url:
        deploy(PROJECT_ROOT, STAGE, ORG, endpoint_url=url, env={"MAX_PARALLELISM": str(BATCHES)})
        deploy(SERVICE, STAGE, ORG, endpoint_url=url)
        client = BurstClient(ORG, STAGE, clients=Clients(endpoint_url=url))
        started = time.perf_counter()
        job = run_bench_job(client, "payload", BATCHES, PARAMS)
        job_secs = time.perf_counter() - started
        found = sizes(job)
        peak, counted, read_secs = streamed_peak(job)
        held = held_peak(job)
    assert found["batches"] == BATCHES and found["batchesInS3"] == BATCHES // PARAMS["s3Every"], found
    results: dict[str, Any] = {
        "batches": BATCHES,
        "workerParameters": PARAMS,
        "jobSecs": round(job_secs, 1),
        "results": {**found, "count": counted},
        "streamed": {"peakBytes": peak, "ratioToTotal": peak / found["totalBytes"], "readSecs": round(read_secs, 1)},
        "held": {"peakBytes": held, "ratioToTotal": held / found["totalBytes"]},
    }
    table: list[dict[str, Any]] = [
        {"measure": "all results of the job, as compact JSON, MB", "value": round(found["totalBytes"] / MB, 1)},
        {
            "measure": f"of which stored in S3 by the worker helper ({found['batchesInS3']} batches), MB",
            "value": round(found["s3Bytes"] / MB, 1),
        },
        {"measure": "peak memory iterating job.results() (tracemalloc), MB", "value": round(peak / MB, 1)},
        {"measure": "ratio peak / all results", "value": f"{peak / found['totalBytes']:.3f}"},
        {"measure": "time to iterate job.results() (under tracemalloc), s", "value": round(read_secs, 1)},
        {"measure": "for comparison: peak holding them all, list(job.results()), MB", "value": round(held / MB, 1)},
        {"measure": "the job on the local endpoint (dispatch to end), s", "value": round(job_secs, 1)},
    ]
    write_result("results_memory", {"description": __doc__, **results}, table)
    return results


if __name__ == "__main__":
    run()
