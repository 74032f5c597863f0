"""AWS X-Ray tracing, only when the deployment switches it on (``custom.tracing``).

With tracing off nothing of aws_xray_sdk is imported, so it costs nothing at cold start.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

from burst_core.config import tracing_enabled


@functools.cache
def configure() -> bool:
    """Patch botocore for X-Ray once per process if tracing is on. Returns whether it is."""
    if not tracing_enabled():
        return False
    from aws_xray_sdk.core import patch  # noqa: PLC0415 - imported only when tracing is on

    patch(("botocore",))
    return True


@contextlib.contextmanager
def subsegment(name: str, **annotations: str | int | float | bool) -> Iterator[None]:
    """Record ``name`` as an X-Ray subsegment (with annotations) when tracing is on."""
    if not configure():
        yield
        return
    from aws_xray_sdk.core import xray_recorder  # noqa: PLC0415

    with xray_recorder.in_subsegment(name) as segment:
        for key, value in annotations.items():
            segment.put_annotation(key, value)
        yield
