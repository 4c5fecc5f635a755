"""The only sender of live updates (CONTRACT.md section 4.7).

Model signals hand each change of a calendar or an event to ``Change``; at commit the change is rendered
once, as ``GET`` renders it, and sent to the channel layer as one message that every socket consumer
filters for itself, from what it holds in memory (``consumers.py``). What differs between recipients is
left as markers in the encoded frame, for each socket to fill in: the links to files (signed for each
device) and a calendar's ``readonly`` and ``active`` (which depend on the viewer's role and sidebar).

A rolled-back write sends nothing, and a failing channel layer never turns a committed write into an
error: it is logged. Writes that send no model signals (``QuerySet.update()``, ``bulk_create()``, raw
SQL) are announced with ``announce_events`` and ``announce_calendars``; ``paused()`` stops broadcasting
for bulk loads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction
from django.db.models import Model, QuerySet

from .models import Attachment, Calendar, CalendarGrant, CalendarPreference, Device, Event
from .permissions import CalendarAccess
from .serializers import FileLinks, render_calendars, render_event

logger = logging.getLogger("event_calendar")

# The one group: each process's socket hub is its member. A message with a ``user_id`` or a ``device_id``
# is for that user's or that device's sockets only.
GROUP = "event_calendar"


# The device whose request is being served (from its Remote-Token); None for the admin and plain ORM code.
origin_device: ContextVar[int | None] = ContextVar("event_calendar_origin_device", default=None)
_paused: ContextVar[bool] = ContextVar("event_calendar_broadcast_paused", default=False)


def _marker(name: str) -> str:
    # NUL never survives input validation, and the random part cannot be guessed, so no stored text can
    # contain a marker; each process has its own, and messages say which they use.
    return f"\x00{name}-{secrets.token_hex(8)}"


LINKS_MARKER = _marker("links")
READONLY_MARKER = _marker("readonly")
ACTIVE_MARKER = _marker("active")


def encoded(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


MARKERS = {
    "links": encoded(LINKS_MARKER)[1:-1],
    "readonly": encoded(READONLY_MARKER),
    "active": encoded(ACTIVE_MARKER),
}


class MarkedFileLinks(FileLinks):
    """File links left as ``<marker><id>/<quoted name>``, for each socket to sign for its own device."""

    def __init__(self) -> None:
        super().__init__(LINKS_MARKER, 0)

    def url(self, attachment_id: int, name: str) -> str:
        return f"{LINKS_MARKER}{attachment_id}/{quote(name, safe='')}"


def event_frame(channel: str, value: dict[str, Any]) -> str:
    return encoded({"action": "event", "body": {"name": channel, "value": value}})


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


# ---------------------------------------------------------------------------------------------------
# What is sent


@dataclass
class Change:
    """A calendar or an event added, updated or deleted: the widget's update ``action``, the object's id,
    the calendars an event was in before and after the change, and the device that made it."""

    action: str  # add-event, update-event, delete-event, add-calendar, update-calendar, delete-calendar
    object_id: int
    calendars: list[int] = field(default_factory=list)
    origin: int | None = None

    @property
    def channel(self) -> str:
        return "calendars" if self.action.endswith("-calendar") else "events"

    @property
    def verb(self) -> str:
        return self.action.split("-")[0]

    @property
    def key(self) -> tuple[Any, ...]:
        return (self.channel, self.object_id)

    def merge(self, later: Change) -> bool:
        """Take in a later change of the same object in the same transaction, if one message can say both."""
        if self.verb == "delete" or later.verb != "update":
            return False
        self.calendars += [pk for pk in later.calendars if pk not in self.calendars]
        return True

    def message(self) -> tuple[str, dict[str, Any]] | None:
        """The group and message to send, rendered now; None when there is nothing left to say."""
        message = self.event_message() if self.channel == "events" else self.calendar_message()
        if message is None:
            return None
        return GROUP, {
            "type": "calendar.change",
            "channel": self.channel,
            "verb": self.verb,
            "origin": self.origin,
            "markers": MARKERS,
            **message,
        }

    def event_message(self) -> dict[str, Any] | None:
        deleted = {"type": "delete-event", "event": {"id": self.object_id}}
        if self.verb == "delete":
            return {"calendars": self.calendars, "frames": {"delete": event_frame("events", deleted)}}
        stored = Event.objects.filter(pk=self.object_id).first()
        if stored is None:
            return None
        event = render_event(stored, MarkedFileLinks())
        calendars = [pk for pk in self.calendars if pk != event["type"]] + [event["type"]]
        frames = {self.verb: event_frame("events", {"type": self.action, "event": event})}
        if len(calendars) > 1:
            # Moved between calendars: it appears for those who see only the new one, goes for the others.
            frames["add"] = event_frame("events", {"type": "add-event", "event": event})
            frames["delete"] = event_frame("events", deleted)
        return {"calendars": calendars, "frames": frames}

    def calendar_message(self) -> dict[str, Any] | None:
        if self.verb == "delete":
            deleted = {"type": "delete-calendar", "calendar": {"id": self.object_id}}
            return {"calendars": [self.object_id], "frames": {"delete": event_frame("calendars", deleted)}}
        calendar = Calendar.objects.filter(pk=self.object_id).first()
        if calendar is None:
            return None
        rendered = render_marked_calendar(calendar)
        return {
            "calendars": [calendar.pk],
            "access": CalendarAccess.load(calendar).as_message(),
            "readonly": calendar.readonly,
            "active": calendar.active,
            "frames": {
                "add": event_frame("calendars", {"type": "add-calendar", "calendar": rendered}),
                "update": event_frame("calendars", {"type": "update-calendar", "calendar": rendered}),
            },
        }


def render_marked_calendar(calendar: Calendar) -> dict[str, Any]:
    """The calendar as ``GET`` renders it, with markers where the viewer's ``readonly`` and ``active`` go."""
    (rendered,) = render_calendars(
        Calendar.objects.filter(pk=calendar.pk),
        readonly=lambda pk, stored: True if stored else READONLY_MARKER,
        active=lambda pk, stored: ACTIVE_MARKER,
    )
    return rendered


@dataclass
class SidebarChange:
    """A user showed or hid a calendar in their own sidebar: their other devices follow."""

    user_id: int
    calendar_id: int
    origin: int | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        return ("sidebar", self.user_id, self.calendar_id)

    def merge(self, later: SidebarChange) -> bool:
        return True

    def message(self) -> tuple[str, dict[str, Any]] | None:
        calendar = Calendar.objects.filter(pk=self.calendar_id).first()
        if calendar is None:
            return None
        preference = CalendarPreference.objects.filter(user_id=self.user_id, calendar=calendar).first()
        rendered = render_marked_calendar(calendar)
        return GROUP, {
            "type": "calendar.sidebar",
            "user_id": self.user_id,
            "calendar_id": calendar.pk,
            "active": preference.active if preference else calendar.active,
            "readonly": calendar.readonly,
            "origin": self.origin,
            "markers": MARKERS,
            "frame": event_frame("calendars", {"type": "update-calendar", "calendar": rendered}),
        }


@dataclass
class AccessChange:
    """Something about a user changed what they may see (groups, superuser, active): their sockets
    work it out again."""

    user_id: int
    origin: int | None = None

    @property
    def key(self) -> tuple[Any, ...]:
        return ("access", self.user_id)

    def merge(self, later: AccessChange) -> bool:
        return True

    def message(self) -> tuple[str, dict[str, Any]] | None:
        return GROUP, {"type": "calendar.access", "user_id": self.user_id}


Message = Change | SidebarChange | AccessChange


class SenderLoop:
    """One event loop per process, in a thread of its own, that sends for the whole process.

    Writes run in threads without an event loop (a WSGI worker, an ASGI server's thread for sync views, a
    management command). ``async_to_sync`` would run each send on a new loop in a new thread, and
    channels-redis, which keeps its connections per loop, would connect to Redis anew for every change.
    """

    def __init__(self, timeout: float = 5.0) -> None:
        # A send takes milliseconds; a hung layer would otherwise hold the write's reply for as long as its
        # socket timeout, once per change, past a WSGI server's worker timeout.
        self.timeout = timeout
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None

    def run(self, coroutine: Any) -> Any:
        """Run ``coroutine`` on the process's loop and wait for its result; ``TimeoutError`` after
        ``timeout`` seconds, when it is cancelled."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self._running_loop())
        try:
            return future.result(self.timeout)
        except TimeoutError:
            future.cancel()
            raise

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            # A forked worker (gunicorn's preload) inherits the object but not the thread.
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="event_calendar-sender", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop


sender_loop = SenderLoop()


def group_send(layer, group: str, message: dict[str, Any]) -> None:
    if isinstance(layer, InMemoryChannelLayer):
        # Its queues belong to the loop of the server that reads them, and it serves that process only.
        async_to_sync(layer.group_send)(group, message)
    else:
        sender_loop.run(layer.group_send(group, message))


def publish(items: Iterable[Message]) -> None:
    """Render and send now. Errors of the channel layer are logged, never raised."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        for item in items:
            rendered = item.message()
            if rendered is not None:
                group_send(layer, *rendered)
    except Exception:
        logger.exception("Could not send a live update to the channel layer")


class Publication:
    """The commit callback that publishes one item."""

    def __init__(self, item: Message) -> None:
        self.item = item

    def __call__(self) -> None:
        publish([self.item])


def schedule(item: Message, using: str) -> None:
    """Send ``item`` once the current transaction commits (at once outside a transaction).

    A later change of something already waiting in the same transaction joins it (see ``merge``): it is
    rendered at commit anyway.
    """
    if _paused.get():
        return
    item.origin = origin_device.get()
    publication = Publication(item)
    connection = transaction.get_connection(using)
    if connection.in_atomic_block:
        pending = _pending_publications(connection)
        earlier = pending.get(item.key)
        if earlier is not None and type(earlier.item) is type(item) and earlier.item.merge(item):
            return
        pending[item.key] = publication
    transaction.on_commit(publication, using=using)


def _pending_publications(connection) -> dict[tuple[Any, ...], Publication]:
    """What waits for this transaction's commit, by what it is about.

    Django replaces ``run_on_commit`` with a new list when the transaction commits or a savepoint rolls
    back (dropping that savepoint's callbacks), so the index is rebuilt from the live list whenever the
    list is not the one it was built from.
    """
    callbacks = connection.run_on_commit
    cached = getattr(connection, "_event_calendar_pending", None)
    if cached is None or cached[0] is not callbacks:
        index = {func.item.key: func for _, func, _ in callbacks if isinstance(func, Publication)}
        cached = (callbacks, index)
        connection._event_calendar_pending = cached
    return cached[1]


def close_device_sockets(device_id: int, using: str = "default") -> None:
    """Close the open sockets of a revoked device, once the revocation has committed."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            group_send(layer, GROUP, {"type": "device.revoked", "device_id": device_id})
        except Exception:
            logger.exception("Could not close a revoked device's sockets")

    transaction.on_commit(send, using=using)


# ---------------------------------------------------------------------------------------------------
# Signal receivers, connected in apps.py


def _deleted_through(origin: Any, *models: type[Model]) -> bool:
    """True when the deletion of one of ``models`` (an instance or a queryset) removed this row."""
    model = origin.model if isinstance(origin, QuerySet) else type(origin)
    return model in models


def event_saved(sender, instance: Event, created: bool, using: str, **kwargs) -> None:
    calendars = []
    previous = getattr(instance, "_loaded_calendar_id", None)
    if previous is not None and previous != instance.calendar_id:
        calendars.append(previous)
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
    schedule(Change("update-event", instance.event_id), using)


def calendar_saved(sender, instance: Calendar, created: bool, using: str, **kwargs) -> None:
    schedule(Change("add-calendar" if created else "update-calendar", instance.pk), using)


def calendar_deleted(sender, instance: Calendar, using: str, **kwargs) -> None:
    schedule(Change("delete-calendar", instance.pk, [instance.pk]), using)


def grant_changed(sender, instance: CalendarGrant, using: str, origin: Any = None, **kwargs) -> None:
    """Who may see a calendar changed: sockets that gain it get it with its events, the others lose it."""
    if not _deleted_through(origin, Calendar):
        schedule(Change("update-calendar", instance.calendar_id), using)


def sidebar_changed(sender, instance: CalendarPreference, using: str, origin: Any = None, **kwargs) -> None:
    if not _deleted_through(origin, Calendar):
        schedule(SidebarChange(instance.user_id, instance.calendar_id), using)


def device_deleted(sender, instance: Device, using: str, **kwargs) -> None:
    close_device_sockets(instance.pk, using)


def user_access_may_change(sender, instance, using: str, update_fields=None, **kwargs) -> None:
    """Before a user is saved: remember whether what decides their access is about to change."""
    if instance.pk is None or (update_fields is not None and not {"is_active", "is_superuser"} & set(update_fields)):
        return
    manager = type(instance)._default_manager.using(using)
    stored = manager.filter(pk=instance.pk).values_list("is_active", "is_superuser").first()
    instance._event_calendar_access_changed = stored not in (None, (instance.is_active, instance.is_superuser))


def user_saved(sender, instance, using: str, **kwargs) -> None:
    if instance.__dict__.pop("_event_calendar_access_changed", False):
        schedule(AccessChange(instance.pk), using)


def groups_changed(sender, instance, action: str, reverse: bool, pk_set, using: str, **kwargs) -> None:
    """A user joined or left groups (``user.groups``), or a group gained or lost members (``group.user_set``)."""
    if action == "pre_clear" and reverse:
        # Who is about to leave the group is known only before the clear.
        instance._event_calendar_members = list(instance.user_set.values_list("pk", flat=True))
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if not reverse:
        user_ids = [instance.pk]
    elif action == "post_clear":
        user_ids = instance.__dict__.pop("_event_calendar_members", [])
    else:
        user_ids = pk_set
    for user_id in user_ids:
        schedule(AccessChange(user_id), using)


# ---------------------------------------------------------------------------------------------------
# Public helpers for writes that send no signals


def announce_events(action: str, events: Iterable[Event], using: str = "default") -> None:
    """Broadcast ``add-event``, ``update-event`` or ``delete-event`` for events written in bulk.

    For deletions pass the instances as they were before the delete (their ids and calendars).
    """
    _check_action(action, "-event")
    for event in events:
        schedule(Change(action, event.pk, [event.calendar_id]), using)


def announce_calendars(action: str, calendars: Iterable[Calendar | int], using: str = "default") -> None:
    """Broadcast ``add-calendar``, ``update-calendar`` or ``delete-calendar`` for calendars written in bulk."""
    _check_action(action, "-calendar")
    for calendar in calendars:
        pk = calendar.pk if isinstance(calendar, Model) else calendar
        schedule(Change(action, pk, [pk]), using)


def _check_action(action: str, suffix: str) -> None:
    if not action.endswith(suffix) or action.split("-")[0] not in ("add", "update", "delete"):
        raise ValueError(f"Unknown action {action!r}")
