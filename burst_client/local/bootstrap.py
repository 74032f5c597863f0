"""The process that runs inside one warm local Lambda execution environment.

Started by :mod:`burst_client.local.runtime.worker` as ``python -s -P -u bootstrap.py REQ_FD RESP_FD`` with the
unpacked deployment package as working directory and the function's environment. It imports the handler
once (the init phase), then serves invocations one at a time, like the Lambda Python runtime does.

This file is run as a script, not imported from the ``burst_client`` package: it must only use the standard
library, so that the deployment package (zip root first on ``sys.path``) decides what else gets imported.

Protocol (both directions: one JSON header line, then exactly ``len`` bytes of body):

* worker -> runtime, once after init: ``{"type": "ready", "init_ms": 12.3, "len": N}``; the body is empty,
  or Lambda's error payload when the init failed (the worker then exits).
* runtime -> worker: ``{"id": REQUEST_ID, "deadline_ms": EPOCH_MS, "arn": INVOKED_ARN, "cc": CLIENT_CONTEXT,
  "trace": TRACE_ID, "len": N}`` + the event (JSON).
* worker -> runtime: ``{"id": REQUEST_ID, "ok": true|false, "len": N}`` + the result (JSON) or the error
  payload (``errorMessage``/``errorType``/``requestId``/``stackTrace``, as Lambda returns it).

Before each response the worker writes :data:`END_MARKER` + request id + newline to its stdout (which is
also its stderr), so the runtime knows that all log output of the invocation has been read.
"""

from __future__ import annotations

import base64
import decimal
import importlib
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, BinaryIO

END_MARKER = b"\x1e\x1eburst-local-end "

Handler = Callable[[Any, "LambdaContext"], Any]


class CognitoIdentity:
    """``context.identity`` (always empty: there is no Cognito here)."""

    cognito_identity_id: str | None = None
    cognito_identity_pool_id: str | None = None


class ClientContext:
    """``context.client_context``, decoded from the X-Amz-Client-Context header."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.client: Any = raw.get("client")
        self.custom: Any = raw.get("custom")
        self.env: Any = raw.get("env")


class LambdaContext:
    """The context object handed to the handler, with the attributes of the AWS Python runtime's one."""

    def __init__(
        self,
        request_id: str,
        deadline_ms: float,
        invoked_function_arn: str,
        client_context: ClientContext | None,
    ) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.client_context = client_context
        self.identity = CognitoIdentity()
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.tenant_id: str | None = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(int(self._deadline_ms - time.time() * 1000), 0)

    def log(self, msg: str) -> None:
        sys.stdout.write(msg)


class _RequestIdFilter(logging.Filter):
    """Adds ``aws_request_id`` to every record, as the Lambda runtime's log handler does."""

    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


class _LambdaJSONEncoder(json.JSONEncoder):
    """The Lambda Python runtime serialises Decimal (what DynamoDB returns) as a JSON number."""

    def default(self, o: Any) -> Any:
        if isinstance(o, decimal.Decimal):
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


def _configure_logging(request_filter: _RequestIdFilter) -> None:
    """Root logger as in the Lambda Python runtime: one handler with the request id in every line."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    logging.Formatter.converter = time.gmtime
    handler.addFilter(request_filter)
    root = logging.getLogger()
    root.handlers = [handler]
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    if level:
        root.setLevel(level.upper())


def _error_payload(error_type: str, message: str, request_id: str, stack: list[str]) -> dict[str, Any]:
    return {"errorMessage": message, "errorType": error_type, "requestId": request_id, "stackTrace": stack}


def _exception_payload(exc: BaseException, request_id: str, skip_frames: int) -> dict[str, Any]:
    frames = traceback.extract_tb(exc.__traceback__)[skip_frames:]
    return _error_payload(type(exc).__name__, str(exc), request_id, traceback.format_list(frames))


def _log_error(payload: dict[str, Any]) -> None:
    lines = "".join(payload["stackTrace"]).rstrip("\n")
    trace = f"\nTraceback (most recent call last):\n{lines}" if lines else ""
    sys.stdout.write(f"[ERROR] {payload['errorType']}: {payload['errorMessage']}{trace}\n")


def load_handler(spec: str) -> Handler:
    """Import ``dir/module.function`` (module path relative to the task root) and return the function.

    Raises LookupError with a Lambda-style (errorType, errorMessage) pair in ``args`` when it fails.
    """
    module_path, _, function_name = spec.rpartition(".")
    if not module_path or not function_name:
        message = f"Bad handler '{spec}': not enough values to unpack"
        raise LookupError("Runtime.MalformedHandlerName", message)
    module_name = module_path.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        message = f"Unable to import module '{module_path}': {exc}"
        raise LookupError("Runtime.ImportModuleError", message) from exc
    except SyntaxError as exc:
        message = f"Syntax error in module '{module_path}': {exc}"
        raise LookupError("Runtime.UserCodeSyntaxError", message) from exc
    handler = getattr(module, function_name, None)
    if handler is None:
        raise LookupError("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_path}'")
    return handler  # type: ignore[no-any-return]


def _read_exact(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size) if size else b""
    if len(data) != size:
        raise EOFError("runtime closed the request pipe")
    return data


def _send(stream: BinaryIO, header: dict[str, Any], body: bytes) -> None:
    header["len"] = len(body)
    stream.write(json.dumps(header).encode() + b"\n" + body)
    stream.flush()


def _flush_logs(request_id: str) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(1, END_MARKER + request_id.encode() + b"\n")


def serve(requests: BinaryIO, responses: BinaryIO) -> int:
    """Init the handler, then answer invocations until the request pipe closes. Returns the exit status."""
    request_filter = _RequestIdFilter()
    _configure_logging(request_filter)
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, task_root)

    started = time.perf_counter()
    handler: Handler | None = None
    init_error: dict[str, Any] | None = None
    try:
        handler = load_handler(os.environ["_HANDLER"])
    except LookupError as exc:
        error_type, message = exc.args
        init_error = _error_payload(error_type, message, "", [])
        cause = exc.__cause__
        if cause is not None:
            init_error["stackTrace"] = traceback.format_list(traceback.extract_tb(cause.__traceback__)[1:])
    except Exception as exc:  # the module's own code raised during import: Lambda reports it as is
        init_error = _exception_payload(exc, "", skip_frames=1)
    init_ms = (time.perf_counter() - started) * 1000
    if init_error is not None:
        _log_error(init_error)
        sys.stdout.flush()
        _send(responses, {"type": "ready", "init_ms": init_ms}, json.dumps(init_error).encode())
        return 1
    assert handler is not None
    _send(responses, {"type": "ready", "init_ms": init_ms}, b"")

    while True:
        line = requests.readline()
        if not line:
            return 0
        request = json.loads(line)
        body = _read_exact(requests, request["len"])
        request_id: str = request["id"]
        request_filter.request_id = request_id
        os.environ["_X_AMZN_TRACE_ID"] = request.get("trace") or ""
        raw_context = request.get("cc")
        context = LambdaContext(
            request_id,
            request["deadline_ms"],
            request["arn"],
            ClientContext(json.loads(base64.b64decode(raw_context))) if raw_context else None,
        )
        ok = True
        try:
            result = handler(json.loads(body) if body else {}, context)
        except Exception as exc:
            ok = False
            error = _exception_payload(exc, request_id, skip_frames=1)
            _log_error(error)
            out = json.dumps(error).encode()
        else:
            try:
                out = json.dumps(result, cls=_LambdaJSONEncoder).encode()
            except (TypeError, ValueError) as exc:
                ok = False
                message = f"Unable to marshal response: {exc}"
                error = _error_payload("Runtime.MarshalError", message, request_id, [])
                _log_error(error)
                out = json.dumps(error).encode()
        _flush_logs(request_id)
        _send(responses, {"id": request_id, "ok": ok}, out)


def main(argv: list[str]) -> int:
    request_fd, response_fd = int(argv[1]), int(argv[2])
    with os.fdopen(request_fd, "rb") as requests, os.fdopen(response_fd, "wb") as responses:
        try:
            return serve(requests, responses)
        except (BrokenPipeError, EOFError):
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
