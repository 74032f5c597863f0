"""A local AWS endpoint for burst-compute: moto's server plus a warm Lambda runtime, on 127.0.0.1.

From Python::

    from burst_client.local import EndpointConfig, LocalEndpoint

    with LocalEndpoint(EndpointConfig(port=0, concurrency=50)) as endpoint:
        print(endpoint.url)  # AWS_ENDPOINT_URL for boto3, the AWS CLI and `sls deploy`

From a shell: ``python -m burst_client.local up --port 4566``; from an argparse CLI:
:func:`add_local_subcommands`.

Layout: :mod:`.server` (the endpoint), :mod:`.middleware` (Lambda's Invoke in front of moto), :mod:`.runtime`
(the Lambda runtime, by concern), :mod:`.moto_lambda` (what the runtime reads from moto),
:mod:`.moto_patches` (moto's gaps, one workaround each), :mod:`.function_logs` (the functions' CloudWatch
Logs), :mod:`.cli` (``up``), ``bootstrap.py`` (the process inside an execution environment).
"""

from burst_client.local.cli import add_local_subcommands, main, run_up
from burst_client.local.middleware import LambdaInvokeMiddleware
from burst_client.local.runtime import FunctionSpec, Invocation, InvokeResult, LambdaRuntime
from burst_client.local.server import EndpointConfig, LocalEndpoint, LocalEndpointError, PortInUseError

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
