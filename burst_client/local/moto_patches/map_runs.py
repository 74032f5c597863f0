"""Distributed Map runs: their counts and children, their failure tolerance, the children's execution context."""

from __future__ import annotations

import datetime
import logging
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from moto.stepfunctions.parser.api import (
    HistoryEventType,
    MapRunFailedEventDetails,
    MapRunStatus,
)
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
    DistributedIterationComponent,
    DistributedIterationComponentEvalInput,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
    distributed_item_processor_worker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.exec.state_map.tolerated_failure import (
    ToleratedFailureCountDecl,
    ToleratedFailurePercentageDecl,
)
from moto.stepfunctions.parser.asl.component.state.state_props import StateProps
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.program_state import ProgramError, ProgramStopped, ProgramTimedOut
from moto.stepfunctions.parser.asl.eval.states import ExecutionData, ItemData, MapData

from burst_client.local import ids
from burst_client.local.moto_patches import express
from burst_client.local.moto_patches.registry import Undo, patch, patch_inherited, undo_all, workaround
from burst_core.job import iso_timestamp

LOG = logging.getLogger(__name__)


@workaround("map-run-counters")
def _apply_map_run_counters() -> Undo:
    """Gap 17: DescribeMapRun counts: total counts started children, pending is 0, running stays up after failures

    DescribeMapRun's counts are wrong: `total` counts the children started so far (AWS: the run's items, which are known
    once the ItemReader has read them), `pending` is always 0 (AWS: "items to process in child workflow executions that
    haven't started running yet"), executionCounts.running is decremented only for children that succeed (it never
    returns to 0 once one fails), and a parent stopped by StopExecution leaves its Map run SUCCEEDED (AWS: ABORTED, its
    running children counted as aborted, "stopped by the user or by Step Functions, because the Map Run failed", its
    items never started left pending)
    (https://docs.aws.amazon.com/step-functions/latest/apireference/API_MapRunItemCounts.html,
    https://docs.aws.amazon.com/step-functions/latest/dg/concepts-examine-map-run.html). Count every child ourselves,
    and keep each child's record (name, ARN, input, output, error, cause, dates) for ResultWriter (19) and the failure
    threshold (14); a child that would start after the run failed or its parent stopped does not start (its item stays
    pending).
    """
    original_run = DistributedIterationComponent.__dict__["_map_run"]
    original_body = DistributedIterationComponent.__dict__["_eval_body"]
    worker = distributed_item_processor_worker.DistributedItemProcessorWorker
    original_job = worker.__dict__["_eval_job"]

    def map_run(
        self: DistributedIterationComponent, env: Environment, eval_input: DistributedIterationComponentEvalInput
    ) -> None:
        MapRun.of(env, eval_input.map_run_record).start(env.stack[-1])  # the items the ItemReader read
        original_run(self, env, eval_input)

    def eval_body(self: DistributedIterationComponent, env: Environment) -> None:
        record = env.stack[-1].map_run_record
        set_stop = record.set_stop

        def stop(status: MapRunStatus) -> None:  # moto marks the run of a stopped parent SUCCEEDED
            aborted = status == MapRunStatus.SUCCEEDED and not env.is_running()
            set_stop(status=MapRunStatus.ABORTED if aborted else status)

        record.set_stop = stop
        original_body(self, env)

    def eval_job(self: Any, env: Environment, job: Any) -> None:
        run = MapRun.of_record(self._map_run_record)
        if run is None:  # a Map run that started before the workaround was applied
            original_job(self, env, job)
        else:
            _eval_child(self, run, env, job)

    undos = [
        patch(DistributedIterationComponent, "_map_run", map_run),
        patch(DistributedIterationComponent, "_eval_body", eval_body),
        patch(worker, "_eval_job", eval_job),
    ]
    return undo_all(undos)


MAP_RUN = "_burst_local_map_run"


@dataclass(eq=False)
class MapChild:
    """A child workflow execution of a distributed Map run."""

    index: int
    name: str
    execution_arn: str
    express: bool
    frame: Environment
    input: Any
    start: datetime.datetime
    status: str = "RUNNING"  # then SUCCEEDED, FAILED, TIMED_OUT or ABORTED
    output: Any = None
    error: str | None = None
    cause: str | None = None
    stop: datetime.datetime | None = None


class MapRun:
    """What a distributed Map run's record lacks: its items, its children, its failure threshold."""

    def __init__(self, record: Any) -> None:
        self.record = record
        self.lock = threading.Lock()
        self.items: list[Any] = []
        self.children: dict[int, MapChild] = {}
        self.tolerance: tuple[int | None, float | None] | None = None  # set by map-failure-tolerance (14)
        self.failing = False  # the failure threshold was exceeded: no child starts any more

    @staticmethod
    def of(env: Environment, record: Any) -> MapRun:
        """The run of ``record``, kept by the Map state's frame for as long as it runs (so the children's
        inputs and outputs are not kept with the execution's records forever)."""
        run: MapRun | None = env.__dict__.get(MAP_RUN)
        if run is None or run.record is not record:
            run = MapRun(record)
            env.__dict__[MAP_RUN] = run
            record.__dict__[MAP_RUN] = weakref.ref(run)
        return run

    @staticmethod
    def of_record(record: Any) -> MapRun | None:
        ref = record.__dict__.get(MAP_RUN)
        run: MapRun | None = ref() if ref is not None else None
        return run

    def _counters(self) -> tuple[Any, Any]:
        return self.record.item_counter, self.record.execution_counter

    def start(self, items: list[Any]) -> None:
        with self.lock:
            self.items = list(items)
            for counter in self._counters():
                counter.total.count(len(items))
                counter.pending.count(len(items))

    def claim(self, job: Any, frame: Environment, map_env: Environment) -> MapChild | None:
        """Start the child of ``job``, unless the run is failing or the parent stopped (None: it stays pending)."""
        with self.lock:
            if self.failing or not map_env.is_running():
                return None
            name = str(ids.uuid4())  # see ids: keeps the interpreter lock
            execution_arn = self.record.map_state_machine_arn.replace(":stateMachine:", ":execution:", 1)
            child = MapChild(
                index=job.job_index,
                name=name,
                execution_arn=f"{execution_arn}:{name}",
                express=isinstance(job.job_program, express.ExpressProgram),
                frame=frame,
                input=job.job_input,
                start=datetime.datetime.now(datetime.UTC),
            )
            self.children[job.job_index] = child
            for counter in self._counters():
                counter.pending.offset(-1)
                counter.running.count()
        return child

    def finish(
        self, child: MapChild, status: str, output: Any = None, error: str | None = None, cause: str | None = None
    ) -> None:
        """Record how ``child`` ended; stop the run if that exceeds its failure threshold."""
        to_abort: list[MapChild] = []
        with self.lock:
            child.status, child.output, child.error, child.cause = status, output, error, cause
            child.stop = datetime.datetime.now(datetime.UTC)
            for counter in self._counters():
                counter.running.offset(-1)
                if status == "SUCCEEDED":
                    counter.succeeded.count()
                    counter.results_written.count()
                elif status == "FAILED":
                    counter.failed.count()
                elif status == "TIMED_OUT":
                    counter.timed_out.count()
                else:
                    counter.aborted.count()
            if status in ("FAILED", "TIMED_OUT") and self.tolerance is not None and not self.failing:
                items = self.record.item_counter
                failed = items.failed.get() + items.timed_out.get()
                if exceeds_tolerance(failed, len(self.items), *self.tolerance):
                    self.failing = True
                    # Express children cannot be stopped: the run waits for them
                    to_abort = [c for c in self.children.values() if c.status == "RUNNING" and not c.express]
        for running in to_abort:
            running.frame.set_stop(stop_date=datetime.datetime.now(datetime.UTC), cause=None, error=None)


def _eval_child(self: Any, run: MapRun, env: Environment, job: Any) -> None:
    """DistributedItemProcessorWorker._eval_job: run one item's child workflow, count and record it."""
    child = run.claim(job, env, self._env)
    if child is None:
        job.job_output = None
        return
    if child.express:  # a Standard parent's StopExecution does not stop its Express children either
        self._env.delete_frame(env)
    status, output, error, cause = "FAILED", None, None, None
    try:
        env.states.context_object.context_object_data["Map"] = MapData(
            Item=ItemData(Index=job.job_index, Value=job.job_input)
        )
        env.states.reset(job.job_input)
        env.stack.append(env.states.get_input())
        self._eval_input(env_frame=env)
        child.input = env.states.get_input()
        job.job_program.eval(env)
        end = env.program_state()
        if isinstance(end, ProgramError):
            error, cause = (end.error or {}).get("error"), (end.error or {}).get("cause")
        elif isinstance(end, ProgramStopped):
            status = "ABORTED"
        elif isinstance(end, ProgramTimedOut):
            status, error = "TIMED_OUT", StatesErrorNameType.StatesTimeout.to_name()
            cause = express.EXPRESS_TIMEOUT_CAUSE.format(seconds=express.EXPRESS_MAX_DURATION_SECS)
        else:
            status, output = "SUCCEEDED", env.states.get_input()
    except FailureEventException as failure:
        error, cause = failure.extract_error_cause_pair() or (None, None)
    except Exception as exc:  # as moto's worker: the child fails, the run goes on
        if isinstance(env.program_state(), ProgramStopped):  # stopped before its first state (set_stop)
            status = "ABORTED"
        else:
            LOG.debug("distributed Map child %s failed: %r", child.name, exc)
            error, cause = StatesErrorNameType.StatesRuntime.to_name(), str(exc)
    finally:
        run.finish(child, status, output, error, cause)
        job.job_output = output


@workaround("map-failure-tolerance")
def _apply_map_failure_tolerance() -> Undo:
    """Gap 14: a distributed Map succeeds however many children fail (tolerance thresholds ignored)

    A distributed Map ignores its failure tolerance (moto logs "ToleratedFailurePercentage declarations currently have
    no effect"): failed child executions are counted, but the Map run and the Map state succeed whatever their number,
    and every item runs. On AWS the Map run fails with States.ExceedToleratedFailureThreshold once the failed and
    timed-out children exceed ToleratedFailureCount, or their share of *all* the run's items exceeds
    ToleratedFailurePercentage (either threshold when both are set; any failure when neither is, the default being 0),
    or the ...Path variants' values
    (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html#maprun-fail-threshold). It fails
    fast: no child starts after that, running Standard children are stopped (ABORTED), Express ones, which cannot be
    stopped, run to their end, and items never started stay PENDING
    (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-examine-map-run.html); the Map state fails once the
    run has stopped. With map-run-counters (17) the thresholds are checked after every child (see MapRun.finish);
    without it only when all children are done.
    """
    original_props = StateMap.__dict__["from_state_props"]
    original_run = DistributedIterationComponent.__dict__["_map_run"]

    def from_state_props(self: StateMap, state_props: StateProps) -> None:
        original_props(self, state_props)
        declared = (  # the ...Path variants are registered under the same types (StateProps.add)
            state_props.get(ToleratedFailureCountDecl) is not None,
            state_props.get(ToleratedFailurePercentageDecl) is not None,
        )
        self.iteration_component.__dict__[_TOLERANCE_DECLARED] = declared

    def map_run(
        self: DistributedIterationComponent, env: Environment, eval_input: DistributedIterationComponentEvalInput
    ) -> None:
        count_declared, percentage_declared = self.__dict__.get(_TOLERANCE_DECLARED, (False, False))
        count = int(eval_input.tolerated_failure_count) if count_declared else None
        percentage = float(eval_input.tolerated_failure_percentage) if percentage_declared else None
        run = MapRun.of(env, eval_input.map_run_record)
        run.tolerance = (count, percentage)
        original_run(self, env, eval_input)
        if not env.is_running():  # the execution is being stopped: its children were aborted, not failed
            return
        items = eval_input.map_run_record.item_counter
        failed = items.failed.get() + items.timed_out.get()
        if run.failing or exceeds_tolerance(failed, items.total.get(), count, percentage):
            raise _threshold_exceeded(env)

    undos = [
        patch(StateMap, "from_state_props", from_state_props),
        patch(DistributedIterationComponent, "_map_run", map_run),
    ]
    return undo_all(undos)


_TOLERANCE_DECLARED = "_burst_local_tolerance_declared"
THRESHOLD_EXCEEDED_CAUSE = "The specified tolerated failure threshold was exceeded"


def exceeds_tolerance(failed: int, total: int, count: int | None, percentage: float | None) -> bool:
    """Whether ``failed`` of ``total`` items exceed the declared thresholds (None: not declared)."""
    if failed == 0:
        return False
    if count is None and percentage is None:
        return True
    over_count = count is not None and failed > count
    over_percentage = percentage is not None and total > 0 and failed * 100.0 / total > percentage
    return over_count or over_percentage


def _threshold_exceeded(env: Environment) -> FailureEventException:
    error = StatesErrorName(typ=StatesErrorNameType.StatesExceedToleratedFailureThreshold)
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=error,
            event_type=HistoryEventType.MapRunFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]  # moto's total TypedDict
                mapRunFailedEventDetails=MapRunFailedEventDetails(
                    error=error.error_name, cause=THRESHOLD_EXCEEDED_CAUSE
                )
            ),
        )
    )


@workaround("map-child-execution-context")
def _apply_map_child_execution_context() -> Undo:
    """Gap 22: a distributed Map child's $$.Execution is its parent's (Id, Name, Input, StartTime)

    In a distributed Map's child workflow, $$.Execution is the parent's (its Id, Name, Input, StartTime): moto runs a
    child in a frame of the parent (Environment.as_inner_frame_of copies the parent's Execution). On AWS each child is
    an execution of its own (https://docs.aws.amazon.com/step-functions/latest/dg/ state-map-distributed.html: "child
    workflow executions"), so its states see its own ARN, name, input (the ItemSelector's output) and start time; the
    ItemSelector itself is evaluated with the parent's
    (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html). Give each child its
    Execution once its input is known. Needs map-run-counters (17), which names the children.
    """
    worker = distributed_item_processor_worker.DistributedItemProcessorWorker
    original = worker._eval_input  # inherited from InlineItemProcessorWorker

    def eval_input(self: Any, env_frame: Environment) -> None:
        original(self, env_frame)
        run = MapRun.of_record(self._map_run_record)
        data: Any = env_frame.states.context_object.context_object_data
        child = run.children.get(data["Map"]["Item"]["Index"]) if run is not None and "Map" in data else None
        if child is not None:
            data["Execution"] = ExecutionData(  # a dict of its own: the parent's is shared with its other frames
                Id=child.execution_arn,
                Input=env_frame.states.get_input(),  # a copy already
                Name=child.name,
                RoleArn=data["Execution"].get("RoleArn", ""),
                StartTime=iso_timestamp(child.start),
            )

    return patch_inherited(worker, "_eval_input", eval_input)
