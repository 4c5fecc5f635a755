"""Settings of the example project: a plain Django site with the event calendar mounted at ``calendar/api/``.

Development defaults throughout; every value that must change in production comes from the environment:

- ``DJANGO_SECRET_KEY``: signs sessions and Remote-Tokens. The fixed default keeps tokens valid over restarts.
- ``DJANGO_DEBUG``: ``1`` (default) or ``0``. Demo login (``login?id=N``) only works while it is on.
- ``DJANGO_ALLOWED_HOSTS``: comma-separated host names.
- ``DJANGO_TIME_ZONE``: the site's time zone; the demo data places its timed events in it.
- ``DJANGO_SQLITE_PATH``: the SQLite database file (default ``db.sqlite3`` at the repository root); the
  browser tests point it at a temporary file.
- ``REDIS_URL``: use Redis (``pip install -e '.[redis]'``) as the channel layer instead of process memory.
- ``EVENT_CALENDAR_WIDGET_SCRIPT`` / ``EVENT_CALENDAR_WIDGET_STYLESHEET``: where the page loads the widget
  from, e.g. your licensed build served by your own site.
"""

import os
from pathlib import Path

from event_calendar.logs import masked_access_logging

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


# A development default, so that tokens survive restarts. Set DJANGO_SECRET_KEY anywhere else.
SECRET_KEY = os.environ.get(
    "DJANGO_SECRET_KEY", "django-insecure-event-calendar-example-development-key-do-not-deploy"
)
DEBUG = env_flag("DJANGO_DEBUG", True)
ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if host.strip()
]

INSTALLED_APPS = [
    # First, so that its runserver (which serves ASGI, sockets included) replaces Django's.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "event_calendar",
    "example_project",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
ASGI_APPLICATION = "example_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_SQLITE_PATH") or BASE_DIR / "db.sqlite3",
        # Requests run in several threads under ASGI: take the write lock up front and wait for it.
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
    }
}

if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # capacity: how many changes may wait for a server process, which reads each change once.
            # prefix: a site of its own on a shared Redis must not share its groups with another.
            # socket_timeout: above channels-redis's 5-second blocking read (redis-py's default is 5 s too).
            "CONFIG": {
                "hosts": [{"address": os.environ["REDIS_URL"], "socket_timeout": 30}],
                "capacity": 20000,
                "prefix": "event_calendar_example",
            },
        }
    }
else:
    # One process only: enough for the demo, not for several server processes.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Without demo login, the page sends visitors to sign in here first.
LOGIN_URL = "admin:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"

# Sockets and uploads carry the Remote-Token in their URLs: mask it in the access logs (runserver's, uvicorn's).
LOGGING = masked_access_logging()
# Uploaded attachments; the app serves them itself, through signed links.
MEDIA_ROOT = BASE_DIR / "media"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The vendor's demo is shared: every signed-in user sees and changes the calendars others create.
EVENT_CALENDAR = {"DEMO_LOGIN": True, "NEW_CALENDAR_OPEN_TO": "editor"}

# The widget is the vendor's product. The default is their trial build on the CDN: fine for trying things out,
# with a licensed build served from your own site in real use.
EVENT_CALENDAR_WIDGET_SCRIPT = os.environ.get(
    "EVENT_CALENDAR_WIDGET_SCRIPT", "https://cdn.dhtmlx.com/eventcalendar/edge/event-calendar.js"
)
EVENT_CALENDAR_WIDGET_STYLESHEET = os.environ.get(
    "EVENT_CALENDAR_WIDGET_STYLESHEET", "https://cdn.dhtmlx.com/eventcalendar/edge/event-calendar.css"
)
