"""The socket route, to mount under the same prefix as ``event_calendar.urls`` in the site's ``asgi.py``::

    URLRouter([path("calendar/api/", URLRouter(event_calendar.routing.websocket_urlpatterns))])
"""

from django.urls import path, re_path

from .consumers import RefusedConsumer, RemoteEventsConsumer

websocket_urlpatterns = [
    path("api/v1", RemoteEventsConsumer.as_asgi(), name="event_calendar_socket"),
    re_path(r"^", RefusedConsumer.as_asgi()),
]
