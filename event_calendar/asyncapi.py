"""The AsyncAPI 3.0 document of the ``api/v1`` socket (go-remote's protocol, CONTRACT.md section 4), served
at ``{base}/asyncapi.json``. Its objects are the OpenAPI document's: a frame carries an event or a calendar
exactly as ``GET`` renders it. Tests validate real frames against it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from .conf import app_settings
from .consumers import CHANNELS, MAX_CALLS, REVOKED
from .openapi import ID, package_version, ref, schemas

CHANGE_TYPES = {"events": "event", "calendars": "calendar"}


def frame(action: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"action": {"const": action}, **properties},
        "required": ["action", *properties],
    }


def change(channel: str) -> dict[str, Any]:
    """``{"type": "add-event", "event": {...}}`` and the like: the whole object, or only its id when deleted."""
    key = CHANGE_TYPES[channel]
    whole = ref(key.capitalize())
    return {
        "oneOf": [
            {
                "type": "object",
                "properties": {"type": {"enum": [f"add-{key}", f"update-{key}"]}, key: whole},
                "required": ["type", key],
            },
            {
                "type": "object",
                "properties": {
                    "type": {"const": f"delete-{key}"},
                    key: {"type": "object", "properties": {"id": ID}, "required": ["id"]},
                },
                "required": ["type", key],
            },
        ]
    }


def frame_schemas() -> dict[str, Any]:
    channel_name = {"enum": list(CHANNELS)}
    return {
        "StartFrame": frame("start", body={"type": "integer", "description": "This connection's device id."}),
        "EventFrame": frame(
            "event",
            body={
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {
                            "name": {"const": channel},
                            "value": ref(f"{key.capitalize()}Change"),
                        },
                        "required": ["name", "value"],
                    }
                    for channel, key in CHANGE_TYPES.items()
                ]
            },
        ),
        "EventChange": change("events"),
        "CalendarChange": change("calendars"),
        "ResultFrame": frame("result", body={"type": "array", "items": ref("CallResult")}),
        "ErrorFrame": frame("error", body={"type": "string"}),
        "SubscribeFrame": frame("subscribe", name=channel_name),
        "UnsubscribeFrame": {
            **frame("unsubscribe"),
            "description": "Without a name (or with the client's 'key' instead), from every channel.",
            "properties": {
                "action": {"const": "unsubscribe"},
                "name": {"enum": [*CHANNELS, ""]},
                "key": {"type": "string"},
            },
        },
        "CallFrame": frame("call", body={"type": "array", "maxItems": MAX_CALLS, "items": ref("Call")}),
    }


SERVER_FRAMES = {
    "start": ("StartFrame", "Sent once the socket is accepted."),
    "event": ("EventFrame", "A change made by another device, as the user may see it."),
    "result": ("ResultFrame", "The answers to a call frame (no services are offered)."),
    "error": ("ErrorFrame", "A frame that could not be used; the connection stays open."),
}
CLIENT_FRAMES = {
    "subscribe": ("SubscribeFrame", "Start receiving a channel's changes."),
    "unsubscribe": ("UnsubscribeFrame", "Stop receiving a channel's changes."),
    "call": ("CallFrame", "go-remote calls."),
}


def message(schema: str, summary: str) -> dict[str, Any]:
    return {
        "name": schema,
        "summary": summary,
        "contentType": "application/json",
        "payload": ref(schema),
    }


def asyncapi_document(socket_url: str) -> dict[str, Any]:
    """The document for the socket at ``socket_url`` (``ws://host/prefix/api/v1`` or ``wss://``)."""
    url = urlsplit(socket_url)
    prefix, _, address = url.path.rpartition("/api/")
    frames = {**SERVER_FRAMES, **CLIENT_FRAMES}
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "django-event-calendar live updates",
            "version": package_version(),
            "description": (
                "The socket of the DHTMLX widget's RemoteEvents client. Every frame is one JSON text message. "
                "A change is never sent back to the device (token) that made it. Frames larger than "
                f"{app_settings.SOCKET_MAX_FRAME_SIZE} bytes or more than "
                f"{app_settings.SOCKET_MAX_FRAMES_PER_MINUTE} a minute are answered with an error frame."
            ),
        },
        "servers": {"site": {"host": url.netloc, "pathname": prefix or "/", "protocol": url.scheme}},
        "channels": {
            "live": {
                "address": f"/api/{address}",
                "description": (
                    "Open with ?token=<Remote-Token>&ws=1; a refused token is refused at the handshake. The server "
                    f"closes an open socket with code {REVOKED} when its token is revoked (logout, the admin) or "
                    "its user deactivated: reconnecting with that token is refused."
                ),
                "messages": {name: message(*details) for name, details in frames.items()},
                "bindings": {
                    "ws": {
                        "query": {
                            "type": "object",
                            "properties": {"token": {"type": "string"}, "ws": {"const": "1"}},
                            "required": ["token"],
                        }
                    }
                },
            }
        },
        "operations": {
            f"{action}{name.capitalize()}": {
                "action": action,
                "channel": {"$ref": "#/channels/live"},
                "messages": [{"$ref": f"#/channels/live/messages/{name}"}],
            }
            for action, names in (("send", SERVER_FRAMES), ("receive", CLIENT_FRAMES))
            for name in names
        },
        "components": {"schemas": {**schemas(), **frame_schemas()}},
    }
