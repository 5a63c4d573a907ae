"""WebSocket routes (DESIGN.md §4)."""

from __future__ import annotations

from django.urls import path

from messaging.consumers import ChatConsumer

websocket_urlpatterns = [path("ws/", ChatConsumer.as_asgi())]
