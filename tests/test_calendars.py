"""The calendars routes (CONTRACT.md sections 1.2 and 2.2)."""

from __future__ import annotations

import pytest

from event_calendar.models import Calendar, Event

from .conftest import assert_json_error, database_state, widget_event

pytestmark = pytest.mark.django_db

SIDEBAR_FORM = {
    "id": "temp://1707553800123",
    "label": "Team",
    "description": "Shared plans",
    "color": {"background": "#00A86B", "border": "#007A4D"},
}


def get_calendar(api, calendar_id: int) -> dict:
    return {calendar["id"]: calendar for calendar in api.get("calendars").json()}[calendar_id]


def test_list_renders_calendars_in_the_widget_shape(api):
    calendar = Calendar.objects.create(label="Work", description="Office", color_text="#FFFFFF")
    assert api.get("calendars").json() == [
        {
            "id": calendar.pk,
            "label": "Work",
            "description": "Office",
            "active": True,
            "readonly": False,
            "color": {"background": "#5890DC", "border": "#2D74D3", "textColor": "#FFFFFF"},
        }
    ]


def test_sidebar_form_creates_an_active_calendar_owned_by_its_creator(api, user):
    response = api.post("calendars", SIDEBAR_FORM)
    assert response.status_code == 200
    calendar_id = response.json()["id"]
    assert response.json() == {"id": calendar_id}
    assert get_calendar(api, calendar_id) == {
        "id": calendar_id,
        "label": "Team",
        "description": "Shared plans",
        "active": True,
        "readonly": False,
        "color": {"background": "#00A86B", "border": "#007A4D"},
    }
    assert Calendar.objects.get(pk=calendar_id).created_by == user


def test_calendar_without_colour_gets_the_default_colours(api):
    calendar_id = api.post("calendars", {"label": "Plain"}).json()["id"]
    assert get_calendar(api, calendar_id)["color"] == {"background": "#5890DC", "border": "#2D74D3"}


def test_text_colour_is_kept(api):
    calendar_id = api.post(
        "calendars", {**SIDEBAR_FORM, "color": {"background": "#000", "border": "#111", "textColor": "#EEE"}}
    ).json()["id"]
    assert get_calendar(api, calendar_id)["color"]["textColor"] == "#EEE"


def test_checkbox_toggle_with_the_full_calendar_updates_active(api):
    calendar_id = api.post("calendars", SIDEBAR_FORM).json()["id"]
    full = get_calendar(api, calendar_id)
    response = api.put(f"calendars/{calendar_id}", {**full, "active": False})
    assert (response.status_code, response.json()) == (200, {})
    assert get_calendar(api, calendar_id) == {**full, "active": False}


def test_put_without_active_keeps_it(api):
    calendar_id = api.post("calendars", SIDEBAR_FORM).json()["id"]
    api.put(f"calendars/{calendar_id}", {"label": "Renamed", "description": "", "color": SIDEBAR_FORM["color"]})
    calendar = get_calendar(api, calendar_id)
    assert (calendar["label"], calendar["active"], calendar["description"]) == ("Renamed", True, "")


def test_put_merges_colour_keys(api):
    calendar_id = api.post(
        "calendars", {**SIDEBAR_FORM, "color": {"background": "#000", "border": "#111", "textColor": "#EEE"}}
    ).json()["id"]
    api.put(f"calendars/{calendar_id}", {"color": {"background": "#222"}})
    assert get_calendar(api, calendar_id)["color"] == {"background": "#222", "border": "#111", "textColor": "#EEE"}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"description": "x"}, "label"),
        ({"label": 5}, "label"),
        ({"label": "x" * 256}, "label"),
        ({"label": "a\x00b"}, "label"),
        ({"label": "x", "color": "blue"}, "color"),
        ({"label": "x", "color": {"background": "url(javascript:x)"}}, "color"),
        ({"label": "x", "active": "false"}, "active"),
        ({"label": "x", "readonly": 0}, "readonly"),
    ],
)
def test_bad_calendar_is_a_json_400_and_creates_nothing(api, body, field):
    before = database_state()
    assert field in assert_json_error(api.post("calendars", body), 400)["errors"]
    assert database_state() == before


def test_bad_calendar_update_changes_nothing(api, calendar):
    before = database_state()
    assert "color" in assert_json_error(api.put(f"calendars/{calendar.pk}", {"color": {"border": "1px"}}), 400)["errors"]
    assert database_state() == before


def test_put_on_an_unknown_calendar_is_a_json_404_and_creates_nothing(api):
    assert_json_error(api.put("calendars/4242", SIDEBAR_FORM), 404)
    assert not Calendar.objects.exists()


def test_delete_cascades_to_events_and_their_exceptions(api, calendar):
    other = Calendar.objects.create(label="Other")
    series = api.post("events", widget_event(calendar.pk, RRULE="FREQ=DAILY")).json()["id"]
    api.post("events", widget_event(calendar.pk, recurringEventId=series, originalStartTime="2024-02-11T08:30:00Z"))
    kept = api.post("events", widget_event(other.pk)).json()["id"]

    response = api.delete(f"calendars/{calendar.pk}")
    assert (response.status_code, response.json()) == (200, {})
    assert list(Event.objects.values_list("pk", flat=True)) == [kept]
    assert list(Calendar.objects.values_list("pk", flat=True)) == [other.pk]


def test_delete_is_idempotent(api, calendar):
    for _ in range(2):
        response = api.delete(f"calendars/{calendar.pk}")
        assert (response.status_code, response.json()) == (200, {})


@pytest.mark.parametrize("label", [None, ""])
def test_label_cannot_be_emptied(api, calendar, label):
    before = database_state()
    assert "label" in assert_json_error(api.post("calendars", {**SIDEBAR_FORM, "label": label}), 400)["errors"]
    assert "label" in assert_json_error(api.put(f"calendars/{calendar.pk}", {"label": label}), 400)["errors"]
    assert database_state() == before


def test_empty_update_changes_nothing(api, calendar):
    before = database_state()
    assert api.put(f"calendars/{calendar.pk}", {}).json() == {}
    assert database_state() == before
