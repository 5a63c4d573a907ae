from __future__ import annotations

from typing import Any

import pytest

from messaging.ws_auth import origin_allowed


def _scope(origin: str | None) -> dict[str, Any]:
    headers = [(b"origin", origin.encode())] if origin is not None else []
    return {"headers": headers}


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://peerlink.example.org", True),
        ("http://peerlink.example.org", False),
        ("https://evil.example.net", False),
        ("https://peerlink.example.org.evil.net", False),
        (None, False),
        ("null", False),
    ],
)
def test_production_accepts_cookie_sockets_only_from_our_https_origin(
    settings: Any, origin: str | None, allowed: bool
) -> None:
    settings.ALLOWED_HOSTS = ["peerlink.example.org"]
    settings.WS_ALLOWED_ORIGIN_SCHEMES = ["https"]
    assert origin_allowed(_scope(origin)) is allowed
