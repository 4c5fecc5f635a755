"""The one access policy: which calendars, events and files a user may see and change.

Every queryset and check in the app asks this module. The policy is the vendor demo's: every
signed-in user may see and change everything, except the events of a calendar marked read-only.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from .models import Attachment, Calendar, Event


def visible_calendars(user) -> QuerySet[Calendar]:
    if not user.is_authenticated:
        return Calendar.objects.none()
    return Calendar.objects.all()


def visible_events(user) -> QuerySet[Event]:
    if not user.is_authenticated:
        return Event.objects.none()
    return Event.objects.all()


def may_create_calendar(user) -> bool:
    return user.is_authenticated


def may_manage_calendar(user, calendar: Calendar) -> bool:
    return user.is_authenticated


def may_edit_events(user, calendar: Calendar) -> bool:
    # An administrator can make a calendar read-only for everyone.
    return user.is_authenticated and not calendar.readonly


def linkable_attachments(user, event: Event | None) -> QuerySet[Attachment]:
    """Files ``user`` may list in ``event.files``: their own unlinked uploads, and the event's files."""
    unlinked = Q(event__isnull=True, uploaded_by=user)
    if event is None or event.pk is None:
        return Attachment.objects.filter(unlinked)
    return Attachment.objects.filter(unlinked | Q(event=event))
