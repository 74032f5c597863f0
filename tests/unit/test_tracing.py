import subprocess
import sys

import pytest

from burst_core import tracing
from tests.support import ROOT


def imports_xray(env_value: str | None) -> bool:
    env = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1"}
    if env_value is not None:
        env["BURST_TRACING"] = env_value
    code = "import sys, handlers.dispatch, handlers.monitor; print('aws_xray_sdk' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"


def test_tracing_off_never_imports_the_xray_sdk():
    assert imports_xray(None) is False
    assert imports_xray("false") is False


def test_tracing_on_imports_and_patches_at_cold_start():
    assert imports_xray("true") is True


def test_subsegments_are_recorded_when_tracing_is_on(monkeypatch: pytest.MonkeyPatch):
    from aws_xray_sdk.core import xray_recorder

    monkeypatch.setenv("BURST_TRACING", "true")
    tracing.configure.cache_clear()
    xray_recorder.configure(context_missing="LOG_ERROR", sampling=False)
    segment = xray_recorder.begin_segment("test")
    try:
        with tracing.subsegment("write_batch_file", jobId="j-1", batches=3):
            pass
    finally:
        xray_recorder.end_segment()
        tracing.configure.cache_clear()
    (sub,) = segment.subsegments
    assert sub.name == "write_batch_file"
    assert sub.annotations == {"jobId": "j-1", "batches": 3}


def test_subsegment_is_a_no_op_when_tracing_is_off(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("BURST_TRACING", raising=False)
    tracing.configure.cache_clear()
    with tracing.subsegment("anything", jobId="j"):
        pass
    assert tracing.configure() is False
