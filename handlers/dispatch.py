"""dispatch: validate a job request, write its first batch file and start its execution."""

from typing import Any

from burst_core import runtime
from burst_core.dispatch import Dispatcher

runtime.init()


def _dispatcher(**clients: Any) -> Dispatcher:
    return Dispatcher(
        runtime.settings(), s3=runtime.client("s3"), stepfunctions=runtime.client("stepfunctions"), **clients
    )


def handler(event: Any, context: Any) -> dict[str, Any]:
    # DynamoDB only for redrives (which read the job's rows); dispatchNextBatches never needs it
    return _dispatcher(dynamodb=runtime.client("dynamodb")).dispatch(event)


def next_batches(event: Any, context: Any) -> dict[str, Any]:
    """dispatchNextBatches: write the next round's batch file; returns the new round."""
    return _dispatcher().next_round(event)
