"""Client side of burst-compute: the SDK, the `burst` CLI and the local AWS endpoint.

Never packaged for Lambda.
"""

from burst_client.sdk import BurstClient, Job, JobStatus

__all__ = ["BurstClient", "Job", "JobStatus"]
