"""A job's facts, fetched once through the gateway: what the timeline and the cost report are computed from.

    facts = fetch_facts(job.client.gateway, job.client.stack, job.job_id, job.describe(), costs=True)

:mod:`burst_client.timeline` and :mod:`burst_client.cost` are pure functions of a :class:`JobFacts`;
this module is where their AWS reads are (the execution history, the tasks table's rows and, for the
cost, the deployed definition, the map runs and the functions' configurations).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError as BotoClientError

from burst_client.aws import translated_errors
from burst_client.errors import BurstClientError
from burst_client.gateway import Gateway, Stack
from burst_client.history import ExecutionInfo, StateRun, state_runs
from burst_core.persistence import RECORD_ATTRIBUTES, BatchRecord

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobFacts:
    """What is known of one execution of a job (its latest one, for a redriven job)."""

    job_id: str
    execution: Mapping[str, Any]  # DescribeExecution
    events: list[dict[str, Any]]  # the execution history, oldest first
    rows: list[BatchRecord]  # the job's rows in the tasks table
    stack: Stack | None = None
    definition: Mapping[str, Any] | None = None  # the deployed state machine's (None: not fetched)
    # DescribeMapRun of each map run of the execution; None when they could not be described
    map_runs: Mapping[str, Mapping[str, Any]] | None = None
    # GetFunctionConfiguration of each function the job ran, by name (missing: it could not be read)
    functions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @cached_property
    def parsed(self) -> tuple[list[StateRun], ExecutionInfo]:
        return state_runs(self.events)

    @property
    def runs(self) -> list[StateRun]:
        return self.parsed[0]

    @property
    def info(self) -> ExecutionInfo:
        return self.parsed[1]

    @property
    def state(self) -> dict[str, Any]:
        """The job's state at its execution's start (ExecutionStarted's input, else DescribeExecution's)."""
        if self.info.input:
            return self.info.input
        text = self.execution.get("input")
        return dict(json.loads(text)) if isinstance(text, str) else {}


def function_names(stack: Stack, state: Mapping[str, Any]) -> dict[str, str]:
    """The deployed name of each function a job runs, by its key (worker, combiner, dispatch, ...)."""
    return {
        "worker": str(state.get("workerFunctionName", "")),
        "combiner": str(state.get("combinerFunctionName", "")),
        "dispatch": stack.dispatch_function,
        "dispatchNextBatches": f"{stack.name}-dispatchNextBatches",
        "monitor": f"{stack.name}-monitor",
    }


def _map_runs(gateway: Gateway, runs: list[StateRun]) -> dict[str, dict[str, Any]] | None:
    described: dict[str, dict[str, Any]] = {}
    for run in runs:
        if run.kind != "Map":
            continue
        if not run.map_run_arn:
            return None
        try:
            described[run.map_run_arn] = gateway.describe_map_run(run.map_run_arn)
        except (BotoClientError, BotoCoreError) as exc:
            LOG.info("cannot describe map run %s: %s", run.map_run_arn, exc)
            return None
    return described


def fetch_facts(
    gateway: Gateway,
    stack: Stack,
    job_id: str,
    execution: Mapping[str, Any],
    *,
    costs: bool = False,
    definition: Mapping[str, Any] | None = None,
) -> JobFacts:
    """The facts of the execution ``execution`` (DescribeExecution) of job ``job_id``: its history and the
    job's rows (the attributes the timeline draws; every attribute with ``costs``); with ``costs`` also
    the deployed definition (unless ``definition`` is given), the map runs and the functions' configurations."""
    arn = str(execution["executionArn"])
    events = gateway.execution_history(arn)
    with translated_errors():
        attributes = None if costs else RECORD_ATTRIBUTES
        rows = list(gateway.tasks_table(stack.tasks_table).records(job_id, attributes=attributes))
    LOG.info("job %s: %d history events, %d rows", job_id, len(events), len(rows))
    facts = JobFacts(job_id, execution, events, rows, stack, definition)
    if not costs:
        return facts
    if definition is None:
        definition = gateway.state_machine_definition(str(execution.get("stateMachineArn") or stack.state_machine_arn))
    functions: dict[str, dict[str, Any]] = {}
    for key, name in function_names(stack, facts.state).items():
        try:
            functions[name] = gateway.function_configuration(name)
        except (BotoClientError, BotoCoreError, BurstClientError) as exc:
            LOG.info("cannot read the configuration of %s (%s): %s", key, name, exc)
    return JobFacts(
        job_id,
        execution,
        events,
        rows,
        stack,
        definition,
        _map_runs(gateway, facts.runs),
        functions,
    )
