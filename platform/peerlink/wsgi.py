from __future__ import annotations

from django.core.wsgi import get_wsgi_application

from peerlink.env import use_profile_settings

use_profile_settings()
application = get_wsgi_application()
