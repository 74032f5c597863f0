"""cleanup: delete a round's batch file once its Map run is over."""

from typing import Any

from burst_core import runtime
from burst_core.dispatch import delete_batch_file

runtime.init()


def handler(event: Any, context: Any) -> dict[str, Any]:
    return delete_batch_file(runtime.client("s3"), event)
