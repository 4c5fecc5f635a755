"""End to end in a real browser: the vendor's own client code drives the server inside headless Chromium.

The test page (tests/browser/index.html and client.js) runs ``Rest`` and its ActionQueue from
@svar-ui/lib-data-provider with the Event Calendar's six handlers (CONTRACT.md 1.1), and dhtmlx-gantt's
``RemoteEvents``, the widget's socket client, with handlers written like the widget's ``remoteUpdates``
(CONTRACT.md 4.7); both packages are pinned in tests/browser/package.json. The server under test serves the
page and the packages. Each tab has its own token, so its own device; Alice has two tabs, Bob one, in
another browser context. With ``EVENT_CALENDAR_TEST_LAYER=redis`` Alice's first tab talks to one server
process and the other tabs to a second one, sharing one Redis.

Without Chromium, npm or Playwright these tests skip, except under CI, where they fail.
"""

from __future__ import annotations

import json
import os
import re
import struct
import urllib.request
import zlib
from types import SimpleNamespace
from typing import Any

import pytest

from .browser.harness import (
    DEADLINE_MS,
    QUIET_MS,
    RECONNECT_DEADLINE_MS,
    Sockets,
    Tab,
    close_browser,
    launch_browser,
    unavailable,
)
from .live import ExampleProject, LiveSite, redis_is_reachable, request

USE_REDIS = os.environ.get("EVENT_CALENDAR_TEST_LAYER") == "redis"
# ActionQueue.getSync(): some action is held back and not sent yet.
NOTSENT = 1
MISSING = object()


@pytest.fixture(scope="module")
def browser():
    playwright, browser = launch_browser()
    yield browser
    close_browser(playwright, browser)


@pytest.fixture(scope="module")
def site(browser):
    if USE_REDIS and not redis_is_reachable():
        unavailable("Redis is not reachable at 127.0.0.1:6379")
    live = LiveSite(redis=USE_REDIS)
    try:
        first = live.start_server()
        second = live.start_server() if USE_REDIS else first
        yield live, first, second
    finally:
        live.close()


@pytest.fixture
def tabs(browser, site):
    live, first, second = site
    alice_token, alice_again_token, bob_token = live.device_tokens("alice", "alice", "bob")
    alice_context, bob_context = browser.new_context(), browser.new_context()
    for context in (alice_context, bob_context):
        context.set_default_timeout(DEADLINE_MS)
    try:
        yield SimpleNamespace(
            alice=Tab(alice_context, first, alice_token),
            alice_again=Tab(alice_context, second, alice_again_token),
            bob=Tab(bob_context, second, bob_token),
        )
    finally:
        alice_context.close()
        bob_context.close()


# --- helpers ---------------------------------------------------------------------------------------------


def widget_event(calendar: Any, text: str, day: int = 10, **fields: Any) -> dict[str, Any]:
    """An event as the widget's store holds it before sending (dates become Dates in the page)."""
    return {
        "type": calendar,
        "text": text,
        "details": "",
        "start_date": f"2024-02-{day:02}T08:30:00.000Z",
        "end_date": f"2024-02-{day:02}T09:30:00.000Z",
        "allDay": False,
        **fields,
    }


def widget_calendar(label: str) -> dict[str, Any]:
    """A calendar as the sidebar's form sends it: no ``active`` key."""
    return {"label": label, "description": "", "color": {"background": "#5890DC", "border": "#2D74D3"}}


def get(tab: Tab, path: str) -> Any:
    status, body = request(tab.base, tab.token, "GET", path)
    assert status == 200, body
    return body


def summary(update: dict[str, Any]) -> tuple[str, Any]:
    """``(update type, object id)`` of one live update as the page's socket handlers got it."""
    value = update["value"]
    return value["type"], (value.get("event") or value.get("calendar"))["id"]


def assert_in_sync(*tabs: Tab) -> None:
    """Each tab's store holds exactly what ``GET`` answers: the same ids, and every object it was sent live
    equal to the server's. What a tab created itself it holds as it sent it: each of those values is the
    server's (files compared by id: the uploader decorates its entries)."""
    for tab in tabs:
        local = tab.snapshot()
        for kind in ("events", "calendars"):
            server = {item["id"]: item for item in get(tab, kind)}
            held = {item["id"]: item for item in local[kind]}
            assert sorted(held) == sorted(server), (
                f"{kind}: the tab holds {sorted(held)}, the server {sorted(server)}"
            )
            for id, item in held.items():
                if id not in local["own"][kind]:
                    assert item == server[id]
                    continue
                for key, value in item.items():
                    if key == "files":
                        assert [f["id"] for f in value] == [f["id"] for f in server[id]["files"]]
                    else:
                        assert server[id].get(key, MISSING) == value, f"{kind} {id}: {key}"
        assert tab.errors() == []


def assert_heard(tab: Tab, expected: list[tuple[str, Any]]) -> None:
    """After a quiet moment: the tab was sent exactly these live updates, in this order, each frame handled
    once (the author of a change is never among its receivers)."""
    tab.page.wait_for_timeout(QUIET_MS)
    received = tab.received()
    assert len(tab.event_frames()) == len(received)
    assert [summary(update) for update in received] == expected
    assert tab.errors() == []


# --- scenarios ---------------------------------------------------------------------------------------------


def test_temp_ids_map_to_server_ids_and_the_writes_held_back_for_them_follow(tabs):
    alice, alice_again, bob = tabs.alice, tabs.alice_again, tabs.bob
    calendar, kept, dropped = alice.temp_ids(3)
    queued = alice.exec(
        ("add-calendar", {"id": calendar, "calendar": widget_calendar("Launch")}),
        ("add-event", {"id": kept, "event": widget_event(calendar, "Kick-off")}),
        ("add-event", {"id": dropped, "event": widget_event(calendar, "Dry run")}),
        # The editor's update: its fields and the id, still a temp id.
        ("update-event", {"id": kept, "event": {"id": kept, "text": "Kick-off, moved"}}),
        ("delete-event", {"id": dropped}),
    )
    # All five were handed to the queue before any reply: no server id was known, some were held back.
    assert queued["serverIds"] == [None] * 5 and queued["sync"] == NOTSENT
    alice.settle()

    calendar_id, kept_id, dropped_id = (alice.server_id(id) for id in (calendar, kept, dropped))
    assert all(isinstance(id, int) and id > 0 for id in (calendar_id, kept_id, dropped_id))
    assert sorted(alice.requests_made("POST", "PUT", "DELETE")) == sorted(
        [
            ("POST", "calendars"),
            ("POST", "events"),
            ("POST", "events"),
            ("PUT", f"events/{kept_id}"),
            ("DELETE", f"events/{dropped_id}"),
        ]
    )
    # The event POSTs went out once the calendar had its id: `type` names it; their own temp id is junk.
    posted = [r.post_data_json for r in alice.requests if r.method == "POST" and r.url.endswith("/events")]
    assert sorted((body["text"], body["type"], body["id"]) for body in posted) == [
        ("Dry run", calendar_id, dropped),
        ("Kick-off", calendar_id, kept),
    ]
    [update] = [r.post_data_json for r in alice.requests if r.method == "PUT"]
    assert update == {"id": kept_id, "text": "Kick-off, moved"}
    assert not [r.url for r in alice.requests if "temp" in r.url]

    stored = [event for event in get(alice, "events") if event["type"] == calendar_id]
    assert [(e["id"], e["text"], e["start_date"], e["end_date"]) for e in stored] == [
        (kept_id, "Kick-off, moved", "2024-02-10T08:30:00.000Z", "2024-02-10T09:30:00.000Z")
    ]
    [launch] = [c for c in get(alice, "calendars") if c["id"] == calendar_id]
    assert launch["label"] == "Launch" and launch["active"] is True

    expected = [
        ("add-calendar", calendar_id),
        ("add-event", kept_id),
        ("add-event", dropped_id),
        ("update-event", kept_id),
        ("delete-event", dropped_id),
    ]
    for tab in (bob, alice_again):
        heard = [summary(value) for value in tab.wait_received(5)]
        assert sorted(heard) == sorted(expected)
        # The calendar before its events, each event's add before its update or delete.
        assert heard[0] == ("add-calendar", calendar_id)
        assert heard.index(("add-event", kept_id)) < heard.index(("update-event", kept_id))
        assert heard.index(("add-event", dropped_id)) < heard.index(("delete-event", dropped_id))
    assert_in_sync(alice, alice_again, bob)
    assert_heard(alice, [])


def test_every_change_reaches_the_other_tabs_live_and_never_its_author(tabs):
    alice, alice_again, bob = tabs.alice, tabs.alice_again, tabs.bob

    # Alice creates a calendar and an event in it; Bob and her other tab get both, as GET renders them.
    calendar, event = alice.temp_ids(2)
    alice.exec(
        ("add-calendar", {"id": calendar, "calendar": widget_calendar("Team")}),
        ("add-event", {"id": event, "event": widget_event(calendar, "Stand-up")}),
    )
    alice.settle()
    calendar_id, event_id = alice.server_id(calendar), alice.server_id(event)
    [stored_calendar] = [c for c in get(bob, "calendars") if c["id"] == calendar_id]
    [stored_event] = [e for e in get(bob, "events") if e["id"] == event_id]
    for tab in (bob, alice_again):
        assert tab.wait_received(2) == [
            {"name": "calendars", "value": {"type": "add-calendar", "calendar": stored_calendar}},
            {"name": "events", "value": {"type": "add-event", "event": stored_event}},
        ]
    assert_in_sync(alice, alice_again, bob)
    assert bob.local("event", event_id)["text"] == "Stand-up"

    # Bob edits the event, Alice's other tab renames the calendar: the first tab, which keeps its temp ids,
    # finds both through the queue's resolver.
    bob.exec(("update-event", {"id": event_id, "event": {"id": event_id, "text": "Stand-up (Bob)"}}))
    bob.settle()
    alice.wait_heard("update-event", event_id)
    renamed = {**alice_again.local("calendar", calendar_id), "label": "Team A"}
    alice_again.exec(("update-calendar", {"id": calendar_id, "calendar": renamed}))
    alice_again.settle()
    alice.wait_heard("update-calendar", calendar_id)
    assert alice.local("event", event)["text"] == "Stand-up (Bob)"
    assert alice.local("calendar", calendar)["label"] == "Team A"
    assert alice.local("event", event_id) is None and alice.local("calendar", calendar_id) is None
    bob.wait_heard("update-calendar", calendar_id)
    alice_again.wait_heard("update-event", event_id)
    assert_in_sync(alice, alice_again, bob)

    # Alice drags the event to another day: the full event, by her temp id.
    dates = {"start_date": "2024-02-12T08:30:00.000Z", "end_date": "2024-02-12T09:30:00.000Z"}
    alice.exec(("update-event", {"id": event, "event": {**alice.local("event", event), **dates}}))
    alice.settle()
    moved = bob.wait_heard("update-event", event_id)
    assert moved["event"]["start_date"] == dates["start_date"] and moved["event"]["text"] == "Stand-up (Bob)"
    alice_again.wait_heard("update-event", event_id, 2)
    assert_in_sync(alice, alice_again, bob)

    # Bob deletes the event; Alice adds another; her other tab deletes the calendar, and the first tab drops
    # the calendar's events itself.
    bob.exec(("delete-event", {"id": event_id}))
    bob.settle()
    alice.wait_heard("delete-event", event_id)
    assert alice.local("event", event) is None
    [later] = alice.temp_ids(1)
    alice.exec(("add-event", {"id": later, "event": widget_event(calendar, "Retro", 14)}))
    alice.settle()
    later_id = alice.server_id(later)
    alice_again.wait_heard("add-event", later_id)
    alice_again.exec(("delete-calendar", {"id": calendar_id}))
    alice_again.settle()
    alice.wait_heard("delete-calendar", calendar_id)
    assert alice.local("calendar", calendar) is None and alice.local("event", later) is None
    assert [e for e in get(bob, "events") if e["id"] in (event_id, later_id)] == []
    bob.wait_heard("delete-calendar", calendar_id)
    assert_in_sync(alice, alice_again, bob)

    assert_heard(
        alice,
        [
            ("update-event", event_id),  # Bob's
            ("update-calendar", calendar_id),  # her other tab's
            ("delete-event", event_id),  # Bob's
            ("delete-calendar", calendar_id),  # her other tab's, and no deletes of its events
        ],
    )
    assert_heard(
        alice_again,
        [
            ("add-calendar", calendar_id),
            ("add-event", event_id),
            ("update-event", event_id),
            ("update-event", event_id),
            ("delete-event", event_id),
            ("add-event", later_id),
        ],
    )
    assert_heard(
        bob,
        [
            ("add-calendar", calendar_id),
            ("add-event", event_id),
            ("update-calendar", calendar_id),
            ("update-event", event_id),
            ("add-event", later_id),
            ("delete-calendar", calendar_id),
        ],
    )


def test_a_calendar_edit_reaches_the_editors_other_tab_once(tabs):
    alice, alice_again = tabs.alice, tabs.alice_again
    [calendar] = alice.temp_ids(1)
    alice.exec(("add-calendar", {"id": calendar, "calendar": widget_calendar("Once")}))
    alice.settle()
    calendar_id = alice.server_id(calendar)
    alice_again.wait_received(1)
    renamed = {**alice_again.local("calendar", calendar_id), "label": "Once, renamed"}
    alice_again.exec(("update-calendar", {"id": calendar_id, "calendar": renamed}))
    alice_again.settle()
    alice.wait_received(1)
    assert_heard(alice, [("update-calendar", calendar_id)])


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x20\x80\xe0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def test_a_file_uploaded_from_the_page_is_linked_to_an_event_and_reaches_the_others(tabs):
    alice, bob = tabs.alice, tabs.bob
    notes, image = b"Agenda: 1. budget 2. dates\n", png(3, 2)
    alice.page.set_input_files(
        "#upload",
        files=[
            {"name": "agenda notes.txt", "mimeType": "text/plain", "buffer": notes},
            {"name": "map.png", "mimeType": "image/png", "buffer": image},
        ],
    )
    alice.page.wait_for_function("n => app.uploads.length >= n", arg=2)
    entries = alice.page.evaluate("JSON.parse(JSON.stringify(app.uploads))")

    uploads = [r for r in alice.requests if r.method == "POST" and "/calendar/api/uploads?token=" in r.url]
    assert len(uploads) == 2
    for sent, name in zip(uploads, ("agenda notes.txt", "map.png"), strict=True):
        headers = sent.all_headers()
        # As the widget's uploader: FormData in the field "upload", no token header, no JSON.
        assert "remote-token" not in headers
        assert headers["content-type"].startswith("multipart/form-data; boundary=")
        # The server took the file from the field "upload" (it refuses any other) and says where it is. No
        # "status" key: the uploader would take any value but "server" for a failure.
        reply = sent.response().json()
        assert sorted(reply) == ["id", "name", "url"] and reply["name"] == name
    assert [(entry["status"], entry["name"], entry["file"]) for entry in entries] == [
        ("server", "agenda notes.txt", {}),
        ("server", "map.png", {}),
    ]
    first, second = entries

    # The event is created with the first file; the second is added before the event has its server id.
    calendar, event = alice.temp_ids(2)
    alice.exec(
        ("add-calendar", {"id": calendar, "calendar": widget_calendar("Files")}),
        ("add-event", {"id": event, "event": widget_event(calendar, "Site visit", files=[first])}),
        ("update-event", {"id": event, "event": {"id": event, "files": [first, second]}}),
    )
    alice.settle()
    event_id = alice.server_id(event)
    [stored] = [e for e in get(alice, "events") if e["id"] == event_id]
    assert [(f["id"], f["name"]) for f in stored["files"]] == [
        (first["id"], "agenda notes.txt"),
        (second["id"], "map.png"),
    ]

    heard = bob.wait_received(3)
    assert [summary(value) for value in heard] == [
        ("add-calendar", alice.server_id(calendar)),
        ("add-event", event_id),
        ("update-event", event_id),
    ]
    assert [f["id"] for f in heard[1]["value"]["event"]["files"]] == [first["id"]]
    # Bob's links are his own server's, as his GET gives them.
    [bobs] = [e for e in get(bob, "events") if e["id"] == event_id]
    assert heard[2]["value"]["event"]["files"] == bobs["files"]
    assert_in_sync(alice, bob)

    # The links work as the widget uses them: straight in an <img>, or followed for a download.
    shown = bob.page.evaluate("app.showThumbnails()")
    assert {"name": "map.png", "width": 3} in shown
    with urllib.request.urlopen(bobs["files"][0]["url"], timeout=10) as response:
        assert response.read() == notes
    assert_heard(alice, [])


def test_after_a_server_restart_the_clients_reconnect_resubscribe_and_get_changes_again(tabs, site):
    live, first, second = site
    alice, bob = tabs.alice, tabs.bob
    calendar, event = bob.temp_ids(2)
    bob.exec(
        ("add-calendar", {"id": calendar, "calendar": widget_calendar("Before the restart")}),
        ("add-event", {"id": event, "event": widget_event(calendar, "Planned")}),
    )
    bob.settle()
    alice.wait_received(2)

    for base in {first, second}:
        live.restart_server(base)
    for tab in (alice, bob):
        # RemoteEvents reconnects (after 2 s) with the same token and subscribes again.
        assert sorted(tab.sockets.wait_subscribed(2, RECONNECT_DEADLINE_MS)) == ["calendars", "events"]

    calendar_id, event_id = bob.server_id(calendar), bob.server_id(event)
    [later] = bob.temp_ids(1)
    bob.exec(
        ("add-event", {"id": later, "event": widget_event(calendar, "After the restart", 11)}),
        ("update-event", {"id": event, "event": {"id": event, "text": "Planned, still"}}),
    )
    bob.settle()
    later_id = bob.server_id(later)
    assert sorted(summary(value) for value in alice.wait_received(4)[2:]) == [
        ("add-event", later_id),
        ("update-event", event_id),
    ]
    alice.exec(("update-event", {"id": later_id, "event": {"id": later_id, "text": "Seen by Alice"}}))
    alice.settle()
    bob.wait_received(1)
    assert bob.local("event", later)["text"] == "Seen by Alice"
    assert_in_sync(alice, bob)
    assert_heard(bob, [("update-event", later_id)])
    assert [summary(value) for value in alice.received()][:2] == [
        ("add-calendar", calendar_id),
        ("add-event", event_id),
    ]


@pytest.fixture
def example_project(browser):
    project = ExampleProject()
    yield project
    project.close()


def demo_token(base: str, username: str) -> str:
    """A token as the example page gets one: its config names the demo login URL for the user."""
    with urllib.request.urlopen(f"{base}/?user={username}", timeout=10) as response:
        page = response.read().decode()
    config = json.loads(
        re.search(r'<script id="calendar-config" type="application/json">(.*?)</script>', page).group(1)
    )
    with urllib.request.urlopen(base + config["loginUrl"], timeout=10) as response:
        return response.read().decode().strip()


AGENDA_ITEMS = """() => [...document.querySelectorAll("#agenda li")].map(item => [
    item.querySelector(".text").textContent, item.querySelector(".calendar")?.textContent ?? null])"""


def wait_for_agenda(page, condition: str, arg: Any = None) -> list[list[str]]:
    """Wait until ``condition(items, arg)`` holds for the agenda's ``[text, calendar label]`` items."""
    page.wait_for_function(f"([arg]) => ({condition})(({AGENDA_ITEMS})(), arg)", arg=[arg])
    return page.evaluate(AGENDA_ITEMS)


def test_the_example_page_agenda_follows_another_clients_writes_without_reload(browser, example_project):
    base = example_project.base
    context = browser.new_context()
    context.set_default_timeout(DEADLINE_MS)
    try:
        # The widget's CDN is out of reach here: refuse every request that leaves the local server at once.
        context.route(lambda url: not url.startswith(base), lambda route: route.abort())
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        sockets = Sockets(page)
        page.goto(f"{base}/?user=alice")
        page.wait_for_selector("#agenda:not([hidden]) li")
        assert "could not be loaded" in page.inner_text("#notice")
        sockets.wait_subscribed()

        # What the page shows is what Alice's GET gives.
        alice = demo_token(base, "alice")
        _, events = request(base, alice, "GET", "events")
        _, calendars = request(base, alice, "GET", "calendars")
        labels = {calendar["id"]: calendar["label"] for calendar in calendars}
        shown = [calendar["id"] for calendar in calendars if calendar["active"]]
        loaded = sorted(
            [e["text"], labels[e["type"]]] for e in events if e["start_date"] and e["type"] in shown
        )
        assert sorted(page.evaluate(AGENDA_ITEMS)) == loaded
        page.evaluate("window.notReloaded = true")

        # Bob writes in a calendar that both see and he may edit.
        bob = demo_token(base, "bob")
        _, bobs_calendars = request(base, bob, "GET", "calendars")
        team = next(c["id"] for c in bobs_calendars if c["id"] in shown and not c["readonly"])
        label = labels[team]
        status, created = request(
            base,
            bob,
            "POST",
            "events",
            {
                "type": team,
                "text": "Written by Bob",
                "start_date": events[0]["start_date"],
                "end_date": events[0]["end_date"],
            },
        )
        assert status == 200
        items = wait_for_agenda(page, "(items, text) => items.some(([t]) => t === text)", "Written by Bob")
        assert sorted(items) == sorted([*loaded, ["Written by Bob", label]])

        assert request(base, bob, "PUT", f"events/{created['id']}", {"text": "Rewritten by Bob"})[0] == 200
        items = wait_for_agenda(page, "(items, text) => items.some(([t]) => t === text)", "Rewritten by Bob")
        assert sorted(items) == sorted([*loaded, ["Rewritten by Bob", label]])

        assert request(base, bob, "DELETE", f"events/{created['id']}") == (200, {})
        items = wait_for_agenda(page, "(items, n) => items.length === n", len(loaded))
        assert sorted(items) == loaded

        assert page.evaluate("window.notReloaded") is True
        assert len(sockets.opened) == 1
        assert errors == []
    finally:
        context.close()
