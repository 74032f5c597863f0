"""The process environment of a worker (samcli.local.lambdafn's ``env_vars``): Lambda's variables, the
function's own, its layers' paths, then the endpoint's (credentials, region, endpoint URL).

On AWS a Python function finds its layers' packages in ``/opt/python`` and ``/opt/python/lib/python3.x/
site-packages``, executables in ``/opt/bin`` (PATH) and libraries in ``/opt/lib`` (LD_LIBRARY_PATH)
(https://docs.aws.amazon.com/lambda/latest/dg/packaging-layers.html#packaging-layers-paths), and looks in its
own code first, in the layers next, in the runtime's libraries (boto3) last: ``sys.path`` is ``/var/task,
/opt/python/lib/python3.12/site-packages, /opt/python, ...``. Here the merged layer directory (see :mod:`.code`)
goes on PYTHONPATH (after the function's code, which the bootstrap puts first, and before the interpreter's own
site-packages), PATH and LD_LIBRARY_PATH.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path

from burst_client.aws import LOCAL_CREDENTIALS
from burst_client.local import ids
from burst_client.local.runtime.spec import FunctionSpec

#: What a function gets as its execution role's credentials: the endpoint's (moto accepts any).
FUNCTION_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
    "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    # Lambda hands a function temporary credentials, so with a session token, which some code expects
    "AWS_SESSION_TOKEN": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
}


def log_stream_name(spec: FunctionSpec) -> str:
    """A new execution environment's log stream, as Lambda names it: ``YYYY/MM/DD/[version]<32 hex>``."""
    return f"{time.strftime('%Y/%m/%d')}/[{spec.version}]{ids.uuid4().hex}"


def function_environment(
    spec: FunctionSpec,
    *,
    code_dir: Path,
    runtime_dir: Path,
    home: Path,
    log_stream: str,
    endpoint_url: str,
    opt_dir: Path | None = None,
) -> dict[str, str]:
    """The environment of a worker of ``spec`` whose code is in ``code_dir`` and layers in ``opt_dir``."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "HOME": str(home),
        "LAMBDA_TASK_ROOT": str(code_dir),
        "LAMBDA_RUNTIME_DIR": str(runtime_dir),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_VERSION": spec.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "_HANDLER": spec.handler,
    }
    if spec.log_level:
        env["AWS_LAMBDA_LOG_LEVEL"] = spec.log_level
    env.update(dict(spec.environment))
    if opt_dir is not None:
        env.update(layer_variables(opt_dir, spec.runtime, env))
    env.update(FUNCTION_CREDENTIALS)
    env.update({"AWS_REGION": spec.region, "AWS_DEFAULT_REGION": spec.region, "AWS_ENDPOINT_URL": endpoint_url})
    return env


def layer_variables(opt_dir: Path, runtime: str, base: Mapping[str, str]) -> dict[str, str]:
    """The variables a worker with the layers merged in ``opt_dir`` needs on top of ``base`` (its environment so
    far): PYTHONPATH (before a PYTHONPATH of the function's own), PATH and LD_LIBRARY_PATH."""
    python = opt_dir / "python"
    # python3.12 -> python/lib/python3.12/site-packages, the layer path of the function's runtime
    paths = [str(python / "lib" / runtime / "site-packages"), str(python)]

    def prepend(name: str, entries: list[str]) -> str:
        return os.pathsep.join([*entries, *filter(None, [base.get(name)])])

    return {
        "PYTHONPATH": prepend("PYTHONPATH", paths),
        "PATH": prepend("PATH", [str(opt_dir / "bin")]),
        "LD_LIBRARY_PATH": prepend("LD_LIBRARY_PATH", [str(opt_dir / "lib")]),
    }
