"""ASGI entry point: HTTP through Django, WebSockets through Channels at /ws/."""

from __future__ import annotations

from django.core.asgi import get_asgi_application

from peerlink.env import use_profile_settings

use_profile_settings()

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from messaging.ws_auth import websocket_auth  # noqa: E402
from peerlink.local_beat import start_local_beat  # noqa: E402
from peerlink.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Origin is checked for cookie sessions inside websocket_auth; ticket clients
        # (native apps) may send none.
        "websocket": websocket_auth(URLRouter(websocket_urlpatterns)),
    }
)

# The local profile has no `celery beat`: its schedule runs in this process instead.
start_local_beat()
