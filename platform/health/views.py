"""Health endpoints for the orchestrator and Prometheus (DESIGN.md §4, Health).

- `/healthz`: the process is up and serving. Touches nothing else, so that a slow database
  never gets a healthy process restarted.
- `/readyz`: the database, the channel layer and the broker answer; 503 naming the failed
  checks otherwise, so the load balancer stops sending traffic here.
- `/metrics`: Prometheus text format (see health.metrics).

Plain Django views (no DRF: no authentication or content negotiation to run). They are sync
views; under the ASGI server Django runs them in a worker thread, and the channel layer check
hops back onto the server's event loop. Responses hold check names and exception class names
only: no personal data, hosts or URLs.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from health.checks import run_checks
from health.metrics import exposition


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    report = run_checks()
    body: dict[str, object] = {
        "status": "ok" if report.ok else "unavailable",
        "checks": {
            result.name: {"status": "ok" if result.ok else "failed", "detail": result.detail}
            for result in report.results
        },
    }
    if not report.ok:
        body["failed"] = report.failed
    return JsonResponse(body, status=200 if report.ok else 503)


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    payload, content_type = exposition()
    return HttpResponse(payload, content_type=content_type)
