from django.apps import AppConfig
from django.db.models.signals import post_delete
from django.utils.translation import gettext_lazy as _


class EventCalendarConfig(AppConfig):
    name = "event_calendar"
    verbose_name = _("Event calendar")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .models import Attachment, delete_stored_file

        post_delete.connect(delete_stored_file, sender=Attachment, dispatch_uid="event_calendar.delete_stored_file")
