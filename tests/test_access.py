"""Per-calendar access: owners, grants to users and to groups, calendars open to everyone, superusers.

First a matrix: every way a user can hold a role on a calendar, against every operation the widget
performs (REST, file links, live updates). What is refused must not leak: a calendar or event the user
may not see answers exactly as an id that does not exist (same status, same body). Then the socket
following access changes as they happen (grants, groups, ``open_to``, the superuser flag, owners, the
admin), and the per-user sidebar.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from event_calendar import broadcast, consumers
from event_calendar.models import Attachment, Calendar, CalendarGrant, CalendarPreference, Event, Role
from event_calendar.serializers import FileLinks
from event_calendar.tokens import issue_token, read_token

from .conftest import WidgetClient, assert_json_error, database_state, widget_event
from .test_socket import (  # noqa: F401  (fresh_channel_layer is an autouse fixture)
    assert_silent,
    barrier,
    communicator_for,
    fresh_channel_layer,
    next_event,
    rest,
    socket,
    token_for,
)

VIEWER, EDITOR, MANAGER = Role.VIEWER.value, Role.EDITOR.value, Role.MANAGER.value
RANK = {None: 0, VIEWER: 1, EDITOR: 2, MANAGER: 3}

# How a user holds a role on a calendar -> the role it gives.
HOLDERS = {
    "none": None,
    "viewer": VIEWER,
    "viewer-via-group": VIEWER,
    "editor": EDITOR,
    "editor-via-group": EDITOR,
    "manager": MANAGER,
    "manager-via-group": MANAGER,
    "owner": MANAGER,
    "superuser": MANAGER,
    "open-to-viewers": VIEWER,
    "open-to-editors": EDITOR,
}
OPEN_TO = {"open-to-viewers": VIEWER, "open-to-editors": EDITOR}
# A calendar the administrator made read-only: nobody writes its events, whatever their role.
KINDS = ["plain", "readonly"]
# Ids that exist nowhere: what a hidden id must be indistinguishable from.
MISSING = 2_000_000_000

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def private_by_default(settings):
    settings.EVENT_CALENDAR = {**settings.EVENT_CALENDAR, "NEW_CALENDAR_OPEN_TO": ""}


def sees(holder: str) -> bool:
    return HOLDERS[holder] is not None


def edits(holder: str, kind: str = "plain") -> bool:
    return kind == "plain" and RANK[HOLDERS[holder]] >= RANK[EDITOR]


def manages(holder: str) -> bool:
    return HOLDERS[holder] == MANAGER


def shown_readonly(holder: str, kind: str = "plain") -> bool:
    return kind == "readonly" or RANK[HOLDERS[holder]] < RANK[EDITOR]


# ---------------------------------------------------------------------------------------------------
# Building data


def make_user(name: str, holder: str = "none"):
    User = get_user_model()
    if holder == "superuser":
        return User.objects.create_superuser(name, f"{name}@example.com", "pw")
    return User.objects.create_user(name, password="pw")


def calendar_held(holder: str, user, stranger, label: str, **fields) -> Calendar:
    """A calendar that ``user`` holds the way ``holder`` says (``stranger`` owns it otherwise)."""
    calendar = Calendar.objects.create(
        label=label,
        owner=user if holder == "owner" else stranger,
        open_to=OPEN_TO.get(holder, ""),
        **fields,
    )
    role = HOLDERS[holder]
    if holder.endswith("-via-group"):
        group, _ = Group.objects.get_or_create(name=f"{holder} of {user.username}")
        user.groups.add(group)
        CalendarGrant.objects.create(calendar=calendar, group=group, role=role)
    elif holder in (VIEWER, EDITOR, MANAGER):
        CalendarGrant.objects.create(calendar=calendar, user=user, role=role)
    return calendar


def make_event(calendar: Calendar, text: str = "Planning", with_file: bool = False) -> Event:
    event = Event.objects.create(
        calendar=calendar,
        text=text,
        start_date="2024-02-10T08:30:00Z",
        end_date="2024-02-10T09:30:00Z",
    )
    if with_file:
        attach(event, f"{text}.txt")
    return event


def attach(event: Event | None, name: str, uploaded_by=None) -> Attachment:
    attachment = Attachment(
        name=name, content_type="text/plain", size=5, event=event, uploaded_by=uploaded_by
    )
    attachment.file.save(name, ContentFile(b"bytes"), save=False)
    attachment.save()
    return attachment


@dataclass
class World:
    """Every holder with a calendar of each kind held that way, plus a calendar they edit and one they
    only view; a site calendar (no owner, private) that only superusers see; one event with a file on
    each calendar. A stranger owns the calendars that are not the holders' own."""

    users: dict[str, Any]
    tokens: dict[str, str]
    # (holder, kind) -> calendar; the kinds are KINDS, "editable" and "viewable"
    calendars: dict[tuple[str, str], Calendar]
    site: Calendar
    events: dict[int, Event]  # calendar id -> its event
    files: dict[int, Attachment]  # calendar id -> the file on its event
    stranger: Any

    def calendar(self, holder: str, kind: str = "plain") -> Calendar:
        return self.calendars[holder, kind]

    def api(self, holder: str) -> WidgetClient:
        return WidgetClient(self.tokens[holder])

    def visible_to(self, holder: str) -> set[int]:
        if holder == "superuser":
            return set(self.events)
        return {
            calendar.pk
            for (other, kind), calendar in self.calendars.items()
            if (other == holder and (kind in ("editable", "viewable") or sees(holder)))
            or (other in OPEN_TO and kind in KINDS)
        }

    def onlooker(self, holder: str) -> str:
        """Someone else who sees the holder's calendars: a superuser, or the stranger who owns them."""
        return "stranger" if holder == "superuser" else "superuser"


def build_world() -> World:
    stranger = make_user("stranger")
    users, tokens, calendars, events, files = {"stranger": stranger}, {}, {}, {}, {}
    tokens["stranger"] = issue_token(stranger)
    for holder in HOLDERS:
        user = users[holder] = make_user(f"user-{holder}", holder)
        tokens[holder] = issue_token(user)
        calendars[holder, "plain"] = calendar_held(holder, user, stranger, f"{holder} plain")
        calendars[holder, "readonly"] = calendar_held(
            holder, user, stranger, f"{holder} readonly", readonly=True
        )
        calendars[holder, "editable"] = calendar_held(EDITOR, user, stranger, f"{holder} editable")
        calendars[holder, "viewable"] = calendar_held(VIEWER, user, stranger, f"{holder} viewable")
    site = Calendar.objects.create(label="Site", owner=None, open_to="")
    for calendar in [*calendars.values(), site]:
        event = events[calendar.pk] = make_event(calendar, f"Event of {calendar.label}", with_file=True)
        files[calendar.pk] = event.attachments.get()
    return World(users, tokens, calendars, site, events, files, stranger)


_worlds: list[World] = []


def discard_worlds() -> None:
    """Delete the shared data. The socket tests, which commit (and flush after), must not meet it:
    pytest-django runs them after this module's other tests, while the module is still open."""
    while _worlds:
        world = _worlds.pop()
        with broadcast.paused():
            Calendar.objects.filter(pk__in=list(world.events)).delete()
            Group.objects.filter(user__in=list(world.users.values())).delete()
            get_user_model().objects.filter(pk__in=[user.pk for user in world.users.values()]).delete()


@pytest.fixture(scope="module")
def shared_world(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), broadcast.paused():
        _worlds.append(build_world())
    yield _worlds[-1]
    with django_db_blocker.unblock():
        discard_worlds()


@pytest.fixture
def world(shared_world):
    """Built once for the module; each test runs in a transaction that is rolled back."""
    assert shared_world in _worlds, "the shared data was discarded by a socket test that ran before"
    return shared_world


@pytest.fixture
def no_shared_world(django_db_blocker):
    with django_db_blocker.unblock():
        discard_worlds()


# ---------------------------------------------------------------------------------------------------
# Assertions


def state() -> dict[str, list]:
    """Every stored row that access could change."""
    return database_state() | {
        "CalendarGrant": list(CalendarGrant.objects.order_by("pk").values()),
        "CalendarPreference": list(CalendarPreference.objects.order_by("pk").values()),
    }


def assert_like_missing(response, missing, status: int) -> None:
    """The reply about a hidden id is the reply about an id that does not exist."""
    assert response.status_code == status, response.content
    assert (response.status_code, response["Content-Type"], response.content) == (
        missing.status_code,
        missing["Content-Type"],
        missing.content,
    )


def shown_calendars(api: WidgetClient) -> dict[int, dict]:
    response = api.get("calendars")
    assert response.status_code == 200
    return {calendar["id"]: calendar for calendar in response.json()}


def shown_events(api: WidgetClient) -> dict[int, dict]:
    response = api.get("events")
    assert response.status_code == 200
    return {event["id"]: event for event in response.json()}


def as_shown(world: World, holder: str, calendar: Calendar) -> dict:
    """The calendar as the holder's widget has it, or (if hidden from them) as a superuser's has it."""
    return (
        shown_calendars(world.api(holder)).get(calendar.pk)
        or shown_calendars(world.api("superuser"))[calendar.pk]
    )


def event_as_shown(world: World, holder: str, event: Event) -> dict:
    return shown_events(world.api(holder)).get(event.pk) or shown_events(world.api("superuser"))[event.pk]


holders = pytest.mark.parametrize("holder", list(HOLDERS))
kinds = pytest.mark.parametrize("kind", KINDS)


# ---------------------------------------------------------------------------------------------------
# Reading


@holders
def test_get_events_lists_only_the_events_of_visible_calendars(world, holder):
    listed = shown_events(world.api(holder))

    assert {event["type"] for event in listed.values()} == world.visible_to(holder)
    assert set(listed) == {world.events[pk].pk for pk in world.visible_to(holder)}
    assert (world.events[world.calendar(holder).pk].pk in listed) is sees(holder)


@holders
def test_get_calendars_lists_only_visible_calendars_with_the_readonly_the_holder_gets(world, holder):
    listed = shown_calendars(world.api(holder))

    assert set(listed) == world.visible_to(holder)
    for kind in KINDS:
        calendar = listed.get(world.calendar(holder, kind).pk)
        if sees(holder):
            assert calendar["readonly"] is shown_readonly(holder, kind)
            assert calendar["active"] is True
        else:
            assert calendar is None
    assert listed[world.calendar(holder, "editable").pk]["readonly"] is False
    assert listed[world.calendar(holder, "viewable").pk]["readonly"] is (holder != "superuser")


# ---------------------------------------------------------------------------------------------------
# Writing events


@holders
@kinds
def test_post_event(world, holder, kind):
    api, calendar = world.api(holder), world.calendar(holder, kind)
    before = state()

    response = api.post("events", widget_event(calendar.pk, text="New"))

    if edits(holder, kind):
        assert response.status_code == 200, response.content
        assert Event.objects.get(pk=response.json()["id"]).calendar == calendar
        return
    if sees(holder):
        assert_json_error(response, 403)
    else:
        missing = api.post("events", widget_event(MISSING, text="New"))
        assert_like_missing(response, missing, 400)
        assert response.json()["errors"] == {"type": ["Unknown calendar."]}
    assert state() == before


@holders
@kinds
@pytest.mark.parametrize("body", ["partial", "full", "no-change"])
def test_put_event_text(world, holder, kind, body):
    api, calendar = world.api(holder), world.calendar(holder, kind)
    event = world.events[calendar.pk]
    sent = {
        "partial": {"text": "Changed"},
        "full": {**event_as_shown(world, holder, event), "text": "Changed"},
        "no-change": {"id": event.pk, "parent_id": None},  # keys the server ignores
    }[body]
    before = state()

    response = api.put(f"events/{event.pk}", sent)

    if edits(holder, kind):
        assert (response.status_code, response.json()) == (200, {})
        assert Event.objects.get(pk=event.pk).text == (event.text if body == "no-change" else "Changed")
        return
    if sees(holder):
        assert_json_error(response, 403)
    else:
        missing = api.put(f"events/{MISSING}", sent)
        # The event is looked up before the body is read: a full body, naming the hidden calendar in
        # "type", gets the 404 of any unknown id too.
        assert_like_missing(response, missing, 404)
    assert state() == before


@holders
@kinds
def test_move_event_out_to_a_calendar_the_holder_edits(world, holder, kind):
    api, calendar = world.api(holder), world.calendar(holder, kind)
    destination = world.calendar(holder, "editable")
    event = world.events[calendar.pk]
    sent = {**event_as_shown(world, holder, event), "type": destination.pk}
    before = state()

    response = api.put(f"events/{event.pk}", sent)

    if edits(holder, kind):
        assert (response.status_code, response.json()) == (200, {})
        assert Event.objects.get(pk=event.pk).calendar == destination
        return
    if sees(holder):
        assert_json_error(response, 403)
    else:
        assert_like_missing(response, api.put(f"events/{MISSING}", sent), 404)
    assert state() == before


@holders
@kinds
def test_move_event_in_from_a_calendar_the_holder_edits(world, holder, kind):
    api, calendar = world.api(holder), world.calendar(holder, kind)
    event = world.events[world.calendar(holder, "editable").pk]
    before = state()

    response = api.put(f"events/{event.pk}", {**event_as_shown(world, holder, event), "type": calendar.pk})

    if edits(holder, kind):
        assert (response.status_code, response.json()) == (200, {})
        assert Event.objects.get(pk=event.pk).calendar == calendar
        return
    if sees(holder):
        assert_json_error(response, 403)
    else:
        missing = api.put(f"events/{event.pk}", {**event_as_shown(world, holder, event), "type": MISSING})
        assert_like_missing(response, missing, 400)
        assert response.json()["errors"] == {"type": ["Unknown calendar."]}
    assert state() == before


@holders
def test_move_event_to_a_calendar_the_holder_only_views_is_refused(world, holder):
    api, calendar = world.api(holder), world.calendar(holder)
    destination = world.calendar(holder, "viewable")
    event = world.events[calendar.pk]
    before = state()

    response = api.put(f"events/{event.pk}", {"type": destination.pk})

    if holder == "superuser":
        assert (response.status_code, response.json()) == (200, {})
        return
    if sees(holder):
        assert_json_error(response, 403)
    else:
        assert_like_missing(response, api.put(f"events/{MISSING}", {"type": destination.pk}), 404)
    assert state() == before


@holders
@kinds
def test_delete_event(world, holder, kind):
    api, calendar = world.api(holder), world.calendar(holder, kind)
    event = world.events[calendar.pk]
    before = state()

    response = api.delete(f"events/{event.pk}")

    if edits(holder, kind):
        assert (response.status_code, response.json()) == (200, {})
        assert not Event.objects.filter(pk=event.pk).exists()
        assert not Attachment.objects.filter(event_id=event.pk).exists()
        return
    if sees(holder):
        assert_json_error(response, 403)
    else:
        assert_like_missing(response, api.delete(f"events/{MISSING}"), 200)
        assert response.json() == {}
    assert state() == before


@holders
def test_a_file_of_a_hidden_event_is_an_unknown_file(world, holder):
    api, destination = world.api(holder), world.calendar(holder, "editable")
    hidden = world.files[world.site.pk]
    before = state()

    response = api.post("events", widget_event(destination.pk, files=[{"id": hidden.pk}]))
    missing = api.post("events", widget_event(destination.pk, files=[{"id": MISSING}]))

    # The message names the id that was sent, and nothing else.
    assert response.status_code == missing.status_code == 400
    assert response.content.replace(str(hidden.pk).encode(), b"ID") == missing.content.replace(
        b"%d" % MISSING, b"ID"
    )
    assert state() == before


@pytest.mark.parametrize("holder", [holder for holder in HOLDERS if holder != "superuser"])
def test_a_series_in_a_hidden_calendar_is_an_unknown_event(world, holder):
    api = world.api(holder)
    series = world.events[world.site.pk]
    destination = world.calendar(holder, "editable")
    before = state()

    def exception_of(series_id):
        return widget_event(
            destination.pk, recurringEventId=series_id, originalStartTime="2024-02-11T08:30:00Z"
        )

    response = api.post("events", exception_of(series.pk))

    assert_like_missing(response, api.post("events", exception_of(MISSING)), 400)
    assert response.json()["errors"] == {"recurringEventId": ["Unknown event."]}
    assert state() == before


# ---------------------------------------------------------------------------------------------------
# Writing calendars


@holders
@kinds
def test_put_calendar_label(world, holder, kind):
    api, calendar = world.api(holder), world.calendar(holder, kind)
    sent = {**as_shown(world, holder, calendar), "label": "Renamed"}
    before = state()

    response = api.put(f"calendars/{calendar.pk}", sent)

    if manages(holder):
        assert (response.status_code, response.json()) == (200, {})
        stored = Calendar.objects.get(pk=calendar.pk)
        assert (stored.label, stored.readonly) == ("Renamed", kind == "readonly")
        return
    if sees(holder):
        assert_json_error(response, 403)
    else:
        assert_like_missing(response, api.put(f"calendars/{MISSING}", sent), 404)
    assert state() == before


@holders
@kinds
def test_put_calendar_with_only_active_flipped_hides_it_for_the_holder_alone(world, holder, kind):
    api, calendar = world.api(holder), world.calendar(holder, kind)
    sent = {**as_shown(world, holder, calendar), "active": False}
    onlooker = world.api(world.onlooker(holder))
    before = state()

    response = api.put(f"calendars/{calendar.pk}", sent)

    if not sees(holder):
        assert_like_missing(response, api.put(f"calendars/{MISSING}", sent), 404)
        assert state() == before
        return
    assert (response.status_code, response.json()) == (200, {})
    assert shown_calendars(api)[calendar.pk] == sent
    assert shown_calendars(onlooker)[calendar.pk]["active"] is True
    after = state()
    preferences = after.pop("CalendarPreference")
    before.pop("CalendarPreference")
    assert after == before
    assert [(row["user_id"], row["calendar_id"], row["active"]) for row in preferences] == [
        (world.users[holder].pk, calendar.pk, False)
    ]


@pytest.mark.parametrize("holder", [holder for holder in HOLDERS if sees(holder) and not manages(holder)])
@kinds
def test_readonly_sent_by_a_non_manager_is_ignored(world, holder, kind):
    api, calendar = world.api(holder), world.calendar(holder, kind)
    sent = {**as_shown(world, holder, calendar), "readonly": kind != "readonly"}

    response = api.put(f"calendars/{calendar.pk}", sent)

    assert (response.status_code, response.json()) == (200, {})
    assert Calendar.objects.get(pk=calendar.pk).readonly is (kind == "readonly")
    assert shown_calendars(api)[calendar.pk]["readonly"] is shown_readonly(holder, kind)


@pytest.mark.parametrize("holder", ["viewer", "editor-via-group", "open-to-editors"])
@pytest.mark.parametrize(
    "change",
    [
        {"description": "Mine now"},
        {"color": {"background": "#000000", "border": "#000000"}},
        {"color": {"background": "#5890DC", "border": "#2D74D3", "textColor": "#FFFFFF"}},
    ],
    ids=["description", "color", "text-color"],
)
def test_non_managers_change_nothing_but_their_sidebar(world, holder, change):
    api, calendar = world.api(holder), world.calendar(holder)
    before = state()

    response = api.put(
        f"calendars/{calendar.pk}", {**as_shown(world, holder, calendar), **change, "active": False}
    )

    assert_json_error(response, 403)
    assert state() == before


@holders
def test_delete_calendar(world, holder):
    api, calendar = world.api(holder), world.calendar(holder)
    event = world.events[calendar.pk]
    before = state()

    response = api.delete(f"calendars/{calendar.pk}")

    if manages(holder):
        assert (response.status_code, response.json()) == (200, {})
        assert not Calendar.objects.filter(pk=calendar.pk).exists()
        assert not Event.objects.filter(pk=event.pk).exists()
        assert not Attachment.objects.filter(pk=world.files[calendar.pk].pk).exists()
        return
    if sees(holder):
        assert_json_error(response, 403)
    else:
        assert_like_missing(response, api.delete(f"calendars/{MISSING}"), 200)
        assert response.json() == {}
    assert state() == before


# ---------------------------------------------------------------------------------------------------
# Files


def device_of(token: str) -> int:
    return read_token(token).pk


def download(url: str):
    # Consuming a streamed file closes it; closing a response again would close the test's database
    # connection (request_finished), which PostgreSQL does not survive inside the test's transaction.
    response = Client().get(url)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


@holders
@kinds
def test_file_download(world, holder, kind):
    calendar = world.calendar(holder, kind)
    attachment = world.files[calendar.pk]

    if sees(holder):
        (file,) = shown_events(world.api(holder))[world.events[calendar.pk].pk]["files"]
        response, body = download(file["url"])
        assert (response.status_code, body) == (200, b"bytes")
        return
    # A link to the file, signed for this holder's device, as if they had been handed one.
    links = FileLinks("http://testserver/calendar/api/uploads", device_of(world.tokens[holder]))
    response, _ = download(links.url(attachment.pk, attachment.name))
    missing, _ = download(links.url(MISSING, attachment.name))
    assert_like_missing(response, missing, 404)


def test_a_file_link_stops_working_when_access_is_lost(world):
    calendar = world.calendar("viewer")
    (file,) = shown_events(world.api("viewer"))[world.events[calendar.pk].pk]["files"]
    assert download(file["url"])[0].status_code == 200

    CalendarGrant.objects.filter(calendar=calendar, user=world.users["viewer"]).delete()

    response, _ = download(file["url"])
    missing, _ = download(file["url"].replace(f"/{file['id']}/", f"/{MISSING}/"))
    assert response.status_code == 404
    assert response.content == missing.content


def test_an_unlinked_upload_downloads_for_its_uploader_only(world):
    attachment = attach(None, "draft.txt", uploaded_by=world.users["editor"])
    for holder, status in [("editor", 200), ("viewer", 404), ("superuser", 404)]:
        links = FileLinks("http://testserver/calendar/api/uploads", device_of(world.tokens[holder]))
        response, _ = download(links.url(attachment.pk, attachment.name))
        assert response.status_code == status, holder


def test_a_file_link_works_only_for_the_device_it_was_signed_for(world):
    calendar = world.calendar("open-to-viewers")
    (file,) = shown_events(world.api("viewer"))[world.events[calendar.pk].pk]["files"]
    other_device = device_of(world.tokens["editor"])

    forged = file["url"].replace("device=", f"device={other_device}&x=")
    response, _ = download(forged)

    assert response.status_code == 404


# ---------------------------------------------------------------------------------------------------
# Creating calendars, deleting users


@pytest.mark.parametrize("open_to", ["", VIEWER, EDITOR])
def test_new_calendars_belong_to_their_creator_and_are_open_as_the_setting_says(settings, world, open_to):
    settings.EVENT_CALENDAR = {**settings.EVENT_CALENDAR, "NEW_CALENDAR_OPEN_TO": open_to}
    creator, other = world.api("none"), world.api("viewer")

    response = creator.post("calendars", {"id": "temp://1707553800123", "label": "Mine", "color": {}})

    calendar = Calendar.objects.get(pk=response.json()["id"])
    assert (calendar.owner, calendar.created_by, calendar.open_to) == (world.users["none"],) * 2 + (open_to,)
    assert shown_calendars(creator)[calendar.pk]["readonly"] is False
    shown = shown_calendars(other).get(calendar.pk)
    assert (shown is not None) is bool(open_to)
    if shown is not None:
        assert shown["readonly"] is (open_to == VIEWER)


def test_deleting_a_user_keeps_their_calendars_as_site_calendars(world):
    owner = get_user_model().objects.get(pk=world.users["owner"].pk)
    calendars = [world.calendar("owner", kind) for kind in KINDS]
    CalendarGrant.objects.create(calendar=calendars[0], user=world.users["viewer"], role=VIEWER)

    owner.delete()

    for calendar in calendars:
        stored = Calendar.objects.get(pk=calendar.pk)
        assert stored.owner is None
        assert Event.objects.filter(calendar=stored).count() == 1
    assert calendars[0].pk in shown_calendars(world.api("viewer"))
    assert {calendar.pk for calendar in calendars} <= set(shown_calendars(world.api("superuser")))
    assert not {calendar.pk for calendar in calendars} & set(shown_calendars(world.api("none")))


# ---------------------------------------------------------------------------------------------------
# Live updates: the matrix


def live(test):
    """A socket test: its writes commit, so that the sockets hear of them."""
    return pytest.mark.django_db(transaction=True)(pytest.mark.usefixtures("no_shared_world")(test))


db = database_sync_to_async
QUIET = 0.2


async def all_silent(*communicators) -> None:
    """No frame arrives on any of them (waited for together)."""
    assert all(await asyncio.gather(*(c.receive_nothing(timeout=QUIET) for c in communicators)))


def small_world(holder: str) -> SimpleNamespace:
    """For one socket: a calendar its user holds as ``holder`` says, a private calendar of a stranger's,
    and a superuser who writes."""
    stranger = make_user("stranger")
    root = make_user("root", "superuser")
    user = make_user("member", holder)
    return SimpleNamespace(
        token=issue_token(user),
        writer=issue_token(root),
        target=calendar_held(holder, user, stranger, "Target").pk,
        private=Calendar.objects.create(label="Private", owner=stranger, open_to="").pk,
    )


def frame_key(body: dict) -> tuple[str, str, int]:
    value = body["value"]
    return body["name"], value["type"], (value.get("event") or value.get("calendar"))["id"]


@live
@holders
async def test_live_updates_reach_a_socket_only_for_calendars_its_user_may_see(holder):
    w = await db(small_world)(holder)
    async with socket(w.token) as receiver:
        _, created = await rest(w.writer, "POST", "events", widget_event(w.target))
        event_id = created["id"]
        await rest(w.writer, "PUT", f"events/{event_id}", {"text": "Changed"})
        await rest(w.writer, "PUT", f"events/{event_id}", {"type": w.private})
        await rest(w.writer, "PUT", f"events/{event_id}", {"type": w.target})
        await rest(w.writer, "PUT", f"calendars/{w.target}", {"label": "Renamed"})
        _, elsewhere = await rest(w.writer, "POST", "events", widget_event(w.private))
        await rest(w.writer, "DELETE", f"events/{event_id}")
        _, fresh = await rest(w.writer, "POST", "calendars", {"label": "Root's own"})
        await rest(w.writer, "DELETE", f"calendars/{fresh['id']}")

        expected = []
        if sees(holder):
            expected += [("events", "add-event", event_id), ("events", "update-event", event_id)]
            if holder == "superuser":
                expected += [("events", "update-event", event_id)] * 2
            else:
                # Out of sight into the private calendar, and back.
                expected += [("events", "delete-event", event_id), ("events", "add-event", event_id)]
            expected += [("calendars", "update-calendar", w.target)]
        if holder == "superuser":
            expected += [("events", "add-event", elsewhere["id"])]
        if sees(holder):
            expected += [("events", "delete-event", event_id)]
        if holder == "superuser":
            expected += [
                ("calendars", "add-calendar", fresh["id"]),
                ("calendars", "delete-calendar", fresh["id"]),
            ]
        received = [await next_event(receiver) for _ in expected]
        assert [frame_key(body) for body in received] == expected
        await assert_silent(receiver)

    if sees(holder):
        _, calendars = await rest(w.token, "GET", "calendars")
        renamed = next(body["value"]["calendar"] for body in received if body["name"] == "calendars")
        assert renamed == {calendar["id"]: calendar for calendar in calendars}[w.target]
        assert (renamed["label"], renamed["readonly"], renamed["active"]) == (
            "Renamed",
            shown_readonly(holder),
            True,
        )
        if holder != "superuser":
            moved_back = received[3]["value"]["event"]
            assert (moved_back["type"], moved_back["text"]) == (w.target, "Changed")


# ---------------------------------------------------------------------------------------------------
# Live updates: access changing under open sockets


def make_group(name: str, *members) -> Group:
    group = Group.objects.create(name=name)
    group.user_set.add(*members)
    return group


def scene() -> SimpleNamespace:
    """Alice's private calendar with two events (one with a file); Bob, who may not see it yet, and his own
    calendar; a superuser; a group of Bob's."""
    alice, bob, root = make_user("alice"), make_user("bob"), make_user("root", "superuser")
    calendar = Calendar.objects.create(label="Team", owner=alice, open_to="")
    events = [make_event(calendar, "First", with_file=True).pk, make_event(calendar, "Second").pk]
    own = Calendar.objects.create(label="Bob's", owner=bob, open_to="")
    make_event(own, "Bob's own")
    return SimpleNamespace(
        alice=alice,
        bob=bob,
        root=root,
        calendar=calendar.pk,
        events=events,
        alice_token=issue_token(alice),
        bob_token=issue_token(bob),
        group=make_group("Team members", bob),
    )


@pytest.fixture
async def s(media_root):
    return await db(scene)()


async def shown_to(token: str) -> tuple[dict[int, dict], dict[int, dict]]:
    _, calendars = await rest(token, "GET", "calendars")
    _, events = await rest(token, "GET", "events")
    return {c["id"]: c for c in calendars}, {e["id"]: e for e in events}


async def expect_gained(
    receiver, token: str, calendar_id: int, event_ids: list[int], readonly: bool
) -> list[dict]:
    """``add-calendar`` then each of its events, exactly as the user's own GETs now show them."""
    calendars, events = await shown_to(token)
    assert calendars[calendar_id]["readonly"] is readonly
    assert await next_event(receiver) == {
        "name": "calendars",
        "value": {"type": "add-calendar", "calendar": calendars[calendar_id]},
    }
    received = [await next_event(receiver) for _ in event_ids]
    assert received == [
        {"name": "events", "value": {"type": "add-event", "event": events[pk]}} for pk in event_ids
    ]
    return [body["value"]["event"] for body in received]


async def expect_updated(receiver, token: str, calendar_id: int, readonly: bool) -> None:
    calendars, _ = await shown_to(token)
    assert calendars[calendar_id]["readonly"] is readonly
    assert await next_event(receiver) == {
        "name": "calendars",
        "value": {"type": "update-calendar", "calendar": calendars[calendar_id]},
    }


async def expect_lost(receiver, token: str, calendar_id: int) -> None:
    assert await next_event(receiver) == {
        "name": "calendars",
        "value": {"type": "delete-calendar", "calendar": {"id": calendar_id}},
    }
    calendars, events = await shown_to(token)
    assert calendar_id not in calendars
    assert calendar_id not in {event["type"] for event in events.values()}


async def expect_no_more_updates_of(receiver, s, calendar_id: int) -> None:
    await rest(s.alice_token, "POST", "events", widget_event(calendar_id))
    await rest(s.alice_token, "PUT", f"calendars/{calendar_id}", {"description": "still private"})
    await assert_silent(receiver)


@db
def file_status(url: str) -> int:
    return download(url)[0].status_code


@live
@pytest.mark.parametrize("role", [VIEWER, EDITOR, MANAGER])
@pytest.mark.parametrize("to", ["user", "group"])
async def test_a_grant_given_and_taken_away_in_the_orm_reaches_open_sockets(s, role, to):
    holder = {"user": s.bob} if to == "user" else {"group": s.group}
    async with socket(s.bob_token) as receiver:
        grant = await db(CalendarGrant.objects.create)(calendar_id=s.calendar, role=role, **holder)
        first, _ = await expect_gained(receiver, s.bob_token, s.calendar, s.events, readonly=role == VIEWER)
        assert await file_status(first["files"][0]["url"]) == 200

        grant.role = EDITOR if role == VIEWER else VIEWER
        await db(grant.save)()
        await expect_updated(receiver, s.bob_token, s.calendar, readonly=grant.role == VIEWER)

        await db(grant.delete)()
        await expect_lost(receiver, s.bob_token, s.calendar)
        assert await file_status(first["files"][0]["url"]) == 404
        await expect_no_more_updates_of(receiver, s, s.calendar)


# --- the admin --------------------------------------------------------------------------------------


@db
def admin_saves_calendar(root, calendar_id: int, *, add=(), delete=(), roles=None, **fields) -> None:
    """Submit the calendar's admin change form, grants inline: ``add`` new grant rows, ``delete`` grant ids,
    change ``roles`` ({grant id: role}) and the calendar's ``fields``."""
    calendar = Calendar.objects.get(pk=calendar_id)
    grants = list(calendar.grants.order_by("pk"))
    flags = {"active": calendar.active, "readonly": calendar.readonly}
    flags.update((name, fields.pop(name)) for name in list(fields) if name in flags)
    data = {
        "label": calendar.label,
        "description": calendar.description,
        "owner": calendar.owner_id or "",
        "open_to": calendar.open_to,
        "color_background": calendar.color_background,
        "color_border": calendar.color_border,
        "color_text": calendar.color_text,
        **{name: "on" for name, on in flags.items() if on},
        **fields,
        "grants-TOTAL_FORMS": len(grants) + len(add),
        "grants-INITIAL_FORMS": len(grants),
        "grants-MIN_NUM_FORMS": 0,
        "grants-MAX_NUM_FORMS": 1000,
        "_save": "Save",
    }
    rows = [
        {
            "id": g.pk,
            "user": g.user_id or "",
            "group": g.group_id or "",
            "role": (roles or {}).get(g.pk, g.role),
        }
        | ({"DELETE": "on"} if g.pk in delete else {})
        for g in grants
    ] + [{"id": "", "user": "", "group": "", **row} for row in add]
    for index, row in enumerate(rows):
        data.update(
            {f"grants-{index}-{key}": value for key, value in {**row, "calendar": calendar.pk}.items()}
        )
    client = Client()
    client.force_login(root)
    response = client.post(reverse("admin:event_calendar_calendar_change", args=[calendar.pk]), data)
    assert response.status_code == 302, admin_errors(response)


def admin_errors(response) -> Any:
    context = response.context or {}
    if "adminform" not in context:
        return response.content[:2000]
    return context["adminform"].form.errors, [
        formset.formset.errors for formset in context["inline_admin_formsets"]
    ]


@db
def admin_saves_user(root, user, **changes) -> None:
    """Submit the user's admin change form, with ``changes`` (``groups`` as a list of groups)."""
    user.refresh_from_db()
    values = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": user.is_active,
        "is_staff": user.is_staff,
        "is_superuser": user.is_superuser,
        "groups": [group.pk for group in user.groups.all()],
        **changes,
    }
    values["groups"] = [getattr(group, "pk", group) for group in values["groups"]]
    data = {name: value for name, value in values.items() if not isinstance(value, bool)}
    data.update({name: "on" for name, value in values.items() if value is True})
    data.update(
        {"user_permissions": [], "date_joined_0": "2024-01-01", "date_joined_1": "00:00:00", "_save": "Save"}
    )
    client = Client()
    client.force_login(root)
    response = client.post(reverse("admin:auth_user_change", args=[user.pk]), data)
    assert response.status_code == 302, admin_errors(response)


@db
def grant_of(calendar_id: int, **holder) -> int:
    return CalendarGrant.objects.get(calendar_id=calendar_id, **holder).pk


@live
async def test_grants_given_changed_and_taken_in_the_admin_reach_open_sockets_and_get(s):
    async with socket(s.bob_token) as receiver:
        await admin_saves_calendar(s.root, s.calendar, add=[{"user": s.bob.pk, "role": VIEWER}])
        await expect_gained(receiver, s.bob_token, s.calendar, s.events, readonly=True)

        grant = await grant_of(s.calendar, user=s.bob)
        await admin_saves_calendar(s.root, s.calendar, roles={grant: EDITOR})
        await expect_updated(receiver, s.bob_token, s.calendar, readonly=False)

        await admin_saves_calendar(s.root, s.calendar, delete=[grant])
        await expect_lost(receiver, s.bob_token, s.calendar)

        await admin_saves_calendar(s.root, s.calendar, add=[{"group": s.group.pk, "role": MANAGER}])
        await expect_gained(receiver, s.bob_token, s.calendar, s.events, readonly=False)
        status, _ = await rest(s.bob_token, "PUT", f"calendars/{s.calendar}", {"label": "Managed by Bob"})
        assert status == 200

        await admin_saves_calendar(s.root, s.calendar, delete=[await grant_of(s.calendar, group=s.group)])
        await expect_lost(receiver, s.bob_token, s.calendar)
        await expect_no_more_updates_of(receiver, s, s.calendar)


@live
async def test_an_owner_changed_in_the_admin_moves_the_calendar_between_sockets(s):
    async with socket(s.alice_token) as alice, socket(s.bob_token) as bob:
        await admin_saves_calendar(s.root, s.calendar, owner=s.bob.pk)
        await expect_gained(bob, s.bob_token, s.calendar, s.events, readonly=False)
        await expect_lost(alice, s.alice_token, s.calendar)
        await all_silent(alice, bob)


@live
async def test_the_admin_making_a_calendar_readonly_reaches_everyone(s):
    await db(CalendarGrant.objects.create)(calendar_id=s.calendar, user=s.bob, role=MANAGER)
    async with socket(s.alice_token) as alice, socket(s.bob_token) as bob:
        await admin_saves_calendar(s.root, s.calendar, readonly=True)
        await expect_updated(alice, s.alice_token, s.calendar, readonly=True)
        await expect_updated(bob, s.bob_token, s.calendar, readonly=True)
        status, _ = await rest(s.alice_token, "POST", "events", widget_event(s.calendar))
        assert status == 403


# --- groups, open_to, superusers --------------------------------------------------------------------

MEMBERSHIP = {
    "user.groups.add": lambda user, group: user.groups.add(group),
    "user.groups.set": lambda user, group: user.groups.set([group]),
    "group.user_set.add": lambda user, group: group.user_set.add(user),
    "user.groups.remove": lambda user, group: user.groups.remove(group),
    "user.groups.clear": lambda user, group: user.groups.clear(),
    "group.user_set.remove": lambda user, group: group.user_set.remove(user),
    "group.user_set.clear": lambda user, group: group.user_set.clear(),
    "group.delete": lambda user, group: Group.objects.get(pk=group.pk).delete(),
}


@live
@pytest.mark.parametrize(
    "join, leave",
    [
        ("user.groups.add", "group.user_set.remove"),
        ("group.user_set.add", "user.groups.remove"),
        ("user.groups.set", "group.user_set.clear"),
        ("group.user_set.add", "user.groups.clear"),
        ("user.groups.add", "group.delete"),
        ("admin", "admin"),
    ],
)
async def test_joining_and_leaving_a_group_reaches_open_sockets(s, join, leave):
    group = await db(make_group)("Planners")
    await db(CalendarGrant.objects.create)(calendar_id=s.calendar, group=group, role=EDITOR)
    async with socket(s.bob_token) as receiver:
        if join == "admin":
            await admin_saves_user(s.root, s.bob, groups=[s.group, group])
        else:
            await db(MEMBERSHIP[join])(s.bob, group)
        await expect_gained(receiver, s.bob_token, s.calendar, s.events, readonly=False)

        if leave == "admin":
            await admin_saves_user(s.root, s.bob, groups=[s.group])
        else:
            await db(MEMBERSHIP[leave])(s.bob, group)
        await expect_lost(receiver, s.bob_token, s.calendar)
        await expect_no_more_updates_of(receiver, s, s.calendar)


@db
def set_open_to(via: str, root, calendar_id: int, open_to: str) -> None:
    if via == "orm":
        calendar = Calendar.objects.get(pk=calendar_id)
        calendar.open_to = open_to
        calendar.save()
    else:
        admin_saves_calendar.func(root, calendar_id, open_to=open_to)


@live
@pytest.mark.parametrize("via", ["orm", "admin"])
async def test_opening_and_closing_a_calendar_reaches_open_sockets(s, via):
    carol = await db(make_user)("carol")
    carol_token = await token_for(carol)
    async with socket(s.bob_token) as bob, socket(carol_token) as carol_socket:
        await set_open_to(via, s.root, s.calendar, VIEWER)
        for receiver, token in [(bob, s.bob_token), (carol_socket, carol_token)]:
            await expect_gained(receiver, token, s.calendar, s.events, readonly=True)

        await set_open_to(via, s.root, s.calendar, EDITOR)
        for receiver, token in [(bob, s.bob_token), (carol_socket, carol_token)]:
            await expect_updated(receiver, token, s.calendar, readonly=False)

        await set_open_to(via, s.root, s.calendar, "")
        for receiver, token in [(bob, s.bob_token), (carol_socket, carol_token)]:
            await expect_lost(receiver, token, s.calendar)
        await all_silent(bob, carol_socket)


@db
def set_superuser(via: str, root, user, flag: bool) -> None:
    if via == "orm":
        user.refresh_from_db()
        user.is_superuser = flag
        user.save()
    else:
        admin_saves_user.func(root, user, is_superuser=flag)


@live
@pytest.mark.parametrize("via", ["orm", "admin"])
async def test_the_superuser_flag_reaches_open_sockets(s, via):
    shared = await db(Calendar.objects.create)(label="Shared", owner=s.alice, open_to=VIEWER)
    async with socket(s.bob_token) as receiver:
        await set_superuser(via, s.root, s.bob, True)
        # Calendars in id order (Team gained, Shared now managed), then the gained calendar's events.
        calendars, events = await shown_to(s.bob_token)
        received = [await next_event(receiver) for _ in range(2 + len(s.events))]
        assert received == [
            {"name": "calendars", "value": {"type": "add-calendar", "calendar": calendars[s.calendar]}},
            {"name": "calendars", "value": {"type": "update-calendar", "calendar": calendars[shared.pk]}},
            *[{"name": "events", "value": {"type": "add-event", "event": events[pk]}} for pk in s.events],
        ]
        assert (calendars[s.calendar]["readonly"], calendars[shared.pk]["readonly"]) == (False, False)
        await assert_silent(receiver)

        await set_superuser(via, s.root, s.bob, False)
        await expect_lost(receiver, s.bob_token, s.calendar)
        await expect_updated(receiver, s.bob_token, shared.pk, readonly=True)
        await expect_no_more_updates_of(receiver, s, s.calendar)


@live
async def test_deactivating_a_user_closes_their_sockets(s):
    async with socket(s.bob_token) as receiver:

        @db
        def deactivate():
            s.bob.is_active = False
            s.bob.save()

        await deactivate()
        assert await receiver.receive_output(timeout=2) == {"type": "websocket.close", "code": 4001}
    assert (await rest(s.bob_token, "GET", "calendars"))[0] == 401


# --- deleting a user, moving events, the sidebar ------------------------------------------------------


@live
async def test_deleting_the_owner_keeps_the_calendar_for_everyone_else(s):
    await db(CalendarGrant.objects.create)(calendar_id=s.calendar, user=s.bob, role=VIEWER)
    carol = await db(make_user)("carol")
    carol_token, root_token = await token_for(carol), await token_for(s.root)
    before = await shown_to(s.bob_token)
    async with (
        socket(s.alice_token) as alice,
        socket(s.bob_token) as bob,
        socket(carol_token) as carol_socket,
    ):
        await db(get_user_model().objects.filter(pk=s.alice.pk).delete)()

        assert await alice.receive_output(timeout=2) == {"type": "websocket.close", "code": 4001}
        await all_silent(bob, carol_socket)

    calendar = await db(Calendar.objects.get)(pk=s.calendar)
    assert calendar.owner_id is None
    assert await db(Event.objects.filter(calendar=calendar).count)() == len(s.events)
    assert await shown_to(s.bob_token) == before
    assert s.calendar in (await shown_to(root_token))[0]
    assert s.calendar not in (await shown_to(carol_token))[0]
    # A site calendar now: administrators run it, the grants still hold.
    status, _ = await rest(s.bob_token, "PUT", f"calendars/{s.calendar}", {"label": "Mine?"})
    assert status == 403


@live
async def test_an_event_moved_across_calendars_is_added_or_deleted_for_who_sees_one_side(s):
    second = await db(Calendar.objects.create)(label="Second", owner=s.alice, open_to="")
    carol, dave = await db(make_user)("carol"), await db(make_user)("dave")

    @db
    def grants():
        CalendarGrant.objects.create(calendar_id=s.calendar, user=s.bob, role=VIEWER)
        CalendarGrant.objects.create(calendar=second, user=carol, role=VIEWER)
        CalendarGrant.objects.create(calendar_id=s.calendar, user=dave, role=VIEWER)
        CalendarGrant.objects.create(calendar=second, user=dave, role=VIEWER)

    await grants()
    tokens = {"carol": await token_for(carol), "dave": await token_for(dave)}
    event_id = s.events[1]
    async with (
        socket(s.alice_token) as alice,
        socket(s.bob_token) as bob,
        socket(tokens["carol"]) as carol_socket,
        socket(tokens["dave"]) as dave_socket,
    ):
        assert await rest(s.alice_token, "PUT", f"events/{event_id}", {"type": second.pk}) == (200, {})
        moved = (await shown_to(tokens["carol"]))[1][event_id]
        assert await next_event(bob) == {
            "name": "events",
            "value": {"type": "delete-event", "event": {"id": event_id}},
        }
        assert await next_event(carol_socket) == {
            "name": "events",
            "value": {"type": "add-event", "event": moved},
        }
        assert await next_event(dave_socket) == {
            "name": "events",
            "value": {"type": "update-event", "event": moved},
        }

        assert await rest(s.alice_token, "PUT", f"events/{event_id}", {"type": s.calendar}) == (200, {})
        back = (await shown_to(s.bob_token))[1][event_id]
        assert await next_event(bob) == {"name": "events", "value": {"type": "add-event", "event": back}}
        assert await next_event(carol_socket) == {
            "name": "events",
            "value": {"type": "delete-event", "event": {"id": event_id}},
        }
        assert await next_event(dave_socket) == {
            "name": "events",
            "value": {"type": "update-event", "event": back},
        }
        await all_silent(alice, bob, carol_socket, dave_socket)


@live
@pytest.mark.parametrize(
    "holder", ["viewer", "editor-via-group", "open-to-viewers", "manager", "owner", "superuser"]
)
async def test_a_sidebar_toggle_reaches_the_users_other_devices_only(holder):
    @db
    def setup():
        stranger, user, other = make_user("stranger"), make_user("alice", holder), make_user("bob")
        calendar = calendar_held(holder, user, stranger, "Team")
        CalendarGrant.objects.create(calendar=calendar, user=other, role=VIEWER)
        return calendar.pk, issue_token(user), issue_token(user), issue_token(other)

    calendar_id, first_tab, second_tab, other_token = await setup()
    async with socket(first_tab) as first, socket(second_tab) as second, socket(other_token) as other:
        shown = (await shown_to(first_tab))[0][calendar_id]
        assert shown["active"] is True

        assert await rest(first_tab, "PUT", f"calendars/{calendar_id}", {**shown, "active": False}) == (
            200,
            {},
        )
        hidden = {**shown, "active": False}
        assert await next_event(second) == {
            "name": "calendars",
            "value": {"type": "update-calendar", "calendar": hidden},
        }
        await all_silent(first, second, other)
        assert (await shown_to(second_tab))[0][calendar_id] == hidden
        assert (await shown_to(other_token))[0][calendar_id]["active"] is True

        assert await rest(second_tab, "PUT", f"calendars/{calendar_id}", {**hidden, "active": True}) == (
            200,
            {},
        )
        assert await next_event(first) == {
            "name": "calendars",
            "value": {"type": "update-calendar", "calendar": shown},
        }
        await all_silent(first, second, other)
        assert await db(Calendar.objects.filter(pk=calendar_id, active=True).exists)()


@live
@pytest.mark.parametrize("change", ["given", "taken away"])
async def test_access_changed_while_a_socket_connects_is_not_missed(s, monkeypatch, change):
    """A grant given or taken away after the socket has read its user's access, before it listens: the
    socket must still follow, or it would go on without the calendar, or sending its changes."""

    @db
    def change_access():
        if change == "given":
            CalendarGrant.objects.create(calendar_id=s.calendar, user=s.bob, role=VIEWER)
        else:
            CalendarGrant.objects.filter(calendar_id=s.calendar, user=s.bob).delete()

    if change == "taken away":
        await db(CalendarGrant.objects.create)(calendar_id=s.calendar, user=s.bob, role=VIEWER)
    load_viewer = consumers.load_viewer

    async def load_then_change_access(user_id):
        viewer = await load_viewer(user_id)
        await change_access()
        return viewer

    monkeypatch.setattr(consumers, "load_viewer", load_then_change_access)
    async with socket(s.bob_token, subscribe=()) as receiver:
        monkeypatch.undo()
        # The change's own message may still be on its way through the channel layer (Redis); it is
        # not what this test is about, so let it land before subscribing.
        await asyncio.sleep(QUIET)
        for name in ("events", "calendars"):
            await receiver.send_json_to({"action": "subscribe", "name": name})
        await barrier(receiver)
        _, created = await rest(s.alice_token, "POST", "events", widget_event(s.calendar))
        if change == "given":
            body = await next_event(receiver)
            assert (body["value"]["type"], body["value"]["event"]["id"]) == ("add-event", created["id"])
        await assert_silent(receiver)


@live
async def test_a_user_deactivated_during_the_handshake_is_refused_and_hears_nothing(s, monkeypatch):
    load_viewer = consumers.load_viewer

    async def deactivated_meanwhile(user_id):
        await db(get_user_model().objects.filter(pk=user_id).update)(is_active=False)
        await rest(s.alice_token, "POST", "events", widget_event(s.calendar))
        return await load_viewer(user_id)

    monkeypatch.setattr(consumers, "load_viewer", deactivated_meanwhile)
    communicator = communicator_for(f"?token={s.bob_token}&ws=1")
    connected, _ = await communicator.connect()
    monkeypatch.undo()
    assert not connected
    assert await communicator.receive_nothing(timeout=QUIET)
    await communicator.disconnect()  # raises what the consumer raised meanwhile, if anything
    groups = getattr(get_channel_layer(), "groups", None)  # the in-memory layer shows its groups
    if groups is not None:
        assert not groups.get(broadcast.GROUP)


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["owner", "open-to-editors"])
def test_writes_the_calendar_itself_allows_read_no_grants_or_groups(django_user_model, how):
    """The calendar's owner and ``open_to`` settle access without the grants and groups queries."""
    user = django_user_model.objects.create_user("writer")
    user.groups.add(Group.objects.create(name="team"))
    calendar = Calendar.objects.create(
        label="Work", owner=user if how == "owner" else None, open_to=EDITOR if how != "owner" else ""
    )
    api = WidgetClient(issue_token(user))
    with CaptureQueriesContext(connection) as queries:
        created = api.post("events", widget_event(calendar.pk)).json()["id"]
        assert api.put(f"events/{created}", {"text": "Moved"}).status_code == 200
        assert api.delete(f"events/{created}").json() == {}
    tables = " ".join(query["sql"] for query in queries.captured_queries)
    assert "calendargrant" not in tables and "auth_user_groups" not in tables
    assert not Event.objects.filter(pk=created).exists()
