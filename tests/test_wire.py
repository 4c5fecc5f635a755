"""The input serializers and the fast renderer describe one wire format."""

from __future__ import annotations

import pytest

from event_calendar.models import Event
from event_calendar.serializers import CalendarSerializer, EventSerializer, FileLinks, render_event, render_events

from .conftest import widget_event
from .test_uploads import upload

pytestmark = pytest.mark.django_db

FULL_EVENT = {
    "text": "Standup",
    "details": "Daily",
    "allDay": False,
    "color": {"background": "#FF0000", "border": "#AA0000", "textColor": "#FFFFFF"},
    "readonly": False,
    "dragMove": True,
    "dragResize": True,
    "RRULE": "FREQ=DAILY;INTERVAL=1",
    "STDATE": "2024-02-10T08:30:00.000Z",
    "DTEND": "9999-12-31T00:00:00.000Z",
    "recurring": True,
    "status": "confirmed",
    "section": "a",
    "priority": 2,
}


def test_every_event_key_the_renderer_emits_is_one_the_parser_reads(api, calendar):
    series_id = api.post("events", widget_event(calendar.pk, **FULL_EVENT)).json()["id"]
    exception = widget_event(
        calendar.pk, recurringEventId=series_id, originalStartTime="2024-02-11T08:30:00.000Z"
    )
    exception_id = api.post("events", exception).json()["id"]
    rendered = {event["id"]: event for event in api.get("events").json()}
    emitted = set(rendered[series_id]) | set(rendered[exception_id])

    assert emitted - {"priority"} == set(EventSerializer().fields) | {"id"}


def test_a_rendered_event_posted_back_renders_the_same(api, calendar):
    first_id = api.post("events", widget_event(calendar.pk, **FULL_EVENT)).json()["id"]
    first = api.get("events").json()[0]
    second_id = api.post("events", {**first, "id": "temp://1707553800777"}).json()["id"]
    second = {event["id"]: event for event in api.get("events").json()}[second_id]
    assert {**second, "id": first_id} == first


def test_a_rendered_calendar_posted_back_renders_the_same(api):
    body = {"label": "Team", "description": "d", "color": {"background": "#000", "border": "#111", "textColor": "#222"},
            "active": False, "readonly": True}
    first_id = api.post("calendars", body).json()["id"]
    first = api.get("calendars").json()[0]
    assert set(first) == set(CalendarSerializer().fields) | {"id"}
    second_id = api.post("calendars", {**first, "id": "temp://1707553800778"}).json()["id"]
    second = {calendar["id"]: calendar for calendar in api.get("calendars").json()}[second_id]
    assert {**second, "id": first_id} == first


@pytest.mark.parametrize(
    "fields",
    [
        FULL_EVENT,
        {"section": "null", "start_date": "2024-02-10T08:30:00.123456Z", "custom": {"a": [1, None]}},
        {"section": 0, "allDay": True, "color": {"textColor": "#000"}},
        {},
    ],
)
def test_one_event_renders_from_its_instance_as_from_its_row(api, calendar, token, fields):
    file = upload(token).json()
    series_id = api.post("events", widget_event(calendar.pk, files=[file], **fields)).json()["id"]
    cancelled_id = api.post("events", {"type": calendar.pk, "recurringEventId": series_id, "status": "cancelled",
                                       "originalStartTime": "2024-02-11T08:30:00.000Z"}).json()["id"]
    links = FileLinks("http://testserver/calendar/api/uploads", 7)
    for pk in (series_id, cancelled_id):
        (from_row,) = render_events(Event.objects.filter(pk=pk), links)
        assert render_event(Event.objects.get(pk=pk), links) == from_row
