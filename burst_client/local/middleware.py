"""The WSGI middleware in front of moto: Lambda's Invoke (and GetAccountSettings) answered by the local runtime.

``POST /2015-03-31/functions/{name}/invocations``, from any client (moto's state machine interpreter included),
runs the deployed code in :class:`~burst_client.local.runtime.LambdaRuntime`; ``GET /2016-08-19/account-settings``
(which moto lacks, workaround 15) reports the runtime's concurrency limit; every other request goes to moto.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any, Protocol
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from burst_client.aws import LOCAL_CREDENTIALS
from burst_client.local import moto_lambda
from burst_client.local.runtime import Invocation, InvokeResult, LambdaRuntime, LocalLambdaError
from burst_client.local.runtime.spec import json_error

LOG = logging.getLogger(__name__)

DEFAULT_REGION = LOCAL_CREDENTIALS["AWS_DEFAULT_REGION"]

_INVOKE_PATH = re.compile(r"^/(?P<api>[0-9-]+)/functions/(?P<name>[^/]+)/invocations/?$")
_ACCOUNT_SETTINGS_PATH = re.compile(r"^/2016-08-19/account-settings/?$")
_CREDENTIAL = re.compile(r"Credential=(?P<key>[^/]*)/\d{8}/(?P<region>[^/]+)/")
_PYTHON_RUNTIMES = re.compile(r"^python3\.\d+$")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class Headers(Protocol):
    """An Invoke request's headers: werkzeug's (case-insensitive), or botocore's as its serializer names them."""

    def get(self, key: str, /) -> str | None: ...


class _Answer(Response):
    """A Lambda API answer: its headers as the runtime gives them (no default Content-Type added)."""

    default_mimetype = None

    @classmethod
    def of(cls, result: InvokeResult) -> _Answer:
        # the body as one chunk passed through: werkzeug wraps any other body in a ClosingIterator (~10 us here)
        return cls([result.body], result.status, result.headers, direct_passthrough=True)


class LambdaInvokeMiddleware:
    """WSGI middleware: Lambda Invoke runs the deployed code here; every other request goes to ``app``."""

    def __init__(self, app: WSGIApp, runtime: LambdaRuntime, default_region: str = DEFAULT_REGION) -> None:
        self.app = app
        self.runtime = runtime
        self.default_region = default_region

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        if request.method == "POST":
            match = _INVOKE_PATH.match(request.path)
            if match is not None:
                return self._invoke(request, start_response, unquote(match["name"]))
        elif request.method == "GET" and _ACCOUNT_SETTINGS_PATH.match(request.path):
            return self._account_settings(request, start_response)
        if self.runtime.function_logs is not None and request.headers.get("X-Amz-Target", "").startswith("Logs_"):
            self.runtime.function_logs.flush()  # a CloudWatch Logs request sees what returned invocations logged
        return self.app(environ, start_response)

    def _account_settings(self, request: Request, start_response: StartResponse) -> Iterable[bytes]:
        from burst_client.local.moto_patches.lambda_ import lambda_account_settings  # noqa: PLC0415 - moto

        region, account = self._caller(request)
        settings = lambda_account_settings(account, region, self.runtime.concurrency)
        answer = InvokeResult(200, {"Content-Type": "application/json"}, json.dumps(settings).encode())
        return _Answer.of(answer)(request.environ, start_response)

    def _invoke(self, request: Request, start_response: StartResponse, name: str) -> Iterable[bytes]:
        payload = request.get_data()
        request.environ["wsgi.input"] = io.BytesIO(payload)  # for moto, if it answers after all
        region, account = self._caller(request)
        # (request.args costs ~4 us even for an empty query string, the usual one here)
        qualifier = request.args.get("Qualifier") or None if request.query_string else None
        result = self.invoke(name, qualifier, payload, request.headers, region, account)
        if result is None:
            return self.app(request.environ, start_response)
        return _Answer.of(result)(request.environ, start_response)

    def _caller(self, request: Request) -> tuple[str, str]:
        """(region, account) of the request: from its SigV4 credential scope and moto's account rules."""
        match = _CREDENTIAL.search(request.headers.get("Authorization", ""))
        region, key = (self.default_region, "") if match is None else (match["region"], match["key"])
        return region, moto_lambda.account_id(key, request.headers.get("X-Moto-Account-Id"))

    def invoke(  # noqa: PLR0917 - the parts of an Invoke request
        self, name: str, qualifier: str | None, payload: bytes, headers: Headers, region: str, account: str
    ) -> InvokeResult | None:
        """Lambda's Invoke of function ``name`` (a name or an ARN) with the request's ``headers``
        (X-Amz-Invocation-Type, X-Amz-Log-Type, X-Amz-Client-Context), run here; None when moto is to answer (a
        function it does not have, with its "not found" error, or one that cannot run locally). Workaround 30
        calls it directly, without HTTP or WSGI."""
        if name.startswith("arn:"):
            region = name.split(":")[3] or region
        fn = moto_lambda.lookup_function(account, region, name, qualifier)
        if fn is None:
            return None
        if getattr(fn, "package_type", "Zip") != "Zip" or not _PYTHON_RUNTIMES.match(fn.run_time or ""):
            LOG.warning(
                "%s (%s) cannot run locally: only Python zip functions can; moto answers instead",
                fn.function_name,
                fn.run_time,
            )
            return None
        spec = moto_lambda.function_spec(fn)
        invoked_arn = name if name.startswith("arn:") else spec.function_arn
        if qualifier and not name.startswith("arn:"):
            invoked_arn += f":{qualifier}"
        invocation = Invocation(
            payload=payload,
            invocation_type=headers.get("X-Amz-Invocation-Type") or "RequestResponse",
            log_tail=headers.get("X-Amz-Log-Type") == "Tail",
            client_context=headers.get("X-Amz-Client-Context") or None,
            invoked_arn=invoked_arn,
        )
        try:
            return self.runtime.invoke(spec, lambda: bytes(fn.code_bytes), invocation)
        except LocalLambdaError as exc:
            LOG.error("could not run %s: %s", spec.name, exc)
            return json_error(500, "ServiceException", {"Type": "Service", "message": str(exc)})
