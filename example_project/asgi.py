"""The ASGI entry point: ``daphne example_project.asgi:application``, or ``manage.py runserver``.

Each protocol gets one entry in the ``ProtocolTypeRouter``. Django is set up before anything that imports
models (socket routes do) is imported.
"""

import os

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.urls import path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
django_asgi_app = get_asgi_application()

from event_calendar.routing import websocket_urlpatterns  # noqa: E402  (imports models: after setup)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The same prefix as include("event_calendar.urls") in urls.py: the widget derives one from the other.
        "websocket": URLRouter([path("calendar/api/", URLRouter(websocket_urlpatterns))]),
    }
)
