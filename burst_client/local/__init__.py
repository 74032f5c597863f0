"""A local AWS endpoint for burst-compute: moto's server plus a warm Lambda runtime, on 127.0.0.1.

From Python::

    from burst_client.local import EndpointConfig, LocalEndpoint

    with LocalEndpoint(EndpointConfig(port=0, concurrency=50)) as endpoint:
        print(endpoint.url)  # AWS_ENDPOINT_URL for boto3, the AWS CLI and `sls deploy`

From a shell: ``python -m burst_client.local up --port 4566``; from an argparse CLI:
:func:`add_local_subcommands`.
"""

from burst_client.local.lambda_runtime import FunctionSpec, Invocation, InvokeResult, LambdaRuntime
from burst_client.local.server import (
    EndpointConfig,
    LambdaInvokeMiddleware,
    LocalEndpoint,
    LocalEndpointError,
    PortInUseError,
    add_local_subcommands,
    main,
    run_up,
)

__all__ = [
    "EndpointConfig",
    "FunctionSpec",
    "Invocation",
    "InvokeResult",
    "LambdaInvokeMiddleware",
    "LambdaRuntime",
    "LocalEndpoint",
    "LocalEndpointError",
    "PortInUseError",
    "add_local_subcommands",
    "main",
    "run_up",
]
