"""Lambda layers in the local runtime: merged in order into one directory, found after the function's code."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from burst_client.local.runtime import (
    FunctionSpec,
    Invocation,
    LambdaRuntime,
    LayerContent,
    LayerError,
    LocalLambdaError,
)
from burst_client.local.runtime.code import LayerDirs
from burst_client.local.runtime.environment import function_environment
from tests.local.support import function_spec, make_zip, pid_alive

HANDLER = """
import os, sys
import shared, only_first, from_site_packages, shadowed

def handler(event, context):
    return {
        "path": sys.path,
        "shared": shared.WHO,
        "shadowed": shadowed.WHO,
        "only_first": only_first.WHO,
        "site": from_site_packages.WHO,
        "PATH": os.environ["PATH"],
        "no_user_site": sys.flags.no_user_site,
    }
"""
CODE = make_zip({"fn.py": HANDLER, "shadowed.py": "WHO = 'function'\n"})
FIRST = "arn:aws:lambda:us-east-1:123456789012:layer:first:1"
SECOND = "arn:aws:lambda:us-east-1:123456789012:layer:second:3"
LAYERS = {
    FIRST: make_zip(
        {
            "python/shared.py": "WHO = 'first'\n",
            "python/only_first.py": "WHO = 'first'\n",
            "python/shadowed.py": "WHO = 'layer'\n",
        }
    ),
    SECOND: make_zip(
        {
            "python/shared.py": "WHO = 'second'\n",
            "python/lib/python3.12/site-packages/from_site_packages.py": "WHO = 'second'\n",
        }
    ),
}


def content(zip_file: bytes) -> LayerContent:
    """A layer version's content with its CodeSha256 as Lambda computes it."""
    return LayerContent(base64.b64encode(hashlib.sha256(zip_file).digest()).decode(), zip_file)


def load(arn: str) -> LayerContent:
    if arn not in LAYERS:
        raise LayerError(f"layer version {arn} does not exist")
    return content(LAYERS[arn])


SPEC = function_spec("layered", "fn.handler", layers=(FIRST, SECOND))


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[LambdaRuntime]:
    running = LambdaRuntime("http://127.0.0.1:9", concurrency=2, max_processes=2, work_dir=tmp_path, layer_loader=load)
    yield running
    pids = running.worker_pids()
    running.close()
    assert not [pid for pid in pids if pid_alive(pid)]


def invoke(runtime: LambdaRuntime, spec: FunctionSpec = SPEC) -> dict[str, object]:
    result = runtime.invoke(spec, lambda: CODE, Invocation(b"{}"))
    assert result.status == 200 and "X-Amz-Function-Error" not in result.headers, result.body
    return dict(json.loads(result.body))


def test_layers_are_merged_in_order_after_the_functions_code(runtime: LambdaRuntime, tmp_path: Path) -> None:
    answer = invoke(runtime)
    assert answer["shared"] == "second"  # the later layer's file replaces the earlier one's, as Lambda merges them
    assert answer["only_first"] == "first"
    assert answer["site"] == "second"  # python/lib/python3.12/site-packages is a layer path too
    assert answer["shadowed"] == "function"  # the function's own code comes first
    path = [str(entry) for entry in answer["path"]]  # type: ignore[attr-defined]
    (opt,) = (tmp_path / "opt").iterdir()
    # /var/task, /opt/python/lib/python3.12/site-packages, /opt/python, then the runtime's own libraries
    assert path[1:3] == [str(opt / "python/lib/python3.12/site-packages"), str(opt / "python")]
    assert not any("burst_client" in entry for entry in path)  # no script directory (bootstrap's)
    assert str(answer["PATH"]).startswith(f"{opt / 'bin'}:")
    assert answer["no_user_site"] == 1


def test_a_layer_list_is_unpacked_once(runtime: LambdaRuntime, tmp_path: Path) -> None:
    invoke(runtime)
    invoke(runtime, replace(SPEC, timeout=11))  # another configuration, new workers, the same layers
    assert len(list((tmp_path / "opt").iterdir())) == 1
    reordered = invoke(runtime, replace(SPEC, timeout=12, layers=(SECOND, FIRST)))
    assert reordered["shared"] == "first"
    assert len(list((tmp_path / "opt").iterdir())) == 2


def test_a_missing_layer_fails_the_invocation_clearly(runtime: LambdaRuntime) -> None:
    gone = "arn:aws:lambda:us-east-1:123456789012:layer:gone:1"
    with pytest.raises(LocalLambdaError, match=f"cannot start layered: layer version {gone} does not exist"):
        runtime.invoke(replace(SPEC, layers=(gone,)), lambda: CODE, Invocation(b"{}"))
    assert runtime.process_count == 0  # the process slot was given back


def test_without_layers_nothing_is_added(tmp_path: Path) -> None:
    env = function_environment(
        replace(SPEC, layers=()),
        code_dir=tmp_path,
        runtime_dir=tmp_path,
        home=tmp_path,
        log_stream="s",
        endpoint_url="http://127.0.0.1:9",
    )
    assert "PYTHONPATH" not in env and "LD_LIBRARY_PATH" not in env
    with pytest.raises(LayerError, match="no way to read layers"):
        LayerDirs(tmp_path / "opt").opt_dir((FIRST,))


def test_a_republished_layer_version_gets_a_directory_of_its_own(tmp_path: Path) -> None:
    """Directories are keyed by the versions' content: an endpoint restarted with the same work directory
    publishes layer:first:1 again, with other content."""
    before = LayerDirs(tmp_path / "opt", load).opt_dir((FIRST,))
    assert LayerDirs(tmp_path / "opt", load).opt_dir((FIRST,)) == before  # same content: unpacked once
    changed = {FIRST: content(make_zip({"python/shared.py": "WHO = 'republished'\n"}))}
    after = LayerDirs(tmp_path / "opt", changed.__getitem__).opt_dir((FIRST,))
    assert after != before
    assert (after / "python" / "shared.py").read_text() == "WHO = 'republished'\n"
    assert (before / "python" / "shared.py").read_text() == "WHO = 'first'\n"


def test_a_layer_that_is_no_zip_file(tmp_path: Path) -> None:
    dirs = LayerDirs(tmp_path / "opt", lambda arn: LayerContent("not-a-zip", b"not a zip"))
    with pytest.raises(LayerError, match=f"the content of layer {FIRST} is not a zip file"):
        dirs.opt_dir((FIRST,))
    assert [p.name for p in (tmp_path / "opt").iterdir()] == []  # the staging directory is removed
