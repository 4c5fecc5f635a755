"""The only sender of live updates (CONTRACT.md section 4.7).

Model signals hand each change of a calendar or an event to ``Change``; at commit the change is rendered
once, as ``GET`` renders it, and sent to the channel layer as one message that every socket consumer
filters for itself. A rolled-back write sends nothing, and a failing channel layer never turns a committed
write into an error: it is logged.

Writes that send no model signals (``QuerySet.update()``, ``bulk_create()``, raw SQL) are announced with
``announce_events`` and ``announce_calendars``; ``paused()`` stops broadcasting for bulk loads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import Model, QuerySet
from django.urls import reverse

from .models import Attachment, Calendar, Event
from .serializers import FileLinks, render_calendars, render_events

logger = logging.getLogger("event_calendar")

GROUP = "event_calendar"
MESSAGE_TYPE = "calendar.change"


def device_group(device_id: int) -> str:
    """Every socket of one device, so that revoking the device closes them."""
    return f"event_calendar.device.{device_id}"

# The device whose request is being served (from its Remote-Token); None for the admin and plain ORM code.
origin_device: ContextVar[int | None] = ContextVar("event_calendar_origin_device", default=None)
# Where file links point while serving a request: "https://host/prefix/uploads".
uploads_url: ContextVar[str] = ContextVar("event_calendar_uploads_url", default="")
_paused: ContextVar[bool] = ContextVar("event_calendar_broadcast_paused", default=False)


@contextmanager
def request_context() -> Iterator[None]:
    """Around one request: whatever ``bind_request`` binds inside is unbound after it, so a thread reused
    by the next request (or by an admin write) never carries a stale device."""
    device_token = origin_device.set(None)
    uploads_token = uploads_url.set("")
    try:
        yield
    finally:
        uploads_url.reset(uploads_token)
        origin_device.reset(device_token)


def bind_request(device_id: int | None, uploads: str) -> None:
    origin_device.set(device_id)
    uploads_url.set(uploads)


@contextmanager
def paused() -> Iterator[None]:
    """Send nothing for writes made inside this block (demo data, benchmark seeding, imports)."""
    token = _paused.set(True)
    try:
        yield
    finally:
        _paused.reset(token)


@dataclass
class Change:
    """One change as sockets receive it: the widget's update ``type``, the object's id, the calendars it
    belonged to before and after (for access decisions), and the device that made it (not echoed)."""

    action: str  # add-event, update-event, delete-event, add-calendar, update-calendar, delete-calendar
    object_id: int
    calendars: list[int] = field(default_factory=list)
    origin: int | None = None

    @property
    def channel(self) -> str:
        return "calendars" if self.action.endswith("-calendar") else "events"

    def render(self, links: FileLinks) -> dict[str, Any] | None:
        """The object as ``GET`` renders it now, or None if it no longer exists."""
        key = "calendar" if self.channel == "calendars" else "event"
        if self.action.startswith("delete-"):
            return {key: {"id": self.object_id}}
        if key == "calendar":
            rendered = render_calendars(Calendar.objects.filter(pk=self.object_id))
        else:
            rendered = render_events(Event.objects.filter(pk=self.object_id), links)
        return {key: rendered[0]} if rendered else None

    def message(self, links: FileLinks) -> dict[str, Any] | None:
        rendered = self.render(links)
        if rendered is None:
            return None
        frame = {"action": "event", "body": {"name": self.channel, "value": {"type": self.action, **rendered}}}
        return {
            "type": MESSAGE_TYPE,
            "channel": self.channel,
            "calendars": self.calendars,
            "origin": self.origin,
            # Encoded once here; every socket sends these same bytes.
            "frame": json.dumps(frame, ensure_ascii=False, separators=(",", ":")),
        }


def default_links() -> FileLinks:
    """Links like the current request's; outside a request (admin, ORM code), root-relative ones."""
    return FileLinks(uploads_url.get() or reverse("event_calendar:uploads"))


def publish(changes: Iterable[Change], links: FileLinks | None = None) -> None:
    """Render and send changes now. Errors of the channel layer are logged, never raised."""
    layer = get_channel_layer()
    if layer is None:
        return
    links = links or default_links()
    try:
        for change in changes:
            message = change.message(links)
            if message is not None:
                async_to_sync(layer.group_send)(GROUP, message)
    except Exception:
        logger.exception("Could not send a live update to the channel layer")


def close_device_sockets(device_id: int, using: str = "default") -> None:
    """Close the open sockets of a revoked device, once the revocation has committed."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(device_group(device_id), {"type": "device.revoked"})
        except Exception:
            logger.exception("Could not close a revoked device's sockets")

    transaction.on_commit(send, using=using)


def schedule(change: Change, using: str) -> None:
    """Send ``change`` once the current transaction commits (at once outside a transaction)."""
    if _paused.get():
        return
    change.origin = origin_device.get()
    links = default_links()
    transaction.on_commit(lambda: publish([change], links), using=using)


# ---------------------------------------------------------------------------------------------------
# Signal receivers, connected in apps.py


def _deleted_through(origin: Any, *models: type[Model]) -> bool:
    """True when the deletion of one of ``models`` (an instance or a queryset) removed this row."""
    model = origin.model if isinstance(origin, QuerySet) else type(origin)
    return model in models


def event_saved(sender, instance: Event, created: bool, using: str, **kwargs) -> None:
    calendars = [instance.calendar_id]
    previous = getattr(instance, "_loaded_calendar_id", None)
    if previous is not None and previous != instance.calendar_id:
        calendars.insert(0, previous)
    instance._loaded_calendar_id = instance.calendar_id
    schedule(Change("add-event" if created else "update-event", instance.pk, calendars), using)


def event_deleted(sender, instance: Event, using: str, origin: Any = None, **kwargs) -> None:
    # A calendar's deletion sends only delete-calendar: the widget drops that calendar's events itself.
    if not _deleted_through(origin, Calendar):
        schedule(Change("delete-event", instance.pk, [instance.calendar_id]), using)


def attachment_changed(sender, instance: Attachment, using: str, origin: Any = None, **kwargs) -> None:
    """A file added to or removed from an event outside the event's own save (the admin, ORM code)."""
    if instance.event_id is None or _deleted_through(origin, Event, Calendar):
        return
    schedule(Change("update-event", instance.event_id, []), using)


def calendar_saved(sender, instance: Calendar, created: bool, using: str, **kwargs) -> None:
    schedule(Change("add-calendar" if created else "update-calendar", instance.pk, [instance.pk]), using)


def calendar_deleted(sender, instance: Calendar, using: str, **kwargs) -> None:
    schedule(Change("delete-calendar", instance.pk, [instance.pk]), using)


# ---------------------------------------------------------------------------------------------------
# Public helpers for writes that send no signals


def announce_events(action: str, events: Iterable[Event], using: str = "default") -> None:
    """Broadcast ``add-event``, ``update-event`` or ``delete-event`` for events written in bulk.

    For deletions pass the instances as they were before the delete (their ids and calendars).
    """
    _announce(action, "-event", ((event.pk, [event.calendar_id]) for event in events), using)


def announce_calendars(action: str, calendars: Iterable[Calendar | int], using: str = "default") -> None:
    """Broadcast ``add-calendar``, ``update-calendar`` or ``delete-calendar`` for calendars written in bulk."""
    ids = (calendar.pk if isinstance(calendar, Model) else calendar for calendar in calendars)
    _announce(action, "-calendar", ((pk, [pk]) for pk in ids), using)


def _announce(action: str, suffix: str, items: Iterable[tuple[int, list[int]]], using: str) -> None:
    if not action.endswith(suffix) or action.split("-")[0] not in ("add", "update", "delete"):
        raise ValueError(f"Unknown action {action!r}")
    for pk, calendars in items:
        schedule(Change(action, pk, calendars), using)
