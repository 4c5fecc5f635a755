from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from event_calendar.models import Calendar, Event
from event_calendar.tokens import issue_token

from .conftest import WidgetClient

pytestmark = pytest.mark.django_db


def load(*args: str) -> str:
    out = StringIO()
    call_command("load_calendar_demo", *args, stdout=out)
    return out.getvalue()


def test_demo_data_has_every_kind_of_event_the_widget_shows():
    load()
    assert Calendar.objects.count() == 3
    events = Event.objects.all()
    assert events.filter(all_day=True).exists()
    assert any(e.end_date - e.start_date > timedelta(days=1) for e in events if not e.all_day)
    series = events.get(rrule__startswith="FREQ=WEEKLY")
    assert series.recurring is True and series.series_end.year == 9999
    moved = events.get(recurring_event=series)
    assert moved.original_start is not None and moved.start_date != moved.original_start


def test_demo_users_cannot_sign_in_with_a_password_but_can_use_the_api():
    load()
    alice = get_user_model().objects.get(username="alice")
    assert not alice.has_usable_password() and not alice.is_staff
    events = WidgetClient(issue_token(alice)).get("events").json()
    assert len(events) == Event.objects.count()
    assert all(event["start_date"] is None or event["start_date"].endswith("Z") for event in events)


def test_loading_twice_keeps_the_data_and_reset_replaces_it():
    load()
    first = set(Event.objects.values_list("pk", flat=True))
    assert "nothing was loaded" in load()
    assert set(Event.objects.values_list("pk", flat=True)) == first
    load("--reset")
    assert Calendar.objects.count() == 3
    assert not first & set(Event.objects.values_list("pk", flat=True))
