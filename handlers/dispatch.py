"""dispatch: validate a job request, write its first batch file and start its execution."""

from typing import Any

from burst_core import runtime
from burst_core.dispatch import Dispatcher

runtime.init()


def _dispatcher() -> Dispatcher:
    return Dispatcher(
        runtime.settings(),
        s3=runtime.client("s3"),
        stepfunctions=runtime.client("stepfunctions"),
        dynamodb=runtime.client("dynamodb"),
        lambda_client=runtime.client("lambda"),
    )


def handler(event: Any, context: Any) -> dict[str, Any]:
    return _dispatcher().dispatch(event)


def next_batches(event: Any, context: Any) -> dict[str, Any]:
    """dispatchNextBatches: delete the finished round's file and write the next round's, if any."""
    return _dispatcher().next_round(event)
