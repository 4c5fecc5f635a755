"""The ``/api/v1`` socket of the widget's ``RemoteEvents`` client (CONTRACT.md section 4).

Frames in: ``subscribe``, ``unsubscribe``, ``call``. Frames out: ``start`` with the device id, ``event``
for each change on a subscribed channel (never the change's own device), ``result`` for calls, and
``error`` for frames it cannot use. A bad frame is answered, never fatal to the connection.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import time
import weakref
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import DisallowedHost
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.handlers.asgi import ASGIRequest
from django.http.request import split_domain_port, validate_host
from django.urls import reverse

from . import broadcast
from .conf import app_settings
from .models import Calendar, Device, Event, sidebar_of
from .permissions import CalendarAccess, Principal, calendar_roles, role_in, shows_readonly
from .serializers import FileLinks, render_calendars, render_events
from .tokens import InvalidToken, read_token
from .validators import fits_64_bits, validate_storable_text

logger = logging.getLogger("event_calendar")

# A tuple, not a set: a frame's "name" may be any JSON value, and lists or objects are unhashable.
CHANNELS = ("events", "calendars")
# Close code for a device revoked while connected (application range 4000-4999).
REVOKED = 4001
# What a hub sends itself to stop reading, and how long it waits for that.
STOP = "event_calendar.hub.stop"
STOP_TIMEOUT = 10
MEMBERSHIP_RENEWAL = 300  # seconds


@database_sync_to_async
def authenticate(token: str) -> Device | None:
    try:
        return read_token(token)
    except InvalidToken:
        return None


def origin_is_allowed(scope: dict[str, Any]) -> bool:
    """No Origin header (a non-browser client) is allowed; a browser's Origin must be an allowed one."""
    origin = next((value.decode("latin-1") for name, value in scope.get("headers", []) if name == b"origin"), None)
    if origin is None:
        return True
    allowed = app_settings.SOCKET_ALLOWED_ORIGINS
    if allowed is not None:
        return "*" in allowed or origin.lower() in {item.lower() for item in allowed}
    hosts = settings.ALLOWED_HOSTS or ([".localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    try:
        domain, _port = split_domain_port(urlsplit(origin).netloc)
    except ValueError:
        return False
    return bool(domain) and validate_host(domain, hosts)


def uploads_url(scope: dict[str, Any]) -> str:
    """The uploads URL this socket's own ``GET events`` would link files under (host, scheme, proxy
    settings and all, as Django's request sees them)."""
    scheme = {"wss": "https"}.get(scope.get("scheme"), "http")
    request = ASGIRequest({**scope, "type": "http", "method": "GET", "scheme": scheme}, io.BytesIO())
    return request.build_absolute_uri(reverse("event_calendar:uploads"))


class ConnectionClosing(Exception):
    """A frame could not be sent: the connection is going."""


class FrameAllowance:
    """A token bucket: up to ``per_minute`` frames at once, refilled at ``per_minute`` a minute."""

    def __init__(self, per_minute: int) -> None:
        self.capacity = self.tokens = float(per_minute)
        self.refill_per_second = per_minute / 60
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.refill_per_second)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class Viewer:
    """What a socket knows of its user, to decide each change from memory: who they are, their role on
    each calendar they may see, and their own sidebar choices."""

    principal: Principal
    roles: dict[int, str]
    sidebar: dict[int, bool]

    @classmethod
    def load(cls, user) -> Viewer:
        return cls(Principal.of(user).with_groups(), calendar_roles(user), sidebar_of(user.pk))

    def personal(self, frame: str, markers: dict[str, str], calendar_id: int, readonly: bool, active: bool) -> str:
        """A calendar frame with this viewer's ``readonly`` and ``active``."""
        shown_readonly = shows_readonly(readonly, self.roles.get(calendar_id))
        shown_active = self.sidebar.get(calendar_id, active)
        return frame.replace(markers["readonly"], json.dumps(shown_readonly)).replace(
            markers["active"], json.dumps(shown_active)
        )


@database_sync_to_async
def load_viewer(user_id: int) -> Viewer | None:
    user = get_user_model()._default_manager.filter(pk=user_id, is_active=True).first()
    return Viewer.load(user) if user is not None else None


@database_sync_to_async
def render_for(viewer: Viewer, calendar_ids: list[int], links: FileLinks) -> tuple[list[dict], list[dict]]:
    """The calendars as this viewer's ``GET calendars`` shows them, and their events."""
    calendars = render_calendars(
        Calendar.objects.filter(pk__in=calendar_ids),
        readonly=lambda pk, stored: shows_readonly(stored, viewer.roles.get(pk)),
        active=lambda pk, stored: viewer.sidebar.get(pk, stored),
    )
    return calendars, render_events(Event.objects.filter(calendar__in=calendar_ids), links)


class Hub:
    """This process's one member of the broadcast group, for one channel layer and event loop.

    Each change reaches a process once, however many sockets it holds (one channel-layer message per
    process, not one per socket), and the hub hands it to its sockets: every socket for a change of a
    calendar or an event (each decides from memory what to send), a user's or a device's own sockets for
    messages about them. A socket handles what it is handed in order, in a task of its own, so a slow
    client never holds up the others. The hub joins the group with its first socket and leaves it with its
    last, so no task outlives the sockets.
    """

    def __init__(self, layer) -> None:
        self.layer = layer
        self.sockets: set[RemoteEventsConsumer] = set()
        self.channel: str | None = None
        self.tasks: list[asyncio.Task] = []
        self.lock = asyncio.Lock()

    async def add(self, socket: RemoteEventsConsumer) -> None:
        """Hand ``socket`` the changes from now on; raises, changing nothing, when the layer cannot be joined."""
        async with self.lock:
            if self.channel is None:
                channel = await self.layer.new_channel()
                await self.layer.group_add(broadcast.GROUP, channel)
                self.channel = channel
                self.tasks = [
                    asyncio.create_task(self.receive(channel)),
                    asyncio.create_task(self.keep_membership(channel)),
                ]
            self.sockets.add(socket)

    async def remove(self, socket: RemoteEventsConsumer) -> None:
        async with self.lock:
            self.sockets.discard(socket)
            if self.sockets or self.channel is None:
                return
            channel, (receiver, renewal) = self.channel, self.tasks
            # From here the receiver hands out nothing more, and ends at its next turn at the latest.
            self.channel, self.tasks = None, []
            renewal.cancel()
            try:
                await self.layer.group_discard(broadcast.GROUP, channel)
                # The receiver stops when it reads this: cancelling a blocking read from Redis can leave it
                # waiting until the read times out.
                await self.layer.send(channel, {"type": STOP})
            except Exception:
                logger.exception("Could not leave the broadcast group")
                receiver.cancel()
                return
            await asyncio.wait([receiver], timeout=STOP_TIMEOUT)
            receiver.cancel()

    async def receive(self, channel: str) -> None:
        failing = False
        while self.channel == channel:
            try:
                if failing:
                    # The layer may have lost the group meanwhile (Redis restarted without its data).
                    await self.layer.group_add(broadcast.GROUP, channel)
                message = await self.layer.receive(channel)
            except Exception:
                # A failed read must not end delivery for the whole process: try again, logging once.
                if not failing:
                    logger.exception("Could not read live updates from the channel layer; retrying")
                failing = True
                await asyncio.sleep(1)
                continue
            if failing:
                logger.warning("Reading live updates from the channel layer again")
                failing = False
            if message.get("type") == STOP or self.channel != channel:
                return
            self.hand_out(message)

    def hand_out(self, message: dict[str, Any]) -> None:
        if "user_id" in message:
            recipients = [socket for socket in self.sockets if socket.user_id == message["user_id"]]
        elif "device_id" in message:
            recipients = [socket for socket in self.sockets if socket.device_id == message["device_id"]]
        else:
            recipients = list(self.sockets)
        for socket in recipients:
            socket.post(message)

    async def keep_membership(self, channel: str) -> None:
        # Channel layers drop group members after ``group_expiry`` (a day by default), and a tab stays open
        # longer; renewing every few minutes also rejoins a layer that lost its data without an error.
        interval = max(min(getattr(self.layer, "group_expiry", 86400) / 2, MEMBERSHIP_RENEWAL), 1)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.layer.group_add(broadcast.GROUP, channel)
            except Exception:
                logger.exception("Could not renew the process's broadcast group membership")


# A server runs one event loop; tests start one per test. The layer is replaced when settings change.
_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub_for(layer) -> Hub:
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None or hub.layer is not layer:
        hub = _hubs[loop] = Hub(layer)
    return hub


class RemoteEventsConsumer(AsyncWebsocketConsumer):
    # Live updates reach a socket through its process's hub, not through a channel-layer channel of its
    # own: no channel, queue or receive per socket.
    channel_layer_alias = None

    device_id: int | None = None
    user_id: int | None = None
    viewer: Viewer
    links: FileLinks
    subscriptions: set[str]
    hub: Hub | None = None
    # Messages from the hub wait here until handled in order; until the handshake is done, they are held.
    inbox: deque[dict[str, Any]]
    frame_allowance: FrameAllowance
    ready = False
    handler_task: asyncio.Task | None = None

    async def __call__(self, scope, receive, send) -> None:
        self.inbox = deque()
        self.frame_allowance = FrameAllowance(app_settings.SOCKET_MAX_FRAMES_PER_MINUTE)
        try:
            await super().__call__(scope, receive, send)
        finally:
            # However the connection ends (even by an error), it stops listening.
            await self.stop_listening()

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        token = (query.get("token") or [""])[0]
        layer = get_channel_layer()
        device = await authenticate(token) if layer is not None and origin_is_allowed(self.scope) else None
        try:
            links_base = uploads_url(self.scope)
        except DisallowedHost:
            device = None
        viewer = None
        if device is not None:
            self.device_id, self.user_id, self.subscriptions = device.pk, device.user_id, set()
            # Listen before reading the user's access: a change committed in between is then held, and
            # handled (after this handshake) against what was read, instead of being missed.
            self.hub = hub_for(layer)
            await self.hub.add(self)
            viewer = await load_viewer(device.user_id)
        if viewer is None:
            # Closing before accepting refuses the handshake (HTTP 403).
            await self.stop_listening()
            await self.close()
            return
        self.viewer = viewer
        self.links = FileLinks(links_base, device.pk)
        await self.accept()
        await self.send_frame({"action": "start", "body": self.device_id})
        self.ready = True
        self.handle_inbox()

    async def stop_listening(self) -> None:
        self.ready = False
        self.inbox.clear()
        if self.handler_task is not None:
            self.handler_task.cancel()
            self.handler_task = None
        if self.hub is not None:
            hub, self.hub = self.hub, None
            await hub.remove(self)

    # --- frames from the client ---------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self.frame_allowance.take():
            await self.send_error("Too many frames: slow down.")
            return
        raw = text_data.encode("utf-8", "surrogatepass") if text_data is not None else bytes_data or b""
        if len(raw) > app_settings.SOCKET_MAX_FRAME_SIZE:
            await self.send_error("Frame too large.")
            return
        try:
            frame = json.loads(raw)
        except (ValueError, RecursionError):
            frame = None
        if not isinstance(frame, dict):
            await self.send_error("Frames must be JSON objects.")
            return
        try:
            await self.handle_frame(frame)
        except Exception:
            # Whatever a client sends, its connection and everyone else's keep working.
            logger.exception("Could not handle a socket frame")
            await self.send_error("The frame could not be handled.")

    async def handle_frame(self, frame: dict[str, Any]) -> None:
        action, name = frame.get("action"), frame.get("name")
        if action == "subscribe" and name in CHANNELS:
            self.subscriptions.add(name)
        elif action == "unsubscribe" and name in CHANNELS:
            self.subscriptions.discard(name)
        elif action == "unsubscribe" and name in (None, ""):
            # The client's "detach all" sends no name (CONTRACT.md 4.4): that means every channel.
            self.subscriptions.clear()
        elif action in ("subscribe", "unsubscribe"):
            await self.send_error("Unknown channel: use 'events' or 'calendars'.")
        elif action == "call":
            await self.answer_calls(frame.get("body"))
        else:
            await self.send_error("Unknown action.")

    async def answer_calls(self, calls: Any) -> None:
        if not isinstance(calls, list) or len(calls) > MAX_CALLS:
            await self.send_error(f"A call's body must be a list of at most {MAX_CALLS} calls.")
            return
        results = [unknown_service_result(call) for call in calls]
        await self.send_frame({"action": "result", "body": results})

    # --- messages from the hub ------------------------------------------------------------------------

    def post(self, message: dict[str, Any]) -> None:
        """Take a message from the hub; it is handled after those before it."""
        self.inbox.append(message)
        self.handle_inbox()

    def handle_inbox(self) -> None:
        if self.ready and self.inbox and self.handler_task is None:
            self.handler_task = asyncio.create_task(self.handle_messages())

    async def handle_messages(self) -> None:
        try:
            while self.inbox and self.ready:
                message = self.inbox.popleft()
                try:
                    await getattr(self, message["type"].replace(".", "_"))(message)
                except ConnectionClosing:
                    # What is still queued can no longer be sent either.
                    self.ready = False
                    self.inbox.clear()
                except Exception:
                    logger.exception("Could not handle a live update for a socket")
        finally:
            self.handler_task = None

    async def calendar_change(self, message: dict[str, Any]) -> None:
        """A calendar or an event changed. Memory is kept up to date even for the change's own device,
        which is sent nothing."""
        if message["channel"] == "events":
            frame, gained = self.event_frame(message), None
        else:
            frame, gained = self.calendar_frame(message)
        if message["origin"] == self.device_id:
            return
        if frame is not None:
            await self.send_to_channel(message["channel"], frame, message["markers"])
        if gained is not None:
            _, events = await render_for(self.viewer, [gained], self.links)
            for event in events:
                await self.send_to_channel("events", broadcast.event_frame("events", {"type": "add-event", "event": event}))

    def event_frame(self, message: dict[str, Any]) -> str | None:
        """The frame for an event change as this viewer sees it: moving into view is an add, out of view
        a delete."""
        calendars, frames = message["calendars"], message["frames"]
        sees_before, sees_after = calendars[0] in self.viewer.roles, calendars[-1] in self.viewer.roles
        if sees_before and sees_after:
            return frames[message["verb"]]
        if sees_after:
            return frames["add"]
        if sees_before:
            return frames["delete"]
        return None

    def calendar_frame(self, message: dict[str, Any]) -> tuple[str | None, int | None]:
        """The frame for a calendar change as this viewer sees it, and the calendar's id when the viewer
        has just gained it (its events follow)."""
        (calendar_id,) = message["calendars"]
        roles = self.viewer.roles
        had = calendar_id in roles
        if message["verb"] == "delete":
            roles.pop(calendar_id, None)
            return (message["frames"]["delete"] if had else None), None
        role = role_in(CalendarAccess.from_message(message["access"]), self.viewer.principal)
        if role is None:
            roles.pop(calendar_id, None)
            return (deleted_calendar_frame(calendar_id) if had else None), None
        roles[calendar_id] = role
        frame = message["frames"]["update" if had else "add"]
        frame = self.viewer.personal(frame, message["markers"], calendar_id, message["readonly"], message["active"])
        return frame, (calendar_id if not had and message["verb"] == "update" else None)

    async def calendar_sidebar(self, message: dict[str, Any]) -> None:
        """This user showed or hid a calendar on another device."""
        calendar_id = message["calendar_id"]
        self.viewer.sidebar[calendar_id] = message["active"]
        if message["origin"] == self.device_id or calendar_id not in self.viewer.roles:
            return
        frame = self.viewer.personal(
            message["frame"], message["markers"], calendar_id, message["readonly"], message["active"]
        )
        await self.send_to_channel("calendars", frame, message["markers"])

    async def calendar_access(self, message: dict[str, Any]) -> None:
        """What this user may see changed (groups, superuser, active): work it out again and follow."""
        viewer = await load_viewer(self.user_id)
        if viewer is None:
            await self.close(code=REVOKED)
            return
        before, self.viewer = self.viewer.roles, viewer
        after = viewer.roles
        for calendar_id in sorted(before.keys() - after.keys()):
            await self.send_to_channel("calendars", deleted_calendar_frame(calendar_id))
        gained = sorted(after.keys() - before.keys())
        changed = sorted(pk for pk in after.keys() & before.keys() if after[pk] != before[pk])
        calendars, events = await render_for(viewer, gained + changed, self.links)
        for calendar in calendars:
            action = "add-calendar" if calendar["id"] in gained else "update-calendar"
            await self.send_to_channel("calendars", broadcast.event_frame("calendars", {"type": action, "calendar": calendar}))
        for event in events:
            if event["type"] in gained:
                await self.send_to_channel("events", broadcast.event_frame("events", {"type": "add-event", "event": event}))

    async def device_revoked(self, message: dict[str, Any]) -> None:
        await self.close(code=REVOKED)

    # --- helpers ----------------------------------------------------------------------------------

    async def send_to_channel(self, channel: str, frame: str, markers: dict[str, str] | None = None) -> None:
        """Send a frame if the client subscribed to its channel, its file links signed for this device."""
        if channel not in self.subscriptions:
            return
        if markers is not None and markers["links"] in frame:
            frame = re.sub(re.escape(markers["links"]) + r"(\d+)/([^\"?]*)", self.signed_link, frame)
        await self.send(text_data=frame)

    def signed_link(self, match: re.Match) -> str:
        return self.links.url(int(match[1]), unquote(match[2]))

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False) -> None:
        try:
            await super().send(text_data, bytes_data, close)
        except Exception as error:
            # ASGI servers raise on a socket that is closing (uvicorn: ClientDisconnected).
            raise ConnectionClosing() from error

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def send_error(self, message: str) -> None:
        # The client passes frames it does not know to its no-op error handler.
        await self.send_frame({"action": "error", "body": message})


def deleted_calendar_frame(calendar_id: int) -> str:
    return broadcast.event_frame("calendars", {"type": "delete-calendar", "calendar": {"id": calendar_id}})


class RefusedConsumer(AsyncWebsocketConsumer):
    """Any other socket path under the app's prefix: refused at the handshake, never a server error."""

    async def connect(self) -> None:
        await self.close()


# go-remote's client numbers its calls; longer ids, or ones no JSON encoder can write back, are not echoed.
MAX_CALL_ID_LENGTH = 64
MAX_CALLS = 100


def unknown_service_result(call: Any) -> dict[str, Any]:
    """go-remote's answer to a call of a service it does not have; this server offers none."""
    call_id = call.get("id") if isinstance(call, dict) else None
    return {"id": call_id if echoable_call_id(call_id) else None, "data": None, "error": "Unknown service"}


def echoable_call_id(call_id: Any) -> bool:
    if isinstance(call_id, bool):
        return False
    if isinstance(call_id, int):
        return fits_64_bits(call_id)
    if isinstance(call_id, str) and len(call_id) <= MAX_CALL_ID_LENGTH:
        try:
            validate_storable_text(call_id)
        except DjangoValidationError:
            return False
        return True
    return False
