"""boto3 session and clients for the client side, with AWS errors mapped to one-line client errors."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError, NoCredentialsError, NoRegionError

from burst_client.errors import CredentialsMissing, EndpointUnreachable

# The credentials and region of the local endpoint (it accepts any; these are the ones the README, the
# endpoint's banner, its Lambda workers and the tests use).
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=64)


class Clients:
    """Lazily created boto3 clients of one session (AWS or the local endpoint via AWS_ENDPOINT_URL)."""

    def __init__(
        self,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        session: Any = None,
    ) -> None:
        self.session = session or boto3.Session(profile_name=profile, region_name=region)
        self.region = self.session.region_name or "us-east-1"
        self.endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}

    def __call__(self, service: str) -> Any:
        if service not in self._clients:
            kwargs: dict[str, Any] = {"region_name": self.region, "config": _CONFIG}
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            self._clients[service] = self.session.client(service, **kwargs)
        return self._clients[service]


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Turn boto's connection and credential errors into the client's one-line errors."""
    try:
        yield
    except NoCredentialsError:
        local = " ".join(f"{key}={LOCAL_CREDENTIALS[key]}" for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"))
        raise CredentialsMissing(
            "no AWS credentials found: configure them (aws configure, AWS_PROFILE or AWS_ACCESS_KEY_ID) "
            f"or, for the local endpoint, set {local}"
        ) from None
    except NoRegionError:
        raise CredentialsMissing("no AWS region set: pass --region or set AWS_DEFAULT_REGION") from None
    except EndpointConnectionError as exc:
        url = str(exc.kwargs.get("endpoint_url", "the AWS endpoint"))
        if "://127.0.0.1" in url or "://localhost" in url or os.environ.get("AWS_ENDPOINT_URL"):
            hint = "is the local endpoint running (burst local up) and AWS_ENDPOINT_URL right?"
        else:
            hint = "check the network and the region (--region or AWS_DEFAULT_REGION)"
        raise EndpointUnreachable(f"cannot reach {url}: {hint}") from None
