"""System checks for the ``EVENT_CALENDAR`` setting, one stable id per problem."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.urls import NoReverseMatch, reverse
from django.utils.module_loading import import_string

from .conf import DEFAULTS, SETTING_NAME, app_settings

POSITIVE_INTEGER_KEYS = (
    "TOKEN_MAX_AGE",
    "UPLOAD_MAX_SIZE",
    "EXTRA_MAX_SIZE",
    "SOCKET_MAX_FRAME_SIZE",
    "SOCKET_MAX_FRAMES_PER_MINUTE",
)
CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]*/(\*|[a-z0-9][a-z0-9.+-]*)")
RATE = re.compile(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)")


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@register(Tags.compatibility)
def check_settings(**kwargs: Any) -> list[CheckMessage]:
    user_settings = getattr(settings, SETTING_NAME, {})
    if not isinstance(user_settings, dict):
        return [Error(f"{SETTING_NAME} must be a dict.", id="event_calendar.E001")]

    errors: list[CheckMessage] = []
    for key in sorted(set(user_settings) - set(DEFAULTS)):
        errors.append(
            Error(
                f"{SETTING_NAME}[{key!r}] is not a setting of this app.",
                hint="Known keys: " + ", ".join(sorted(DEFAULTS)) + ".",
                id="event_calendar.E002",
            )
        )
    for key in POSITIVE_INTEGER_KEYS:
        if not _is_positive_int(getattr(app_settings, key)):
            errors.append(Error(f"{SETTING_NAME}[{key!r}] must be a positive integer.", id="event_calendar.E003"))
    if not isinstance(app_settings.DEMO_LOGIN, bool):
        errors.append(Error(f"{SETTING_NAME}['DEMO_LOGIN'] must be True or False.", id="event_calendar.E004"))
    if app_settings.UPLOAD_STORAGE not in settings.STORAGES:
        errors.append(
            Error(
                f"{SETTING_NAME}['UPLOAD_STORAGE'] names {app_settings.UPLOAD_STORAGE!r}, which is not in STORAGES.",
                id="event_calendar.E005",
            )
        )
    directory = app_settings.UPLOAD_DIRECTORY
    if not isinstance(directory, str) or not directory or directory.startswith("/") or ".." in directory.split("/"):
        errors.append(
            Error(
                f"{SETTING_NAME}['UPLOAD_DIRECTORY'] must be a relative folder name such as 'event_calendar'.",
                id="event_calendar.E006",
            )
        )
    origins = app_settings.SOCKET_ALLOWED_ORIGINS
    if origins is not None and (
        not isinstance(origins, list | tuple) or not all(isinstance(origin, str) for origin in origins)
    ):
        errors.append(
            Error(
                f"{SETTING_NAME}['SOCKET_ALLOWED_ORIGINS'] must be None or a list of origins.",
                hint='For example ["https://app.example.com"], or ["*"] for any origin.',
                id="event_calendar.E007",
            )
        )
    if app_settings.NEW_CALENDAR_OPEN_TO not in ("", "viewer", "editor"):
        errors.append(
            Error(
                f"{SETTING_NAME}['NEW_CALENDAR_OPEN_TO'] must be \"\" (private), \"viewer\" or \"editor\".",
                id="event_calendar.E008",
            )
        )
    accepted = app_settings.UPLOAD_CONTENT_TYPES
    if accepted is not None and not (
        isinstance(accepted, list | tuple)
        and all(isinstance(item, str) and CONTENT_TYPE.fullmatch(item) for item in accepted)
    ):
        errors.append(
            Error(
                f"{SETTING_NAME}['UPLOAD_CONTENT_TYPES'] must be None or a list of content types.",
                hint='For example ["image/*", "application/pdf"].',
                id="event_calendar.E010",
            )
        )
    rate = app_settings.REST_THROTTLE_RATE
    if rate is not None and not (isinstance(rate, str) and RATE.fullmatch(rate)):
        errors.append(
            Error(
                f"{SETTING_NAME}['REST_THROTTLE_RATE'] must be None or a rate such as \"1200/min\".",
                id="event_calendar.E009",
            )
        )
    if app_settings.DEMO_LOGIN is True and not settings.DEBUG:
        errors.append(
            Warning(
                f"{SETTING_NAME}['DEMO_LOGIN'] is on but DEBUG is off, so it is ignored.",
                hint="Demo login lets anyone act as any non-staff user; turn it off outside development.",
                id="event_calendar.W001",
            )
        )
    return errors


@register(Tags.compatibility)
def check_socket_wiring(**kwargs: Any) -> list[CheckMessage]:
    """The socket must be mounted under the same prefix as the REST routes: the widget derives one from
    the other (``url + "/api/v1"``)."""
    if "default" not in getattr(settings, "CHANNEL_LAYERS", {}):
        return [
            Warning(
                "CHANNEL_LAYERS has no 'default' layer, so live updates are off.",
                hint="Use channels_redis.core.RedisChannelLayer in production (see the README).",
                id="event_calendar.W002",
            )
        ]
    asgi_path = getattr(settings, "ASGI_APPLICATION", None)
    try:
        expected = reverse("event_calendar:remote").lstrip("/")
    except NoReverseMatch:
        return []
    if not asgi_path:
        return []
    try:
        application = import_string(asgi_path)
    except ImportError:
        return []
    mounted = sorted(socket_paths(application))
    if expected not in mounted:
        return [
            Warning(
                f"The live-update socket is not mounted at /{expected}, beside the REST routes"
                + (f" (it is at {', '.join('/' + path for path in mounted)})." if mounted else "."),
                hint='In asgi.py, mount event_calendar.routing.websocket_urlpatterns under the prefix given to '
                'include("event_calendar.urls").',
                id="event_calendar.W003",
            )
        ]
    return []


def socket_paths(application: Any, prefix: str = "") -> set[str]:
    """The paths at which ``application`` routes websockets to the app's consumer."""
    from channels.routing import ProtocolTypeRouter, URLRouter

    from .consumers import RemoteEventsConsumer

    while hasattr(application, "inner"):  # middleware such as AuthMiddlewareStack
        application = application.inner
    if isinstance(application, ProtocolTypeRouter):
        websocket = application.application_mapping.get("websocket")
        return socket_paths(websocket, prefix) if websocket is not None else set()
    if isinstance(application, URLRouter):
        paths: set[str] = set()
        for route in application.routes:
            paths |= socket_paths(route.callback, prefix + str(route.pattern))
        return paths
    if getattr(application, "consumer_class", None) is RemoteEventsConsumer:
        return {prefix}
    return set()


@register(Tags.security, deploy=True)
def check_deployment(**kwargs: Any) -> list[CheckMessage]:
    """``manage.py check --deploy``: settings that are fine on a developer's machine and not in production."""
    messages: list[CheckMessage] = []
    if app_settings.DEMO_LOGIN is True:
        messages.append(
            Error(
                f"{SETTING_NAME}['DEMO_LOGIN'] is on: login?id=N issues tokens without a password whenever "
                "DEBUG is.",
                hint="Turn it off in production settings.",
                id="event_calendar.E011",
            )
        )
    origins = app_settings.SOCKET_ALLOWED_ORIGINS
    if isinstance(origins, list | tuple) and "*" in origins:
        messages.append(
            Warning(
                f"{SETTING_NAME}['SOCKET_ALLOWED_ORIGINS'] allows every origin: any site a user visits can open a "
                "socket with a token it holds.",
                hint="List the origins that serve the widget.",
                id="event_calendar.W004",
            )
        )
    if app_settings.REST_THROTTLE_RATE is None:
        messages.append(
            Warning(
                f"{SETTING_NAME}['REST_THROTTLE_RATE'] is None: one user can send requests without limit.",
                hint='Keep a rate such as "1200/min" in production.',
                id="event_calendar.W005",
            )
        )
    return messages
