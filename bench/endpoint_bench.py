"""Jobs on the local endpoint: framework overhead per batch, and a CPU-bound job against baselines.

Each measure is the median of 3 runs; every run is reported.

* overhead: a 1,000-batch job whose worker does nothing; (end of execution - start of execution) / 1,000.
* cpu: 1,000 batches of ~50 ms of pure-Python work; wall time on the local endpoint divided by the
  wall time of concurrent.futures.ProcessPoolExecutor (one process per core) running the same work,
  and Lithops' localhost backend doing the same, all in this run on this machine.

Beside each figure: the one the previous run of this benchmark recorded (bench/results/endpoint.json
before this run, with its date), for the change between the two.
"""

from __future__ import annotations

import concurrent.futures
import inspect
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import ORG, RESULTS, SERVICE, STAGE, run_bench_job, write_result
from burst_client.aws import Clients
from burst_client.deploy import PROJECT_ROOT, deploy
from burst_client.endpoint_process import EndpointProcess, free_port
from burst_client.sdk import BurstClient

sys.path.insert(0, str(SERVICE))
from benchfns.work import spin

BATCHES = 1000
RUNS = 3  # each measure is the median of this many runs (all of them are reported)
TARGET_SECS = 0.050


def calibrate() -> int:
    iterations = 100_000
    while True:
        started = time.perf_counter()
        spin(iterations)
        elapsed = time.perf_counter() - started
        if elapsed > 0.02:
            return int(iterations * TARGET_SECS / elapsed)
        iterations *= 2


def run_job(client: BurstClient, worker: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one job; its wall time runs from the dispatch call to the end of the execution (the endpoint
    runs on this machine's clock), so how often we poll for the end neither adds to it nor, by
    querying the tasks table, slows the job down much (every 2 s)."""
    started = datetime.now(UTC)
    execution = run_bench_job(client, worker, BATCHES, params).describe()
    return {
        "wallSecs": (execution["stopDate"] - started).total_seconds(),
        "executionSecs": (execution["stopDate"] - execution["startDate"]).total_seconds(),
    }


def process_pool(iterations: int) -> float:
    started = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(spin, [iterations] * BATCHES, chunksize=1))
    return time.perf_counter() - started


def lithops_localhost(iterations: int) -> float | str:
    try:
        import lithops
    except ImportError:
        return "lithops not installed (pip install -r requirements-bench.txt)"
    config = {
        "lithops": {"backend": "localhost", "storage": "localhost", "log_level": "WARNING"},
        "localhost": {"worker_processes": os.cpu_count(), "runtime": sys.executable},
    }
    # the same source, defined outside any module so Lithops ships it by value
    namespace: dict[str, Any] = {"__name__": "lithops_work"}
    exec(inspect.getsource(spin), namespace)
    started = time.perf_counter()
    try:
        executor = lithops.FunctionExecutor(config=config)
        futures = executor.map(namespace["spin"], [iterations] * BATCHES)
        executor.get_result(futures)
        executor.clean()
    except Exception as exc:  # report, do not hide, why the peer could not run
        return f"lithops failed: {type(exc).__name__}: {exc}"
    return time.perf_counter() - started


def previous() -> dict[str, Any]:
    """What the previous run recorded (empty when there is none)."""
    try:
        recorded: dict[str, Any] = json.loads((RESULTS / "endpoint.json").read_text())
    except (OSError, ValueError):
        return {}
    return recorded


def run() -> dict[str, Any]:
    before = previous()
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    iterations = calibrate()
    log = Path(tempfile.mkdtemp()) / "endpoint.log"
    with EndpointProcess(free_port(), log) as url:
        deploy(PROJECT_ROOT, STAGE, ORG, endpoint_url=url, env={"MAX_PARALLELISM": str(BATCHES)})
        deploy(SERVICE, STAGE, ORG, endpoint_url=url)
        client = BurstClient(ORG, STAGE, clients=Clients(endpoint_url=url))
        run_job(client, "noop", {})  # warm the worker processes
        overheads = [run_job(client, "noop", {}) for _ in range(RUNS)]
        # the CPU job and its baseline alternate, so that a change of the machine's speed during the run
        # (other tenants of a VM) weighs on both alike; the idle endpoint costs the pool nothing
        cpus, pools = [], []
        for _ in range(RUNS):
            cpus.append(run_job(client, "cpu", {"iterations": iterations}))
            pools.append(process_pool(iterations))
    lithops_secs = lithops_localhost(iterations)
    ms_per_batch = [o["executionSecs"] * 1000 / BATCHES for o in overheads]
    cpu_secs = [c["wallSecs"] for c in cpus]
    pool = statistics.median(pools)
    cpu_median = statistics.median(cpu_secs)
    serial_batch = TARGET_SECS
    results: dict[str, Any] = {
        "batches": BATCHES,
        "runs": RUNS,
        "cpuIterationsFor50ms": iterations,
        "overhead": {"msPerBatch": statistics.median(ms_per_batch), "msPerBatchRuns": ms_per_batch},
        "cpu": {
            "wallSecs": cpu_median,
            "wallSecsRuns": cpu_secs,
            "processPoolSecs": pool,
            "processPoolSecsRuns": pools,
            "ratio": cpu_median / pool,
            "lithopsLocalhostSecs": lithops_secs,
            "lithopsRatio": lithops_secs / pool if isinstance(lithops_secs, float) else None,
        },
        "idealSecs": BATCHES * serial_batch / (os.cpu_count() or 1),
    }

    def runs(values: list[float], digits: int = 1) -> str:
        return ", ".join(f"{value:.{digits}f}" for value in values)

    def recorded(*path: str) -> Any:
        value: Any = before
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return round(value, 2) if isinstance(value, float) else "n/a"

    since = f"previous run ({str(before.get('machine', {}).get('date', 'none'))[:10]})"

    table = [
        {
            "measure": f"no-op job: ms per batch (execution time / 1,000), median of {RUNS} ({runs(ms_per_batch)})",
            "value": round(results["overhead"]["msPerBatch"], 1),
            since: recorded("overhead", "msPerBatch"),
            "target": "<= 4",
        },
        {
            "measure": f"CPU job on the local endpoint, s, median of {RUNS} ({runs(cpu_secs)})",
            "value": round(cpu_median, 1),
            since: recorded("cpu", "wallSecs"),
            "target": "",
        },
        {
            "measure": f"same work, ProcessPoolExecutor, s, median of {RUNS} ({runs(pools)})",
            "value": round(pool, 1),
            since: recorded("cpu", "processPoolSecs"),
            "target": "",
        },
        {
            "measure": "ratio local endpoint / ProcessPoolExecutor",
            "value": round(results["cpu"]["ratio"], 2),
            since: recorded("cpu", "ratio"),
            "target": "<= 1.10",
        },
        {
            "measure": "Lithops localhost, s",
            "value": round(lithops_secs, 1) if isinstance(lithops_secs, float) else lithops_secs,
            since: recorded("cpu", "lithopsLocalhostSecs"),
            "target": "",
        },
        {
            "measure": "ratio Lithops localhost / ProcessPoolExecutor",
            "value": round(results["cpu"]["lithopsRatio"], 2) if results["cpu"]["lithopsRatio"] else "n/a",
            since: recorded("cpu", "lithopsRatio"),
            "target": "",
        },
    ]
    write_result("endpoint", {"description": __doc__, **results}, table)
    return results


if __name__ == "__main__":
    run()
