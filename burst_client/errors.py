"""Errors of the client (SDK and CLI). Each says what to fix in one line."""

from __future__ import annotations


class ClientError(Exception):
    """Root of every error the burst client raises."""


class StackNotDeployed(ClientError):
    """The burst-compute stack of this org/stage/region is not deployed."""


class JobNotFound(ClientError):
    """No job with this id in the stack."""


class CredentialsMissing(ClientError):
    """No AWS credentials were found."""


class EndpointUnreachable(ClientError):
    """The AWS endpoint (or the local endpoint) did not answer."""


class DispatchRejected(ClientError):
    """The dispatch function refused the job (its message names the field)."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


class InvalidResults(ClientError):
    """A batch's recorded output cannot be read as results (the message names the batch)."""


class JobWaitTimeout(ClientError):
    """wait() gave up before the job ended."""


class ToolMissing(ClientError):
    """A program the command needs (npx, node) is not installed."""


class BatchNotFound(ClientError):
    """The job has no batch of this id, or no row for it (it has not run): the message says which."""


class LogsNotFound(ClientError):
    """A batch's worker log lines cannot be found in CloudWatch Logs (the message says why and where to look)."""
