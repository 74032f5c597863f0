"""Client side of burst-compute: the SDK, the `burst` CLI and the local AWS endpoint.

Never packaged for Lambda.
"""

import importlib.metadata

from burst_client.sdk import BurstClient, Job, JobStatus

__all__ = ["UNKNOWN_VERSION", "BurstClient", "Job", "JobStatus", "version"]

#: :func:`version` when burst-compute runs from a checkout that was never installed: a valid PEP 440 version
#: (release 0, local part "unknown"), so what is built from it (`burst init`'s pin) stays valid
UNKNOWN_VERSION = "0+unknown"


def version() -> str:
    """burst-compute's version: its installed distribution's, else :data:`UNKNOWN_VERSION`."""
    try:
        return importlib.metadata.version("burst-compute")
    except importlib.metadata.PackageNotFoundError:
        return UNKNOWN_VERSION
