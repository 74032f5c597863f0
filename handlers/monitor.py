"""monitor: progress between rounds, and the summary that decides Combine or CombineError."""

from typing import Any

from burst_core import monitor, runtime
from burst_core.persistence import TasksTable

runtime.init()


def _table() -> TasksTable:
    settings = runtime.settings()
    return TasksTable(
        runtime.client("dynamodb"), settings.tasks_table, runtime.client("s3"), settings.batch_inputs_bucket
    )


def handler(event: Any, context: Any) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("action") == "summarize":
        return monitor.summarize(event, _table())
    return monitor.progress(event, _table())
