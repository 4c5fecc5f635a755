"""Settings of the server processes that the end-to-end tests start (see tests/live.py)."""

import json
import os

from event_calendar.logs import masked_access_logging
from tests.settings import *  # noqa: F403

DEBUG = False
EVENT_CALENDAR = {
    "NEW_CALENDAR_OPEN_TO": "editor",
    # A test's own settings, e.g. higher limits for the fuzz tests (tests/live.py, LiveSite(app_settings=...)).
    **json.loads(os.environ.get("EVENT_CALENDAR_E2E_APP_SETTINGS", "{}")),
}
# Access logs through Python's logging (uvicorn's), with tokens masked as the README shows.
LOGGING = masked_access_logging()
# One folder for every server process of a site, as several processes of one deployment share their storage.
MEDIA_ROOT = os.environ["EVENT_CALENDAR_E2E_MEDIA_ROOT"]

if os.environ.get("EVENT_CALENDAR_E2E_PG_NAME"):
    DATABASES = {
        "default": {
            **DATABASES["default"],  # noqa: F405
            "NAME": os.environ["EVENT_CALENDAR_E2E_PG_NAME"],
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ["EVENT_CALENDAR_E2E_SQLITE"],
            # Several server processes write to one file: take the write lock up front and wait for it.
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    }

if os.environ.get("EVENT_CALENDAR_E2E_REDIS_PREFIX"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],  # noqa: F405
                "prefix": os.environ["EVENT_CALENDAR_E2E_REDIS_PREFIX"],
                "capacity": 1000,
            },
        }
    }
