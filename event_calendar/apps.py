from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.utils.translation import gettext_lazy as _


class EventCalendarConfig(AppConfig):
    name = "event_calendar"
    verbose_name = _("Event calendar")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model

        from . import broadcast, checks  # noqa: F401  (checks registers the system checks)
        from .models import Attachment, Calendar, CalendarGrant, CalendarPreference, Device, Event, delete_stored_file

        User = get_user_model()
        receivers = [
            (post_delete, delete_stored_file, Attachment),
            (post_save, broadcast.calendar_saved, Calendar),
            (post_delete, broadcast.calendar_deleted, Calendar),
            (post_save, broadcast.event_saved, Event),
            (post_delete, broadcast.event_deleted, Event),
            (post_save, broadcast.attachment_changed, Attachment),
            (post_delete, broadcast.attachment_changed, Attachment),
            (post_save, broadcast.grant_changed, CalendarGrant),
            (post_delete, broadcast.grant_changed, CalendarGrant),
            (post_save, broadcast.sidebar_changed, CalendarPreference),
            (post_delete, broadcast.sidebar_changed, CalendarPreference),
            (post_delete, broadcast.device_deleted, Device),
            (pre_save, broadcast.user_access_may_change, User),
            (post_save, broadcast.user_saved, User),
        ]
        if hasattr(User, "groups"):
            receivers.append((m2m_changed, broadcast.groups_changed, User.groups.through))
        for signal, receiver, sender in receivers:
            signal.connect(receiver, sender=sender, dispatch_uid=f"event_calendar.{receiver.__name__}.{sender.__name__}")
