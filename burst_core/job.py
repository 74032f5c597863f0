"""Validating dispatch input and describing a job.

:func:`parse_job_request` turns the raw dispatch event into a :class:`JobRequest` or raises
:class:`~burst_core.exceptions.InvalidJobInput` naming the field at fault. Nothing is written or
started before this succeeds.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from burst_core.exceptions import InvalidJobInput, PayloadTooLarge
from burst_core.orchestration import ExecutionType
from burst_core.storage import encode_json, json_size

# Step Functions' hard limit on state input/output (256 KiB), and what a job may use of it: the
# job parameters travel with every batch and to the combiner together with the failed-batch list.
STATE_PAYLOAD_LIMIT_BYTES = 256 * 1024
MAX_JOB_PARAMETERS_BYTES = 96 * 1024

DEFAULT_BATCH_SIZE = 50
DEFAULT_TOLERATED_PERCENTAGE_FAILURE = 10.0

# A Lambda function name, partial ARN or full ARN, optionally qualified (AWS's own pattern).
FUNCTION_NAME_RE = re.compile(
    r"^(arn:(aws[a-zA-Z-]*)?:lambda:)?(?:(?P<region>[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}):)?"
    r"(?:(?P<account>\d{12}):)?(function:)?(?P<name>[a-zA-Z0-9-_\.]+)(:(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]+))?$"
)
_INTEGER_STRING_RE = re.compile(r"^\s*[+-]?\d+\s*$")
_NUMBER_STRING_RE = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")

FIELDS = (
    "workerFunctionName",
    "combinerFunctionName",
    "datasetStartIndex",
    "datasetEndIndex",
    "batchSize",
    "maxParallelism",
    "jobsTimeoutSecs",
    "jobParameters",
    "toleratedPercentageFailure",
    "batchExecutionType",
)


@dataclass(frozen=True)
class JobRequest:
    """A validated dispatch request (before the deployment's limits are applied)."""

    worker_function_name: str
    combiner_function_name: str
    dataset_start_index: int
    dataset_end_index: int
    batch_size: int = DEFAULT_BATCH_SIZE
    max_parallelism: int | None = None
    jobs_timeout_secs: int | None = None
    job_parameters: dict[str, Any] = field(default_factory=dict)
    tolerated_percentage_failure: float = DEFAULT_TOLERATED_PERCENTAGE_FAILURE
    # None: EXPRESS when the worker fits, else STANDARD (burst_core.orchestration)
    batch_execution_type: ExecutionType | None = None


def _function_name(event: Mapping[str, Any], name: str) -> str:
    if name not in event or event[name] is None:
        raise InvalidJobInput(name, "is required: expected the name or ARN of a Lambda function")
    value = event[name]
    if not isinstance(value, str) or not value.strip():
        raise InvalidJobInput(name, f"expected a non-empty Lambda function name or ARN, got {value!r}")
    value = value.strip()
    if len(value) > 170 or not FUNCTION_NAME_RE.match(value):
        raise InvalidJobInput(name, f"expected a Lambda function name or ARN, got {value!r}")
    return value


def integer_field(
    event: Mapping[str, Any], name: str, *, minimum: int, default: int | None = None, required: bool = False
) -> int | None:
    if name not in event or event[name] is None:
        if required:
            raise InvalidJobInput(name, f"is required: expected an integer >= {minimum}")
        return default
    value = event[name]
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidJobInput(name, f"expected an integer, got {value!r}")
    if isinstance(value, str):
        if not _INTEGER_STRING_RE.match(value):
            raise InvalidJobInput(name, f"expected an integer, got {value!r}")
        value = int(value)
    if value < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise InvalidJobInput(name, f"expected {what}, got {value}")
    return value


def _percentage(event: Mapping[str, Any], name: str) -> float:
    value = event.get(name)
    if value is None:
        return DEFAULT_TOLERATED_PERCENTAGE_FAILURE
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidJobInput(name, f"expected a number between 0 and 100, got {value!r}")
    if isinstance(value, str):
        if not _NUMBER_STRING_RE.match(value):
            raise InvalidJobInput(name, f"expected a number between 0 and 100, got {value!r}")
        value = float(value)
    number = float(value)
    if not 0 <= number <= 100:  # also rejects NaN
        raise InvalidJobInput(name, f"expected a number between 0 and 100, got {value!r}")
    return number


def _execution_type(event: Mapping[str, Any]) -> ExecutionType | None:
    value = event.get("batchExecutionType")
    if value is None or (isinstance(value, str) and value.strip().upper() == "AUTO"):
        return None
    choices = ", ".join(member.value for member in ExecutionType)
    if not isinstance(value, str) or value.strip().upper() not in ExecutionType.__members__:
        raise InvalidJobInput("batchExecutionType", f"expected one of {choices} or AUTO, got {value!r}")
    return ExecutionType(value.strip().upper())


def _job_parameters(event: Mapping[str, Any]) -> dict[str, Any]:
    value = event.get("jobParameters")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidJobInput("jobParameters", f"expected a JSON object, got {type(value).__name__}")
    try:
        size = len(encode_json(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidJobInput("jobParameters", f"expected a JSON-serialisable object: {exc}") from None
    if size > MAX_JOB_PARAMETERS_BYTES:
        raise PayloadTooLarge(
            "jobParameters",
            f"is {size} bytes as JSON; at most {MAX_JOB_PARAMETERS_BYTES} bytes fit in the Step "
            "Functions payload (256 KiB) beside the job's own fields: put large inputs in S3 and pass "
            "their location",
        )
    return value


def _reject_unknown_fields(event: Mapping[str, Any]) -> None:
    lowered = {name.lower(): name for name in FIELDS}
    for key in event:
        if key in FIELDS:
            continue
        hint = lowered.get(str(key).lower())
        if hint is None:
            close = difflib.get_close_matches(str(key), FIELDS, n=1, cutoff=0.6)
            hint = close[0] if close else None
        suggestion = f" (did you mean {hint}?)" if hint else f"; expected one of: {', '.join(FIELDS)}"
        raise InvalidJobInput(str(key), f"unknown field{suggestion}")


def parse_job_request(event: Any) -> JobRequest:
    """Validate a dispatch event. Raises InvalidJobInput naming the first field at fault."""
    if not isinstance(event, Mapping):
        raise InvalidJobInput("event", f"expected a JSON object, got {type(event).__name__}")
    _reject_unknown_fields(event)
    worker = _function_name(event, "workerFunctionName")
    combiner = _function_name(event, "combinerFunctionName")
    start = integer_field(event, "datasetStartIndex", minimum=0, required=True)
    end = integer_field(event, "datasetEndIndex", minimum=0, required=True)
    assert start is not None and end is not None  # required=True never returns None
    if end <= start:
        raise InvalidJobInput(
            "datasetEndIndex",
            f"expected an integer greater than datasetStartIndex ({start}), got {end}",
        )
    batch_size = integer_field(event, "batchSize", minimum=1, default=DEFAULT_BATCH_SIZE)
    assert batch_size is not None
    return JobRequest(
        worker_function_name=worker,
        combiner_function_name=combiner,
        dataset_start_index=start,
        dataset_end_index=end,
        batch_size=batch_size,
        max_parallelism=integer_field(event, "maxParallelism", minimum=1, default=None),
        jobs_timeout_secs=integer_field(event, "jobsTimeoutSecs", minimum=1, default=None),
        job_parameters=_job_parameters(event),
        tolerated_percentage_failure=_percentage(event, "toleratedPercentageFailure"),
        batch_execution_type=_execution_type(event),
    )


def state_room(beside: Any, overhead: int) -> int:
    """How many bytes of compact JSON fit in a Step Functions state that also holds ``beside`` (measured as
    compact JSON) and ``overhead`` bytes of what it holds besides (negative: ``beside`` alone does not fit)."""
    return STATE_PAYLOAD_LIMIT_BYTES - json_size(beside) - overhead


def iso_timestamp(moment: datetime) -> str:
    """RFC 3339 UTC timestamp with milliseconds, the format of Step Functions' EnteredTime."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(value: str | datetime) -> datetime:
    """An RFC 3339 time (``...Z`` or ``+00:00``, with ms or us; as Step Functions, moto and
    :func:`iso_timestamp` write it) or a datetime, as an aware UTC datetime (naive ones are taken as UTC).
    Raises ValueError for anything else."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def deadline_for(start: datetime, jobs_timeout_secs: int) -> datetime:
    return start + timedelta(seconds=jobs_timeout_secs)
