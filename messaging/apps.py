from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the scrape-time outbox gauges: otherwise they would appear on /metrics
        # only once something else happened to import the module.
        from messaging import metrics  # noqa: F401
