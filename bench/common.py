"""Helpers shared by the benchmarks: result files and a markdown table."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from burst_client.sdk import BurstClient, Job

RESULTS = Path(__file__).resolve().parent / "results"
# bench/service, deployed to the local endpoint as janelia-burst-bench-bench (after the framework)
SERVICE = Path(__file__).resolve().parent / "service"
ORG, STAGE = "janelia", "bench"


def machine() -> dict[str, Any]:
    import os

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_result(name: str, data: dict[str, Any], table: list[dict[str, Any]]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps({"machine": machine(), **data}, indent=2) + "\n")
    lines = []
    if table:
        headers = list(table[0])
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|" + "---|" * len(headers))
        lines.extend("| " + " | ".join(str(row[h]) for h in headers) + " |" for row in table)
    path = RESULTS / f"{name}.md"
    path.write_text(f"# {name}\n\n{data.get('description', '')}\n\n" + "\n".join(lines) + "\n")
    print(path.read_text())
    return path


def run_bench_job(client: BurstClient, worker: str, batches: int, params: dict[str, Any]) -> Job:
    """Run a job of ``batches`` one-item batches, all in one round, of bench/service's ``worker`` (and its
    combiner) to success."""
    job = client.dispatch(
        f"{ORG}-burst-bench-{STAGE}-{worker}",
        f"{ORG}-burst-bench-{STAGE}-combiner",
        0,
        batches,
        batch_size=1,
        max_parallelism=batches,
        job_parameters=params,
    )
    status = job.wait(timeout=3600, poll_interval=2.0)
    assert status.state == "succeeded" and status.done == batches, status
    return job
