"""The interpreter's requests answered in the endpoint's own process instead of over HTTP (speed)."""

from __future__ import annotations

import functools
import io
import json
import sys
import threading
import types
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore.awsrequest import AWSResponse, HeadersDict, prepare_request_dict
from botocore.config import Config
from botocore.response import StreamingBody
from moto import settings as moto_settings
from moto.core import responses as moto_responses
from moto.core.botocore_stubber import MockRawResponse
from moto.core.exceptions import ServiceException
from moto.core.request import normalize_request
from moto.core.responses import ActionResult
from moto.core.serialize import get_serializer_class
from moto.core.utils import get_service_model as moto_service_model
from moto.dynamodb.responses import DynamoHandler
from moto.stepfunctions.parser.asl.utils import boto_client
from moto.utilities.aws_headers import gen_amz_crc32, gen_amzn_requestid_long
from werkzeug.exceptions import HTTPException
from werkzeug.test import run_wsgi_app

from burst_client.local.moto_lambda import account_id
from burst_client.local.moto_patches.dynamodb import plain_attribute
from burst_client.local.moto_patches.registry import Undo, patch, workaround


@workaround("interpreter-client-cache")
def _apply_interpreter_client_cache() -> Undo:
    """Gap 11 (speed): the interpreter creates a new boto3 client and connection for every Task

    The interpreter creates a new boto3 client (and a new HTTP connection) for every Task it runs
    (moto.stepfunctions.parser.asl.utils.boto_client.boto_client_for): ~3-5 ms per Lambda call, plus a lookup of
    "localhost" per connection. Reuse one client per service, region and endpoint (botocore clients are thread-safe),
    with a connection pool large enough for a Map's concurrent children, and address the server as 127.0.0.1, where it
    listens.
    """
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

    return patch(boto_client, "boto3", types.SimpleNamespace(client=client))


_POOL_CONNECTIONS = 1000


@workaround("interpreter-in-process")
def _apply_interpreter_in_process() -> Undo:
    """Gap 11b (speed): the interpreter calls its own server over HTTP (a socket round trip per Task)

    In server mode the interpreter calls the services over HTTP to its own server (boto_client_for sets
    endpoint_url=http://localhost:$MOTO_PORT whenever moto's decorator-mode stubber is off): a socket round trip, a
    server thread and HTTP parsing on both sides for every Task, all in the one process whose interpreter lock every Map
    child shares. Hand the interpreter's requests (those of the clients cached by workaround 11) to the endpoint's WSGI
    application in-process instead: the same application, middleware and moto handlers answer them, as they would over
    the socket.
    """
    return patch(_in_process, "on", True)


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


@workaround("interpreter-dynamodb-in-process")
def _apply_interpreter_dynamodb_in_process() -> Undo:
    """Gap 26 (speed): the interpreter's DynamoDB item calls go through botocore and moto's HTTP request layer

    The interpreter's DynamoDB integration Tasks (a batch's row write) go through botocore's whole request pipeline
    (hooks, endpoint rules, signing, an HTTP request) and the WSGI and Flask layers (workaround 11b) before they reach
    moto's DynamoDB handler: about 1 ms of the endpoint's CPU per batch. For the item calls (GetItem, PutItem,
    UpdateItem, DeleteItem) of the clients cached by workaround 11, build the request with the client's serializer (its
    validation when it validates), and:
    - when moto's request parser would give the handler the body as it is (strings, flags, attribute maps of strings,
      numbers as strings, flags and nulls) and moto's IAM check is off, hand the body to the handler's action and answer
      with moto's serializer, errors and headers (request id, CRC32), as its call_action does;
    - otherwise (a binary to decode, a null to drop, a value of the wrong type to refuse), do what moto's own in-process
      mode does (BotocoreStubber): sign the request and dispatch it to DynamoHandler.
    Either answer is parsed, and its error raised with the modeled fields, by the client's own parser.
    """
    return patch(_direct_dynamodb, "on", True)


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
        credentials = self._client._request_signer._credentials
        return account_id(credentials.access_key if credentials else "")

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
            if value.__class__ is not dict or not all(plain_attribute(item) for item in value.values()):
                return False
        elif key == "ExpressionAttributeNames":
            if value.__class__ is not dict or not all(name.__class__ is str for name in value.values()):
                return False
        elif value.__class__ is not _PLAIN_PARAMETERS.get(key, str):
            return False
    return True


@workaround("interpreter-lambda-in-process")
def _apply_interpreter_lambda_in_process() -> Undo:
    """Gap 30 (speed): the interpreter's Lambda invocations go through botocore and the WSGI layer to the endpoint's
    middleware

    The interpreter's Lambda Tasks (every batch's worker) reach the endpoint's Lambda middleware through botocore
    (serialising, signing, an HTTP request and response) and the WSGI layer (workaround 11b): about a third of the
    endpoint's time per no-op batch outside the interpreter itself. Hand the Invoke calls of the clients cached by
    workaround 11 straight to the middleware's invoke (the same runtime, the same throttling, the same answers): the
    request built by the client's own serializer, the answer parsed by its own parser and raised as the modeled error
    botocore raises. A function the middleware does not run (one moto does not have, whose "not found" moto answers, or
    one that cannot run locally) still goes the client's way.
    """
    return patch(_direct_lambda, "on", True)


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
        payload = body if isinstance(body, bytes) else bytes(body or b"")
        region, account = self._client.meta.region_name, self._account
        result = app.invoke(params["FunctionName"], params.get("Qualifier"), payload, headers, region, account)
        if result is None:
            return self._client.invoke(**params)
        return self._answer("Invoke", result.status, result.headers, result.body, streaming=True)
