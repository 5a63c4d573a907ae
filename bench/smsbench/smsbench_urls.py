"""The inbound SMS benchmark's URLconf: every production route (peerlink.urls) plus the
baseline, a bare Django view at `POST /bench/bare/`. Only bench/smsbench/smsbench_settings.py
names this module; it refuses to load under the production profile.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from peerlink import urls as production_urls
from peerlink.urls import handler400, handler403, handler404, handler500

if settings.PEERLINK_ENV == "production" or str(getattr(settings, "SETTINGS_MODULE", "")).endswith(
    "settings.production"
):
    raise ImproperlyConfigured("The bench URLconf (bench/bare/) is for benchmarks only.")


@csrf_exempt
@require_POST
def bare(request: HttpRequest) -> HttpResponse:
    """The baseline: the same server, middleware and request, and nothing of ours (no
    signature check, no form parsing, no cache, no database, no channel layer)."""
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [*production_urls.urlpatterns, path("bench/bare/", bare, name="bench-bare")]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
