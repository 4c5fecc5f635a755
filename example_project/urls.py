from django.contrib import admin
from django.urls import include, path

from . import views

urlpatterns = [
    path("admin/", admin.site.urls),
    # The widget's base URL is then "/calendar/api" (no trailing slash).
    path("calendar/api/", include("event_calendar.urls")),
    path("", views.calendar_page, name="calendar"),
]
