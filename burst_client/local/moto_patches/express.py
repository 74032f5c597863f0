"""Express child workflows of a distributed Map (ExecutionType EXPRESS, their 5-minute limit)."""

from __future__ import annotations

import copy
import functools
import json
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iteration_component import (
    IterationComponent,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from burst_client.local.moto_patches.registry import Undo, patch, undo_all, workaround
from burst_client.local.moto_patches.stepfunctions import json_objects

LOG = logging.getLogger(__name__)


@workaround("express-child-workflows")
def _apply_express_child_workflows() -> Undo:
    """Gap 18: ExecutionType EXPRESS is a syntax error; no 5-minute limit for Express children

    A distributed Map's ItemProcessor.ProcessorConfig.ExecutionType may be STANDARD or EXPRESS
    (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html); moto's ASL grammar accepts only
    STANDARD ('mismatched input '"EXPRESS"' expecting '"STANDARD"'' on CreateStateMachine). An Express child that runs
    longer than 5 minutes fails with States.Timeout
    (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html): the Map run counts it as timed out,
    which counts towards the failure threshold like a failure (14). Express children cannot be stopped
    (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-examine-map-run.html): neither a failing Map run (14)
    nor the parent's StopExecution (17) aborts them; the run waits for them. Hand the parser STANDARD, mark the Map's
    iteration component, and run its children as ExpressProgram. After the limit the child counts as timed out at once;
    a Task it was running finishes in the background (its next states do not run). The child's error is States.Timeout;
    AWS's cause is not documented, ours is EXPRESS_TIMEOUT_CAUSE.
    """
    original_parse = AmazonStateLanguageParser.parse
    original_program = IterationComponent.__dict__["_get_iteration_program"]

    def parse(definition: str) -> Any:
        text, written = _express_processors(definition)
        parsed = original_parse(text)
        if written is not None:
            program: Any = parsed[0]
            _mark_express(written, program.states.states)
        return parsed

    def get_iteration_program(self: IterationComponent) -> Program:
        if not self.__dict__.get(_EXPRESS):
            program: Program = original_program(self)
            return program
        return ExpressProgram(
            query_language=self._query_language,
            start_at=self._start_at,
            states=self._states,
            timeout_seconds=None,
            comment=self._comment,
        )

    undos = [
        patch(AmazonStateLanguageParser, "parse", staticmethod(parse)),
        patch(IterationComponent, "_get_iteration_program", get_iteration_program),
    ]
    return undo_all(undos)


EXPRESS_MAX_DURATION_SECS: float = 300.0
EXPRESS_TIMEOUT_CAUSE = "The execution ran longer than an Express workflow's maximum duration of {seconds:g} seconds."
_EXPRESS = "_burst_local_express"


class _DaemonThreads:
    """Runs calls on daemon threads reused from call to call (a new thread for every Express child cost more
    than the child's own states); daemon, so that a child stuck in a Task never holds up the endpoint's exit."""

    def __init__(self) -> None:
        self._calls: queue.SimpleQueue[tuple[Callable[[], None], threading.Event]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def run(self, call: Callable[[], None], timeout: float) -> bool:
        """Run ``call`` on one of the threads; whether it ended within ``timeout`` seconds."""
        finished = threading.Event()
        with self._lock:
            start = self._idle == 0
            self._idle = max(self._idle - 1, 0)
        if start:
            threading.Thread(target=self._serve, name="burst-local-express-child", daemon=True).start()
        self._calls.put((call, finished))
        return finished.wait(timeout)

    def _serve(self) -> None:
        while True:
            call, finished = self._calls.get()
            try:
                call()
            except Exception:  # as a thread of its own would: report it and go on
                LOG.exception("Express child workflow failed")
            finally:
                finished.set()
                with self._lock:
                    self._idle += 1


_EXPRESS_CHILDREN = _DaemonThreads()


class ExpressProgram(Program):
    """The child workflow of an Express distributed Map: times out after EXPRESS_MAX_DURATION_SECS."""

    def eval(self, env: Environment) -> None:
        if not _EXPRESS_CHILDREN.run(functools.partial(Program.eval, self, env), EXPRESS_MAX_DURATION_SECS):
            with env._state_mutex:
                if env.is_running():
                    env.set_timed_out()


def _express_processors(document: Any) -> tuple[str, Any]:
    """The definition with every ExecutionType EXPRESS replaced by STANDARD, and the document as written."""
    if not isinstance(document, str) or '"EXPRESS"' not in document:
        return document, None
    try:
        written = json.loads(document)
    except ValueError:
        return document, None  # not JSON: let the parser report it
    normalised = copy.deepcopy(written)
    for node in json_objects(normalised):
        config = node.get("ProcessorConfig")
        if isinstance(config, dict) and config.get("ExecutionType") == "EXPRESS":
            config["ExecutionType"] = "STANDARD"
    return json.dumps(normalised), written


def _mark_express(document: Any, states: dict[str, Any]) -> None:
    """Mark the iteration components of the Map states whose ItemProcessor is EXPRESS (nested ones too)."""
    for name, state_document in (document.get("States") or {}).items() if isinstance(document, dict) else ():
        state = states.get(name)
        if state is None or not isinstance(state_document, dict):
            continue
        if isinstance(state, StateMap):
            processor = state_document.get("ItemProcessor") or state_document.get("Iterator") or {}
            component = state.iteration_component
            if (processor.get("ProcessorConfig") or {}).get("ExecutionType") == "EXPRESS":
                component.__dict__[_EXPRESS] = True
            _mark_express(processor, component._states.states)
        for branch_document, program in zip(
            state_document.get("Branches") or [],
            getattr(getattr(state, "branches", None), "programs", []),
            strict=False,
        ):
            _mark_express(branch_document, program.states.states)
