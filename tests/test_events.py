"""The events routes, as the widget's RestDataProvider uses them (CONTRACT.md sections 1, 2 and 7)."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from event_calendar.models import Calendar, Event

from .conftest import WidgetClient, assert_json_error, database_state, widget_event

pytestmark = pytest.mark.django_db


def create_event(api: WidgetClient, calendar_id, **fields) -> int:
    response = api.post("events", widget_event(calendar_id, **fields))
    assert response.status_code == 200, response.content
    return response.json()["id"]


def get_event(api: WidgetClient, event_id: int) -> dict:
    events = {event["id"]: event for event in api.get("events").json()}
    return events[event_id]


# --- reading ---------------------------------------------------------------------------------------


def test_list_is_an_empty_json_array_without_events(api):
    response = api.get("events")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == []


def test_created_event_is_listed_in_the_widget_shape(api, calendar):
    event_id = create_event(api, calendar.pk)
    assert api.get("events").json() == [
        {
            "id": event_id,
            "type": calendar.pk,
            "text": "Planning",
            "details": "",
            "start_date": "2024-02-10T08:30:00.000Z",
            "end_date": "2024-02-10T09:30:00.000Z",
            "allDay": False,
            "files": [],
        }
    ]


def test_list_answers_json_whatever_the_accept_header(api, calendar):
    create_event(api, calendar.pk)
    response = api.get("events", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert len(response.json()) == 1


# --- creating --------------------------------------------------------------------------------------


def test_post_returns_a_new_integer_id_and_ignores_the_temp_id(api, calendar):
    response = api.post("events", widget_event(calendar.pk))
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["id"]
    assert isinstance(body["id"], int) and body["id"] > 0
    assert Event.objects.get().pk == body["id"]


def test_type_is_accepted_as_a_numeric_string_and_rendered_as_an_integer(api, calendar):
    event_id = create_event(api, str(calendar.pk))
    assert get_event(api, event_id)["type"] == calendar.pk


def test_widget_junk_is_dropped_and_custom_keys_round_trip(api, calendar):
    event_id = create_event(
        api, calendar.pk, parent_id=None, DTSTART=None, priority="high", tags=["a", "b"], meta={"x": 1}
    )
    event = get_event(api, event_id)
    assert "parent_id" not in event and "DTSTART" not in event
    assert (event["priority"], event["tags"], event["meta"]) == ("high", ["a", "b"], {"x": 1})
    assert event["id"] == event_id


def test_every_known_key_round_trips(api, calendar):
    series_id = create_event(api, calendar.pk, RRULE="FREQ=WEEKLY;INTERVAL=1;BYDAY=MO", recurring=True)
    event_id = create_event(
        api,
        calendar.pk,
        text="Moved occurrence",
        details="Room 4",
        allDay=True,
        color={"background": "#FF0000", "border": "#AA0000", "textColor": "white"},
        readonly=True,
        dragMove=False,
        dragResize=False,
        STDATE="2024-02-05T08:30:00.000Z",
        DTEND="9999-12-31T00:00:00.000Z",
        recurring=False,
        recurringEventId=series_id,
        originalStartTime="2024-02-12T08:30:00.000Z",
        section=3,
    )
    event = get_event(api, event_id)
    assert event == {
        "id": event_id,
        "type": calendar.pk,
        "text": "Moved occurrence",
        "details": "Room 4",
        "start_date": "2024-02-10T08:30:00.000Z",
        "end_date": "2024-02-10T09:30:00.000Z",
        "allDay": True,
        "files": [],
        "color": {"background": "#FF0000", "border": "#AA0000", "textColor": "white"},
        "readonly": True,
        "dragMove": False,
        "dragResize": False,
        "STDATE": "2024-02-05T08:30:00.000Z",
        "DTEND": "9999-12-31T00:00:00.000Z",
        "recurring": False,
        "recurringEventId": series_id,
        "originalStartTime": "2024-02-12T08:30:00.000Z",
        "section": 3,
    }
    assert get_event(api, series_id)["RRULE"] == "FREQ=WEEKLY;INTERVAL=1;BYDAY=MO"


def test_section_keeps_its_json_type(api, calendar):
    assert get_event(api, create_event(api, calendar.pk, section="room-1"))["section"] == "room-1"
    assert get_event(api, create_event(api, calendar.pk, section=7))["section"] == 7


@pytest.mark.parametrize(
    "sent, stored",
    [
        ("2024-02-10T10:30:00+02:00", "2024-02-10T08:30:00.000Z"),
        ("2024-02-10T03:30:00.250-05:00", "2024-02-10T08:30:00.250Z"),
        ("2024-02-10T08:30:00", "2024-02-10T08:30:00.000Z"),
        ("2024-02-10T08:30:00.000Z", "2024-02-10T08:30:00.000Z"),
        ("2024-02-10 08:30Z", "2024-02-10T08:30:00.000Z"),
        ("2024-02-10T08:30:00.123456789+00:00", "2024-02-10T08:30:00.123Z"),
    ],
)
def test_dates_with_an_offset_or_naive_are_stored_as_instants_and_rendered_in_utc(api, calendar, sent, stored):
    event_id = create_event(api, calendar.pk, start_date=sent, end_date="2024-02-11T00:00:00Z")
    assert get_event(api, event_id)["start_date"] == stored


def test_all_day_instants_are_kept_as_sent_not_moved_to_utc_midnight(api, calendar):
    event_id = create_event(
        api, calendar.pk, allDay=True, start_date="2024-02-09T22:00:00.000Z", end_date="2024-02-10T22:00:00.000Z"
    )
    event = get_event(api, event_id)
    assert (event["start_date"], event["end_date"]) == ("2024-02-09T22:00:00.000Z", "2024-02-10T22:00:00.000Z")


def test_never_ending_series_keeps_its_year_9999_end(api, calendar):
    event_id = create_event(api, calendar.pk, RRULE="FREQ=DAILY", DTEND="9999-12-31T00:00:00")
    assert get_event(api, event_id)["DTEND"] == "9999-12-31T00:00:00.000Z"


def test_cancelled_occurrence_needs_no_dates(api, calendar):
    series_id = create_event(api, calendar.pk, RRULE="FREQ=DAILY")
    body = {
        "id": "temp://1707553800999",
        "type": calendar.pk,
        "text": "Planning",
        "recurringEventId": series_id,
        "originalStartTime": "2024-02-12T08:30:00.000Z",
        "status": "cancelled",
    }
    response = api.post("events", body)
    assert response.status_code == 200, response.content
    event = get_event(api, response.json()["id"])
    assert (event["status"], event["start_date"], event["end_date"]) == ("cancelled", None, None)


def test_an_empty_end_equal_to_the_start_is_accepted(api, calendar):
    create_event(api, calendar.pk, end_date="2024-02-10T08:30:00.000Z")


def nested(depth: int) -> list:
    value: list = [1]
    for _ in range(depth):
        value = [value]
    return value


# --- refused creates: a JSON 4xx and nothing stored --------------------------------------------------


@pytest.mark.parametrize(
    "change, field",
    [
        ({"type": None}, "type"),
        ({"type": 999999}, "type"),
        ({"type": "999999"}, "type"),
        ({"type": "temp://1707553800123"}, "type"),
        ({"type": True}, "type"),
        ({"type": 1.5}, "type"),
        ({"type": "1e3"}, "type"),
        ({"type": 2**64}, "type"),
        ({"type": -1}, "type"),
        ({"start_date": None}, "start_date"),
        ({"end_date": None}, "end_date"),
        ({"start_date": "10.02.2024"}, "start_date"),
        ({"start_date": "2023-02-10 8:30:00"}, "start_date"),
        ({"start_date": 1707553800000}, "start_date"),
        ({"start_date": "9999-12-31T23:00:00-05:00"}, "start_date"),
        ({"start_date": "0001-01-01T00:30:00+01:00"}, "start_date"),
        ({"start_date": "x" * 100}, "start_date"),
        ({"start_date": "2024-02-10T08:30:00\x00"}, "start_date"),
        ({"start_date": "2024-02-10T08:30:00 Z"}, "start_date"),
        ({"start_date": "2024-W06-6"}, "start_date"),
        ({"start_date": "20240210T083000Z"}, "start_date"),
        ({"start_date": "2024-02-10"}, "start_date"),
        ({"start_date": "2024-02-10T08:30:00+0200x"}, "start_date"),
        ({"start_date": "２０２４-02-10T08:30:00Z"}, "start_date"),
        ({"end_date": "2024-02-10T08:29:59.000Z"}, "end_date"),
        ({"text": 42}, "text"),
        ({"text": ["a"]}, "text"),
        ({"text": "a\x00b"}, "text"),
        ({"details": {"a": 1}}, "details"),
        ({"allDay": "true"}, "allDay"),
        ({"allDay": 1}, "allDay"),
        ({"readonly": "yes"}, "readonly"),
        ({"color": "red"}, "color"),
        ({"color": {"background": "red;background:url(x)"}}, "color"),
        ({"color": {"background": 5}}, "color"),
        ({"RRULE": 5}, "RRULE"),
        ({"recurringEventId": 999999}, "recurringEventId"),
        ({"recurringEventId": "temp://1707553800123"}, "recurringEventId"),
        ({"section": {"a": 1}}, "section"),
        ({"section": 1.5}, "section"),
        ({"files": {"id": 1}}, "files"),
        ({"files": [{"id": "abc"}]}, "files"),
        ({"files": [{"id": 999999}]}, "files"),
        ({"status": "cancelled"}, "status"),
        ({"note": "a\x00b"}, "extra"),
        ({"a\x00b": 1}, "extra"),
        ({"deep": nested(20)}, "extra"),
    ],
)
def test_bad_field_is_a_json_400_naming_it_and_creates_nothing(api, calendar, change, field):
    before = database_state()
    body = assert_json_error(api.post("events", widget_event(calendar.pk, **change)), 400)
    assert field in body["errors"]
    assert database_state() == before


@pytest.mark.parametrize("missing", ["type", "start_date", "end_date"])
def test_required_keys_are_required_on_create(api, calendar, missing):
    body = widget_event(calendar.pk)
    del body[missing]
    assert missing in assert_json_error(api.post("events", body), 400)["errors"]
    assert not Event.objects.exists()


def test_text_is_optional_on_create(api, calendar):
    body = widget_event(calendar.pk)
    del body["text"]
    response = api.post("events", body)
    assert response.status_code == 200
    assert get_event(api, response.json()["id"])["text"] == ""


def test_series_in_another_calendar_is_refused(api, calendar):
    other = Calendar.objects.create(label="Other")
    series_id = create_event(api, other.pk, RRULE="FREQ=DAILY")
    before = database_state()
    body = assert_json_error(api.post("events", widget_event(calendar.pk, recurringEventId=series_id)), 400)
    assert "recurringEventId" in body["errors"]
    assert database_state() == before


@pytest.mark.parametrize(
    "raw",
    [
        b"{bad json",
        b"",
        b"[]",
        b'"text"',
        b"null",
        b'{"type": NaN}',
        b'{"x": Infinity}',
        b'{"x": 1e400}',
        b'{"text": "\\ud800"}',
        b'{"x": "\\udfff"}',
        b"\xff\xfe{}",
        b'{"text": "caf\xe9"}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    ],
    ids=lambda raw: repr(raw[:24]),
)
def test_malformed_body_is_a_json_400_and_creates_nothing(api, calendar, raw):
    before = database_state()
    response = api.post("events", raw=raw)
    assert_json_error(response, 400)
    assert database_state() == before


def test_body_over_the_upload_memory_limit_is_a_json_413(api, calendar):
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000):
        response = api.post("events", widget_event(calendar.pk, details="x" * 2000))
    assert_json_error(response, 413)
    assert not Event.objects.exists()


def test_custom_keys_over_the_size_limit_are_refused(api, calendar):
    with override_settings(EVENT_CALENDAR={"EXTRA_MAX_SIZE": 100}):
        body = assert_json_error(api.post("events", widget_event(calendar.pk, notes="x" * 200)), 400)
    assert "extra" in body["errors"]
    assert not Event.objects.exists()


def test_wrong_content_type_is_a_json_415(api, calendar):
    response = api.http.post(
        "/calendar/api/events", data="a=b", content_type="text/plain", headers={"Remote-Token": api.token}
    )
    assert_json_error(response, 415)
    assert not Event.objects.exists()


# --- updating --------------------------------------------------------------------------------------


def test_put_merges_only_the_keys_sent(api, calendar):
    event_id = create_event(api, calendar.pk, details="Room 4", priority="high", color={"background": "#ABCDEF"})
    response = api.put(f"events/{event_id}", {"id": event_id, "text": "Renamed"})
    assert response.status_code == 200
    assert response.json() == {}
    event = get_event(api, event_id)
    assert (event["text"], event["details"], event["priority"]) == ("Renamed", "Room 4", "high")
    assert event["start_date"] == "2024-02-10T08:30:00.000Z"
    assert event["color"] == {"background": "#ABCDEF"}


def test_put_merges_custom_keys_one_by_one_and_null_removes_one(api, calendar):
    event_id = create_event(api, calendar.pk, priority="high", owner="ann")
    api.put(f"events/{event_id}", {"priority": None, "room": 4})
    event = get_event(api, event_id)
    assert "priority" not in event
    assert (event["owner"], event["room"]) == ("ann", 4)


def test_put_can_clear_recurrence_and_colour(api, calendar):
    event_id = create_event(api, calendar.pk, RRULE="FREQ=DAILY", recurring=True, color={"background": "#FFF"})
    api.put(f"events/{event_id}", {"RRULE": "", "recurring": False, "DTSTART": None, "color": None})
    event = get_event(api, event_id)
    assert "RRULE" not in event and "color" not in event
    assert event["recurring"] is False


def test_put_moves_an_event_to_another_calendar(api, calendar):
    other = Calendar.objects.create(label="Home")
    event_id = create_event(api, calendar.pk)
    api.put(f"events/{event_id}", {"type": str(other.pk)})
    assert get_event(api, event_id)["type"] == other.pk


def test_put_on_an_unknown_id_is_a_json_404_and_creates_nothing(api, calendar):
    assert_json_error(api.put("events/4242", widget_event(calendar.pk)), 404)
    assert not Event.objects.exists()


@pytest.mark.parametrize("path", ["events/abc", "events/0", "events/99999999999999999999999", "events/1/"])
def test_put_on_a_path_that_is_not_an_id_is_a_json_404(api, calendar, path):
    assert_json_error(api.put(path, widget_event(calendar.pk)), 404)
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"end_date": "2024-02-10T08:00:00.000Z"}, "end_date"),
        ({"start_date": None}, "start_date"),
        ({"type": 999999}, "type"),
        ({"text": 1}, "text"),
    ],
)
def test_refused_put_changes_nothing(api, calendar, change, field):
    event_id = create_event(api, calendar.pk)
    before = database_state()
    body = assert_json_error(api.put(f"events/{event_id}", change), 400)
    assert field in body["errors"]
    assert database_state() == before


def test_event_cannot_be_an_exception_of_itself(api, calendar):
    event_id = create_event(api, calendar.pk)
    body = assert_json_error(api.put(f"events/{event_id}", {"recurringEventId": event_id}), 400)
    assert "recurringEventId" in body["errors"]


def test_editing_a_series_keeps_its_exceptions(api, calendar):
    series_id = create_event(api, calendar.pk, RRULE="FREQ=DAILY")
    exception_id = create_event(
        api, calendar.pk, recurringEventId=series_id, originalStartTime="2024-02-11T08:30:00.000Z"
    )
    api.put(f"events/{series_id}", {"text": "Daily", "RRULE": "FREQ=DAILY;INTERVAL=2"})
    assert get_event(api, exception_id)["recurringEventId"] == series_id


# --- deleting --------------------------------------------------------------------------------------


def test_delete_answers_an_empty_object_and_is_idempotent(api, calendar):
    event_id = create_event(api, calendar.pk)
    for _ in range(2):
        response = api.delete(f"events/{event_id}")
        assert response.status_code == 200
        assert response.json() == {}
    assert not Event.objects.exists()


def test_deleting_a_series_deletes_its_exceptions(api, calendar):
    series_id = create_event(api, calendar.pk, RRULE="FREQ=DAILY")
    create_event(api, calendar.pk, recurringEventId=series_id, originalStartTime="2024-02-11T08:30:00.000Z")
    other_id = create_event(api, calendar.pk)
    api.delete(f"events/{series_id}")
    assert [event["id"] for event in api.get("events").json()] == [other_id]


# --- read-only calendars -----------------------------------------------------------------------------


def test_events_of_a_read_only_calendar_cannot_be_changed(api, calendar):
    event_id = create_event(api, calendar.pk)
    Calendar.objects.filter(pk=calendar.pk).update(readonly=True)
    before = database_state()
    assert_json_error(api.post("events", widget_event(calendar.pk)), 403)
    assert_json_error(api.put(f"events/{event_id}", {"text": "x"}), 403)
    assert_json_error(api.delete(f"events/{event_id}"), 403)
    assert database_state() == before


def test_an_event_cannot_be_moved_into_a_read_only_calendar(api, calendar):
    locked = Calendar.objects.create(label="Holidays", readonly=True)
    event_id = create_event(api, calendar.pk)
    assert_json_error(api.put(f"events/{event_id}", {"type": locked.pk}), 403)
    assert get_event(api, event_id)["type"] == calendar.pk


# --- authentication and routing --------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [("GET", "events"), ("POST", "events"), ("PUT", "events/1"), ("DELETE", "events/1"),
     ("GET", "calendars"), ("POST", "calendars"), ("PUT", "calendars/1"), ("DELETE", "calendars/1")],
)
def test_every_data_route_needs_a_token(anonymous_api, calendar, method, path):
    Event.objects.create(calendar=calendar, start_date="2024-02-10T08:30:00Z", end_date="2024-02-10T09:30:00Z")
    before = database_state()
    response = anonymous_api.request(method, path, {"label": "x", "text": "x"})
    assert_json_error(response, 401)
    assert response["WWW-Authenticate"].startswith("Remote-Token")
    assert database_state() == before


@pytest.mark.parametrize("path", ["nothing", "events/", "calendars/1/extra", "uploads/1", "events/1/2"])
def test_unknown_paths_under_the_prefix_are_json_404s(api, path):
    for method in ("GET", "POST", "PUT", "DELETE"):
        assert_json_error(api.request(method, path), 404)


def test_unsupported_method_is_a_json_405(api, calendar):
    event_id = create_event(api, calendar.pk)
    assert_json_error(api.post(f"events/{event_id}", {}), 405)
    assert_json_error(api.get(f"events/{event_id}"), 405)


@override_settings(
    REST_FRAMEWORK={
        "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.BrowsableAPIRenderer"],
        "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.FormParser"],
        "EXCEPTION_HANDLER": "tests.test_events.failing_handler",
        "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.AnonRateThrottle"],
        "DEFAULT_THROTTLE_RATES": {"anon": "1/day"},
    }
)
def test_site_rest_framework_settings_do_not_change_the_app(api, calendar):
    event_id = create_event(api, calendar.pk)
    assert api.get("events").json()[0]["id"] == event_id
    assert_json_error(api.put("events/4242", {"text": "x"}), 404)
    assert_json_error(WidgetClient(None).get("events"), 401)


def failing_handler(exc, context):
    raise AssertionError("the site's exception handler must not be used")


def test_moving_a_series_moves_its_exceptions(api, calendar):
    other = Calendar.objects.create(label="Home")
    series_id = create_event(api, calendar.pk, RRULE="FREQ=DAILY")
    exception_id = create_event(
        api, calendar.pk, recurringEventId=series_id, originalStartTime="2024-02-11T08:30:00.000Z"
    )
    api.put(f"events/{series_id}", {"type": other.pk})
    assert get_event(api, exception_id)["type"] == other.pk


def test_a_series_with_exceptions_cannot_become_an_exception(api, calendar):
    first = create_event(api, calendar.pk, RRULE="FREQ=DAILY")
    second = create_event(api, calendar.pk, RRULE="FREQ=WEEKLY")
    create_event(api, calendar.pk, recurringEventId=second, originalStartTime="2024-02-11T08:30:00.000Z")
    before = database_state()
    body = assert_json_error(api.put(f"events/{second}", {"recurringEventId": first}), 400)
    assert "recurringEventId" in body["errors"]
    assert database_state() == before


def test_empty_update_changes_nothing(api, calendar):
    event_id = create_event(api, calendar.pk)
    before = database_state()
    assert api.put(f"events/{event_id}", {}).json() == {}
    assert api.put(f"events/{event_id}", raw=b"").json() == {}
    assert database_state() == before


def test_moving_a_series_through_the_orm_moves_its_exceptions(api, calendar):
    other = Calendar.objects.create(label="Home")
    series_id = create_event(api, calendar.pk, RRULE="FREQ=DAILY")
    exception_id = create_event(
        api, calendar.pk, recurringEventId=series_id, originalStartTime="2024-02-11T08:30:00.000Z"
    )
    series = Event.objects.get(pk=series_id)
    series.calendar = other
    series.save()
    assert Event.objects.get(pk=exception_id).calendar == other


def test_integers_beyond_64_bits_in_custom_keys_are_refused(api, calendar):
    body = assert_json_error(api.post("events", widget_event(calendar.pk, big=2**64)), 400)
    assert "extra" in body["errors"]
    assert not Event.objects.exists()


def test_replies_carrying_data_or_errors_are_kept_by_no_cache_and_never_sniffed(api, anonymous_api, calendar):
    for response in (
        api.get("events"),
        api.post("events", widget_event(calendar.pk)),
        anonymous_api.get("events"),
        api.get("no/such/route"),
        api.put("events/999", {"text": "x"}),
    ):
        assert response["Cache-Control"] == "no-store", response.status_code
        assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["events/1%0A", "uploads/-7/x%0Ay", "%0A", "events%0D%0A/1"])
def test_paths_with_line_breaks_under_the_prefix_are_json_404s(api, path):
    assert_json_error(api.get(path), 404)


def test_an_unexpected_error_is_a_json_500_that_tells_the_client_nothing(token, calendar, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("secret detail from inside the server")

    monkeypatch.setattr("event_calendar.views.render_events", broken)
    api = WidgetClient(token)
    api.http = Client(raise_request_exception=False)

    response = api.get("events")

    assert response.status_code == 500 and response["Content-Type"] == "application/json"
    assert response.json() == {"status": "error", "message": "Internal server error."}
    assert "secret detail" in caplog.text  # logged for the site's operators, not sent


def test_options_answers_no_metadata_about_the_views(api):
    body = assert_json_error(api.request("OPTIONS", "events"), 405)
    assert "Event" not in str(body)
