"""The one exceptions module of burst_core.

Every error the framework raises derives from :class:`BurstError`. Lambda reports an unhandled
exception's class name as its ``errorType``, so callers of ``dispatch`` see ``InvalidJobInput``
(or a subclass) with a message naming the field and what was expected.
"""

from __future__ import annotations


class BurstError(Exception):
    """Root of every error raised by burst-compute."""


class ConfigurationError(BurstError):
    """The deployment is misconfigured (an environment variable is missing or malformed)."""


class InvalidJobInput(BurstError):
    """The dispatch input is invalid. ``field`` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class PayloadTooLarge(InvalidJobInput):
    """A value would exceed a Step Functions or Lambda payload limit."""


class InvalidWorkerOutput(BurstError):
    """A worker's output has a shape that cannot be read as results (see burst_core.results)."""


class InvalidEvent(BurstError):
    """An internal Lambda (dispatchNextBatches, monitor) got a malformed event."""


class JobStartFailed(BurstError):
    """The job's state machine execution could not be started; nothing was left behind."""


class StorageError(BurstError):
    """DynamoDB or S3 refused an operation the framework needs."""
