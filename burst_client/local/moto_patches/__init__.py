"""Patches for gaps of moto 5.2.5 that stop the service from deploying or running on the local endpoint.

Each gap is written once: a function that patches moto and returns how to undo it, registered with
``@workaround("name")``, whose docstring is the gap (``Gap N: <the gap>``, then what AWS does and what the patch
does). Each has a test in tests/local/test_workarounds.py that shows plain moto still has the gap (so a patch can
be dropped once moto fixes it). Patches are applied in-process, in the order of their numbers, to the moto modules
the local endpoint serves from, by :func:`apply_all` (idempotent); :func:`applied` applies them for the duration
of a ``with`` block only (for tests).

By service area: :mod:`.cloudformation` (1-4), :mod:`.stepfunctions` (5, 6, 8, 12, 13, 20, 21, 32, 33),
:mod:`.data_limit` (16), :mod:`.map_runs` (14, 17, 22), :mod:`.express` (18), :mod:`.result_writer` (7, 19),
:mod:`.lambda_` (15, 31), and for speed :mod:`.speed` (9, 10, 11c, 11d, 23, 25, 27), :mod:`.in_process` (11, 11b,
26, 30) and :mod:`.dynamodb` (24, 28, 29).
"""

from burst_client.local.moto_patches import (  # noqa: F401 - importing them registers their workarounds
    cloudformation,
    data_limit,
    dynamodb,
    express,
    in_process,
    lambda_,
    map_runs,
    result_writer,
    speed,
    stepfunctions,
)
from burst_client.local.moto_patches.in_process import serve_in_process
from burst_client.local.moto_patches.registry import Workaround, applied, apply, apply_all, revert, workarounds

WORKAROUNDS: tuple[Workaround, ...] = workarounds()

__all__ = ["WORKAROUNDS", "Workaround", "applied", "apply", "apply_all", "revert", "serve_in_process"]
