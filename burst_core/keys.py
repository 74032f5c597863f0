"""Where the framework keeps its objects in the batch bucket, in one place.

The bucket's lifecycle rules (serverless.yml) expire everything under ``jobs/`` and ``results/``:

- ``jobs/<jobId>/<execution>/``: what one execution of a job (``<jobId>``, or ``<jobId>-redrive-<n>``) writes:
  its rounds' batch files, its Map Runs' results (ResultWriter, see step-functions.yml), its summary and the
  complete lists of failed and unprocessed batches when the combiner's input holds only the first ones;
- ``results/<jobId>/``: results too large for a batch's state (``<batchId>.json``, written by the worker
  helpers) and a combiner result too large for the execution's state.
"""

from __future__ import annotations

from burst_core.config import BATCH_FILES_PREFIX, RESULTS_PREFIX

MAP_RUNS_DIR = "mapruns"


def job_prefix(job_id: str) -> str:
    """Every execution's objects of a job."""
    return f"{BATCH_FILES_PREFIX}{job_id}/"


def execution_prefix(job_id: str, execution_name: str) -> str:
    return f"{job_prefix(job_id)}{execution_name}/"


def round_file_key(job_id: str, execution_name: str, index: int) -> str:
    """The batch file (JSON array of batches) of round ``index``."""
    return f"{execution_prefix(job_id, execution_name)}round-{index}.json"


def map_runs_prefix(job_id: str, execution_name: str) -> str:
    """The ResultWriter prefix of the execution's Map Runs (each writes ``<prefix>/<run id>/manifest.json``)."""
    return f"{execution_prefix(job_id, execution_name)}{MAP_RUNS_DIR}"


def is_map_run_manifest(key: str) -> bool:
    return f"/{MAP_RUNS_DIR}/" in key and key.endswith("/manifest.json")


def summary_key(job_id: str, execution_name: str) -> str:
    return f"{execution_prefix(job_id, execution_name)}summary.json"


def failed_batches_key(job_id: str, execution_name: str) -> str:
    return f"{execution_prefix(job_id, execution_name)}failed-batches.json"


def unprocessed_batches_key(job_id: str, execution_name: str) -> str:
    return f"{execution_prefix(job_id, execution_name)}unprocessed-batches.json"


def results_key(job_id: str, batch_id: int) -> str:
    """Where a worker helper stores a batch's results that do not fit its state."""
    return f"{RESULTS_PREFIX}{job_id}/{batch_id}.json"


def combiner_result_key(job_id: str) -> str:
    return f"{RESULTS_PREFIX}{job_id}/combiner-result.json"
