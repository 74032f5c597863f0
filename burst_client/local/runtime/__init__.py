"""The local Lambda runtime, by concern (after aws-sam-cli's ``samcli/local/lambdafn``):

* :mod:`.spec`: a function configuration, an invocation, the Invoke API's answer, the errors;
* :mod:`.runtime`: :class:`LambdaRuntime`, which runs an invocation with the parts below;
* :mod:`.pool`: admission (the concurrency limit) and the warm workers' scheduling;
* :mod:`.worker`: one worker process and the pipe protocol to it (its other side: ``local/bootstrap.py``);
* :mod:`.code`: the work directory, deployment packages and layers unpacked once per content;
* :mod:`.environment`: a worker's process environment;
* :mod:`.report`: an invocation's START/END/REPORT lines, its log tail, a worker's peak memory.
"""

from burst_client.local.runtime.code import LayerContent, LayerError, LayerLoader, remove_stale_work_dirs
from burst_client.local.runtime.pool import DEFAULT_CONCURRENCY, DEFAULT_IDLE_TIMEOUT_SECONDS, CpuGauge, usable_cpus
from burst_client.local.runtime.report import FUNCTION_LOG
from burst_client.local.runtime.runtime import LambdaRuntime
from burst_client.local.runtime.spec import FunctionSpec, Invocation, InvokeResult, LocalLambdaError

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_IDLE_TIMEOUT_SECONDS",
    "FUNCTION_LOG",
    "CpuGauge",
    "FunctionSpec",
    "Invocation",
    "InvokeResult",
    "LambdaRuntime",
    "LayerContent",
    "LayerError",
    "LayerLoader",
    "LocalLambdaError",
    "remove_stale_work_dirs",
    "usable_cpus",
]
