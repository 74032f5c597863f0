"""What the local Lambda runtime needs from moto's Lambda backend: a function's spec, whether it is still
deployed, its layers' content, and the account a request is served from. moto is imported on first use."""

from __future__ import annotations

import os
from typing import Any

from burst_client.local.runtime import FunctionSpec, LayerContent, LayerError


def function_spec(fn: Any) -> FunctionSpec:
    """Describe a moto ``LambdaFunction`` for the runtime."""
    unqualified_arn = f"arn:{fn.partition}:lambda:{fn.region}:{fn.account_id}:function:{fn.function_name}"
    logging_config = getattr(fn, "logging_config", None) or {}
    return FunctionSpec(
        account_id=fn.account_id,
        region=fn.region,
        name=fn.function_name,
        function_arn=unqualified_arn,
        version=str(fn.version),
        handler=fn.handler or "",
        runtime=fn.run_time or "",
        timeout=int(fn.timeout),
        memory_size=int(fn.memory_size),
        code_sha256=fn.code_sha_256,
        environment=tuple(sorted((str(k), str(v)) for k, v in (fn.environment_vars or {}).items())),
        log_level=logging_config.get("ApplicationLogLevel") if isinstance(logging_config, dict) else None,
        layers=tuple(str(layer["Arn"]) for layer in getattr(fn, "layers", None) or ()),
    )


def lookup_function(account_id: str, region: str, name: str, qualifier: str | None) -> Any | None:
    """moto's ``LambdaFunction`` for name (or ARN) and qualifier, None if it has no such function."""
    from moto.awslambda.models import lambda_backends  # noqa: PLC0415 - moto loads lazily
    from moto.core.exceptions import ServiceException  # noqa: PLC0415
    from werkzeug.exceptions import HTTPException  # noqa: PLC0415

    try:
        return lambda_backends[account_id][region].get_function(name, qualifier)
    except (HTTPException, ServiceException, ValueError, KeyError):  # moto's ResourceNotFound & co.
        return None


def is_deployed(spec: FunctionSpec) -> bool:
    """Whether moto still has the function version ``spec`` describes, unchanged."""
    qualifier = None if spec.version == "$LATEST" else spec.version
    fn = lookup_function(spec.account_id, spec.region, spec.name, qualifier)
    return fn is not None and function_spec(fn) == spec


def account_id(access_key: str, account_header: str | None = None) -> str:
    """The account moto serves a request from (same precedence as moto.core.responses): $MOTO_ACCOUNT_ID, the
    X-Moto-Account-Id header, the account of the signing access key (the default account for unknown keys)."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if account_header:
        return account_header
    from moto.iam.models import get_account_id_from  # noqa: PLC0415 - moto loads lazily

    return str(get_account_id_from(access_key))


def layer_content(arn: str) -> LayerContent:
    """A layer version's zip and CodeSha256 as the endpoint's moto holds them (in-process, as the function code is
    read), also after the version was deleted: on AWS, functions that use a deleted layer version keep running."""
    from burst_client.local.moto_patches.lambda_ import layer_version  # noqa: PLC0415 - it imports moto

    version = layer_version(arn)
    if version is None:
        raise LayerError(f"layer version {arn} does not exist (deploy the stack that publishes it first)")
    return LayerContent(str(version.code_sha_256), bytes(version.code_bytes))
