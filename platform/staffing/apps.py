from django.apps import AppConfig


class StaffingConfig(AppConfig):
    """Staff availability: working hours, leave, the supervisors' on-call rota, staff contact."""

    name = "staffing"
    default_auto_field = "django.db.models.BigAutoField"
