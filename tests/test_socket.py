"""The /api/v1 socket through the real router: handshake, frames, broadcasts, echo suppression."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers, get_channel_layer
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client, override_settings

from event_calendar import broadcast
from event_calendar.models import Calendar, Device, Event
from event_calendar.serializers import FileLinks
from event_calendar.tokens import issue_token, revoke_device
from tests.asgi import application

from .conftest import WidgetClient, widget_event

pytestmark = [pytest.mark.django_db(transaction=True)]

SOCKET = "/calendar/api/api/v1"
QUIET = 0.2  # seconds to wait before concluding that no frame is coming


@pytest.fixture(autouse=True)
async def fresh_channel_layer():
    """A new channel layer for each test, and every socket the test opened disconnected before the test's
    event loop closes: a consumer still waiting in a Redis receive when its loop is torn down hangs the run."""
    channel_layers.backends.clear()
    yield
    while opened_communicators:
        await opened_communicators.pop().disconnect()
    channel_layers.backends.clear()


@database_sync_to_async
def make_user(name: str, **fields):
    return get_user_model().objects.create_user(name, **fields)


@database_sync_to_async
def token_for(user) -> str:
    return issue_token(user)


@database_sync_to_async
def rest(token: str | None, method: str, path: str, body=None):
    response = WidgetClient(token).request(method, path, body)
    return response.status_code, response.json()


@database_sync_to_async
def make_calendar(label: str = "Work", **fields) -> Calendar:
    return Calendar.objects.create(label=label, **fields)


opened_communicators: list[WebsocketCommunicator] = []


def communicator_for(query: str, headers=(), path: str = SOCKET) -> WebsocketCommunicator:
    """A client as a browser or script connects: with a Host header, and any others given."""
    communicator = WebsocketCommunicator(
        application, f"{path}{query}", headers=[(b"host", b"testserver"), *headers]
    )
    opened_communicators.append(communicator)
    return communicator


@asynccontextmanager
async def socket(token: str, subscribe=("events", "calendars"), headers=None):
    communicator = communicator_for(f"?token={token}&ws=1", headers or [])
    connected, _ = await communicator.connect()
    assert connected
    start = await communicator.receive_json_from()
    assert start["action"] == "start"
    for name in subscribe:
        await communicator.send_json_to({"action": "subscribe", "name": name})
    await barrier(communicator)
    try:
        yield communicator
    finally:
        await communicator.disconnect()


async def barrier(communicator: WebsocketCommunicator) -> None:
    """A call answered proves that every frame sent before it has been handled."""
    await communicator.send_json_to({"action": "call", "body": [{"id": "barrier", "name": "x.y", "args": []}]})
    assert (await communicator.receive_json_from())["action"] == "result"


async def next_event(communicator: WebsocketCommunicator) -> dict:
    frame = await communicator.receive_json_from(timeout=2)
    assert frame["action"] == "event", frame
    assert set(frame["body"]) == {"name", "value"}
    return frame["body"]


async def assert_silent(communicator: WebsocketCommunicator) -> None:
    assert await communicator.receive_nothing(timeout=QUIET)


@pytest.fixture
async def alice():
    return await make_user("alice")


@pytest.fixture
async def bob():
    return await make_user("bob")


# --- discovery -------------------------------------------------------------------------------------


async def test_discovery_answers_go_remote_shape(alice):
    token = await token_for(alice)
    assert await rest(token, "GET", "api/v1") == (200, {"api": {}, "data": {}, "websocket": True})


async def test_discovery_without_a_token_is_a_json_401():
    status, body = await rest(None, "GET", "api/v1")
    assert status == 401 and body["status"] == "error"


async def test_rpc_over_http_answers_unknown_service(alice):
    token = await token_for(alice)
    calls = [{"id": "1", "name": "calendar.list", "args": []}, {"id": "2", "name": "x", "args": [1]}]
    assert await rest(token, "POST", "api/v1", calls) == (
        200,
        [{"id": "1", "data": None, "error": "Unknown service"}, {"id": "2", "data": None, "error": "Unknown service"}],
    )
    status, body = await rest(token, "POST", "api/v1", {"id": "1"})
    assert status == 400 and body["status"] == "error"
    status, body = await rest(token, "POST", "api/v1", [{}] * 101)
    assert status == 400 and body["status"] == "error"


@pytest.mark.parametrize("call_id", ["\ud800", "x\u0000", "x" * 65, 2**64, -(2**63) - 1, True, 1.5, [1], {"a": 1}])
async def test_call_ids_that_cannot_be_echoed_come_back_as_null(alice, call_id):
    token = await token_for(alice)
    raw = json.dumps([{"id": call_id, "name": "x"}])  # escapes the lone surrogate and the NUL
    response = await database_sync_to_async(WidgetClient(token).request)("POST", "api/v1", raw=raw)
    assert response.status_code == 200 and response.json() == [{"id": None, "data": None, "error": "Unknown service"}]
    async with socket(token, subscribe=()) as communicator:
        await communicator.send_to(text_data='{"action": "call", "body": %s}' % raw)
        assert (await communicator.receive_json_from())["body"] == [{"id": None, "data": None, "error": "Unknown service"}]


# --- handshake -------------------------------------------------------------------------------------


async def test_start_frame_carries_the_tokens_device_id(alice):
    token = await token_for(alice)
    device = await database_sync_to_async(Device.objects.latest)("pk")
    communicator = communicator_for(f"?token={token}&ws=1")
    assert (await communicator.connect())[0]
    assert await communicator.receive_json_from() == {"action": "start", "body": device.pk}
    await communicator.disconnect()


@pytest.mark.parametrize("query", ["", "?ws=1", "?token=&ws=1", "?token=abc&ws=1", "?token=WyIxIiwxXQ:1abc:forged&ws=1"])
async def test_handshake_without_a_valid_token_is_refused(alice, query):
    communicator = communicator_for(query)
    connected, _ = await communicator.connect()
    assert not connected


async def test_handshake_with_a_revoked_or_expired_token_is_refused(alice):
    token = await token_for(alice)
    await database_sync_to_async(revoke_device)(await database_sync_to_async(Device.objects.latest)("pk"))
    assert not (await communicator_for(f"?token={token}&ws=1").connect())[0]

    token = await token_for(alice)
    with override_settings(EVENT_CALENDAR={"TOKEN_MAX_AGE": 1}):
        await asyncio.sleep(2.1)
        assert not (await communicator_for(f"?token={token}&ws=1").connect())[0]


async def test_handshake_of_an_inactive_user_is_refused():
    user = await make_user("carol")
    token = await token_for(user)
    await database_sync_to_async(get_user_model().objects.filter(pk=user.pk).update)(is_active=False)
    assert not (await communicator_for(f"?token={token}&ws=1").connect())[0]


@pytest.mark.parametrize(
    "origin, allowed",
    [
        (None, True),
        (b"http://testserver", True),
        (b"http://localhost:8000", True),
        (b"https://evil.example", False),
        (b"null", False),
        (b"http://testserver.evil.example", False),
    ],
)
async def test_browser_origins_must_be_allowed_hosts(alice, origin, allowed):
    token = await token_for(alice)
    headers = [(b"origin", origin)] if origin else []
    communicator = communicator_for(f"?token={token}&ws=1", headers)
    assert (await communicator.connect())[0] is allowed
    await communicator.disconnect()


async def test_allowed_origins_setting_replaces_the_hosts_rule(alice):
    token = await token_for(alice)
    with override_settings(EVENT_CALENDAR={"SOCKET_ALLOWED_ORIGINS": ["https://app.example.com"]}):
        for origin, allowed in [(b"https://app.example.com", True), (b"http://testserver", False)]:
            communicator = communicator_for(f"?token={token}&ws=1", [(b"origin", origin)])
            assert (await communicator.connect())[0] is allowed
            await communicator.disconnect()


# --- frames ----------------------------------------------------------------------------------------


async def test_call_frames_get_unknown_service_results(alice):
    async with socket(await token_for(alice), subscribe=()) as communicator:
        await communicator.send_json_to({"action": "call", "body": [{"id": "7", "name": "a.b", "args": []}, "junk"]})
        assert await communicator.receive_json_from() == {
            "action": "result",
            "body": [{"id": "7", "data": None, "error": "Unknown service"}, {"id": None, "data": None, "error": "Unknown service"}],
        }


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        '"subscribe"',
        '{"action": "dance"}',
        '{"action": "call", "body": "x"}',
        "[" * 100_000 + "]" * 100_000,
        json.dumps({"action": "subscribe", "name": "x" * 40_000}),
        json.dumps({"action": "subscribe", "name": "é" * 20_000}, ensure_ascii=False),
        "\udcff",
        '{"action": "subscribe", "name": {"x": 1}}',
        '{"action": "subscribe", "name": ["events"]}',
        '{"action": "unsubscribe", "name": {"a": 1}}',
        '{"action": "unsubscribe", "name": [1]}',
        '{"action": "subscribe", "name": "bogus"}',
        '{"action": "subscribe"}',
        '{"action": ["call"]}',
    ],
    ids=lambda frame: frame[:20],
)
async def test_bad_frames_get_an_error_frame_and_the_socket_keeps_working(alice, frame):
    token = await token_for(alice)
    async with socket(token, subscribe=()) as communicator:
        await communicator.send_to(text_data=frame)
        assert (await communicator.receive_json_from())["action"] == "error"
        await communicator.send_to(bytes_data=b"\xff\xfe")
        assert (await communicator.receive_json_from())["action"] == "error"
        await communicator.send_json_to({"action": "subscribe", "name": "calendars"})
        await barrier(communicator)
        await rest(await token_for(alice), "POST", "calendars", {"label": "Still here"})
        assert (await next_event(communicator))["value"]["type"] == "add-calendar"


async def test_frames_over_the_rate_get_an_error_and_the_socket_keeps_working(alice, settings):
    settings.EVENT_CALENDAR = {**settings.EVENT_CALENDAR, "SOCKET_MAX_FRAMES_PER_MINUTE": 3}
    async with socket(await token_for(alice), subscribe=("events", "calendars")) as communicator:
        # The two subscribes and the barrier's call took the three frames of this minute.
        await communicator.send_json_to({"action": "call", "body": []})
        assert await communicator.receive_json_from() == {"action": "error", "body": "Too many frames: slow down."}
        await rest(await token_for(alice), "POST", "calendars", {"label": "Still here"})
        assert (await next_event(communicator))["value"]["type"] == "add-calendar"


async def test_nothing_arrives_on_channels_not_subscribed(alice, bob):
    calendar = await make_calendar()
    async with socket(await token_for(bob), subscribe=("calendars",)) as communicator:
        await rest(await token_for(alice), "POST", "events", widget_event(calendar.pk))
        await assert_silent(communicator)


@pytest.mark.parametrize("frame", [{"action": "unsubscribe"}, {"action": "unsubscribe", "key": "events"}])
async def test_unsubscribe_without_a_name_leaves_every_channel(alice, bob, frame):
    calendar = await make_calendar()
    async with socket(await token_for(bob)) as communicator:
        await communicator.send_json_to(frame)
        await barrier(communicator)
        writer = await token_for(alice)
        await rest(writer, "POST", "events", widget_event(calendar.pk))
        await rest(writer, "POST", "calendars", {"label": "New"})
        await assert_silent(communicator)


async def test_unsubscribe_by_name_leaves_that_channel_only(alice, bob):
    calendar = await make_calendar()
    async with socket(await token_for(bob)) as communicator:
        await communicator.send_json_to({"action": "unsubscribe", "name": "events"})
        await barrier(communicator)
        writer = await token_for(alice)
        await rest(writer, "POST", "events", widget_event(calendar.pk))
        await rest(writer, "POST", "calendars", {"label": "New"})
        assert (await next_event(communicator))["value"]["type"] == "add-calendar"
        await assert_silent(communicator)


# --- broadcasts --------------------------------------------------------------------------------------


async def test_event_changes_arrive_as_get_renders_them_and_never_echo(alice, bob):
    calendar = await make_calendar()
    writer, reader = await token_for(alice), await token_for(bob)
    async with socket(writer) as author, socket(reader) as other:
        _, created = await rest(writer, "POST", "events", widget_event(calendar.pk, priority="high"))
        event_id = created["id"]
        _, listed = await rest(reader, "GET", "events")
        body = await next_event(other)
        assert body == {"name": "events", "value": {"type": "add-event", "event": listed[0]}}

        await rest(writer, "PUT", f"events/{event_id}", {"text": "Moved"})
        body = await next_event(other)
        _, listed = await rest(reader, "GET", "events")
        assert body["value"] == {"type": "update-event", "event": listed[0]}
        assert body["value"]["event"]["text"] == "Moved"
        assert body["value"]["event"]["start_date"] == "2024-02-10T08:30:00.000Z"

        await rest(writer, "DELETE", f"events/{event_id}")
        assert (await next_event(other))["value"] == {"type": "delete-event", "event": {"id": event_id}}

        await assert_silent(author)
        await assert_silent(other)


async def test_calendar_changes_arrive_on_the_calendars_channel(alice, bob):
    writer, reader = await token_for(alice), await token_for(bob)
    async with socket(reader) as other:
        _, created = await rest(writer, "POST", "calendars", {"label": "Team", "color": {"background": "#000"}})
        calendar_id = created["id"]
        _, listed = await rest(reader, "GET", "calendars")
        assert await next_event(other) == {
            "name": "calendars",
            "value": {"type": "add-calendar", "calendar": listed[0]},
        }
        await rest(writer, "PUT", f"calendars/{calendar_id}", {"label": "Renamed"})
        body = await next_event(other)
        assert body["value"]["type"] == "update-calendar"
        assert body["value"]["calendar"]["label"] == "Renamed"
        assert body["value"]["calendar"]["active"] is True
        await rest(writer, "DELETE", f"calendars/{calendar_id}")
        assert (await next_event(other))["value"] == {"type": "delete-calendar", "calendar": {"id": calendar_id}}


async def test_another_device_of_the_same_user_receives_the_change(alice):
    calendar = await make_calendar()
    first_tab, second_tab = await token_for(alice), await token_for(alice)
    async with socket(first_tab) as first, socket(second_tab) as second:
        await rest(first_tab, "POST", "events", widget_event(calendar.pk))
        assert (await next_event(second))["value"]["type"] == "add-event"
        await assert_silent(first)


async def test_calendar_delete_sends_only_delete_calendar(alice, bob):
    calendar = await make_calendar(owner=alice)
    writer = await token_for(alice)
    await rest(writer, "POST", "events", widget_event(calendar.pk))
    await rest(writer, "POST", "events", widget_event(calendar.pk))
    async with socket(await token_for(bob)) as other:
        await rest(writer, "DELETE", f"calendars/{calendar.pk}")
        assert (await next_event(other))["value"] == {"type": "delete-calendar", "calendar": {"id": calendar.pk}}
        await assert_silent(other)


async def test_deleting_a_series_announces_its_exceptions_too(alice, bob):
    calendar = await make_calendar()
    writer = await token_for(alice)
    _, series = await rest(writer, "POST", "events", widget_event(calendar.pk, RRULE="FREQ=DAILY"))
    _, exception = await rest(
        writer,
        "POST",
        "events",
        widget_event(calendar.pk, recurringEventId=series["id"], originalStartTime="2024-02-11T08:30:00Z"),
    )
    async with socket(await token_for(bob)) as other:
        await rest(writer, "DELETE", f"events/{series['id']}")
        deleted = {(await next_event(other))["value"]["event"]["id"] for _ in range(2)}
        assert deleted == {series["id"], exception["id"]}


async def test_failed_writes_send_nothing(alice, bob):
    calendar = await make_calendar()
    writer = await token_for(alice)
    async with socket(await token_for(bob)) as other:
        await rest(writer, "POST", "events", widget_event(calendar.pk, end_date="2020-01-01T00:00:00Z"))
        await rest(writer, "POST", "events", widget_event(calendar.pk, files=[{"id": 12345}]))
        await rest(writer, "PUT", "events/999", {"text": "x"})
        await assert_silent(other)


@database_sync_to_async
def orm_writes_in_a_rolled_back_transaction(calendar_id: int) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        Event.objects.create(calendar_id=calendar_id, start_date=datetime.now(UTC), end_date=datetime.now(UTC))
        Calendar.objects.create(label="Never")
        raise RuntimeError("roll back")


async def test_rolled_back_writes_send_nothing(bob):
    calendar = await make_calendar()
    async with socket(await token_for(bob)) as other:
        await orm_writes_in_a_rolled_back_transaction(calendar.pk)
        await assert_silent(other)


async def test_plain_orm_writes_are_broadcast_to_everyone(bob):
    calendar = await make_calendar()
    async with socket(await token_for(bob)) as other:
        now = datetime(2024, 2, 10, 8, 30, tzinfo=UTC)
        event = await database_sync_to_async(Event.objects.create)(calendar=calendar, text="ORM", start_date=now, end_date=now)
        body = await next_event(other)
        assert body["value"]["type"] == "add-event"
        assert body["value"]["event"]["text"] == "ORM"
        assert body["value"]["event"]["start_date"] == "2024-02-10T08:30:00.000Z"
        event_id = event.pk
        await database_sync_to_async(event.delete)()
        assert (await next_event(other))["value"] == {"type": "delete-event", "event": {"id": event_id}}


@database_sync_to_async
def orm_writes_the_database_converts(calendar: Calendar) -> int:
    # Dates given as text are parsed as they are stored; the second save writes the status only.
    event = Event.objects.create(
        calendar=calendar, text="Stored", start_date="2024-02-10T09:30:00+01:00", end_date="2024-02-10T08:30Z"
    )
    event.text = "Never saved"
    event.status = "tentative"
    event.save(update_fields=["status"])
    return event.pk


async def test_a_change_shows_what_the_row_holds_whatever_the_saved_instance_holds(bob):
    calendar = await make_calendar()
    async with socket(await token_for(bob)) as other:
        event_id = await orm_writes_the_database_converts(calendar)
        added, updated = (await next_event(other))["value"], (await next_event(other))["value"]
        _, (listed,) = await rest(await token_for(bob), "GET", "events")
        assert added["type"] == "add-event" and "status" not in added["event"]
        assert added["event"]["start_date"] == added["event"]["end_date"] == "2024-02-10T08:30:00.000Z"
        assert added["event"]["text"] == "Stored"
        assert updated == {"type": "update-event", "event": listed}
        assert listed["id"] == event_id and listed["text"] == "Stored" and listed["status"] == "tentative"


@database_sync_to_async
def create_and_delete_in_one_transaction(calendar: Calendar) -> int:
    with transaction.atomic():
        event = Event.objects.create(calendar=calendar, text="Gone", start_date=datetime.now(UTC),
                                     end_date=datetime.now(UTC))
        event_id = event.pk
        event.delete()
    return event_id


async def test_an_event_created_and_deleted_in_one_transaction_is_only_deleted(bob):
    calendar = await make_calendar()
    async with socket(await token_for(bob)) as other:
        event_id = await create_and_delete_in_one_transaction(calendar)
        assert (await next_event(other))["value"] == {"type": "delete-event", "event": {"id": event_id}}
        await assert_silent(other)


async def test_admin_writes_are_broadcast(bob):
    admin = await database_sync_to_async(get_user_model().objects.create_superuser)("root", "root@example.com", "pw")
    calendar = await make_calendar()
    async with socket(await token_for(bob)) as other:
        client = Client()
        await database_sync_to_async(client.force_login)(admin)
        response = await database_sync_to_async(client.post)(
            f"/admin/event_calendar/calendar/{calendar.pk}/change/",
            {
                "label": "Renamed in admin",
                "description": "",
                "active": "on",
                "color_background": "#123456",
                "color_border": "#654321",
                "color_text": "",
                "owner": "",
                "open_to": "viewer",
                "grants-TOTAL_FORMS": 0,
                "grants-INITIAL_FORMS": 0,
            },
        )
        assert response.status_code == 302, response.content
        body = await next_event(other)
        assert body["value"]["type"] == "update-calendar"
        assert body["value"]["calendar"]["label"] == "Renamed in admin"
        assert body["value"]["calendar"]["color"] == {"background": "#123456", "border": "#654321"}


@database_sync_to_async
def bulk_create_and_announce(calendar: Calendar) -> list[int]:
    now = datetime(2024, 2, 10, 8, 30, tzinfo=UTC)
    with broadcast.paused():
        events = Event.objects.bulk_create(
            [Event(calendar=calendar, text=f"Bulk {i}", start_date=now, end_date=now) for i in range(3)]
        )
    broadcast.announce_events("add-event", events)
    return [event.pk for event in events]


async def test_bulk_writes_are_announced_by_the_public_function(bob):
    calendar = await make_calendar()
    async with socket(await token_for(bob)) as other:
        ids = await bulk_create_and_announce(calendar)
        received = [(await next_event(other))["value"] for _ in ids]
        assert [value["event"]["id"] for value in received] == ids
        assert {value["type"] for value in received} == {"add-event"}
        await assert_silent(other)


async def test_paused_broadcasting_sends_nothing(bob):
    calendar = await make_calendar()
    async with socket(await token_for(bob)) as other:

        @database_sync_to_async
        def load():
            now = datetime.now(UTC)
            with broadcast.paused():
                Event.objects.create(calendar=calendar, start_date=now, end_date=now)
                Calendar.objects.create(label="Quiet")

        await load()
        await assert_silent(other)


async def test_announcing_an_unknown_action_is_an_error():
    with pytest.raises(ValueError):
        broadcast.announce_calendars("rename-calendar", [1])


async def test_a_burst_of_changes_is_not_dropped(alice, bob):
    calendar = await make_calendar()
    writer = await token_for(alice)
    async with socket(await token_for(bob)) as other:

        @database_sync_to_async
        def burst():
            client = WidgetClient(writer)
            return [client.post("events", widget_event(calendar.pk, text=str(i))).json()["id"] for i in range(300)]

        ids = await burst()
        received = [(await next_event(other))["value"]["event"]["id"] for _ in ids]
        assert received == ids


async def test_socket_keeps_receiving_past_the_layers_group_expiry(alice, bob):
    calendar = await make_calendar()
    get_channel_layer().group_expiry = 1
    async with socket(await token_for(bob)) as other:
        await asyncio.sleep(2.5)
        await rest(await token_for(alice), "POST", "events", widget_event(calendar.pk))
        assert (await next_event(other))["value"]["type"] == "add-event"


async def test_revoking_a_device_closes_its_sockets(alice):
    token = await token_for(alice)
    device = await database_sync_to_async(Device.objects.latest)("pk")
    communicator = communicator_for(f"?token={token}&ws=1")
    assert (await communicator.connect())[0]
    await communicator.receive_json_from()
    await database_sync_to_async(revoke_device)(device)
    assert await communicator.receive_output(timeout=2) == {"type": "websocket.close", "code": 4001}


async def test_logging_out_closes_the_devices_sockets_only(alice):
    token, other_token = await token_for(alice), await token_for(alice)
    communicator = communicator_for(f"?token={token}&ws=1")
    assert (await communicator.connect())[0]
    await communicator.receive_json_from()
    async with socket(other_token) as other:
        assert await rest(token, "POST", "logout") == (200, {})
        assert await communicator.receive_output(timeout=2) == {"type": "websocket.close", "code": 4001}
        await rest(await token_for(alice), "POST", "calendars", {"label": "Still here"})
        assert (await next_event(other))["value"]["type"] == "add-calendar"
    assert not (await communicator_for(f"?token={token}&ws=1").connect())[0]


async def test_unknown_socket_paths_under_the_prefix_are_refused(alice):
    token = await token_for(alice)
    for path in ("/calendar/api/api/v1/", "/calendar/api/events", "/calendar/api/"):
        assert not (await communicator_for(f"?token={token}&ws=1", path=path).connect())[0]


async def test_a_frame_that_fails_inside_gets_an_error_and_the_socket_keeps_working(alice, monkeypatch):
    from event_calendar.consumers import RemoteEventsConsumer

    async def failing(self, calls):
        raise RuntimeError("boom")

    async with socket(await token_for(alice), subscribe=()) as communicator:
        monkeypatch.setattr(RemoteEventsConsumer, "answer_calls", failing)
        await communicator.send_json_to({"action": "call", "body": []})
        assert await communicator.receive_json_from() == {"action": "error", "body": "The frame could not be handled."}
        await communicator.send_json_to({"action": "subscribe", "name": "calendars"})
        await rest(await token_for(alice), "POST", "calendars", {"label": "Still here"})
        assert (await next_event(communicator))["value"]["type"] == "add-calendar"


async def group_members(group: str) -> set[str]:
    layer = get_channel_layer()
    if hasattr(layer, "groups"):  # the in-memory layer
        return set(layer.groups.get(group, {}))
    connection = layer.connection(layer.consistent_hash(group))
    return {member.decode() for member in await connection.zrange(layer._group_key(group), 0, -1)}


async def test_a_closed_socket_leaves_its_groups(alice):
    before = await group_members(broadcast.GROUP)
    async with socket(await token_for(alice)):
        joined = await group_members(broadcast.GROUP) - before
    assert len(joined) == 1
    assert not joined & await group_members(broadcast.GROUP)


async def test_a_process_reads_each_change_once_for_all_its_sockets(alice, bob):
    calendar = await make_calendar()
    before = await group_members(broadcast.GROUP)
    async with socket(await token_for(alice)) as first, socket(await token_for(bob)) as second:
        async with socket(await token_for(bob)) as third:
            assert len(await group_members(broadcast.GROUP) - before) == 1
            _, created = await rest(await token_for(alice), "POST", "events", widget_event(calendar.pk))
            for communicator in (first, second, third):
                assert (await next_event(communicator))["value"]["event"]["id"] == created["id"]
        # The process keeps listening while it holds a socket.
        await rest(await token_for(alice), "DELETE", f"events/{created['id']}")
        for communicator in (first, second):
            assert (await next_event(communicator))["value"]["type"] == "delete-event"
    assert await group_members(broadcast.GROUP) == before


@database_sync_to_async
def upload_file(token: str) -> dict:
    from .test_uploads import upload

    return upload(token, "notes.txt", b"hello", "text/plain").json()


async def test_changing_an_events_files_sends_one_update(alice, bob):
    calendar = await make_calendar()
    writer = await token_for(alice)
    _, created = await rest(writer, "POST", "events", widget_event(calendar.pk))
    first, second = await upload_file(writer), await upload_file(writer)
    async with socket(await token_for(bob)) as other:
        await rest(writer, "PUT", f"events/{created['id']}", {"files": [first, second]})
        value = (await next_event(other))["value"]
        assert [file["id"] for file in value["event"]["files"]] == [first["id"], second["id"]]
        await assert_silent(other)
        await rest(writer, "PUT", f"events/{created['id']}", {"files": [second]})
        value = (await next_event(other))["value"]
        assert [file["id"] for file in value["event"]["files"]] == [second["id"]]
        await assert_silent(other)


async def test_empty_updates_send_nothing(alice, bob):
    calendar = await make_calendar()
    writer = await token_for(alice)
    _, created = await rest(writer, "POST", "events", widget_event(calendar.pk))
    async with socket(await token_for(bob)) as other:
        await rest(writer, "PUT", f"events/{created['id']}", {})
        await rest(writer, "PUT", f"calendars/{calendar.pk}", {})
        await assert_silent(other)


async def test_file_links_in_frames_are_the_receivers_own(alice, bob):
    calendar = await make_calendar()
    writer = await token_for(alice)
    attached = await upload_file(writer)
    receiver = communicator_for(f"?token={await token_for(bob)}&ws=1")
    receiver.scope["headers"] = [(b"host", b"localhost:8123")]
    assert (await receiver.connect())[0]
    await receiver.receive_json_from()
    await receiver.send_json_to({"action": "subscribe", "name": "events"})
    await barrier(receiver)
    try:
        await rest(writer, "POST", "events", widget_event(calendar.pk, files=[attached]))
        (file,) = (await next_event(receiver))["value"]["event"]["files"]
        bob_device = await database_sync_to_async(Device.objects.latest)("pk")
        links = FileLinks("http://localhost:8123/calendar/api/uploads", bob_device.pk)
        expected = links.url(attached["id"], attached["name"])
        assert file == {**attached, "url": expected}

        @database_sync_to_async
        def orm_update():
            Event.objects.get().save()

        await orm_update()
        (file,) = (await next_event(receiver))["value"]["event"]["files"]
        assert file["url"] == expected
    finally:
        await receiver.disconnect()
