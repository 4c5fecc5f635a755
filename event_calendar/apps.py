from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class EventCalendarConfig(AppConfig):
    name = "event_calendar"
    verbose_name = _("Event calendar")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import broadcast, checks  # noqa: F401  (checks registers the system checks)
        from .models import Attachment, Calendar, Event, delete_stored_file

        receivers = [
            (post_delete, delete_stored_file, Attachment),
            (post_save, broadcast.calendar_saved, Calendar),
            (post_delete, broadcast.calendar_deleted, Calendar),
            (post_save, broadcast.event_saved, Event),
            (post_delete, broadcast.event_deleted, Event),
            (post_save, broadcast.attachment_changed, Attachment),
            (post_delete, broadcast.attachment_changed, Attachment),
        ]
        for signal, receiver, sender in receivers:
            signal.connect(receiver, sender=sender, dispatch_uid=f"event_calendar.{receiver.__name__}.{sender.__name__}")
