"""The worker and combiner a job names, as dispatch checks them before anything is written or started.

A function is accepted when it is in the deployment's account and region, is not one of the
framework's own functions, matches the deployment's worker pattern (the only functions the state
machine's role may invoke) and exists (lambda:GetFunctionConfiguration). dispatch also reads the
worker's timeout (to choose EXPRESS or STANDARD child workflows) and how many instances of it may
run at once: its reserved concurrency (lambda:GetFunctionConcurrency), else the account's
unreserved concurrency (lambda:GetAccountSettings,
https://docs.aws.amazon.com/lambda/latest/api/API_GetAccountSettings.html).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from burst_core.config import Settings
from burst_core.exceptions import ConfigurationError, InvalidJobInput
from burst_core.job import FUNCTION_NAME_RE

logger = logging.getLogger(__name__)

_NOT_FOUND = {"ResourceNotFoundException", "ResourceNotFound"}
_DENIED = {"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"}


@dataclass(frozen=True)
class FunctionInfo:
    """What dispatch needs to know of a worker or combiner."""

    reference: str  # as the job named it (name, partial or full ARN, optionally qualified)
    name: str
    timeout_secs: int


@dataclass(frozen=True)
class ConcurrencyLimit:
    """How many instances of the worker may run at once, and where that number comes from."""

    limit: int | None  # None: unknown (the account settings could not be read)
    source: str


def iam_name_match(pattern: str, name: str) -> bool:
    """Whether ``name`` matches an IAM resource pattern: ``*`` any characters, ``?`` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name) is not None


class LambdaFunctions:
    """Checks functions against the deployment. The Lambda client is injected."""

    def __init__(self, lambda_client: Any, settings: Settings) -> None:
        self._lambda = lambda_client
        self._settings = settings

    def check(self, field: str, reference: str) -> FunctionInfo:
        """The function named in ``field``, or InvalidJobInput saying why the framework cannot run it."""
        settings = self._settings
        match = FUNCTION_NAME_RE.match(reference)
        if match is None:  # parse_job_request validated the syntax already
            raise InvalidJobInput(field, f"expected a Lambda function name or ARN, got {reference!r}")
        name = match.group("name")
        for part, own in (("region", settings.region), ("account", settings.account)):
            theirs = match.group(part)
            if theirs and own and theirs != own:
                raise InvalidJobInput(
                    field,
                    f"{reference!r} is in {part} {theirs}; burst-compute runs in {part} {own} and invokes only "
                    "functions of its own account and region",
                )
        if settings.stack_prefix and name.startswith(f"{settings.stack_prefix}-"):
            raise InvalidJobInput(
                field, f"{name!r} is one of burst-compute's own functions, not a worker or combiner of yours"
            )
        pattern = settings.worker_function_pattern
        if not iam_name_match(pattern, name):
            raise InvalidJobInput(
                field,
                f"{name!r} does not match the deployment's worker pattern {pattern!r}: the state machine may "
                "invoke only functions matching it (set BURST_WORKER_FUNCTION_PATTERN when deploying to change it)",
            )
        try:
            configuration = self._lambda.get_function_configuration(FunctionName=reference)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _NOT_FOUND:
                where = settings.region or "this region"
                raise InvalidJobInput(field, f"no Lambda function {reference!r} in {where}") from None
            if code in _DENIED:
                raise ConfigurationError(
                    f"dispatch may not read the configuration of {reference!r} (lambda:GetFunctionConfiguration "
                    f"denied): {exc}"
                ) from exc
            raise
        return FunctionInfo(reference, name, int(configuration.get("Timeout", 3)))

    def concurrency(self, function: FunctionInfo) -> ConcurrencyLimit:
        """The worker's reserved concurrency if it has one, else the account's unreserved concurrency."""
        # a bound, not a gate: when it cannot be read, the state machine still retries throttled batches
        try:
            reserved = self._lambda.get_function_concurrency(FunctionName=function.name)
        except (ClientError, BotoCoreError) as exc:
            return self._unknown(function, "lambda:GetFunctionConcurrency", exc)
        if reserved.get("ReservedConcurrentExecutions") is not None:
            value = int(reserved["ReservedConcurrentExecutions"])
            return ConcurrencyLimit(value, f"the reserved concurrency of {function.name} ({value})")
        try:
            value = int(self._lambda.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"])
        except (ClientError, BotoCoreError, KeyError, TypeError, ValueError) as exc:
            return self._unknown(function, "lambda:GetAccountSettings", exc)
        return ConcurrencyLimit(value, f"the account's unreserved Lambda concurrency ({value})")

    @staticmethod
    def _unknown(function: FunctionInfo, action: str, exc: Exception) -> ConcurrencyLimit:
        logger.warning("cannot read the Lambda concurrency available to %s (%s): %s", function.name, action, exc)
        return ConcurrencyLimit(None, f"unknown ({action} failed: {exc.__class__.__name__})")
