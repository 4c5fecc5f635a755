from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from event_calendar.conf import app_settings

MAX_LISTED_USERS = 20


def demo_users():
    """The users ``login?id=N`` issues tokens for (the app refuses staff and superusers)."""
    return get_user_model().objects.filter(is_active=True, is_staff=False, is_superuser=False).order_by("pk")


def calendar_page(request: HttpRequest) -> HttpResponse:
    """The widget, signed in as ``?user=<username>`` (demo login) or as the site's signed-in user."""
    login_url = reverse("event_calendar:login")
    demo_login = app_settings.DEMO_LOGIN and settings.DEBUG
    if demo_login:
        candidates = demo_users()
        username = request.GET.get("user")
        if username:
            user = candidates.filter(**{get_user_model().USERNAME_FIELD: username}).first()
            if user is None:
                raise Http404("No demo user of that name.")
        else:
            user = candidates.first()
        others = [other for other in candidates[:MAX_LISTED_USERS] if other != user]
        if user is not None:
            login_url += "?" + urlencode({"id": user.pk})
    else:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        user, others = request.user, []

    config = None
    if user is not None:
        config = {
            # The widget joins "<base>/events": the base has no trailing slash.
            "apiBase": reverse("event_calendar:events").removesuffix("/events"),
            "loginUrl": login_url,
            # One token per tab and user: sessionStorage is per tab, so each tab is its own device.
            "tokenKey": f"event-calendar-token:{'demo' if demo_login else 'session'}:{user.pk}",
            "widgetScript": settings.EVENT_CALENDAR_WIDGET_SCRIPT,
            "widgetStylesheet": settings.EVENT_CALENDAR_WIDGET_STYLESHEET,
        }
    context = {"user_shown": user, "other_users": others, "demo_login": demo_login, "config": config}
    return render(request, "example_project/calendar.html", context)
