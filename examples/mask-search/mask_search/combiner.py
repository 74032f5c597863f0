"""Combiner: merge every batch's matches into the job's top K (via burst_core.combiner)."""

from __future__ import annotations

from typing import Any

from burst_core.combiner import Job, combiner
from mask_search.imaging import top_k


@combiner
def handler(job: Job) -> dict[str, Any]:
    matches = (match for batch in job.results() for match in batch.results)
    return {
        "status": job.status,
        "matches": top_k(matches, int(job.job_parameters.get("topK", 10))),
        "searched": job.event["datasetEndIndex"] - job.event["datasetStartIndex"],
        "succeededBatches": job.event["succeededBatches"],
        "failedBatches": [failure["batchId"] for failure in job.failed_batches()],
        "timedOut": job.timed_out,
    }
