"""persist: write one batch's results (or error) to the tasks table."""

from typing import Any

from burst_core import runtime
from burst_core.persist import persist_batch
from burst_core.persistence import TasksTable

runtime.init()


def handler(event: Any, context: Any) -> dict[str, Any]:
    settings = runtime.settings()
    table = TasksTable(
        runtime.client("dynamodb"), settings.tasks_table, runtime.client("s3"), settings.batch_inputs_bucket
    )
    return persist_batch(event, table, ttl_days=settings.results_ttl_days)
