"""translated_errors: an unreachable endpoint gets a hint that fits where the client was pointed."""

from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError

from burst_client.aws import translated_errors
from burst_client.errors import EndpointUnreachable


def unreachable(url: str) -> str:
    with pytest.raises(EndpointUnreachable) as caught, translated_errors():
        raise EndpointConnectionError(endpoint_url=url)
    return str(caught.value)


def test_local_endpoint_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    message = unreachable("http://127.0.0.1:4566/")
    assert message.startswith("cannot reach http://127.0.0.1:4566/:")
    assert "burst local up" in message


def test_aws_hint_names_network_and_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    message = unreachable("https://states.eu-west-9.amazonaws.com/")
    assert "burst local up" not in message
    assert "network and the region" in message
