from django.apps import AppConfig


class RiskConfig(AppConfig):
    """Crisis detection and risk alerts (DESIGN.md §3, data flow 6)."""

    name = "messaging.risk"
    label = "risk"
    default_auto_field = "django.db.models.BigAutoField"
