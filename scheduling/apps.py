from django.apps import AppConfig


class SchedulingConfig(AppConfig):
    name = "scheduling"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the scrape-time due-lag gauge, whatever else the process imports.
        from scheduling import metrics, receivers  # noqa: F401

        receivers.connect()
