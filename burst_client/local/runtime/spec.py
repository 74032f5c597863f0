"""The runtime's vocabulary: what identifies a function configuration, one invocation, the Invoke API's answer
and the runtime's errors (samcli.local.lambdafn's ``config`` and ``exceptions``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


class LocalLambdaError(Exception):
    """Root of the errors of the local Lambda runtime."""


class WorkerTimeoutError(LocalLambdaError):
    """The worker did not answer before the deadline (it has been killed)."""


class WorkerExitError(LocalLambdaError):
    """The worker process exited while it owed an answer."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FunctionSpec:
    """What identifies an execution environment: workers are shared only between equal specs."""

    account_id: str
    region: str
    name: str
    function_arn: str  # unqualified
    version: str  # "$LATEST" or a published version number
    handler: str
    runtime: str
    timeout: int  # seconds
    memory_size: int  # MB
    code_sha256: str
    environment: tuple[tuple[str, str], ...] = ()
    log_level: str | None = None
    layers: tuple[str, ...] = ()  # layer version ARNs, in the order Lambda merges them (see .code)

    @property
    def slot(self) -> tuple[str, str, str, str]:
        """The function version this spec configures; a newer spec for the same slot retires old workers."""
        return (self.account_id, self.region, self.name, self.version)


@dataclass(frozen=True)
class Invocation:
    payload: bytes
    invocation_type: str = "RequestResponse"  # or "Event" or "DryRun"
    log_tail: bool = False
    client_context: str | None = None  # base64 JSON, as in the X-Amz-Client-Context header
    invoked_arn: str | None = None


@dataclass
class InvokeResult:
    """An HTTP answer in the shape of the Lambda Invoke API."""

    status: int
    headers: dict[str, str]
    body: bytes = b""


def json_error(status: int, error_type: str, body: dict[str, Any], request_id: str | None = None) -> InvokeResult:
    """An error answer of the Lambda API (``x-amzn-ErrorType`` and a JSON body)."""
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": error_type}
    if request_id is not None:
        headers["x-amzn-RequestId"] = request_id
    return InvokeResult(status, headers, json.dumps(body).encode())


def throttled_result(request_id: str) -> InvokeResult:
    """Lambda's answer when the account's concurrent executions are exhausted."""
    result = json_error(
        429,
        "TooManyRequestsException",
        {"Type": "User", "message": "Rate Exceeded.", "Reason": "ConcurrentInvocationLimitExceeded"},
        request_id,
    )
    result.headers["Retry-After"] = "1"
    return result


def runtime_error(error_type: str, request_id: str, message: str) -> bytes:
    """The payload of an invocation the runtime failed (timeout, exit), as Lambda returns it."""
    payload = {"errorType": error_type, "errorMessage": f"RequestId: {request_id} Error: {message}"}
    return json.dumps(payload).encode()
