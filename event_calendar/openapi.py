"""The OpenAPI 3.1 document of the REST routes, served at ``{base}/openapi.json``.

Written out rather than generated: the replies are rendered by ``serializers.render_events`` and
``render_calendars``, not by DRF serializers, and the wire's mixed-case keys are the point. Tests keep it
in agreement with the input serializers' fields and validate real replies against it.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from django.conf import settings

from .conf import app_settings
from .consumers import MAX_CALLS
from .serializers import COLOR_KEYS, ISO_INSTANT, MAX_ID, TEXT_MAX_LENGTH

# The wire's instants on the way out: UTC with milliseconds (``serializers.format_instant``).
RENDERED_INSTANT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
# Ids in bodies are also taken as numeric strings (``serializers.IdField``).
ID_INPUT = {"anyOf": [ID, {"type": "string", "pattern": "^[0-9]{1,19}$"}]}
TEXT = {"type": "string", "maxLength": TEXT_MAX_LENGTH}
INSTANT_INPUT = {"type": "string", "pattern": f"^{ISO_INSTANT.pattern}$"}
INSTANT = {"type": "string", "pattern": RENDERED_INSTANT}
COLOR = {
    "type": "object",
    "properties": {key: {"type": "string"} for key in COLOR_KEYS},
    "additionalProperties": False,
}
COLOR_INPUT = {
    "type": "object",
    "properties": {key: nullable({"type": "string", "maxLength": 64}) for key in COLOR_KEYS},
}
SECTION = {"anyOf": [{"type": "string", "maxLength": 255}, {"type": "integer"}]}

EVENT_FIELDS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # wire key: (as sent to the server, as the server renders it)
    "type": (ID_INPUT, ID),
    "text": (nullable(TEXT), TEXT),
    "details": (nullable(TEXT), TEXT),
    "start_date": (nullable(INSTANT_INPUT), nullable(INSTANT)),
    "end_date": (nullable(INSTANT_INPUT), nullable(INSTANT)),
    "allDay": ({"type": "boolean"}, {"type": "boolean"}),
    "color": (nullable(COLOR_INPUT), COLOR),
    "readonly": (nullable({"type": "boolean"}), {"type": "boolean"}),
    "dragMove": (nullable({"type": "boolean"}), {"type": "boolean"}),
    "dragResize": (nullable({"type": "boolean"}), {"type": "boolean"}),
    "RRULE": (nullable({"type": "string", "maxLength": 4096}), {"type": "string"}),
    "STDATE": (nullable(INSTANT_INPUT), INSTANT),
    "DTEND": (nullable(INSTANT_INPUT), INSTANT),
    "recurring": (nullable({"type": "boolean"}), {"type": "boolean"}),
    "recurringEventId": (nullable(ID_INPUT), ID),
    "originalStartTime": (nullable(INSTANT_INPUT), INSTANT),
    "status": (nullable({"type": "string", "maxLength": 32}), {"type": "string"}),
    "section": (nullable(SECTION), SECTION),
    "files": (
        nullable(
            {"type": "array", "maxItems": 1000, "items": {"type": "object", "properties": {"id": ID_INPUT}}}
        ),
        {"type": "array", "items": ref("File")},
    ),
}
# Always in a rendered event; the others only when set.
EVENT_CORE = ["id", "type", "text", "details", "start_date", "end_date", "allDay", "files"]

CALENDAR_FIELDS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "label": ({"type": "string", "minLength": 1, "maxLength": 255}, {"type": "string"}),
    "description": (nullable(TEXT), {"type": "string"}),
    "color": (COLOR_INPUT, COLOR),
    "active": ({"type": "boolean"}, {"type": "boolean"}),
    "readonly": ({"type": "boolean"}, {"type": "boolean"}),
}


def schemas() -> dict[str, Any]:
    return {
        "Event": {
            "type": "object",
            "description": "An event as GET events renders it. Custom keys sent with it come back too.",
            "properties": {"id": ID, **{key: rendered for key, (_, rendered) in EVENT_FIELDS.items()}},
            "required": EVENT_CORE,
        },
        "EventInput": {
            "type": "object",
            "description": (
                "An event as the widget sends it. On POST, type, start_date and end_date are required (not for "
                "a cancelled occurrence); PUT changes only the keys sent. Unknown keys are kept, up to "
                f"{app_settings.EXTRA_MAX_SIZE} bytes; id, parent_id and DTSTART are ignored."
            ),
            "properties": {key: sent for key, (sent, _) in EVENT_FIELDS.items()},
        },
        "NewEvent": {
            "description": "On POST: a calendar (type) and both dates, or a cancelled occurrence of a series.",
            "allOf": [
                ref("EventInput"),
                {
                    "anyOf": [
                        {"required": ["type", "start_date", "end_date"]},
                        {
                            "required": ["type", "recurringEventId", "originalStartTime", "status"],
                            "properties": {"status": {"const": "cancelled"}},
                        },
                    ]
                },
            ],
        },
        "Calendar": {
            "type": "object",
            "properties": {"id": ID, **{key: rendered for key, (_, rendered) in CALENDAR_FIELDS.items()}},
            "required": ["id", *CALENDAR_FIELDS],
            "additionalProperties": False,
        },
        "CalendarInput": {
            "type": "object",
            "description": "label is required on POST; PUT changes only the keys sent.",
            "properties": {key: sent for key, (sent, _) in CALENDAR_FIELDS.items()},
        },
        "NewCalendar": {"allOf": [ref("CalendarInput"), {"required": ["label"]}]},
        "File": {
            "type": "object",
            "properties": {"id": ID, "name": {"type": "string"}, "url": {"type": "string", "format": "uri"}},
            "required": ["id", "name", "url"],
            "additionalProperties": False,
        },
        "Created": {
            "type": "object",
            "properties": {"id": ID},
            "required": ["id"],
            "additionalProperties": False,
        },
        "Empty": {"type": "object", "maxProperties": 0},
        "Error": {
            "type": "object",
            "properties": {
                "status": {"const": "error"},
                "message": {"type": "string"},
                "errors": {"type": "object"},
            },
            "required": ["status", "message"],
            "additionalProperties": False,
        },
        "Discovery": {
            "type": "object",
            "properties": {
                "api": {"type": "object"},
                "data": {"type": "object"},
                "websocket": {"const": True},
            },
            "required": ["api", "data", "websocket"],
        },
        "Call": {
            "description": (
                "go-remote's call, {id, name, args}. Any item is answered, as unknown; an id that is not a "
                "string or a 64-bit integer is answered as null."
            ),
        },
        "CallResult": {
            "type": "object",
            "properties": {
                "id": {"type": ["string", "integer", "null"]},
                "data": {"type": "null"},
                "error": {"type": "string"},
            },
            "required": ["id", "data", "error"],
        },
    }


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def reply(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, **json_body(schema)}


ERRORS = {
    "400": reply("The body, a value or a rule is wrong; nothing was changed.", ref("Error")),
    "401": reply("No token, or a token refused.", ref("Error")),
    "404": reply("No such path, no such id, or one the user may not see.", ref("Error")),
    "413": reply("The body is too large.", ref("Error")),
    "415": reply("The body is not of the type the route takes (or an upload's type is not accepted).", ref("Error")),
    "429": reply("Over the REST_THROTTLE_RATE.", ref("Error")),
}
FORBIDDEN = {"403": reply("The user may see this but not change it.", ref("Error"))}
ID_PARAMETER = [{"name": "id", "in": "path", "required": True, "schema": ID}]


# GET requests may carry the token as ?token= (the widget's uploader and socket cannot send headers).
HEADER_OR_QUERY_TOKEN = [{"RemoteToken": []}, {"TokenQuery": []}]


def operation(summary: str, responses: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": {**responses, **ERRORS}, **fields}


def read(summary: str, responses: dict[str, Any]) -> dict[str, Any]:
    return operation(summary, responses, security=HEADER_OR_QUERY_TOKEN)


def paths() -> dict[str, Any]:
    return {
        "/events": {
            "get": read(
                "Every event the user may see",
                {"200": reply("The events.", {"type": "array", "items": ref("Event")})},
            ),
            "post": operation(
                "Create an event",
                {"200": reply("The new event's id.", ref("Created")), **FORBIDDEN},
                requestBody={"required": True, **json_body(ref("NewEvent"))},
            ),
        },
        "/events/{id}": {
            "parameters": ID_PARAMETER,
            "put": operation(
                "Change the keys sent",
                {"200": reply("Changed.", ref("Empty")), **FORBIDDEN},
                requestBody={"required": True, **json_body(ref("EventInput"))},
            ),
            "delete": operation(
                "Delete the event, its exceptions and its files (an unknown id changes nothing)",
                {"200": reply("Deleted, or nothing to delete.", ref("Empty")), **FORBIDDEN},
            ),
        },
        "/calendars": {
            "get": read(
                "Every calendar the user may see, with their readonly and active",
                {"200": reply("The calendars.", {"type": "array", "items": ref("Calendar")})},
            ),
            "post": operation(
                "Create a calendar, owned by the user",
                {"200": reply("The new calendar's id.", ref("Created")), **FORBIDDEN},
                requestBody={"required": True, **json_body(ref("NewCalendar"))},
            ),
        },
        "/calendars/{id}": {
            "parameters": ID_PARAMETER,
            "put": operation(
                "Change the keys sent (active: for this user only)",
                {"200": reply("Changed.", ref("Empty")), **FORBIDDEN},
                requestBody={"required": True, **json_body(ref("CalendarInput"))},
            ),
            "delete": operation(
                "Delete the calendar with its events (an unknown id changes nothing)",
                {"200": reply("Deleted, or nothing to delete.", ref("Empty")), **FORBIDDEN},
            ),
        },
        "/uploads": {
            "post": operation(
                "Upload one file, to be linked to an event through its files",
                {
                    "200": reply("The file, with a link signed for this device.", ref("File")),
                    "411": reply("No Content-Length.", ref("Error")),
                },
                security=HEADER_OR_QUERY_TOKEN,
                requestBody={
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {"upload": {"type": "string", "format": "binary"}},
                                "required": ["upload"],
                            }
                        }
                    },
                },
            ),
        },
        "/uploads/{id}/{name}": {
            "get": {
                "summary": "A file, by the signed link an event lists",
                "security": [],
                "parameters": [
                    *ID_PARAMETER,
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "device", "in": "query", "required": True, "schema": {"type": "string"}},
                    {"name": "sig", "in": "query", "required": True, "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {"description": "The file's bytes, with its own content type."},
                    "404": reply(
                        "No such file, a bad link, or a device that may no longer see it.", ref("Error")
                    ),
                },
            }
        },
        "/login": {
            "get": {
                "summary": "A new token for the signed-in user (the site's session), or a demo user",
                "security": [{"Session": []}],
                "parameters": [
                    {
                        "name": "id",
                        "in": "query",
                        "required": False,
                        "description": "Demo login: only with DEMO_LOGIN and DEBUG on, only for non-staff users.",
                        "schema": {"type": "string"},
                    }
                ],
                "responses": {
                    "200": {
                        "description": "The token.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "401": reply("Not signed in.", ref("Error")),
                    "403": reply("Demo login off, or no such user.", ref("Error")),
                },
            }
        },
        "/logout": {
            "post": operation(
                "Refuse this device's token from now on, and close its sockets",
                {"200": reply("Done.", ref("Empty"))},
            ),
        },
        "/api/v1": {
            "get": read(
                "Live-update discovery for the widget's RemoteEvents client",
                {"200": reply("Sockets on.", ref("Discovery"))},
            ),
            "post": operation(
                "go-remote calls over HTTP (no services are offered)",
                {"200": reply("One result per call.", {"type": "array", "items": ref("CallResult")})},
                requestBody={
                    "required": True,
                    **json_body({"type": "array", "maxItems": MAX_CALLS, "items": ref("Call")}),
                },
            ),
        },
    }


def package_version() -> str:
    try:
        return version("django-event-calendar")
    except PackageNotFoundError:
        return "0"


def openapi_document(base_url: str) -> dict[str, Any]:
    """The document for the routes mounted at ``base_url`` (absolute, no trailing slash)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "django-event-calendar",
            "version": package_version(),
            "description": (
                "The REST routes of the DHTMLX Event Calendar's RestDataProvider. Every reply is JSON, errors "
                "included; success is 200. The live-update socket at api/v1 is described in asyncapi.json."
            ),
        },
        "servers": [{"url": base_url}],
        "security": [{"RemoteToken": []}],
        "paths": paths(),
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "RemoteToken": {"type": "apiKey", "in": "header", "name": "Remote-Token"},
                "TokenQuery": {"type": "apiKey", "in": "query", "name": "token"},
                "Session": {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME},
            },
        },
    }
