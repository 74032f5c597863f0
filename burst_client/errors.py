"""Errors of the client (SDK and CLI). Each says what to fix in one line."""

from __future__ import annotations


class BurstClientError(Exception):
    """Root of every error the burst client raises (botocore's own ClientError is a different class)."""


class StackNotDeployed(BurstClientError):
    """The burst-compute stack of this org/stage/region is not deployed."""


class JobNotFound(BurstClientError):
    """No job with this id in the stack."""


class CredentialsMissing(BurstClientError):
    """No AWS credentials were found."""


class EndpointUnreachable(BurstClientError):
    """The AWS endpoint (or the local endpoint) did not answer."""


class DispatchRejected(BurstClientError):
    """The dispatch function refused the job (its message names the field)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


class InvalidResults(BurstClientError):
    """A batch's recorded output cannot be read as results (the message names the batch)."""


class JobWaitTimeout(BurstClientError):
    """wait() gave up before the job ended."""


class ToolMissing(BurstClientError):
    """A program the command needs (npx, node) is not installed."""


class BatchNotFound(BurstClientError):
    """The job has no batch of this id, or no row for it (it has not run): the message says which."""


class LogsNotFound(BurstClientError):
    """A batch's worker log lines cannot be found in CloudWatch Logs (the message says why and where to look)."""


class TimelineError(BurstClientError):
    """The timeline cannot be built or drawn (the message says why)."""


class CostError(BurstClientError):
    """The cost cannot be computed (the message says why)."""
