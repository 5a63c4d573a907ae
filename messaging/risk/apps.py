from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_migrate, post_save


def _load_shipped_lexicons(sender: AppConfig, **kwargs: Any) -> None:
    # Every migrate (so every deploy) brings the shipped lexicons in: a crisis detector that
    # runs with an empty lexicon because nobody ran an import would be silent, not safe.
    from django.db import DEFAULT_DB_ALIAS, connections

    from messaging.risk.lexicon import import_shipped_lexicons
    from messaging.risk.models import LexiconEntry

    # Not when the table is absent: after `migrate risk zero`, or a migrate to another app's
    # target before this app's migrations have run.
    connection = connections[kwargs.get("using", DEFAULT_DB_ALIAS)]
    if LexiconEntry._meta.db_table not in connection.introspection.table_names():
        return
    import_shipped_lexicons()


def _lexicon_changed(sender: type, **kwargs: Any) -> None:
    from django.db import transaction

    from messaging.risk.lexicon import clear_cache

    clear_cache()
    # Again after commit: another thread may have cached the old rows in between.
    transaction.on_commit(clear_cache)


class RiskConfig(AppConfig):
    """Crisis detection and risk alerts (DESIGN.md §3, data flow 6)."""

    name = "messaging.risk"
    label = "risk"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the scrape-time alert gauges on /metrics.
        from messaging.risk import metrics  # noqa: F401
        from messaging.risk.models import LexiconEntry

        post_migrate.connect(_load_shipped_lexicons, sender=self)
        post_save.connect(_lexicon_changed, sender=LexiconEntry)
        post_delete.connect(_lexicon_changed, sender=LexiconEntry)
