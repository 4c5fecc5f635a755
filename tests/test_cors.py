"""A widget served from another origin: the REST routes behind django-cors-headers, set up as the README's
"Cross-origin use" section says. (The socket's origins are ``SOCKET_ALLOWED_ORIGINS``, tested with the socket.)"""

from __future__ import annotations

import pytest
from corsheaders.defaults import default_headers
from django.test import Client

from event_calendar.tokens import issue_token

from .conftest import widget_event

APP = "https://app.example.com"
BASE = "/calendar/api"


@pytest.fixture(autouse=True)
def cross_origin(settings):
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, "corsheaders"]
    settings.MIDDLEWARE = ["corsheaders.middleware.CorsMiddleware", *settings.MIDDLEWARE]
    settings.CORS_ALLOWED_ORIGINS = [APP]
    settings.CORS_ALLOW_HEADERS = [*default_headers, "remote-token"]
    settings.CORS_URLS_REGEX = r"^/calendar/api/"


def preflight(path: str, method: str, origin: str = APP):
    """What a browser sends before a JSON request with the Remote-Token header (no cookies, no token)."""
    return Client().options(
        f"{BASE}/{path}",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type,remote-token",
        },
    )


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "method"), [("events", "POST"), ("events/1", "PUT"), ("calendars/1", "DELETE")])
def test_preflight_allows_the_widgets_methods_and_headers(path, method):
    response = preflight(path, method)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == APP
    assert method in response["Access-Control-Allow-Methods"]
    assert {"content-type", "remote-token"} <= set(response["Access-Control-Allow-Headers"].split(", "))
    assert "Access-Control-Allow-Credentials" not in response  # the widget sends no cookies


@pytest.mark.django_db
def test_preflight_from_another_origin_is_not_allowed():
    response = preflight("events", "POST", origin="https://elsewhere.example")

    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.django_db
def test_cross_origin_requests_get_their_json_with_the_allow_origin_header(user, calendar):
    client = Client(headers={"Origin": APP, "Remote-Token": issue_token(user)})

    created = client.post(f"{BASE}/events", widget_event(calendar.pk), content_type="application/json")
    listed = client.get(f"{BASE}/events")

    assert created["Access-Control-Allow-Origin"] == listed["Access-Control-Allow-Origin"] == APP
    assert [event["id"] for event in listed.json()] == [created.json()["id"]]


@pytest.mark.django_db
def test_a_refused_token_is_still_readable_json_across_origins():
    response = Client(headers={"Origin": APP, "Remote-Token": "forged"}).get(f"{BASE}/events")

    assert response.status_code == 401
    assert response["Access-Control-Allow-Origin"] == APP
    assert response.json()["status"] == "error"
