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
from typing import Any
from urllib.parse import parse_qs, urlsplit

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.http.request import split_domain_port, validate_host
from django.urls import reverse

from . import broadcast
from .conf import app_settings
from .models import Device
from .tokens import InvalidToken, read_token

logger = logging.getLogger("event_calendar")

# A tuple, not a set: a frame's "name" may be any JSON value, and lists or objects are unhashable.
CHANNELS = ("events", "calendars")
# Close code for a device revoked while connected (application range 4000-4999).
REVOKED = 4001


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
    http_scope = {**scope, "type": "http", "method": "GET", "scheme": {"wss": "https"}.get(scope.get("scheme"), "http")}
    request = ASGIRequest(http_scope, io.BytesIO())
    return request.build_absolute_uri(reverse("event_calendar:uploads"))


class RemoteEventsConsumer(AsyncWebsocketConsumer):
    device_id: int
    subscriptions: set[str]
    file_links: str
    rejoin_task: asyncio.Task | None = None

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # However the connection ends (even by an error), it leaves its groups and stops renewing them.
            await self.leave_groups()

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        token = (query.get("token") or [""])[0]
        device = await authenticate(token) if self.channel_layer and origin_is_allowed(self.scope) else None
        try:
            self.file_links = uploads_url(self.scope)
        except DisallowedHost:
            device = None
        if device is None:
            # Closing before accepting refuses the handshake (HTTP 403).
            await self.close()
            return
        self.device_id = device.pk
        self.subscriptions = set()
        await self.join_groups()
        self.rejoin_task = asyncio.create_task(self.keep_group_membership())
        await self.accept()
        await self.send_frame({"action": "start", "body": self.device_id})

    async def join_groups(self) -> None:
        await self.channel_layer.group_add(broadcast.GROUP, self.channel_name)
        await self.channel_layer.group_add(broadcast.device_group(self.device_id), self.channel_name)

    async def leave_groups(self) -> None:
        if self.rejoin_task is None:
            return
        self.rejoin_task.cancel()
        self.rejoin_task = None
        await self.channel_layer.group_discard(broadcast.GROUP, self.channel_name)
        await self.channel_layer.group_discard(broadcast.device_group(self.device_id), self.channel_name)

    async def keep_group_membership(self) -> None:
        # Channel layers drop group members after ``group_expiry`` (a day by default); a tab stays open longer.
        interval = max(getattr(self.channel_layer, "group_expiry", 86400) / 2, 1)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.join_groups()
            except Exception:
                logger.exception("Could not renew a socket's channel-layer groups")

    # --- frames from the client ---------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
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
        if not isinstance(calls, list):
            await self.send_error("A call's body must be a list.")
            return
        results = [unknown_service_result(call) for call in calls]
        await self.send_frame({"action": "result", "body": results})

    # --- messages from the channel layer ----------------------------------------------------------------

    async def calendar_change(self, message: dict[str, Any]) -> None:
        if message["origin"] == self.device_id or message["channel"] not in self.subscriptions:
            return
        await self.send(text_data=message["frame"].replace(message["links"], self.file_links))

    async def device_revoked(self, message: dict[str, Any]) -> None:
        await self.close(code=REVOKED)

    # --- helpers ----------------------------------------------------------------------------------

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def send_error(self, message: str) -> None:
        # The client passes frames it does not know to its no-op error handler.
        await self.send_frame({"action": "error", "body": message})


class RefusedConsumer(AsyncWebsocketConsumer):
    """Any other socket path under the app's prefix: refused at the handshake, never a server error."""

    async def connect(self) -> None:
        await self.close()


def unknown_service_result(call: Any) -> dict[str, Any]:
    """go-remote's answer to a call of a service it does not have; this server offers none."""
    call_id = call.get("id") if isinstance(call, dict) else None
    return {"id": call_id if isinstance(call_id, str | int) else None, "data": None, "error": "Unknown service"}
