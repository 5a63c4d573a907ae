from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _load_built_in_instruments(sender: AppConfig, **kwargs: Any) -> None:
    # Every migrate (so every deploy) brings the shipped PHQ-9, GAD-7 and WHO-5 in, as the
    # lexicons are: a survey schedule can name them without an import step. A shipped file
    # changed without a new version fails the migrate, loudly, rather than changing what
    # stored answers mean.
    from django.db import DEFAULT_DB_ALIAS, connections

    from outcomes.models import Instrument
    from outcomes.services import import_built_in_instruments

    connection = connections[kwargs.get("using", DEFAULT_DB_ALIAS)]
    if Instrument._meta.db_table not in connection.introspection.table_names():
        return
    import_built_in_instruments()


class OutcomesConfig(AppConfig):
    """Outcome instruments, survey schedules and sessions, scoring (DESIGN.md §3, flow 5)."""

    name = "outcomes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # `metrics` registers the scrape-time survey gauge on /metrics.
        from outcomes import metrics, receivers  # noqa: F401

        post_migrate.connect(_load_built_in_instruments, sender=self)
        receivers.connect()
