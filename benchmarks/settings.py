"""Settings of the server processes the benchmarks start: a production-like site (``DEBUG = False``)
serving ``tests.asgi:application``, with the database and channel layer named by the environment.

``BENCH_DB``: ``sqlite:/path/to/file`` or ``postgres:dbname`` (PostgreSQL on 127.0.0.1, with psycopg's
connection pool, as Django advises under ASGI). ``BENCH_REDIS_PREFIX``: use the Redis channel layer with
this key prefix (several server processes share it), configured as the README shows; otherwise the
in-memory layer of one process. ``BENCH_REDIS_SOCKET_TIMEOUT``: another socket timeout for Redis, in seconds.
"""

import os

# The test site's apps, middleware, URLs and templates, run as a production site would be.
from tests.settings import (  # noqa: E402
    ASGI_APPLICATION,
    DEFAULT_AUTO_FIELD,
    INSTALLED_APPS,
    MIDDLEWARE,
    ROOT_URLCONF,
    TEMPLATES,
    TIME_ZONE,
    USE_TZ,
)

SECRET_KEY = "benchmarks-only-secret-key-not-for-production-0123456789"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

STATIC_URL = "static/"
MEDIA_ROOT = os.environ.get("BENCH_MEDIA_ROOT", "/tmp/event-calendar-bench-media")
# The throttle counts every request, as in production, at a rate that the benchmark's clients (far faster
# than people) never reach.
EVENT_CALENDAR = {"NEW_CALENDAR_OPEN_TO": "editor", "REST_THROTTLE_RATE": "100000000/min"}

_kind, _, _name = os.environ.get("BENCH_DB", "sqlite:/tmp/event-calendar-bench.sqlite3").partition(":")
if _kind == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": _name,
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "OPTIONS": {"pool": True},
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _name,
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    }

if os.environ.get("BENCH_REDIS_PREFIX"):
    # As the README configures it; --redis-socket-timeout sets another socket timeout, to compare.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{
                    "address": "redis://127.0.0.1:6379/0",
                    "socket_timeout": float(os.environ.get("BENCH_REDIS_SOCKET_TIMEOUT") or 30),
                }],
                "prefix": os.environ["BENCH_REDIS_PREFIX"],
                "capacity": 20000,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}}
