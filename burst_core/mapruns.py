"""What the Map Runs' ResultWriter says about child workflows that left no row.

A batch's child workflow can fail before it writes the batch's row: with States.DataLimitExceeded
(its worker's output made the state larger than 256 KiB, which no Catch can handle), States.Timeout
(an EXPRESS child past its five minutes), or when the row could not be written. Step Functions then
records the child in the Map Run's results, which the job lifecycle writes to
``s3://<bucket>/jobs/<jobId>/mapruns/<map run>/``: a ``manifest.json`` listing ``FAILED_n.json`` files
of failed, timed-out and aborted children, each with its Input, Status, Error and Cause
(https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from burst_core.config import BATCH_FILES_PREFIX
from burst_core.exceptions import StorageError

logger = logging.getLogger(__name__)

ABORTED = "ABORTED"


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


def map_runs_prefix(job_id: str) -> str:
    return f"{BATCH_FILES_PREFIX}{job_id}/mapruns/"


class MapRunResults:
    """Reads the Map Runs' result files of a job. The S3 client is injected."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def _json(self, key: str) -> Any:
        return json.loads(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read())

    def _manifests(self, job_id: str) -> Iterator[str]:
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=map_runs_prefix(job_id)):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith("/manifest.json"):
                    yield obj["Key"]

    def failures(self, job_id: str) -> dict[int, ChildFailure]:
        """The latest report of every batch whose child workflow failed, timed out or was aborted."""
        found: dict[int, ChildFailure] = {}
        try:
            for manifest_key in self._manifests(job_id):
                manifest = self._json(manifest_key)
                for entry in (manifest.get("ResultFiles") or {}).get("FAILED") or []:
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
        error=str(child.get("Error") or "States.Runtime"),
        cause=str(child.get("Cause") or ""),
        stopped=str(child.get("StopDate") or ""),
    )
