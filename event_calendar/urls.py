"""The widget's REST routes, with no trailing slash (the widget joins ``base + "/" + path``).

Mount under any prefix: ``path("calendar/api/", include("event_calendar.urls"))``; the widget's base URL is
then ``/calendar/api``.
"""

from django.urls import path, re_path, register_converter

from . import views


class IdConverter:
    """A positive id that fits a 64-bit column; anything longer is an unknown path, not a database error."""

    regex = "[1-9][0-9]{0,17}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "event_calendar_id")

app_name = "event_calendar"

urlpatterns = [
    path("events", views.EventListView.as_view(), name="events"),
    path("events/<event_calendar_id:pk>", views.EventDetailView.as_view(), name="event"),
    path("calendars", views.CalendarListView.as_view(), name="calendars"),
    path("calendars/<event_calendar_id:pk>", views.CalendarDetailView.as_view(), name="calendar"),
    path("uploads", views.UploadView.as_view(), name="uploads"),
    path("uploads/<event_calendar_id:pk>/<str:name>", views.upload_file, name="upload-file"),
    path("login", views.login, name="login"),
    path("logout", views.LogoutView.as_view(), name="logout"),
    path("api/v1", views.RemoteDiscoveryView.as_view(), name="remote"),
    path("openapi.json", views.openapi, name="openapi"),
    path("asyncapi.json", views.asyncapi, name="asyncapi"),
    # [\s\S], not ".": a path with a newline in it is still under the prefix, and still gets JSON.
    re_path(r"^(?P<path>[\s\S]*)$", views.not_found),
]
