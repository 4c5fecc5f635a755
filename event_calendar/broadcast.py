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
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import Model, QuerySet

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
_paused: ContextVar[bool] = ContextVar("event_calendar_broadcast_paused", default=False)

# File links in a frame start with this marker; each socket puts its own uploads URL in its place, so that
# a frame is encoded once and every recipient still gets the links its own GET would give it. NUL never
# survives input validation, and the random part cannot be guessed.
LINKS_MARKER = "\x00links-" + secrets.token_hex(8)
_ENCODED_LINKS_MARKER = json.dumps(LINKS_MARKER)[1:-1]


@contextmanager
def request_context() -> Iterator[None]:
    """Around one request: a device bound inside with ``bind_device`` is unbound after it, so a thread
    reused by the next request (or by an admin write) never carries a stale device."""
    token = origin_device.set(None)
    try:
        yield
    finally:
        origin_device.reset(token)


def bind_device(device_id: int | None) -> None:
    origin_device.set(device_id)


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

    def render(self) -> dict[str, Any] | None:
        """The object as ``GET`` renders it now, or None if it no longer exists."""
        key = "calendar" if self.channel == "calendars" else "event"
        if self.action.startswith("delete-"):
            return {key: {"id": self.object_id}}
        if key == "calendar":
            rendered = render_calendars(Calendar.objects.filter(pk=self.object_id))
        else:
            rendered = render_events(Event.objects.filter(pk=self.object_id), FileLinks(LINKS_MARKER))
        return {key: rendered[0]} if rendered else None

    def message(self) -> dict[str, Any] | None:
        rendered = self.render()
        if rendered is None:
            return None
        frame = {"action": "event", "body": {"name": self.channel, "value": {"type": self.action, **rendered}}}
        return {
            "type": MESSAGE_TYPE,
            "channel": self.channel,
            "calendars": self.calendars,
            "origin": self.origin,
            # Encoded once here; every socket sends these same bytes, links aside.
            "frame": json.dumps(frame, ensure_ascii=False, separators=(",", ":")),
            "links": _ENCODED_LINKS_MARKER,
        }


def publish(changes: Iterable[Change]) -> None:
    """Render and send changes now. Errors of the channel layer are logged, never raised."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        for change in changes:
            message = change.message()
            if message is not None:
                async_to_sync(layer.group_send)(GROUP, message)
    except Exception:
        logger.exception("Could not send a live update to the channel layer")


class Publication:
    """The commit callback that publishes one change."""

    def __init__(self, change: Change) -> None:
        self.change = change

    def __call__(self) -> None:
        publish([self.change])


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
    """Send ``change`` once the current transaction commits (at once outside a transaction).

    An update of an object already added or updated in the same transaction is not sent again: the object
    is rendered at commit anyway. Its calendars join those of the pending change.
    """
    if _paused.get():
        return
    change.origin = origin_device.get()
    publication = Publication(change)
    connection = transaction.get_connection(using)
    if connection.in_atomic_block and not change.action.startswith("delete-"):
        pending = _pending_publications(connection)
        key = (change.channel, change.object_id)
        earlier = pending.get(key)
        if earlier is not None and change.action.startswith("update-"):
            earlier.change.calendars += [pk for pk in change.calendars if pk not in earlier.change.calendars]
            return
        pending[key] = publication
    transaction.on_commit(publication, using=using)


def _pending_publications(connection) -> dict[tuple[str, int], Publication]:
    """The adds and updates waiting for this transaction's commit, by object.

    Django replaces ``run_on_commit`` with a new list when the transaction commits or a savepoint rolls
    back (dropping that savepoint's callbacks), so the index is rebuilt from the live list whenever the
    list is not the one it was built from.
    """
    callbacks = connection.run_on_commit
    cached = getattr(connection, "_event_calendar_pending", None)
    if cached is None or cached[0] is not callbacks:
        index = {
            (func.change.channel, func.change.object_id): func
            for _, func, _ in callbacks
            if isinstance(func, Publication) and not func.change.action.startswith("delete-")
        }
        cached = (callbacks, index)
        connection._event_calendar_pending = cached
    return cached[1]


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
