from django.apps import AppConfig


class SupervisionConfig(AppConfig):
    """Supervision sessions, fidelity checklists, training and certification records."""

    name = "supervision"
    default_auto_field = "django.db.models.BigAutoField"
