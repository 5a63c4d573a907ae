from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from health import views as health
from messaging.sms import views as sms

handler400 = "peerlink.errors.json_400"
handler403 = "peerlink.errors.json_403"
handler404 = "peerlink.errors.json_404"
handler500 = "peerlink.errors.json_500"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("peerlink.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("surveys/", include("outcomes.urls")),
    path("sms/twilio/inbound/", sms.TwilioInboundView.as_view(), name="sms-twilio-inbound"),
    path("sms/twilio/status/", sms.TwilioStatusView.as_view(), name="sms-twilio-status"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("", include("webclient.urls")),
]
