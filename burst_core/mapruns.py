"""What the Map Runs' ResultWriter says about child workflows that left no row.

A batch's child workflow can fail before it writes the batch's row: with States.DataLimitExceeded
(its worker's output made the state larger than 256 KiB, which no Catch can handle), States.Timeout
(an EXPRESS child past its five minutes), or when the row could not be written. Step Functions then
records the child in the Map Run's results, which the job lifecycle writes under
``s3://<bucket>/jobs/<jobId>/<execution>/mapruns/<map run>/`` (:mod:`burst_core.keys`): a ``manifest.json``
listing ``FAILED_n.json`` files of failed, timed-out and aborted children, each with its Input, Status,
Error and Cause (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html).
Each record holds the child's whole input (the job's parameters included), so a result file larger than
:data:`MAX_REPORT_BYTES` is not read (the batches it would explain are reported as not recorded).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from burst_core.exceptions import StorageError
from burst_core.keys import is_map_run_manifest, job_prefix

logger = logging.getLogger(__name__)

ABORTED = "ABORTED"
# The monitor function has 1,024 MB; a result file is parsed whole.
MAX_REPORT_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class ChildFailure:
    """A batch's child workflow that did not succeed, as its Map Run reported it."""

    batch_id: int
    status: str  # FAILED, TIMED_OUT or ABORTED
    error: str
    cause: str
    stopped: str  # its StopDate, for ordering several reports of one batch

    @property
    def aborted(self) -> bool:
        """Stopped (the Map Run failed, or the job was cancelled): it did not fail, it did not finish."""
        return self.status == ABORTED


class MapRunResults:
    """Reads the Map Runs' result files of a job. The S3 client is injected."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def _json(self, key: str) -> Any:
        return json.loads(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read())

    def _manifests(self, job_id: str) -> Iterator[str]:
        """The Map Run manifests of every execution of the job (a redrive's too)."""
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=job_prefix(job_id)):
            for obj in page.get("Contents", []):
                if is_map_run_manifest(obj["Key"]):
                    yield obj["Key"]

    def failures(self, job_id: str) -> dict[int, ChildFailure]:
        """The latest report of every batch whose child workflow failed, timed out or was aborted."""
        found: dict[int, ChildFailure] = {}
        try:
            for manifest_key in self._manifests(job_id):
                manifest = self._json(manifest_key)
                for entry in (manifest.get("ResultFiles") or {}).get("FAILED") or []:
                    if int(entry.get("Size") or 0) > MAX_REPORT_BYTES:
                        logger.warning(
                            "job %s: %s is too large to read (%s bytes)", job_id, entry["Key"], entry["Size"]
                        )
                        continue
                    for child in self._json(entry["Key"]):
                        failure = _child_failure(child)
                        if failure is None:
                            continue
                        known = found.get(failure.batch_id)
                        if known is None or failure.stopped >= known.stopped:
                            found[failure.batch_id] = failure
        except ClientError as exc:
            raise StorageError(f"job {job_id}: cannot read its Map Runs' results: {exc}") from exc
        return found


def _child_failure(child: dict[str, Any]) -> ChildFailure | None:
    try:
        batch_id = int(json.loads(child["Input"])["batchId"])
    except (KeyError, TypeError, ValueError):
        logger.warning("Map Run result without a batch id: %s", str(child)[:300])
        return None
    return ChildFailure(
        batch_id=batch_id,
        status=str(child.get("Status", "FAILED")),
        error=str(child.get("Error") or "Unknown"),
        cause=str(child.get("Cause") or ""),
        stopped=str(child.get("StopDate") or ""),
    )
