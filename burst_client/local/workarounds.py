"""Patches for gaps of moto 5.2.5 that stop the service from deploying or running on the local endpoint.

Every patch names the gap it covers and has a test in tests/local/test_workarounds.py that shows plain moto
still has the gap (so a patch can be dropped once moto fixes it). Patches are applied in-process, to the moto
modules the local endpoint serves from, by :func:`apply_all` (idempotent); :func:`applied` applies them for
the duration of a ``with`` block only (for tests).
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime
import decimal
import functools
import inspect
import io
import itertools
import json
import logging
import os
import queue
import re
import sys
import threading
import types
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from boto3.dynamodb.types import DYNAMODB_CONTEXT
from botocore import endpoint as botocore_endpoint
from botocore.awsrequest import AWSResponse, HeadersDict, prepare_request_dict
from botocore.config import Config
from botocore.response import StreamingBody
from moto import backends as moto_backends
from moto import settings as moto_settings
from moto.awslambda.models import lambda_backends
from moto.cloudformation import parsing
from moto.cloudformation.models import CloudFormationBackend
from moto.core import responses as moto_responses
from moto.core.botocore_stubber import MockRawResponse
from moto.core.exceptions import ServiceException
from moto.core.request import normalize_request
from moto.core.responses import ActionResult
from moto.core.serialize import JSONSerializer, get_serializer_class
from moto.core.utils import get_service_model as moto_service_model
from moto.dynamodb import responses as dynamodb_responses
from moto.dynamodb.exceptions import ItemSizeTooLarge, ItemSizeToUpdateTooLarge
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.responses import DynamoHandler
from moto.iam.models import get_account_id_from
from moto.stepfunctions import responses
from moto.stepfunctions.exceptions import InvalidToken, ResourceNotFound
from moto.stepfunctions.models import StateMachine
from moto.stepfunctions.parser import utils as parser_utils
from moto.stepfunctions.parser.api import (
    HistoryEventType,
    InvocationResponse,
    LambdaFunctionFailedEventDetails,
    MapRunFailedEventDetails,
    MapRunStatus,
    TaskFailedEventDetails,
)
from moto.stepfunctions.parser.asl.component.common.catch.catch_outcome import CatchOutcome
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.common.parargs import Parargs
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.retry.retry_outcome import RetryOutcome
from moto.stepfunctions.parser.asl.component.common.string import string_expression
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state import state as state_module
from moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations.is_operator import (
    IsTimestamp,
)
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.exec.state_map import state_map as state_map_module
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
    distributed_iteration_component,
    iteration_worker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
    DistributedIterationComponent,
    DistributedIterationComponentEvalInput,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
    distributed_item_processor_worker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iteration_component import (
    IterationComponent,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iterator import (
    distributed_iterator_worker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3 import (
    ResourceEvalS3,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.result_writer_decl import (
    ResultWriter,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.exec.state_map.tolerated_failure import (
    ToleratedFailureCountDecl,
    ToleratedFailurePercentageDecl,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.component.state.state_props import StateProps
from moto.stepfunctions.parser.asl.eval import environment as environment_module
from moto.stepfunctions.parser.asl.eval import states as states_module
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.event import event_manager as event_manager_module
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.eval.program_state import ProgramError, ProgramStopped, ProgramTimedOut
from moto.stepfunctions.parser.asl.eval.states import ExecutionData, ItemData, MapData
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import boto_client, json_path
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.utils import cfn_to_api_tags
from moto.utilities.aws_headers import gen_amz_crc32, gen_amzn_requestid_long
from werkzeug.exceptions import HTTPException
from werkzeug.test import run_wsgi_app

from burst_client.local import ids
from burst_core.job import iso_timestamp

LOG = logging.getLogger(__name__)

Undo = Callable[[], None]


@dataclass(frozen=True)
class Workaround:
    name: str
    gap: str
    apply: Callable[[], Undo]


def _undo_all(undos: list[Undo]) -> Undo:
    """One undo for several patches (reverted in the reverse order)."""

    def undo_all() -> None:
        for undo in reversed(undos):
            undo()

    return undo_all


def _patch(owner: Any, attribute: str, replacement: Any) -> Undo:
    original = owner.__dict__[attribute]
    setattr(owner, attribute, replacement)

    def undo() -> None:
        setattr(owner, attribute, original)

    return undo


def _patch_inherited(owner: Any, attribute: str, replacement: Any) -> Undo:
    """As _patch, for an attribute ``owner`` may only inherit (then undo deletes it again)."""
    if attribute in owner.__dict__:
        return _patch(owner, attribute, replacement)
    setattr(owner, attribute, replacement)

    def undo() -> None:
        delattr(owner, attribute)

    return undo


# -- 1 ----------------------------------------------------------------------------------------------------
# GAP: CloudFormation ValidateTemplate runs cfn-lint and fails on the first match of *any* level, warnings
# included (moto.cloudformation.responses.validate_template). The role serverless-step-functions
# generates has a DependsOn that cfn-lint flags with W3005 ("Obsolete DependsOn ..."), so `sls deploy`
# stops with "Stack with id ... dependency already enforced by a 'GetAtt' ... does not exist". AWS does not
# lint templates at all; keep cfn-lint's errors (E*) and drop its warnings and informational matches.
def _apply_validate_template_ignores_warnings() -> Undo:
    original = CloudFormationBackend.validate_template

    @functools.wraps(original)
    def validate_template(self: CloudFormationBackend, template: str) -> list[Any]:
        matches = original(self, template)
        return [m for m in matches if str(getattr(getattr(m, "rule", None), "id", "E")).startswith("E")]

    return _patch(CloudFormationBackend, "validate_template", validate_template)


# -- 2 ----------------------------------------------------------------------------------------------------
# GAP: `Fn::Sub: [template, {variables}]` is substituted with string.Template, whose identifiers cannot start
# with a digit (moto.cloudformation.parsing.clean_json). serverless-step-functions names the variables of a
# state machine definition after md5 hex digests (e.g. ${0f3e...}), which are then left in place and resolved
# as Ref to a resource that does not exist: KeyError, HTTP 500 on CreateStack/ExecuteChangeSet.
# Substitute the variable map ourselves, then let moto resolve the rest (${Resource}, ${AWS::Region}, ${!x}).
def _apply_sub_with_digit_variables() -> Undo:
    original = parsing.clean_json

    @functools.wraps(original)
    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, dict) and isinstance(resource_json.get("Fn::Sub"), list):
            template, variables = resource_json["Fn::Sub"]
            if isinstance(template, str) and isinstance(variables, dict):
                for key, value in variables.items():
                    template = template.replace("${" + key + "}", str(clean_json(value, resources_map)))
                return original({"Fn::Sub": template}, resources_map)
        return original(resource_json, resources_map)

    return _patch(parsing, "clean_json", clean_json)


# -- 3 ----------------------------------------------------------------------------------------------------
# GAP: ExecuteChangeSet updates the stack's resources but not its outputs (nor its parsed template), so
# DescribeStacks has no Outputs after a change-set deploy, which is how osls deploys.
# serverless-step-functions then crashes with "Cannot read properties of undefined (reading 'filter')".
# Rebuild the outputs afterwards.
def _apply_change_set_refreshes_outputs() -> Undo:
    original = CloudFormationBackend.execute_change_set

    @functools.wraps(original)
    def execute_change_set(self: CloudFormationBackend, change_set_name: str, stack_name: str | None = None) -> None:
        original(self, change_set_name, stack_name)
        # the change set named so (by ARN, or by name, which several stacks may share): refreshing the
        # outputs of a stack the call did not touch is harmless
        executed = [cs for arn, cs in self.change_sets.items() if change_set_name in (arn, cs.change_set_name)]
        for change_set in executed:
            stack = self.stacks.get(change_set.stack_id)
            if stack is not None:
                stack._parse_template()
                stack.description = stack.template_dict.get("Description")
                stack.output_map = stack._create_output_map()

    return _patch(CloudFormationBackend, "execute_change_set", execute_change_set)


# -- 4 ----------------------------------------------------------------------------------------------------
# GAP: AWS::StepFunctions::StateMachine resources are always created in (and updated/deleted from) the plain
# stepfunctions backend (moto.stepfunctions.models.StateMachine.*_from_cloudformation_json), while with
# {"stepfunctions": {"execute_state_machine": true}} the API is served by the *parser* backend: state machines
# deployed by CloudFormation are invisible to DescribeStateMachine/StartExecution (StateMachineDoesNotExist).
# Route the CloudFormation handlers to the backend the API uses.
def _apply_cfn_state_machines_in_executing_backend() -> Undo:
    def create(
        cls: type[StateMachine],
        /,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> StateMachine:
        properties = cloudformation_json["Properties"]
        backend = responses.get_backend(account_id, region_name)
        return backend.create_state_machine(
            properties.get("StateMachineName", resource_name),
            properties.get("DefinitionString", ""),
            properties.get("RoleArn", ""),
            tags=cfn_to_api_tags(properties.get("Tags", [])),
        )

    def delete(
        cls: type[StateMachine],
        /,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> None:
        responses.get_backend(account_id, region_name).delete_state_machine(resource_name)

    def update(  # noqa: PLR0917 - moto's signature
        cls: type[StateMachine],
        /,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> StateMachine:
        properties = cloudformation_json.get("Properties", {})
        name = properties.get("StateMachineName", original_resource.name)
        if name != original_resource.name:  # replacement
            cloudformation_json["Properties"] = original_resource.get_cfn_properties(properties)
            new_resource = create(cls, name, cloudformation_json, account_id, region_name)
            delete(cls, original_resource.arn, cloudformation_json, account_id, region_name)
            return new_resource
        backend = responses.get_backend(account_id, region_name)
        state_machine = backend.update_state_machine(
            original_resource.arn,
            definition=properties.get("DefinitionString"),
            role_arn=properties.get("RoleArn"),
        )
        backend.tagger.tag_resource(state_machine.arn, cfn_to_api_tags(properties.get("Tags", [])))
        return state_machine

    undos = [
        _patch(StateMachine, "create_from_cloudformation_json", classmethod(create)),
        _patch(StateMachine, "delete_from_cloudformation_json", classmethod(delete)),
        _patch(StateMachine, "update_from_cloudformation_json", classmethod(update)),
    ]
    return _undo_all(undos)


# -- 5 ----------------------------------------------------------------------------------------------------
# GAP: the executing (parser) backend's StartExecution uses the name as given, None when the caller sent no
# name: the execution ARN ends in ":None" and the second nameless start fails with ExecutionAlreadyExists.
# AWS (and moto's plain backend) generate a UUID.
def _apply_execution_name_defaults_to_uuid() -> Undo:
    original = StepFunctionsParserBackend.start_execution

    @functools.wraps(original)
    def start_execution(
        self: StepFunctionsParserBackend,
        state_machine_arn: str,
        name: Any = None,
        execution_input: Any = None,
        trace_header: Any = None,
    ) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header)

    return _patch(StepFunctionsParserBackend, "start_execution", start_execution)


# -- 6 ----------------------------------------------------------------------------------------------------
# GAP: the ASL grammar of moto's interpreter only accepts a decimal token for ToleratedFailurePercentage:
# `"ToleratedFailurePercentage": 100` (an integer, valid on AWS) fails CreateStateMachine with
# "ASLParserException ... no viable alternative at input '"ToleratedFailurePercentage":100'". Hand the
# parser 100.0 instead (the stored definition is left as the caller wrote it).
def _normalise_definition(definition: str) -> str:
    if "ToleratedFailurePercentage" not in definition:
        return definition
    try:
        document = json.loads(definition)
    except ValueError:
        return definition  # not JSON: let the parser report it
    changed = False
    for node in _json_objects(document):
        value = node.get("ToleratedFailurePercentage")
        if isinstance(value, int) and not isinstance(value, bool):
            node["ToleratedFailurePercentage"] = float(value)
            changed = True
    return json.dumps(document) if changed else definition


def _json_objects(node: Any) -> Iterator[dict[str, Any]]:
    """Every object of a JSON document, each before those inside it (its values may be replaced meanwhile)."""
    if isinstance(node, dict):
        yield node
        for child in node.values():
            yield from _json_objects(child)
    elif isinstance(node, list):
        for child in node:
            yield from _json_objects(child)


def _apply_integer_tolerated_failure_percentage() -> Undo:
    original = AmazonStateLanguageParser.parse

    def parse(definition: str) -> Any:
        return original(_normalise_definition(definition))

    return _patch(AmazonStateLanguageParser, "parse", staticmethod(parse))


# -- 7 ----------------------------------------------------------------------------------------------------
# GAP: a distributed Map's ResultWriter evaluates its Parameters against the Map's *results* (the list of
# child outputs) instead of the state input, so `"Bucket.$": "$.bucket"` fails with States.Runtime
# "The JSONPath '$.bucket' could not be found in the input '[...]'" (ResultWriter._eval_body). Evaluate them
# against the state input, as AWS does, and hand the results on unchanged.
def _apply_result_writer_reads_state_input() -> Undo:
    def eval_body(self: ResultWriter, env: Environment) -> None:
        results = env.stack.pop()
        env.stack.append(env.states.get_input())
        self.parargs.eval(env=env)
        parameters = env.stack.pop()
        env.stack.pop()  # the state input
        env.stack.append(results)
        env.stack.append(parameters)
        self.resource_eval.eval_resource(env=env)

    return _patch(ResultWriter, "_eval_body", eval_body)


# -- 8 ----------------------------------------------------------------------------------------------------
# GAP: a Map iteration worker runs its next item by calling itself (IterationWorker._eval_pool and the
# distributed variants), one Python frame per item: a worker that gets more than ~950 items (e.g. 1,000
# items with MaxConcurrency 1, or 20,000 with MaxConcurrency 20) dies with RecursionError and the execution
# stays RUNNING forever. The recursive call is the last statement, so run it from a loop instead.
def _iterative(original: Callable[[Any, Any, Any], None]) -> Callable[[Any, Any, Any], None]:
    def eval_pool(self: Any, job: Any, worker_frame: Any) -> None:
        state = self.__dict__
        if state.get("_burst_local_in_pool"):
            state["_burst_local_next"] = (job, worker_frame)  # the loop below runs it
            return
        state["_burst_local_in_pool"] = True
        try:
            pending: tuple[Any, Any] | None = (job, worker_frame)
            while pending is not None:
                state["_burst_local_next"] = None
                original(self, *pending)
                pending = state["_burst_local_next"]
        finally:
            state["_burst_local_in_pool"] = False

    return eval_pool


def _apply_map_workers_iterate() -> Undo:
    classes = (
        iteration_worker.IterationWorker,
        distributed_item_processor_worker.DistributedItemProcessorWorker,
        distributed_iterator_worker.DistributedIteratorWorker,
    )
    undos = [_patch(cls, "_eval_pool", _iterative(cls.__dict__["_eval_pool"])) for cls in classes]
    return _undo_all(undos)


# -- 9 ----------------------------------------------------------------------------------------------------
# GAP (speed): the interpreter parses every JSONPath with jsonpath_ng each time it evaluates it, and
# jsonpath_ng builds a new PLY parser per call: ~1 ms per path, ~9 ms per batch of the job lifecycle's
# child workflow (moto.stepfunctions.parser.asl.utils.json_path.extract_json, ResultPath). Cache them.
def _apply_jsonpath_parse_cache() -> Undo:
    undos = [
        _patch(json_path, "parse", functools.lru_cache(maxsize=4096)(json_path.__dict__["parse"])),
        _patch(result_path, "parse", functools.lru_cache(maxsize=4096)(result_path.__dict__["parse"])),
    ]
    return _undo_all(undos)


# -- 10 ---------------------------------------------------------------------------------------------------
# GAP (speed): the server resolves every request's backend under one global lock, and on the way lists
# moto's package directory (moto.backends.list_of_moto_modules: os.listdir + ~200 stat calls per request).
# The directory does not change while the server runs: list it once.
def _apply_moto_module_list_cache() -> Undo:
    modules = tuple(moto_backends.list_of_moto_modules())

    def list_of_moto_modules() -> tuple[str, ...]:
        return modules

    return _patch(moto_backends, "list_of_moto_modules", list_of_moto_modules)


# -- 11 ---------------------------------------------------------------------------------------------------
# GAP (speed): the interpreter creates a new boto3 client (and a new HTTP connection) for every Task it
# runs (moto.stepfunctions.parser.asl.utils.boto_client.boto_client_for): ~3-5 ms per Lambda call, plus a
# lookup of "localhost" per connection. Reuse one client per service, region and endpoint (botocore
# clients are thread-safe), with a connection pool large enough for a Map's concurrent children, and
# address the server as 127.0.0.1, where it listens.
_POOL_CONNECTIONS = 1000


def _apply_interpreter_client_cache() -> Undo:
    import boto3  # noqa: PLC0415 - the real module the shim delegates to

    clients: dict[tuple[Any, ...], Any] = {}
    lock = threading.Lock()

    def client(*args: Any, **kwargs: Any) -> Any:
        key = (
            args,
            kwargs.get("service_name"),
            kwargs.get("region_name"),
            kwargs.get("endpoint_url"),
            kwargs.get("aws_access_key_id"),
        )
        found = clients.get(key)
        if found is not None:
            return found
        with lock:
            found = clients.get(key)
            if found is None:
                endpoint = kwargs.get("endpoint_url")
                if isinstance(endpoint, str) and endpoint.startswith("http://localhost:"):
                    # the server listens on 127.0.0.1 only; skip resolving "localhost" per connection
                    kwargs["endpoint_url"] = endpoint.replace("localhost", "127.0.0.1", 1)
                config = kwargs.get("config") or Config()
                kwargs["config"] = config.merge(Config(max_pool_connections=_POOL_CONNECTIONS))
                created = boto3.client(*args, **kwargs)
                created.meta.events.register("before-send", _send_in_process)
                if created.meta.service_model.service_name == "dynamodb":  # see workaround 26
                    created = _InProcessDynamoDB(created)
                elif created.meta.service_model.service_name == "lambda":  # see workaround 30
                    created = _InProcessLambda(created)
                found = clients[key] = created
            return found

    return _patch(boto_client, "boto3", types.SimpleNamespace(client=client))


# -- 11b --------------------------------------------------------------------------------------------------
# GAP (speed): in server mode the interpreter calls the services over HTTP to its own server (boto_client_for
# sets endpoint_url=http://localhost:$MOTO_PORT whenever moto's decorator-mode stubber is off): a socket
# round trip, a server thread and HTTP parsing on both sides for every Task, all in the one process whose
# interpreter lock every Map child shares. Hand the interpreter's requests (those of the clients cached by
# workaround 11) to the endpoint's WSGI application in-process instead: the same application, middleware
# and moto handlers answer them, as they would over the socket.
_in_process = types.SimpleNamespace(app=None, on=False)


def serve_in_process(app: Callable[..., Any] | None) -> None:
    """The WSGI application the interpreter's requests go to (the endpoint's, with its Lambda middleware)."""
    _in_process.app = app


def wsgi_environ(request: Any) -> dict[str, Any]:
    """The WSGI environ werkzeug's server (with moto's handler) would build for a botocore request."""
    url = urlsplit(request.url)
    body = request.body
    if body is None:
        body = b""
    elif isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes | bytearray):
        body = body.read()
    raw_uri = url.path + (f"?{url.query}" if url.query else "")
    environ: dict[str, Any] = {
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": url.scheme or "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(url.path).encode().decode("latin-1"),
        "QUERY_STRING": url.query.encode().decode("latin-1"),
        "REQUEST_URI": raw_uri,
        "RAW_URI": raw_uri,
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": 0,
        "SERVER_NAME": url.hostname or "127.0.0.1",
        "SERVER_PORT": str(url.port or 80),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": url.netloc,
        "CONTENT_LENGTH": str(len(body)),
    }
    for name, value in request.headers.items():
        key = name.upper().replace("-", "_")
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = text
        else:
            environ[f"HTTP_{key}"] = text
    return environ


def _send_in_process(request: Any, **_: Any) -> AWSResponse | None:
    app = _in_process.app
    if app is None or not _in_process.on:
        return None  # botocore sends it over HTTP
    app_iter, status, headers = run_wsgi_app(app, wsgi_environ(request))
    try:
        body = b"".join(app_iter)
    finally:
        close = getattr(app_iter, "close", None)
        if close is not None:
            close()
    return AWSResponse(request.url, int(status.split(" ", 1)[0]), dict(headers.items()), MockRawResponse(body))


def _apply_interpreter_in_process() -> Undo:
    return _patch(_in_process, "on", True)


# -- 11c --------------------------------------------------------------------------------------------------
# GAP (speed, memory): every Task state, and every execution (a Map's children too), runs in a thread of its
# own, started by the calling thread only to wait for it with the timeout (ExecuteState.
# _evaluate_with_timeout, Program.eval), even without TimeoutSeconds, when the wait cannot time out; and
# every such thread is kept for good in moto.stepfunctions.parser.utils.TMP_THREADS, its closure holding
# the state's input and output, so the endpoint's memory grows with every batch. Run Tasks and programs
# without a timeout in the calling thread, and drop finished threads from TMP_THREADS (nothing reads it).
_PRUNE_THREADS_ABOVE = 512
_prune_at = {"size": _PRUNE_THREADS_ABOVE}


def _prune_tmp_threads() -> None:
    """Drop finished threads once the list has doubled since the last pruning (a Map's running threads
    stay in it, so a fixed threshold would scan them on every Task)."""
    if len(parser_utils.TMP_THREADS) > _prune_at["size"]:
        parser_utils.TMP_THREADS[:] = [thread for thread in parser_utils.TMP_THREADS if thread.is_alive()]
        _prune_at["size"] = max(_PRUNE_THREADS_ABOVE, 2 * len(parser_utils.TMP_THREADS))


def _apply_tasks_without_timeout_inline() -> Undo:
    original = ExecutionState.__dict__["_evaluate_with_timeout"]

    def evaluate_with_timeout(self: ExecutionState, env: Environment) -> None:
        _prune_tmp_threads()
        if not self.timeout.is_default_value():
            original(self, env)
            return
        self.timeout.eval(env=env)
        env.stack.pop()
        frame = env.open_frame()
        frame.states.reset(input_value=env.states.get_input())
        frame.stack = vars(execute_state)["copy"].deepcopy(env.stack)  # as moto's own copies it (workaround 27)
        try:
            self._eval_execution(frame)
            output = frame.stack[-1]
        finally:
            frame.set_ended()
            env.close_frame(frame)
        # from here on as the original does with the thread's output
        env.stack.append(output)
        if not self._is_language_query_jsonpath():
            env.states.set_result(output)
        if self.assign_decl:
            self.assign_decl.eval(env=env)
        if self.result_selector:
            self.result_selector.eval(env=env)
        if self.result_path:
            self.result_path.eval(env)
        else:
            env.states.reset(input_value=env.stack.pop())

    original_program_eval = Program.__dict__["eval"]

    def program_eval(self: Program, env: Environment) -> None:
        if self.timeout_seconds is not None:
            original_program_eval(self, env)
            return
        env.next_state_name = self.start_at.start_at_name
        try:
            super(Program, self).eval(env)
        except Exception:  # the original's thread would have printed it and carried on
            LOG.exception("state machine program failed")

    undos = [
        _patch(ExecutionState, "_evaluate_with_timeout", evaluate_with_timeout),
        _patch(Program, "eval", program_eval),
    ]
    return _undo_all(undos)


# -- 11d --------------------------------------------------------------------------------------------------
# GAP (speed): every request lists the handler class's methods with inspect.getmembers to find the action
# (moto.core.responses.BaseResponse.call_action -> method_names_from_class), ~0.3 ms for DynamoDB's handler.
# Classes do not change while the server runs: list each once.
def _apply_response_method_names_cache() -> Undo:
    original = moto_responses.__dict__["method_names_from_class"]

    @functools.lru_cache(maxsize=256)
    def method_names_from_class(clazz: object) -> frozenset[str]:
        return frozenset(original(clazz))

    return _patch(moto_responses, "method_names_from_class", method_names_from_class)


# -- 12 ---------------------------------------------------------------------------------------------------
# GAP: Choice rules compare timestamps only in the form "2016-03-14T01:59:00Z" (IsTimestamp.
# string_to_timestamp uses strptime "%Y-%m-%dT%H:%M:%SZ"): with fractional seconds or a numeric offset, both
# valid RFC 3339 on AWS, the rule is silently false, or fails with a TypeError when only the other side
# parses. So a Choice on $$.State.EnteredTime (which always has a fraction) never matches. Parse RFC 3339.
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def parse_rfc3339(text: str) -> datetime.datetime | None:
    """An aware datetime for an RFC 3339 timestamp with uppercase T and Z (as ASL requires), else None."""
    match = _RFC3339.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    seconds, fraction, zone = match.groups()
    fraction = (fraction or ".0")[:7].ljust(7, "0")  # microseconds at most
    try:
        return datetime.datetime.fromisoformat(seconds + fraction + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return None


def _apply_rfc3339_timestamp_comparisons() -> Undo:
    return _patch(IsTimestamp, "string_to_timestamp", staticmethod(parse_rfc3339))


# -- 13 ---------------------------------------------------------------------------------------------------
# GAP: $$.State.EnteredTime is datetime.isoformat(): "2026-11-24T23:27:39.865001+00:00"; AWS writes
# "2026-11-24T23:27:39.865Z" (milliseconds, Z), which is what code reading the value expects.
def _apply_entered_time_format() -> Undo:
    original = state_module.__dict__["StateData"]

    def state_data(**fields: Any) -> Any:
        entered = fields.get("EnteredTime")
        if isinstance(entered, str):
            with contextlib.suppress(ValueError):
                fields["EnteredTime"] = iso_timestamp(datetime.datetime.fromisoformat(entered))
        return original(**fields)

    return _patch(state_module, "StateData", state_data)


# -- 14 ---------------------------------------------------------------------------------------------------
# GAP: a distributed Map ignores its failure tolerance (moto logs "ToleratedFailurePercentage declarations
# currently have no effect"): failed child executions are counted, but the Map run and the Map state
# succeed whatever their number, and every item runs. On AWS the Map run fails with
# States.ExceedToleratedFailureThreshold once the failed and timed-out children exceed ToleratedFailureCount,
# or their share of *all* the run's items exceeds ToleratedFailurePercentage (either threshold when both are
# set; any failure when neither is, the default being 0), or the ...Path variants' values
# (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html#maprun-fail-threshold).
# It fails fast: no child starts after that, running Standard children are stopped (ABORTED), Express ones,
# which cannot be stopped, run to their end, and items never started stay PENDING
# (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-examine-map-run.html); the Map state fails
# once the run has stopped. With map-run-counters (17) the thresholds are checked after every child (see
# _MapRun.finish); without it only when all children are done.
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


def _apply_map_failure_tolerance() -> Undo:
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
        run = _MapRun.of(env, eval_input.map_run_record)
        run.tolerance = (count, percentage)
        original_run(self, env, eval_input)
        if not env.is_running():  # the execution is being stopped: its children were aborted, not failed
            return
        items = eval_input.map_run_record.item_counter
        failed = items.failed.get() + items.timed_out.get()
        if run.failing or exceeds_tolerance(failed, items.total.get(), count, percentage):
            raise _threshold_exceeded(env)

    undos = [
        _patch(StateMap, "from_state_props", from_state_props),
        _patch(DistributedIterationComponent, "_map_run", map_run),
    ]
    return _undo_all(undos)


# -- 15 ---------------------------------------------------------------------------------------------------
# GAP: moto has no lambda:GetAccountSettings (GET /2016-08-19/account-settings/ answers 404), which clients
# call to check a job's concurrency against the account's. The local endpoint answers it itself (see
# server.LambdaInvokeMiddleware) with this body: its concurrency limit, and moto's functions as usage.
ACCOUNT_SETTINGS_PATH = re.compile(r"^/2016-08-19/account-settings/?$")


def lambda_account_settings(account_id: str, region: str, concurrency: int) -> dict[str, Any]:
    functions = list(lambda_backends[account_id][region].list_functions())
    reserved = sum(int(fn.reserved_concurrency or 0) for fn in functions)
    return {
        "AccountLimit": {
            "TotalCodeSize": 80_530_636_800,
            "CodeSizeUnzipped": 262_144_000,
            "CodeSizeZipped": 52_428_800,
            "ConcurrentExecutions": concurrency,
            "UnreservedConcurrentExecutions": max(concurrency - reserved, 0),
        },
        "AccountUsage": {
            "TotalCodeSize": sum(int(fn.code_size or 0) for fn in functions),
            "FunctionCount": len(functions),
        },
    }


# -- 16 ---------------------------------------------------------------------------------------------------
# GAP: the 256 KiB payload quota ("256 KiB of data as a UTF-8 encoded string", for task results, state output
# and the input data of a state, https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html)
# fails a state with States.DataLimitExceeded when a connector's output (a lambda:invoke's whole output,
# Payload included), a state's output, or a state's input after Parameters exceeds it; it is "a terminal error
# which cannot be caught by the States.ALL error type"
# (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html): no Retry retries it and
# no Catch catches it, so the execution fails (a distributed Map child: only that child, which the Map run
# counts as failed). moto checks Task results and state outputs, but: a Retry retries and a Catch (States.ALL,
# or the error's name) catches the Task result's error; the input after Parameters is not checked (a 300 KB
# Lambda payload is sent); exactly 262,144 bytes already fail; the size is of json.dumps with ", " and ": "
# separators and \u escapes, not of the UTF-8 JSON; and the cause names the resource type ("The state/task
# 'lambda' returned ..."), where AWS names the state ("The state/task 'PostCoeffgen' returned a result with a
# size exceeding the maximum number of bytes service limit.", as AWS reported it for a Task of that name).
# AWS's cause for an oversized input after Parameters is not documented; ours says "has an input".
MAX_PAYLOAD_BYTES = 262_144
DATA_LIMIT_EXCEEDED = StatesErrorNameType.StatesStatesDataLimitExceeded.to_name()


def payload_size(value: Any) -> int:
    """Bytes of ``value`` as Step Functions measures it, its JSON UTF-8 encoded; for a value whose JSON could not
    exceed the quota even at four bytes a character, its characters (the comparison comes out the same)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    if len(text) * 4 <= MAX_PAYLOAD_BYTES:  # within the quota whatever the characters: skip encoding
        return len(text)
    return len(text.encode("utf-8"))


def _data_limit_exceeded(
    env: Environment, state_name: str, what: str, event_type: HistoryEventType = HistoryEventType.TaskFailed
) -> FailureEventException:
    cause = f"The state/task '{state_name}' {what} with a size exceeding the maximum number of bytes service limit."
    error_name = StatesErrorName(typ=StatesErrorNameType.StatesStatesDataLimitExceeded)
    if event_type == HistoryEventType.LambdaFunctionFailed:
        details = EventDetails(  # type: ignore[typeddict-item]  # moto's total TypedDict
            lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(error=DATA_LIMIT_EXCEEDED, cause=cause)
        )
    else:
        details = EventDetails(  # type: ignore[typeddict-item]
            taskFailedEventDetails=TaskFailedEventDetails(error=DATA_LIMIT_EXCEEDED, cause=cause)
        )
    return FailureEventException(
        failure_event=FailureEvent(env=env, error_name=error_name, event_type=event_type, event_details=details)
    )


def _is_data_limit_exceeded(failure_event: FailureEvent) -> bool:
    return getattr(failure_event.error_name, "error_name", None) == DATA_LIMIT_EXCEEDED


def _apply_state_data_limit() -> Undo:
    original_parargs = Parargs.__dict__["_eval_body"]
    original_retry = ExecutionState.__dict__["_handle_retry"]
    original_catch = ExecutionState.__dict__["_handle_catch"]

    def verify_state_output(self: Any, env: Environment, value: Any) -> None:
        if payload_size(value) > MAX_PAYLOAD_BYTES:
            raise _data_limit_exceeded(env, self.name, "returned a result")

    def verify_lambda_result(self: Any, env: Environment, value: Any) -> None:
        if payload_size(value) > MAX_PAYLOAD_BYTES:
            raise _data_limit_exceeded(env, self.name, "returned a result", HistoryEventType.LambdaFunctionFailed)

    def parargs_eval_body(self: Parargs, env: Environment) -> None:
        original_parargs(self, env)
        if env.stack and payload_size(env.stack[-1]) > MAX_PAYLOAD_BYTES:
            raise _data_limit_exceeded(env, str(env.next_state_name), "has an input")

    def handle_retry(self: ExecutionState, env: Environment, failure_event: FailureEvent) -> RetryOutcome:
        if _is_data_limit_exceeded(failure_event):
            return RetryOutcome.CannotRetry
        result: RetryOutcome = original_retry(self, env, failure_event)
        return result

    def handle_catch(self: ExecutionState, env: Environment, failure_event: FailureEvent) -> None:
        if _is_data_limit_exceeded(failure_event):
            env.stack.append(CatchOutcome.NotCaught)
            return
        original_catch(self, env, failure_event)

    undos = [
        _patch(state_module.CommonStateField, "_verify_size_quota", verify_state_output),
        _patch(StateTaskService, "_verify_size_quota", verify_state_output),
        _patch(StateTaskLambda, "_verify_size_quota", verify_lambda_result),
        _patch(Parargs, "_eval_body", parargs_eval_body),
        _patch(ExecutionState, "_handle_retry", handle_retry),
        _patch(ExecutionState, "_handle_catch", handle_catch),
    ]
    return _undo_all(undos)


# -- 17 ---------------------------------------------------------------------------------------------------
# GAP: DescribeMapRun's counts are wrong: `total` counts the children started so far (AWS: the run's items,
# which are known once the ItemReader has read them), `pending` is always 0 (AWS: "items to process in child
# workflow executions that haven't started running yet"), executionCounts.running is decremented only for
# children that succeed (it never returns to 0 once one fails), and a parent stopped by StopExecution leaves
# its Map run SUCCEEDED (AWS: ABORTED, its running children counted as aborted, "stopped by the user or by Step
# Functions, because the Map Run failed", its items never started left pending)
# (https://docs.aws.amazon.com/step-functions/latest/apireference/API_MapRunItemCounts.html,
# https://docs.aws.amazon.com/step-functions/latest/dg/concepts-examine-map-run.html). Count every child
# ourselves, and keep each child's record (name, ARN, input, output, error, cause, dates) for ResultWriter (19)
# and the failure threshold (14); a child that would start after the run failed or its parent stopped does not
# start (its item stays pending).
_MAP_RUN = "_burst_local_map_run"


@dataclass(eq=False)
class _Child:
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


class _MapRun:
    """What a distributed Map run's record lacks: its items, its children, its failure threshold."""

    def __init__(self, record: Any) -> None:
        self.record = record
        self.lock = threading.Lock()
        self.items: list[Any] = []
        self.children: dict[int, _Child] = {}
        self.tolerance: tuple[int | None, float | None] | None = None  # set by map-failure-tolerance (14)
        self.failing = False  # the failure threshold was exceeded: no child starts any more

    @staticmethod
    def of(env: Environment, record: Any) -> _MapRun:
        """The run of ``record``, kept by the Map state's frame for as long as it runs (so the children's
        inputs and outputs are not kept with the execution's records forever)."""
        run: _MapRun | None = env.__dict__.get(_MAP_RUN)
        if run is None or run.record is not record:
            run = _MapRun(record)
            env.__dict__[_MAP_RUN] = run
            record.__dict__[_MAP_RUN] = weakref.ref(run)
        return run

    @staticmethod
    def of_record(record: Any) -> _MapRun | None:
        ref = record.__dict__.get(_MAP_RUN)
        run: _MapRun | None = ref() if ref is not None else None
        return run

    def _counters(self) -> tuple[Any, Any]:
        return self.record.item_counter, self.record.execution_counter

    def start(self, items: list[Any]) -> None:
        with self.lock:
            self.items = list(items)
            for counter in self._counters():
                counter.total.count(len(items))
                counter.pending.count(len(items))

    def claim(self, job: Any, frame: Environment, map_env: Environment) -> _Child | None:
        """Start the child of ``job``, unless the run is failing or the parent stopped (None: it stays pending)."""
        with self.lock:
            if self.failing or not map_env.is_running():
                return None
            name = str(ids.uuid4())  # see ids: keeps the interpreter lock
            execution_arn = self.record.map_state_machine_arn.replace(":stateMachine:", ":execution:", 1)
            child = _Child(
                index=job.job_index,
                name=name,
                execution_arn=f"{execution_arn}:{name}",
                express=isinstance(job.job_program, _ExpressProgram),
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
        self, child: _Child, status: str, output: Any = None, error: str | None = None, cause: str | None = None
    ) -> None:
        """Record how ``child`` ended; stop the run if that exceeds its failure threshold."""
        to_abort: list[_Child] = []
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


def _eval_child(self: Any, run: _MapRun, env: Environment, job: Any) -> None:
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
            cause = EXPRESS_TIMEOUT_CAUSE.format(seconds=EXPRESS_MAX_DURATION_SECS)
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


def _apply_map_run_counters() -> Undo:
    original_run = DistributedIterationComponent.__dict__["_map_run"]
    original_body = DistributedIterationComponent.__dict__["_eval_body"]
    worker = distributed_item_processor_worker.DistributedItemProcessorWorker
    original_job = worker.__dict__["_eval_job"]

    def map_run(
        self: DistributedIterationComponent, env: Environment, eval_input: DistributedIterationComponentEvalInput
    ) -> None:
        _MapRun.of(env, eval_input.map_run_record).start(env.stack[-1])  # the items the ItemReader read
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
        run = _MapRun.of_record(self._map_run_record)
        if run is None:  # a Map run that started before the workaround was applied
            original_job(self, env, job)
        else:
            _eval_child(self, run, env, job)

    undos = [
        _patch(DistributedIterationComponent, "_map_run", map_run),
        _patch(DistributedIterationComponent, "_eval_body", eval_body),
        _patch(worker, "_eval_job", eval_job),
    ]
    return _undo_all(undos)


# -- 18 ---------------------------------------------------------------------------------------------------
# GAP: a distributed Map's ItemProcessor.ProcessorConfig.ExecutionType may be STANDARD or EXPRESS
# (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html); moto's ASL grammar accepts
# only STANDARD ('mismatched input '"EXPRESS"' expecting '"STANDARD"'' on CreateStateMachine). An Express
# child that runs longer than 5 minutes fails with States.Timeout
# (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html): the Map run counts it as timed
# out, which counts towards the failure threshold like a failure (14). Express children cannot be stopped
# (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-examine-map-run.html): neither a failing Map
# run (14) nor the parent's StopExecution (17) aborts them; the run waits for them. Hand the parser STANDARD,
# mark the Map's iteration component, and run its children as _ExpressProgram. After the limit the child
# counts as timed out at once; a Task it was running finishes in the background (its next states do not run).
# The child's error is States.Timeout; AWS's cause is not documented, ours is EXPRESS_TIMEOUT_CAUSE.
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


class _ExpressProgram(Program):
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
    for node in _json_objects(normalised):
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


def _apply_express_child_workflows() -> Undo:
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
        return _ExpressProgram(
            query_language=self._query_language,
            start_at=self._start_at,
            states=self._states,
            timeout_seconds=None,
            comment=self._comment,
        )

    undos = [
        _patch(AmazonStateLanguageParser, "parse", staticmethod(parse)),
        _patch(IterationComponent, "_get_iteration_program", get_iteration_program),
    ]
    return _undo_all(undos)


# -- 19 ---------------------------------------------------------------------------------------------------
# GAP: a distributed Map's ResultWriter (arn:aws:states:::s3:putObject) writes only a manifest.json whose
# ResultFiles are empty, and nothing when the Map run fails. AWS writes, under <Prefix>/<map run id>/,
# SUCCEEDED_n.json, FAILED_n.json ("all failed, timed out, and aborted child workflow executions") and
# PENDING_n.json ("child workflow executions that weren't started because the Map Run failed or aborted", so
# it writes them for a failed run too), each a JSON array of the children's records, and a manifest.json
# listing them (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html). Records
# as that page's Transformation NONE example (ExecutionArn, Input, InputDetails, Name, Output, OutputDetails,
# RedriveCount, RedriveStatus, StartDate, StateMachineArn, Status, StopDate) plus, for the others than
# SUCCEEDED, the child's Error and Cause, as AWS writes them (no Output); only files with records are written
# and listed. Not documented, so ours: a PENDING record is the item's Input and Status; Express children have
# the same ARN form as Standard ones; ExecutionType and WriterConfig options are ignored (Transformation NONE).
# Needs map-run-counters (17), which records the children.
def _child_record(run: _MapRun, child: _Child) -> dict[str, Any]:
    record: dict[str, Any] = {
        "ExecutionArn": child.execution_arn,
        "Input": json.dumps(child.input, separators=(",", ":"), default=str),
        "InputDetails": {"Included": True},
        "Name": child.name,
        "RedriveCount": 0,
        "RedriveStatus": "NOT_REDRIVABLE" if child.status == "SUCCEEDED" else "REDRIVABLE",
        "StartDate": iso_timestamp(child.start),
        "StateMachineArn": run.record.map_state_machine_arn,
        "Status": child.status,
        "StopDate": iso_timestamp(child.stop or child.start),
    }
    if child.status == "SUCCEEDED":
        record["Output"] = json.dumps(child.output, separators=(",", ":"), default=str)
        record["OutputDetails"] = {"Included": True}
    else:
        if child.error is not None:
            record["Error"] = child.error
        if child.cause is not None:
            record["Cause"] = child.cause
    return record


def map_run_results(run: _MapRun) -> dict[str, list[dict[str, Any]]]:
    """The records of a Map run's result files, by file: SUCCEEDED, FAILED (failed, timed out, aborted), PENDING."""
    files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    with run.lock:
        for index, item in enumerate(run.items):
            child = run.children.get(index)
            if child is None:
                files["PENDING"].append(
                    {
                        "Input": json.dumps(item, separators=(",", ":"), default=str),
                        "InputDetails": {"Included": True},
                        "Status": "PENDING",
                    }
                )
            else:
                files["SUCCEEDED" if child.status == "SUCCEEDED" else "FAILED"].append(_child_record(run, child))
    return files


def _apply_result_writer_files() -> Undo:
    original_put = ResourceEvalS3.__dict__["_handle_put_object"].__func__
    original_execution = StateMap.__dict__["_eval_execution"]

    def handle_put_object(env: Environment, resource_runtime_part: Any, state_credentials: Any) -> None:
        run: _MapRun | None = env.__dict__.get(_MAP_RUN)
        if run is None:  # map-run-counters (17) is not applied: no records
            original_put(env, resource_runtime_part, state_credentials)
            return
        parameters = env.stack.pop()
        env.stack.pop()  # the children's outputs: the result files have them
        bucket, prefix = parameters["Bucket"], parameters.get("Prefix", "")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        s3 = ResourceEvalS3._get_s3_client(
            resource_runtime_part=resource_runtime_part, state_credentials=state_credentials
        )
        directory = prefix + run.record.map_run_arn.split(":")[-1] + "/"
        listed: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
        for status, records in map_run_results(run).items():
            if records:
                key = f"{directory}{status}_0.json"
                body = json.dumps(records, default=str).encode()
                s3.put_object(Bucket=bucket, Key=key, Body=body)
                listed[status].append({"Key": key, "Size": len(body)})
        manifest = {"DestinationBucket": bucket, "MapRunArn": run.record.map_run_arn, "ResultFiles": listed}
        key = directory + "manifest.json"
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(manifest).encode())
        env.stack.append({"MapRunArn": run.record.map_run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": key}})

    def eval_execution(self: StateMap, env: Environment) -> None:
        try:
            original_execution(self, env)
        except FailureEventException:
            # the Map run failed (e.g. its failure threshold): its results are written all the same
            if self.result_writer is not None and env.__dict__.get(_MAP_RUN) is not None and env.is_running():
                env.stack.append([])  # what the writer takes for the children's outputs
                try:
                    self.result_writer.eval(env)
                    env.stack.pop()  # its output: the Map state fails
                except Exception:
                    LOG.exception("could not write the results of a failed Map run")
            raise

    undos = [
        _patch(ResourceEvalS3, "_handle_put_object", staticmethod(handle_put_object)),
        _patch(StateMap, "_eval_execution", eval_execution),
    ]
    return _undo_all(undos)


# -- 20 ---------------------------------------------------------------------------------------------------
# GAP: an execution has no interpreter environment until its definition is parsed, in its own thread, after
# StartExecution has answered (moto.stepfunctions.parser.backend.execution_worker: env is None until then,
# tens of milliseconds for the job lifecycle's definition). ListMapRuns of such an execution, and
# DescribeMapRun and UpdateMapRun of *any* Map run while some execution is at that point (they look at every
# execution's environment), fail with AttributeError: HTTP 500 on the endpoint. On AWS an execution that has
# not reached its Map state has no Map run: ListMapRuns answers an empty list
# (https://docs.aws.amazon.com/step-functions/latest/apireference/API_ListMapRuns.html), and the other Map runs
# are found. Skip executions without an environment. (And answer an unknown Map run's ARN with
# ResourceNotFound, which moto raises without its message argument: a TypeError, HTTP 500.)
def _execution_env(execution: Any) -> Environment | None:
    env: Environment | None = getattr(getattr(execution, "exec_worker", None), "env", None)
    return env


def _apply_map_runs_of_starting_executions() -> Undo:
    def find(backend: StepFunctionsParserBackend, map_run_arn: str) -> Any:
        for execution in backend._get_executions():
            env = _execution_env(execution)
            record = env.map_run_record_pool_manager.get(map_run_arn) if env is not None else None
            if record is not None:
                return record
        raise ResourceNotFound(map_run_arn)

    def describe_map_run(self: StepFunctionsParserBackend, map_run_arn: str) -> dict[str, Any]:
        described: dict[str, Any] = find(self, map_run_arn).describe()
        return described

    def list_map_runs(self: StepFunctionsParserBackend, execution_arn: str) -> dict[str, Any]:
        env = _execution_env(self.describe_execution(execution_arn=execution_arn))
        records = env.map_run_record_pool_manager.get_all() if env is not None else []
        return {"mapRuns": [record.list_item() for record in records]}

    def update_map_run(
        self: StepFunctionsParserBackend,
        map_run_arn: str,
        max_concurrency: int,
        tolerated_failure_count: str,
        tolerated_failure_percentage: str,
    ) -> None:
        find(self, map_run_arn).update(
            max_concurrency=max_concurrency,
            tolerated_failure_count=tolerated_failure_count,
            tolerated_failure_percentage=tolerated_failure_percentage,
        )

    undos = [
        _patch(StepFunctionsParserBackend, "describe_map_run", describe_map_run),
        _patch(StepFunctionsParserBackend, "list_map_runs", list_map_runs),
        _patch(StepFunctionsParserBackend, "update_map_run", update_map_run),
    ]
    return _undo_all(undos)


# -- 21 ---------------------------------------------------------------------------------------------------
# GAP: $$.Execution.StartTime is a Python datetime in the context object (ExecutionWorker.
# _get_evaluation_environment passes the execution's start date where moto's own ExecutionData says "str  #
# Format: ISO 8601"): a state that reads it fails with States.Runtime "Object of type datetime is not JSON
# serializable", and an execution whose output holds it cannot be described (HTTP 500). On AWS it is an ISO 8601
# string such as "2019-03-26T20:14:13.192Z"
# (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html).
def _apply_execution_start_time_string() -> Undo:
    original = ExecutionWorker.__dict__["_get_evaluation_environment"]

    def get_evaluation_environment(self: ExecutionWorker) -> Environment:
        env: Environment = original(self)
        execution: Any = env.states.context_object.context_object_data["Execution"]
        if isinstance(execution.get("StartTime"), datetime.datetime):
            execution["StartTime"] = iso_timestamp(execution["StartTime"])
        return env

    return _patch(ExecutionWorker, "_get_evaluation_environment", get_evaluation_environment)


# -- 22 ---------------------------------------------------------------------------------------------------
# GAP: in a distributed Map's child workflow, $$.Execution is the parent's (its Id, Name, Input, StartTime):
# moto runs a child in a frame of the parent (Environment.as_inner_frame_of copies the parent's Execution).
# On AWS each child is an execution of its own (https://docs.aws.amazon.com/step-functions/latest/dg/
# state-map-distributed.html: "child workflow executions"), so its states see its own ARN, name, input (the
# ItemSelector's output) and start time; the ItemSelector itself is evaluated with the parent's
# (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html). Give each child its
# Execution once its input is known. Needs map-run-counters (17), which names the children.
def _apply_map_child_execution_context() -> Undo:
    worker = distributed_item_processor_worker.DistributedItemProcessorWorker
    original = worker._eval_input  # inherited from InlineItemProcessorWorker

    def eval_input(self: Any, env_frame: Environment) -> None:
        original(self, env_frame)
        run = _MapRun.of_record(self._map_run_record)
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

    return _patch_inherited(worker, "_eval_input", eval_input)


# -- 23 ---------------------------------------------------------------------------------------------------
# GAP (speed): the history events of a distributed Map's child workflows are recorded, under a lock that all the
# children of a run share, in an EventManager that nothing ever reads: DistributedIterationComponent._eval_body
# gives the run a fresh one and drops it when the run ends (moto has no child executions to describe). It took
# about a fifth of the endpoint's interpreter time in a job of no-op batches. On AWS an EXPRESS child has no
# execution history at all, a STANDARD child one of its own
# (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-standard-vs-express.html). Give the run a manager
# that only numbers the events.
class _UnreadHistory(EventManager):
    """The event manager of a distributed Map run's children: events are numbered, not kept."""

    def __init__(self) -> None:
        super().__init__()
        self._ids = itertools.count(1)

    def add_event(
        self,
        context: Any,
        event_type: Any,
        event_details: Any = None,
        timestamp: Any = None,
        update_source_event_id: bool = True,
    ) -> int:
        event_id = next(self._ids)  # atomic in CPython
        context.last_published_event_id = event_id
        if update_source_event_id:
            context.source_event_id = event_id
        return event_id


def _apply_map_children_history_unread() -> Undo:
    return _patch(distributed_iteration_component, "EventManager", _UnreadHistory)


# -- 24 ---------------------------------------------------------------------------------------------------
# GAP (speed): UpdateItem parses its UpdateExpression into a syntax tree, deep-copies the tree and the item, and
# runs ten validating traversals of it, twice when the item is new (DynamoDBBackend.update_item,
# UpdateExpressionValidator): about a quarter of the endpoint's interpreter time in a job of no-op batches, whose
# rows the state machine writes with UpdateItem. Apply the plain actions (`SET #a = :v`,
# `SET #a = if_not_exists(#b, :v)`, `REMOVE #a`, on top-level attributes that are not keys or indexed, without a
# condition) directly, with the result moto's executor gives; leave everything else, errors included, to moto.
# The handler (DynamoHandler.update_item) also parses the expression on every call, only to list the names and
# values it uses: it reads the tree and never changes it, so parse each expression once.
_NAME, _VALUE = r"#[A-Za-z0-9_]+", r":[A-Za-z0-9_]+"
_SET_ACTION = rf"({_NAME})\s*=\s*(?:if_not_exists\s*\(\s*({_NAME})\s*,\s*({_VALUE})\s*\)|({_VALUE}))"
_PLAIN_UPDATE = re.compile(
    rf"\s*SET\s+(?P<set>{_SET_ACTION}(?:\s*,\s*{_SET_ACTION})*)"
    rf"(?:\s+REMOVE\s+(?P<remove>{_NAME}(?:\s*,\s*{_NAME})*))?\s*",
    re.IGNORECASE,
)


_PLAIN_TYPES = {"S", "N", "B", "BOOL", "NULL"}


@dataclass(frozen=True)
class PlainUpdate:
    """An UpdateExpression of plain actions: SET (target, if_not_exists path or None, value), REMOVE targets."""

    sets: tuple[tuple[str, str | None, str], ...]
    removes: tuple[str, ...]


def plain_update(expression: str) -> PlainUpdate | None:
    """The actions of ``expression`` if it is made of plain actions only, else None."""
    found = _PLAIN_UPDATE.fullmatch(expression or "")
    if found is None:
        return None
    sets = tuple((m[0], m[1] or None, m[2] or m[3]) for m in re.findall(_SET_ACTION, found.group("set")))
    removes = tuple(re.findall(_NAME, found.group("remove") or ""))
    return PlainUpdate(sets, removes)


def _apply_plain_update_item() -> Undo:
    original = DynamoDBBackend.__dict__["update_item"]

    signature = inspect.signature(original)

    @functools.wraps(original)
    def update_item(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        call = signature.bind(self, *args, **kwargs)
        call.apply_defaults()
        a = call.arguments
        key, names, values = a["key"], a["expression_attribute_names"] or {}, a["expression_attribute_values"] or {}
        plain = not (a["attribute_updates"] or a["expected"] or a["condition_expression"])
        update = plain_update(a["update_expression"]) if plain else None
        table = self.get_table(a["table_name"])
        if update is None or table.stream_shard is not None or set(key) != set(table.attribute_keys):
            return original(self, *args, **kwargs)
        placeholders = [t for t, _, _ in update.sets] + [p for _, p, _ in update.sets if p] + list(update.removes)
        if any(p not in names for p in placeholders) or any(v not in values for _, _, v in update.sets):
            return original(self, *args, **kwargs)
        targets = [names[t] for t, _, _ in update.sets] + [names[t] for t in update.removes]
        indexed = {attribute["AttributeName"] for attribute in table.attr}
        if len(set(targets)) != len(targets) or indexed & set(targets):
            return original(self, *args, **kwargs)
        if any(set(values[v]) - _PLAIN_TYPES for _, _, v in update.sets):  # sets, empty or not, are moto's
            return original(self, *args, **kwargs)
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
        if hash_value.type != table.hash_key_type or (range_value and range_value.type != table.range_key_type):
            return original(self, *args, **kwargs)
        item = table.get_item(hash_value, range_value) or table.put_item(dict(key))
        # every operand is read from the item as it was before the update
        before = dict(item.attrs)
        try:
            for target, path, value in update.sets:
                existing = before.get(names[path]) if path is not None else None
                item.attrs[names[target]] = existing if existing is not None else DynamoType(values[value])
            for target in update.removes:
                item.attrs.pop(names[target], None)
        except ItemSizeTooLarge:
            raise ItemSizeToUpdateTooLarge() from None
        return item

    parser = dynamodb_responses.__dict__["UpdateExpressionParser"]
    cached_parser = types.SimpleNamespace(make=functools.lru_cache(maxsize=1024)(parser.make))
    undos = [
        _patch(DynamoDBBackend, "update_item", update_item),
        _patch(dynamodb_responses, "UpdateExpressionParser", cached_parser),
    ]
    return _undo_all(undos)


# -- 25 ---------------------------------------------------------------------------------------------------
# GAP (speed): botocore gives every request an invocation id from uuid.uuid4() (Endpoint._update_retries_context),
# whose os.urandom call releases the interpreter lock: in the endpoint, where the interpreter's requests (workaround
# 11b) and the Map's children share one lock, each of them then waits for the lock to come back. The ids only need to
# be unique: draw them from the random module, which keeps the lock (burst_client.local.ids).
def _apply_invocation_ids_keep_the_lock() -> Undo:
    return _patch(botocore_endpoint, "uuid", types.SimpleNamespace(uuid4=ids.uuid4))


# -- 26 ---------------------------------------------------------------------------------------------------
# GAP (speed): the interpreter's DynamoDB integration Tasks (a batch's row write) go through botocore's whole
# request pipeline (hooks, endpoint rules, signing, an HTTP request) and the WSGI and Flask layers (workaround
# 11b) before they reach moto's DynamoDB handler: about 1 ms of the endpoint's CPU per batch. For the item calls
# (GetItem, PutItem, UpdateItem, DeleteItem) of the clients cached by workaround 11, build the request with the
# client's serializer (its validation when it validates), and:
# - when moto's request parser would give the handler the body as it is (strings, flags, attribute maps of
#   strings, numbers as strings, flags and nulls) and moto's IAM check is off, hand the body to the handler's
#   action and answer with moto's serializer, errors and headers (request id, CRC32), as its call_action does;
# - otherwise (a binary to decode, a null to drop, a value of the wrong type to refuse), do what moto's own
#   in-process mode does (BotocoreStubber): sign the request and dispatch it to DynamoHandler.
# Either answer is parsed, and its error raised with the modeled fields, by the client's own parser.
_DIRECT_DYNAMODB = {
    "get_item": "GetItem",
    "put_item": "PutItem",
    "update_item": "UpdateItem",
    "delete_item": "DeleteItem",
}
_direct_dynamodb = types.SimpleNamespace(on=False)


class _InProcessClient:
    """An interpreter's cached client some of whose calls the endpoint answers in-process (26, 30); every other
    call, and those calls while their workaround is off, are the client's."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @property
    def _account(self) -> str:
        """The account moto serves this client's requests from (as moto.core.responses and the middleware)."""
        if "MOTO_ACCOUNT_ID" in os.environ:
            return os.environ["MOTO_ACCOUNT_ID"]
        credentials = self._client._request_signer._credentials
        return str(get_account_id_from(credentials.access_key if credentials else ""))

    def _direct(self, name: str) -> Callable[..., Any] | None:
        raise NotImplementedError

    def __getattr__(self, name: str) -> Any:
        direct = self._direct(name)
        return direct if direct is not None else getattr(self._client, name)

    def _answer(self, operation: str, status: int, headers: Any, body: bytes | str, streaming: bool = False) -> Any:
        """What the client returns (or raises) for this HTTP answer: convert_to_response_dict, the parser,
        _add_modeled_error_fields and _make_api_call's error, as botocore does (the interpreter's clients make a
        single attempt: no retries)."""
        model = self._client.meta.service_model.operation_model(operation)
        content = body.encode() if isinstance(body, str) else bytes(body)
        response: dict[str, Any] = {
            "headers": HeadersDict({**headers, "Content-Length": str(len(content))}),
            "status_code": status,
            "context": {"operation_name": operation},
            "body": StreamingBody(MockRawResponse(content), len(content)) if streaming and status < 300 else content,
        }
        parser = self._client._response_parser
        parsed: dict[str, Any] = parser.parse(response, model.output_shape)
        parsed["ResponseMetadata"]["RetryAttempts"] = 0
        if status < 300:
            return parsed
        self._client._endpoint._add_modeled_error_fields(response, parsed, model, parser)
        raise self._client.exceptions.from_code(parsed.get("Error", {}).get("Code"))(parsed, operation)


class _InProcessDynamoDB(_InProcessClient):
    """A DynamoDB client whose item calls moto's handler answers directly."""

    def _direct(self, name: str) -> Callable[..., Any] | None:
        if name in _DIRECT_DYNAMODB and _direct_dynamodb.on:
            return functools.partial(self._call, name)
        return None

    def _call(self, method: str, **params: Any) -> Any:
        client, operation = self._client, _DIRECT_DYNAMODB[method]
        model = client.meta.service_model.operation_model(operation)
        request_dict = client._serializer.serialize_to_request(params, model)
        body = json.loads(request_dict["body"])
        if _plain_request(body) and float("inf") == moto_settings.INITIAL_NO_AUTH_ACTION_COUNT:
            status, headers, answer = self._handled(method, operation, body)
        else:  # moto's request parser (or its IAM check) would do something: moto's in-process way, in full
            prepare_request_dict(request_dict, endpoint_url=client.meta.endpoint_url)
            request = normalize_request(client._endpoint.create_request(request_dict, model))
            try:
                status, headers, answer = DynamoHandler.dispatch(request, request.raw_url, request.headers)
            except HTTPException as exc:  # as moto's BotocoreStubber answers them
                status, headers, answer = exc.code or 500, dict(exc.get_headers() or []), exc.get_body()
        return self._answer(operation, status, headers, answer)

    def _handled(self, method: str, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], Any]:
        """The handler's answer to a plain request (which moto's parser would give it as it is): its action, its
        errors and its serializer, as its call_action (whose authorisation is off) gives them."""
        handler = DynamoHandler()
        handler.current_account = self._account
        handler.region = self._client.meta.region_name
        handler.body = body
        service_model = moto_service_model("dynamodb")  # moto's own model, as its call_action uses
        moto_model = service_model.operation_model(operation)
        serializer = get_serializer_class("dynamodb", service_model.metadata["protocol"])
        context = moto_responses.ActionContext(service_model, moto_model, serializer, handler)
        headers: dict[str, Any]
        try:
            status, headers, answer = getattr(handler, method)().execute_result(context)
        except ServiceException as exc:
            status, headers, answer = ActionResult(exc).execute_result(context)
        except HTTPException as exc:
            status, headers, answer = exc.code or 500, dict(exc.get_headers() or []), exc.get_body()
        gen_amz_crc32(answer, headers)
        gen_amzn_requestid_long(headers)
        return status, headers, answer


_PLAIN_PARAMETERS = {"ConsistentRead": bool}


def _plain_request(body: dict[str, Any]) -> bool:
    """Whether moto's request parser would give exactly ``body``: strings (and ConsistentRead's flag), names,
    and attribute maps of strings, numbers as strings, flags and nulls (no binary to decode, no null to drop,
    no value of the wrong type to refuse)."""
    for key, value in body.items():
        if key in ("Item", "Key", "ExpressionAttributeValues"):
            if value.__class__ is not dict or not all(_plain_attribute(item) for item in value.values()):
                return False
        elif key == "ExpressionAttributeNames":
            if value.__class__ is not dict or not all(name.__class__ is str for name in value.values()):
                return False
        elif value.__class__ is not _PLAIN_PARAMETERS.get(key, str):
            return False
    return True


def _apply_interpreter_dynamodb_in_process() -> Undo:
    return _patch(_direct_dynamodb, "on", True)


# -- 27 ---------------------------------------------------------------------------------------------------
# GAP (speed): the interpreter copies every value it reads or writes with copy.deepcopy (a state's input, each
# JSONPath result, the Task's parameters, the result, the context object, the frame's stack): about 40% of the
# endpoint's CPU in a no-op job, most of it deepcopy's generic machinery (its memo, its dispatch per object),
# for values that are JSON: dicts, lists, strings, numbers, booleans and null. Copy those as JSON (a new dict or
# list per container, the immutable scalars as they are), anything else with copy.deepcopy as before. JSON has
# no identities, so the copies are the same values, as independent of the original as deepcopy's. (deepcopy's
# memo keeps two references to one value aliased in the copy, e.g. the nested matches of "$..*"; JSON, and so
# AWS, has no such aliasing: json_copy gives AWS's answer there.)
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def json_copy(value: Any) -> Any:
    """A deep copy of ``value``: JSON containers and scalars directly, anything else by ``copy.deepcopy``."""
    cls = value.__class__
    if cls is dict:
        return {key: item if item.__class__ in _JSON_SCALARS else json_copy(item) for key, item in value.items()}
    if cls is list:
        return [item if item.__class__ in _JSON_SCALARS else json_copy(item) for item in value]
    if cls in _JSON_SCALARS:
        return value
    return copy.deepcopy(value)


# the interpreter's modules whose copies are of JSON values (states, paths, parameters, stacks, event details)
_JSON_COPYING_MODULES = (
    states_module,
    string_expression,
    result_path,
    state_task_service,
    execute_state,
    state_map_module,
    environment_module,
    event_manager_module,
)


def _apply_json_values_copied_as_json() -> Undo:
    json_copying = types.SimpleNamespace(deepcopy=json_copy)
    return _undo_all([_patch(module, "copy", json_copying) for module in _JSON_COPYING_MODULES])


# -- 28 ---------------------------------------------------------------------------------------------------
# GAP (speed): moto serialises a DynamoDB answer through its shape-driven serializer, a value picker per member
# of every attribute of every item: 60% of the time of a 1,000-row Query (a round's summary reads every row),
# about 0.3 ms per batch. An attribute map whose values are strings, numbers (strings in DynamoDB JSON),
# booleans, nulls, string and number sets, and lists and maps of those is already its own serialisation; take
# it as it is. Binary values (raw bytes the serializer base64-encodes) and anything else still go through
# moto's serializer.
_PLAIN_SCALARS = {"S": str, "N": str, "BOOL": bool, "NULL": bool}


def _plain_attribute(value: Any) -> bool:
    """Whether ``value`` is an AttributeValue moto's JSON serializer would leave as it is."""
    if value.__class__ is not dict or len(value) != 1:
        return False
    ((kind, inner),) = value.items()
    scalar = _PLAIN_SCALARS.get(kind)
    if scalar is not None:
        return inner.__class__ is scalar
    if kind in ("SS", "NS"):
        return inner.__class__ is list and all(item.__class__ is str for item in inner)
    if kind == "M":
        return inner.__class__ is dict and all(_plain_attribute(item) for item in inner.values())
    if kind == "L":
        return inner.__class__ is list and all(_plain_attribute(item) for item in inner)
    return False


def _apply_attribute_values_serialized_as_json() -> Undo:
    original = JSONSerializer._serialize_type_map  # BaseJSONSerializer's

    def _serialize_type_map(self: JSONSerializer, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if (
            shape.value.name == "AttributeValue"
            and value.__class__ is dict
            and all(_plain_attribute(item) for item in value.values())
        ):
            self._default_serialize(serialized, value, shape, key)
        else:
            original(self, serialized, value, shape, key)

    return _patch_inherited(JSONSerializer, "_serialize_type_map", _serialize_type_map)


# -- 29 ---------------------------------------------------------------------------------------------------
# GAP (speed): moto projects an item (a Query's ProjectionExpression) by converting the whole item to Python
# values once per projected name (a deep copy and a deserialisation of every attribute, output included) and
# serialising the result back: two thirds of the time of a 1,000-row Query that reads a few attributes of each
# row (a summary's records). When every attribute of the item survives that round trip unchanged (a string,
# a boolean, a null, a number in its canonical form that DynamoDB's decimal context holds exactly) and every
# projected name is a top-level name (no list index), the projection is the item's own attributes of those
# names. Anything else (nested paths and indexes, binary, sets, maps, lists, numbers the round trip rewrites or
# refuses, values of the wrong type that an unvalidated write stored) still takes moto's way.
def _survives_the_round_trip(value: DynamoType) -> bool:
    kind, inner = value.type, value.value
    if kind == "S":
        return inner.__class__ is str
    if kind == "BOOL":
        return inner.__class__ is bool
    if kind == "NULL":
        return inner is True
    if kind == "N" and inner.__class__ is str:
        try:
            number = DYNAMODB_CONTEXT.create_decimal(inner)
        except decimal.DecimalException:  # Inexact, Rounded, InvalidOperation: moto's round trip raises
            return False
        return number.is_finite() and str(number) == inner
    return False


def _apply_top_level_projections_picked() -> Undo:
    original = Item.project

    def project(self: Item, projection_expressions: list[list[str]]) -> Item:
        if all(len(expression) == 1 and "[" not in expression[0] for expression in projection_expressions) and all(
            _survives_the_round_trip(value) for value in self.attrs.values()
        ):
            attrs = {
                name: {value.type: value.value}
                for (name,) in projection_expressions
                if (value := self.attrs.get(name)) is not None
            }
            return Item(hash_key=self.hash_key, range_key=self.range_key, attrs=attrs)
        return original(self, projection_expressions)

    return _patch(Item, "project", project)


# -- 30 ---------------------------------------------------------------------------------------------------
# GAP (speed): the interpreter's Lambda Tasks (every batch's worker) reach the endpoint's Lambda middleware
# through botocore (serialising, signing, an HTTP request and response) and the WSGI layer (workaround 11b):
# about a third of the endpoint's time per no-op batch outside the interpreter itself. Hand the Invoke calls of
# the clients cached by workaround 11 straight to the middleware's invoke (the same runtime, the same
# throttling, the same answers): the request built by the client's own serializer, the answer parsed by its own
# parser and raised as the modeled error botocore raises. A function the middleware does not run (one moto does
# not have, whose "not found" moto answers, or one that cannot run locally) still goes the client's way.
_direct_lambda = types.SimpleNamespace(on=False)


class _InProcessLambda(_InProcessClient):
    """A Lambda client whose Invoke the endpoint's middleware answers directly."""

    def _direct(self, name: str) -> Callable[..., Any] | None:
        app = _in_process.app
        if name == "invoke" and _direct_lambda.on and _in_process.on and hasattr(app, "invoke"):
            return functools.partial(self._invoke, app)
        return None

    def _invoke(self, app: Any, **params: Any) -> Any:
        if not isinstance(params.get("FunctionName"), str):  # botocore renders it into the path; let it
            return self._client.invoke(**params)
        model = self._client.meta.service_model.operation_model("Invoke")
        request = self._client._serializer.serialize_to_request(params, model)
        headers, body = request["headers"], request["body"]
        result = app.invoke(
            params["FunctionName"],
            params.get("Qualifier"),
            body if isinstance(body, bytes) else bytes(body or b""),
            region=self._client.meta.region_name,
            account=self._account,
            invocation_type=headers.get("X-Amz-Invocation-Type"),
            log_type=headers.get("X-Amz-Log-Type"),
            client_context=headers.get("X-Amz-Client-Context"),
        )
        if result is None:
            return self._client.invoke(**params)
        return self._answer("Invoke", result.status, result.headers, result.body, streaming=True)


def _apply_interpreter_lambda_in_process() -> Undo:
    return _patch(_direct_lambda, "on", True)


# -- 31 ---------------------------------------------------------------------------------------------------
# GAP: Lambda layers do not survive CloudFormation (moto.awslambda.models.LayerVersion and
# LambdaFunction.*_from_cloudformation_json), so the framework's HelpersLayer cannot be used:
#  a) an AWS::Lambda::LayerVersion is named <stack>-<logical id>-<random>, not its LayerName, and loses its
#     CompatibleArchitectures;
#  b) Ref to it gives the Python object's repr instead of the version's ARN (it has no physical_resource_id), so
#     the stack's output and any function's Layers get garbage;
#  c) an AWS::Lambda::Function ignores its Layers on create;
#  d) a stack update with new layer content (the framework redeployed) turns the resource into None (no update
#     handler) instead of publishing a new version, and a stack delete leaves the version behind.
# On AWS a function keeps running with a layer version after it was deleted (only new functions cannot use it):
# deleted versions stay readable by the local runtime through layer_version().
_retired_layers: dict[str, Any] = {}  # layer version ARN -> moto's LayerVersion, deleted from its backend


def layer_version(arn: str) -> Any | None:
    """moto's ``LayerVersion`` for a layer version ARN, also after it was deleted; None if there never was one."""
    parts = arn.split(":")
    if len(parts) != 8 or parts[5] != "layer":
        return None
    found = lambda_backends[parts[4]][parts[3]].layers_versions_by_arn(arn)
    return found if found is not None else _retired_layers.get(arn)


def _apply_cfn_lambda_layers() -> Undo:
    from moto.awslambda.models import LambdaBackend, LambdaFunction, LayerVersion  # noqa: PLC0415

    def publish(properties: dict[str, Any], name: str, account_id: str, region_name: str) -> Any:
        spec = {"Content": properties["Content"], "LayerName": name}
        for prop in ("Description", "CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"):
            if prop in properties:
                spec[prop] = properties[prop]
        return lambda_backends[account_id][region_name].publish_layer_version(spec)

    def delete_version(layer: Any) -> None:
        lambda_backends[layer.account_id][layer.region].delete_layer_version(layer.name, str(layer.version))

    def create(
        cls: type[Any],
        /,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        return publish(cloudformation_json["Properties"], resource_name, account_id, region_name)

    def update(  # noqa: PLR0917 - moto's signature
        cls: type[Any],
        /,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        # every property of a layer version needs a replacement: a new version, then the old one is deleted
        replacement = publish(cloudformation_json["Properties"], new_resource_name, account_id, region_name)
        if original_resource is not None:
            delete_version(original_resource)
        return replacement

    def delete(
        cls: type[Any],
        /,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> None:
        found = layer_version(resource_name)  # the physical resource id: the version's ARN
        if found is not None:
            delete_version(found)

    original_delete = LambdaBackend.delete_layer_version

    @functools.wraps(original_delete)
    def delete_layer_version(self: Any, layer_name: str, layer_version_number: str) -> None:
        try:
            found = self.get_layer_version(layer_name, layer_version_number)
        except ServiceException:
            found = None
        original_delete(self, layer_name, layer_version_number)
        if found is not None:
            _retired_layers[found.arn] = found

    create_function = LambdaFunction.__dict__["create_from_cloudformation_json"].__func__

    def create_function_with_layers(
        cls: type[Any],
        /,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        fn = create_function(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        layers = cloudformation_json["Properties"].get("Layers")
        if layers:
            fn.layers = fn._get_layers_data(layers)
        return fn

    return _undo_all(
        [
            _patch(LayerVersion, "cloudformation_name_type", staticmethod(lambda: "LayerName")),
            _patch_inherited(LayerVersion, "physical_resource_id", property(lambda self: self.arn)),
            _patch(LayerVersion, "create_from_cloudformation_json", classmethod(create)),
            _patch_inherited(LayerVersion, "update_from_cloudformation_json", classmethod(update)),
            _patch_inherited(LayerVersion, "delete_from_cloudformation_json", classmethod(delete)),
            _patch(LambdaBackend, "delete_layer_version", delete_layer_version),
            _patch(LambdaFunction, "create_from_cloudformation_json", classmethod(create_function_with_layers)),
        ]
    )


# -- 32 ---------------------------------------------------------------------------------------------------
# GAP: the result of a lambda:invoke Task (the optimized integration) has only StatusCode, ExecutedVersion,
# Payload (and FunctionError, LogResult) (lambda_eval_utils.execute_lambda_function_integration keeps only the
# InvocationResponse fields of the client's answer); on AWS it also has SdkHttpMetadata and
# SdkResponseMetadata, whose RequestId is the invocation's request id, the one in its START/END/REPORT log
# lines (a TaskSucceeded output as AWS writes it: https://github.com/aws/aws-cdk/issues/6676; the integration:
# https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html). A ResultSelector selecting
# `$.SdkResponseMetadata.RequestId` fails the state with States.Runtime. Add SdkResponseMetadata from the
# client's ResponseMetadata (SdkHttpMetadata, the HTTP headers, is left out: nothing here reads it).
def _apply_lambda_result_request_id() -> Undo:
    original = lambda_eval_utils.__dict__["select_from_typed_dict"]

    def select_from_typed_dict(typed_dict: Any, obj: Any) -> Any:
        selected = original(typed_dict=typed_dict, obj=obj)
        if typed_dict is InvocationResponse:
            request_id = (obj.get("ResponseMetadata") or {}).get("RequestId")
            if request_id:
                selected["SdkResponseMetadata"] = {"RequestId": request_id}
        return selected

    return _patch(lambda_eval_utils, "select_from_typed_dict", select_from_typed_dict)


# -- 33 ---------------------------------------------------------------------------------------------------
# GAP: GetExecutionHistory ignores reverseOrder, maxResults and nextToken
# (moto.stepfunctions.responses.StepFunctionResponse.get_execution_history passes only the ARN): every
# event comes back, oldest first, in one page. On AWS the events come newest first with reverseOrder, at most
# maxResults per page (default 100, at most 1,000), with a nextToken to the next page (Step Functions API
# Reference, GetExecutionHistory). A client that reads only the last few events (the burst client reads the
# combiner's result of a failed job from them) would read the first ones instead. Pages are cut here from the
# full list; the token is the offset of the next page, opaque to the client as on AWS.
HISTORY_DEFAULT_PAGE = 100
HISTORY_MAX_PAGE = 1000


def _apply_execution_history_pages() -> Undo:
    original = responses.StepFunctionResponse.get_execution_history

    @functools.wraps(original)
    def get_execution_history(self: Any) -> Any:
        result = original(self)
        history = dict(cast(dict[str, Any], result.result))
        events = list(history.get("events", []))
        if self._get_param("reverseOrder"):
            events.reverse()
        size = min(int(self._get_param("maxResults") or HISTORY_DEFAULT_PAGE), HISTORY_MAX_PAGE)
        token = self._get_param("nextToken")
        try:
            start = int(json.loads(base64.b64decode(token, validate=True))["offset"]) if token else 0
        except (ValueError, TypeError, KeyError):  # binascii.Error and JSONDecodeError are ValueErrors
            raise InvalidToken(repr(token)) from None
        history["events"] = events[start : start + size]
        history.pop("nextToken", None)
        if start + size < len(events):
            history["nextToken"] = base64.b64encode(json.dumps({"offset": start + size}).encode()).decode()
        return type(result)(history)

    return _patch(responses.StepFunctionResponse, "get_execution_history", get_execution_history)


WORKAROUNDS: tuple[Workaround, ...] = (
    Workaround(
        "validate-template-ignores-warnings",
        "ValidateTemplate fails on cfn-lint warnings (W3005 on the role serverless-step-functions generates)",
        _apply_validate_template_ignores_warnings,
    ),
    Workaround(
        "sub-with-digit-variables",
        "Fn::Sub variable names starting with a digit are not substituted (KeyError, HTTP 500)",
        _apply_sub_with_digit_variables,
    ),
    Workaround(
        "change-set-refreshes-outputs",
        "DescribeStacks has no Outputs after a change-set deploy",
        _apply_change_set_refreshes_outputs,
    ),
    Workaround(
        "cfn-state-machines-in-executing-backend",
        "state machines created by CloudFormation are invisible when execution is switched on",
        _apply_cfn_state_machines_in_executing_backend,
    ),
    Workaround(
        "execution-name-defaults-to-uuid",
        'executions started without a name are named "None"',
        _apply_execution_name_defaults_to_uuid,
    ),
    Workaround(
        "integer-tolerated-failure-percentage",
        "an integer ToleratedFailurePercentage is an ASL syntax error",
        _apply_integer_tolerated_failure_percentage,
    ),
    Workaround(
        "result-writer-reads-state-input",
        "ResultWriter Parameters are evaluated against the Map results instead of the state input",
        _apply_result_writer_reads_state_input,
    ),
    Workaround(
        "map-workers-iterate",
        "a Map worker recurses once per item: RecursionError after ~950 items, execution hangs",
        _apply_map_workers_iterate,
    ),
    Workaround(
        "jsonpath-parse-cache",
        "every JSONPath evaluation builds a new jsonpath_ng parser (~1 ms each)",
        _apply_jsonpath_parse_cache,
    ),
    Workaround(
        "moto-module-list-cache",
        "every request lists moto's package directory under the server's global lock",
        _apply_moto_module_list_cache,
    ),
    Workaround(
        "interpreter-client-cache",
        "the interpreter creates a new boto3 client and connection for every Task",
        _apply_interpreter_client_cache,
    ),
    Workaround(
        "interpreter-in-process",
        "the interpreter calls its own server over HTTP (a socket round trip per Task)",
        _apply_interpreter_in_process,
    ),
    Workaround(
        "tasks-without-timeout-inline",
        "every Task and execution runs in a new thread, and every such thread is kept forever (TMP_THREADS)",
        _apply_tasks_without_timeout_inline,
    ),
    Workaround(
        "response-method-names-cache",
        "every request lists its handler class's methods with inspect.getmembers",
        _apply_response_method_names_cache,
    ),
    Workaround(
        "rfc3339-timestamp-comparisons",
        "Choice timestamp rules fail on fractional seconds and offsets ($$.State.EnteredTime)",
        _apply_rfc3339_timestamp_comparisons,
    ),
    Workaround(
        "state-data-limit",
        "States.DataLimitExceeded: input after Parameters unchecked, Retry/Catch intercept it, 256 KiB itself fails",
        _apply_state_data_limit,
    ),
    Workaround(
        "map-run-counters",
        "DescribeMapRun counts: total counts started children, pending is 0, running stays up after failures",
        _apply_map_run_counters,
    ),
    Workaround(
        "map-failure-tolerance",
        "a distributed Map succeeds however many children fail (tolerance thresholds ignored)",
        _apply_map_failure_tolerance,
    ),
    Workaround(
        "map-runs-of-starting-executions",
        "DescribeMapRun/ListMapRuns fail (HTTP 500) while any execution is still parsing its definition",
        _apply_map_runs_of_starting_executions,
    ),
    Workaround(
        "execution-start-time-string",
        "$$.Execution.StartTime is a datetime: reading it fails the state (not JSON serializable)",
        _apply_execution_start_time_string,
    ),
    Workaround(
        "map-child-execution-context",
        "a distributed Map child's $$.Execution is its parent's (Id, Name, Input, StartTime)",
        _apply_map_child_execution_context,
    ),
    Workaround(
        "express-child-workflows",
        "ExecutionType EXPRESS is a syntax error; no 5-minute limit for Express children",
        _apply_express_child_workflows,
    ),
    Workaround(
        "result-writer-files",
        "ResultWriter writes an empty manifest only, and nothing when the Map run fails",
        _apply_result_writer_files,
    ),
    Workaround(
        "map-children-history-unread",
        "a Map run's children record history events that nothing reads, under one lock",
        _apply_map_children_history_unread,
    ),
    Workaround(
        "plain-update-item",
        "UpdateItem deep-copies and traverses its expression's syntax tree ten times, twice for a new item",
        _apply_plain_update_item,
    ),
    Workaround(
        "invocation-ids-keep-the-lock",
        "botocore's uuid4 request ids release the interpreter lock (os.urandom) on every request",
        _apply_invocation_ids_keep_the_lock,
    ),
    Workaround(
        "interpreter-dynamodb-in-process",
        "the interpreter's DynamoDB item calls go through botocore and moto's HTTP request layer",
        _apply_interpreter_dynamodb_in_process,
    ),
    Workaround(
        "json-values-copied-as-json",
        "the interpreter copies every JSON value it reads or writes with copy.deepcopy's generic machinery",
        _apply_json_values_copied_as_json,
    ),
    Workaround(
        "attribute-values-serialized-as-json",
        "moto serialises every DynamoDB attribute of an answer member by member through its shape serializer",
        _apply_attribute_values_serialized_as_json,
    ),
    Workaround(
        "top-level-projections-picked",
        "moto projects an item by deserialising all of it once per projected name and serialising the result",
        _apply_top_level_projections_picked,
    ),
    Workaround(
        "interpreter-lambda-in-process",
        "the interpreter's Lambda invocations go through botocore and the WSGI layer to the endpoint's middleware",
        _apply_interpreter_lambda_in_process,
    ),
    Workaround(
        "entered-time-format",
        '$$.State.EnteredTime is "...:39.865001+00:00" instead of AWS\'s "...:39.865Z"',
        _apply_entered_time_format,
    ),
    Workaround(
        "cfn-lambda-layers",
        "CloudFormation layers: random name, Ref is a repr, functions lose Layers, updates turn them into None",
        _apply_cfn_lambda_layers,
    ),
    Workaround(
        "lambda-result-request-id",
        "a lambda:invoke Task's result has no SdkResponseMetadata (the invocation's RequestId)",
        _apply_lambda_result_request_id,
    ),
    Workaround(
        "execution-history-pages",
        "GetExecutionHistory ignores reverseOrder, maxResults and nextToken (all events, oldest first, one page)",
        _apply_execution_history_pages,
    ),
)

_lock = threading.Lock()
_applied: dict[str, Undo] = {}


def apply(*names: str) -> list[str]:
    """Apply the named workarounds (all when none is named) that are not applied yet; return their names."""
    unknown = set(names) - {w.name for w in WORKAROUNDS}
    if unknown:
        raise KeyError(f"unknown workaround(s): {', '.join(sorted(unknown))}")
    done = []
    with _lock:
        for workaround in WORKAROUNDS:
            if (names and workaround.name not in names) or workaround.name in _applied:
                continue
            _applied[workaround.name] = workaround.apply()
            LOG.debug("applied workaround %s: %s", workaround.name, workaround.gap)
            done.append(workaround.name)
    return done


def apply_all() -> list[str]:
    return apply()


def revert(*names: str) -> None:
    """Undo the named workarounds (all when none is named)."""
    with _lock:
        for workaround in reversed(WORKAROUNDS):
            if (not names or workaround.name in names) and workaround.name in _applied:
                _applied.pop(workaround.name)()


@contextlib.contextmanager
def applied(*names: str) -> Iterator[None]:
    """Apply workarounds for the duration of the block (only those not applied before it)."""
    done = apply(*names)
    try:
        yield
    finally:
        if done:
            revert(*done)
