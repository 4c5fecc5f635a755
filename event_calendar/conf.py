"""The app's settings: one ``EVENT_CALENDAR`` dict in the site's settings, read through ``app_settings``.

Every key has a default here; ``checks.py`` validates the values and the README documents them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

SETTING_NAME = "EVENT_CALENDAR"

DEFAULTS: dict[str, Any] = {
    # Seconds a Remote-Token stays valid. The widget never refreshes its token, so this is long.
    "TOKEN_MAX_AGE": 14 * 24 * 60 * 60,
    # Let ``GET login?id=N`` issue tokens for any non-staff user. Honoured only while DEBUG is on.
    "DEMO_LOGIN": False,
    # Largest accepted upload, in bytes.
    "UPLOAD_MAX_SIZE": 10 * 1024 * 1024,
    # Content types accepted for upload, e.g. ["image/*", "application/pdf"]; None accepts any (files that
    # could run script are always downloaded, never shown inline).
    "UPLOAD_CONTENT_TYPES": None,
    # Alias in Django's STORAGES that keeps uploaded files.
    "UPLOAD_STORAGE": "default",
    # Folder inside that storage for uploaded files.
    "UPLOAD_DIRECTORY": "event_calendar",
    # Largest JSON size, in bytes, of the custom keys kept with one event.
    "EXTRA_MAX_SIZE": 16 * 1024,
    # Who a new calendar is open to besides its owner and grants: "" (nobody), "viewer" or "editor"
    # (every signed-in user, to read or also to change its events).
    "NEW_CALENDAR_OPEN_TO": "",
    # Browser origins allowed to open the socket, e.g. ["https://app.example.com"], or ["*"].
    # None: an origin whose host is in ALLOWED_HOSTS. Clients that send no Origin are always allowed.
    "SOCKET_ALLOWED_ORIGINS": None,
    # Largest socket frame accepted from a client, in bytes.
    "SOCKET_MAX_FRAME_SIZE": 32_000,
    # Frames a socket may send per minute (the widget sends a few subscribes per connection).
    "SOCKET_MAX_FRAMES_PER_MINUTE": 600,
    # Requests per user to the REST routes, as DRF writes rates ("1200/min"), or None for no limit. Counted
    # in Django's default cache: give several server processes a shared one.
    "REST_THROTTLE_RATE": "1200/min",
}


class AppSettings:
    """Attribute access to ``EVENT_CALENDAR`` merged over ``DEFAULTS``, cached until the setting changes."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] | None = None

    @property
    def user_settings(self) -> dict[str, Any]:
        value = getattr(settings, SETTING_NAME, {})
        return value if isinstance(value, dict) else {}

    def __getattr__(self, name: str) -> Any:
        if name not in DEFAULTS:
            raise AttributeError(f"Unknown {SETTING_NAME} setting: {name!r}")
        if self._cache is None:
            self._cache = {**DEFAULTS, **self.user_settings}
        return self._cache[name]

    def reload(self) -> None:
        self._cache = None


app_settings = AppSettings()


@receiver(setting_changed)
def _reload_app_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        app_settings.reload()
