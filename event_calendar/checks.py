"""System checks for the ``EVENT_CALENDAR`` setting, one stable id per problem."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register

from .conf import DEFAULTS, SETTING_NAME, app_settings

POSITIVE_INTEGER_KEYS = ("TOKEN_MAX_AGE", "UPLOAD_MAX_SIZE", "EXTRA_MAX_SIZE")


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
    if app_settings.DEMO_LOGIN is True and not settings.DEBUG:
        errors.append(
            Warning(
                f"{SETTING_NAME}['DEMO_LOGIN'] is on but DEBUG is off, so it is ignored.",
                hint="Demo login lets anyone act as any non-staff user; turn it off outside development.",
                id="event_calendar.W001",
            )
        )
    return errors
