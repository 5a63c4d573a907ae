from __future__ import annotations

from django.apps import AppConfig


class WebclientConfig(AppConfig):
    """The reference web client: pages served by the project that use only the public
    interfaces (REST under /api/v1/, the WebSocket at /ws/), as any other client would."""

    name = "webclient"
    default_auto_field = "django.db.models.BigAutoField"
