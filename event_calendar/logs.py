"""Tokens out of log lines.

The widget puts its Remote-Token in the socket's URL (``?token=``), and uploads and file links carry
``token=`` and ``sig=`` in theirs, so an access log would otherwise hold working credentials. ``MaskTokens``
is a logging filter for servers that log through Python's logging (uvicorn's ``uvicorn.access``, gunicorn's
``gunicorn.access``, Daphne's ``runserver`` as ``django.channels.server``); ``MaskedAccessLog`` is Daphne's own
access log, masked, which ``python -m event_calendar.daphne`` uses.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import unquote

from daphne.access import AccessLogGenerator

# A query parameter: its separator (none at the start of a bare query string, as gunicorn logs one), its
# (maybe percent-encoded) name, and its value.
QUERY_PARAMETER = re.compile(r"(^|[?&;])([^=&;#?\s\"']*)=([^&;#\s\"']*)")
SECRET_NAMES = frozenset({"token", "sig"})
MASK = "***"


def mask_tokens(text: str) -> str:
    """Masks the values of ``token`` and ``sig``, however their names are spelled (``%74oken``, ``TOKEN``,
    ``token%00``): servers decode names, so a log must judge them decoded too."""
    return QUERY_PARAMETER.sub(_mask_secret, text)


def _mask_secret(match: re.Match) -> str:
    separator, name, value = match.groups()
    plain = "".join(character for character in unquote(name) if character.isalnum()).lower()
    return f"{separator}{name}={MASK}" if plain in SECRET_NAMES and value else match[0]


def _masked(value: Any) -> Any:
    return mask_tokens(value) if isinstance(value, str) else value


class MaskTokens(logging.Filter):
    """Masks ``token=`` and ``sig=`` values in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_tokens(record.msg)
        if isinstance(record.args, dict):
            # In place: gunicorn's mapping is a dict of its own that answers "-" for keys it lacks.
            for key, value in record.args.items():
                record.args[key] = _masked(value)
        elif isinstance(record.args, tuple):
            record.args = tuple(_masked(value) for value in record.args)
        return True


# Where uvicorn logs requests and socket handshakes, and where gunicorn and Daphne's runserver log requests.
ACCESS_LOGGERS = ("uvicorn.access", "uvicorn.error", "gunicorn.access", "django.channels.server")


def masked_access_logging() -> dict[str, Any]:
    """A ``LOGGING`` setting that writes those loggers to the console through ``MaskTokens``."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"mask_tokens": {"()": "event_calendar.logs.MaskTokens"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["mask_tokens"]}},
        "loggers": {
            name: {"handlers": ["console"], "level": "INFO", "propagate": False} for name in ACCESS_LOGGERS
        },
    }


class MaskedAccessLog(AccessLogGenerator):
    """Daphne's access log, with the secrets in its paths masked."""

    def write_entry(self, host, date, request, status=None, length=None, ident=None, user=None) -> None:
        super().write_entry(host, date, mask_tokens(request), status, length, ident, user)
