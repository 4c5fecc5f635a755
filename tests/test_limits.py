"""The REST throttle per user: a JSON 429 (the socket's frame rate is tested with the socket)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from event_calendar.models import Calendar
from event_calendar.tokens import issue_token

from .conftest import WidgetClient, assert_json_error


@pytest.fixture
def three_a_minute(settings):
    settings.EVENT_CALENDAR = {**settings.EVENT_CALENDAR, "REST_THROTTLE_RATE": "3/min"}
    cache.clear()
    yield
    cache.clear()


@pytest.mark.django_db
@pytest.mark.usefixtures("three_a_minute")
def test_requests_over_the_users_rate_get_a_json_429_with_retry_after(user, other_user, calendar):
    first_device, second_device = WidgetClient(issue_token(user)), WidgetClient(issue_token(user))
    assert [first_device.get("events").status_code for _ in range(2)] == [200, 200]
    assert second_device.get("calendars").status_code == 200

    response = second_device.post("calendars", {"label": "One too many"})

    body = assert_json_error(response, 429)
    assert "throttled" in body["message"].lower()
    assert 0 < int(response["Retry-After"]) <= 60
    assert not Calendar.objects.filter(label="One too many").exists()
    assert WidgetClient(issue_token(other_user)).get("events").status_code == 200


@pytest.mark.django_db
@pytest.mark.usefixtures("three_a_minute")
def test_a_user_over_the_rate_can_still_log_out(user):
    device = WidgetClient(issue_token(user))
    assert [device.get("events").status_code for _ in range(4)] == [200, 200, 200, 429]

    assert device.post("logout").json() == {}
    assert_json_error(device.get("events"), 401)
