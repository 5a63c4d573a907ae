"""WebSocket routes. The chat consumer arrives with the real-time chat capability."""

from __future__ import annotations

from typing import Any

websocket_urlpatterns: list[Any] = []
