"""The ASGI application of the tests, wired the way the README tells a site to wire its own."""

import django
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.urls import path

django_asgi_app = get_asgi_application()
django.setup()

from event_calendar.routing import websocket_urlpatterns  # noqa: E402  (needs the apps loaded)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([path("calendar/api/", URLRouter(websocket_urlpatterns))]),
    }
)
