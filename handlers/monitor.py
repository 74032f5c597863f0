"""monitor: the summary of a finished job's batches that decides Combine or CombineError."""

from typing import Any

from burst_core import monitor, runtime
from burst_core.mapruns import MapRunResults
from burst_core.persistence import TasksTable

runtime.init()


def handler(event: Any, context: Any) -> dict[str, Any]:
    settings = runtime.settings()
    s3 = runtime.client("s3")
    table = TasksTable(runtime.client("dynamodb"), settings.tasks_table, s3, settings.batch_inputs_bucket)
    return monitor.summarize(event, table, MapRunResults(s3, settings.batch_inputs_bucket))
