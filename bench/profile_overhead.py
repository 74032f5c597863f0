"""Where a no-op batch's time goes on the local endpoint during a 1,000-batch no-op job: CPU seconds of
the endpoint process and of its Lambda worker processes (from /proc), and py-spy samples of the endpoint's
thread holding the interpreter lock (its Python CPU time), grouped by component.

py-spy --gil counts a sample for the thread that last held the lock, also while no thread runs: a
thread that waits (the runtime's pool for a worker, the Express children's queue) is then counted
although it uses no CPU. The components' shares are of samples, not of CPU time.

Run with `python -m bench.profile_overhead` (needs py-spy: pip install py-spy); writes
bench/results/overhead_profile.{json,md}.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ORG, SERVICE, STAGE, write_result
from bench.endpoint_bench import BATCHES, run_job
from burst_client.aws import Clients
from burst_client.deploy import PROJECT_ROOT, deploy
from burst_client.endpoint_process import EndpointProcess, free_port
from burst_client.sdk import BurstClient

# first matching marker from the innermost frame outwards names a sample's component
ENDPOINT_COMPONENTS = [
    (
        "endpoint: moto request handling and backends (DynamoDB, S3, Lambda API)",
        ("moto/dynamodb/", "moto/s3/", "moto/core/"),
    ),
    ("endpoint: Step Functions interpreter (moto ASL)", ("moto/stepfunctions/",)),
    (
        "endpoint: HTTP (werkzeug server, botocore/urllib3 clients of the interpreter)",
        ("werkzeug/", "urllib3/", "botocore/", "http/", "socketserver", "socket"),
    ),
    ("endpoint: moto gap workarounds (burst_client/local/moto_patches/)", ("burst_client/local/moto_patches/",)),
    ("endpoint: Lambda runtime (pool, pipes to workers)", ("burst_client/local/",)),
]
WORKER_COMPONENTS = [
    (
        "Lambda processes: boto3/botocore calls of the handlers (HTTP to the endpoint)",
        ("botocore/", "boto3/", "urllib3/", "http/", "socket"),
    ),
    ("Lambda processes: framework handlers (burst_core) and user code", ("handlers/", "burst_core/", "benchfns/")),
    ("Lambda processes: hand-off (bootstrap: pipes, JSON, context)", ("burst_client/local/bootstrap.py",)),
]


def classify(stack: str) -> str:
    frames = stack.split(";")
    worker = "burst_client/local/bootstrap.py" in stack
    for frame in reversed(frames):
        for name, markers in WORKER_COMPONENTS if worker else ENDPOINT_COMPONENTS:
            if any(marker in frame for marker in markers):
                return name
    return ("Lambda processes" if worker else "endpoint") + ": other (threading, GC, imports)"


def cpu_seconds(pid: int) -> float:
    """user + system CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False).stdout
    return [int(p) for p in out.split()]


def workers_cpu_seconds(pid: int) -> float:
    """CPU seconds of the endpoint's worker processes: the live ones plus those already reaped."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    reaped = (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    live = 0.0
    for child in children(pid):
        try:
            live += cpu_seconds(child)
        except FileNotFoundError:
            continue
    return reaped + live


def run() -> dict[str, Any]:
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if py_spy is None:
        raise SystemExit("py-spy is not installed: pip install py-spy")
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    work = Path(tempfile.mkdtemp())
    endpoint = EndpointProcess(free_port(), work / "endpoint.log")
    with endpoint as url:
        deploy(PROJECT_ROOT, STAGE, ORG, endpoint_url=url, env={"MAX_PARALLELISM": str(BATCHES)})
        deploy(SERVICE, STAGE, ORG, endpoint_url=url)
        client = BurstClient(ORG, STAGE, clients=Clients(endpoint_url=url))
        run_job(client, "noop", {})
        assert endpoint.process is not None
        pid = str(endpoint.process.pid)
        # 1) CPU accounting: the endpoint process vs its Lambda worker processes, during one job
        before = (cpu_seconds(int(pid)), workers_cpu_seconds(int(pid)))
        accounted = run_job(client, "noop", {})
        after = (cpu_seconds(int(pid)), workers_cpu_seconds(int(pid)))
        # 2) what the endpoint process does, sampled (its worker processes excluded)
        raw = work / "samples.txt"
        spy = subprocess.Popen(
            [
                py_spy,
                "record",
                "--pid",
                pid,
                "--nonblocking",
                "--gil",  # only the thread holding the interpreter lock: where the endpoint's Python CPU goes
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(raw),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(2)
        measured = run_job(client, "noop", {})
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
    totals: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        totals[classify(stack)] += int(count)
    busy = dict(totals)
    total = sum(busy.values()) or 1
    ms_per_batch = measured["executionSecs"] * 1000 / BATCHES
    cpu = {
        "wall ms per batch": round(accounted["executionSecs"] * 1000 / BATCHES, 2),
        "endpoint process CPU ms per batch": round((after[0] - before[0]) * 1000 / BATCHES, 2),
        "Lambda worker processes CPU ms per batch": round((after[1] - before[1]) * 1000 / BATCHES, 2),
        "cores": os.cpu_count(),
    }
    table = [{"where": key, "value": value} for key, value in cpu.items()]
    table += [
        {"where": f"endpoint interpreter-lock samples: {name}", "value": f"{round(100 * count / total, 1)} %"}
        for name, count in sorted(busy.items(), key=lambda kv: -kv[1])
    ]
    write_result(
        "overhead_profile",
        {"description": __doc__, "msPerBatch": ms_per_batch, "cpu": cpu, "samples": dict(totals)},
        table,
    )
    return {"msPerBatch": ms_per_batch, "cpu": cpu, "shares": table}


if __name__ == "__main__":
    run()
