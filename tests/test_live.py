"""End to end: real daphne processes, real socket clients, writes through REST.

With Redis, two server processes share one channel layer: a change made through one reaches the sockets
held by the other. These tests skip when Redis is not reachable, except under CI, where they must run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time

import pytest
import websockets

from .live import LiveSite, free_port, redis_is_reachable, request

RECEIVE_TIMEOUT = 2.0  # a deadline for frames that must come, not a speed target
QUIET = 0.5


def event_body(calendar_id: int, **fields) -> dict:
    return {
        "id": "temp://1707553800123",
        "type": calendar_id,
        "text": "Live",
        "start_date": "2024-02-10T08:30:00.000Z",
        "end_date": "2024-02-10T09:30:00.000Z",
        **fields,
    }


class Client:
    """One browser tab: a token, its REST calls to one server, and its socket to one server."""

    def __init__(self, token: str, rest_base: str, socket_base: str) -> None:
        self.token = token
        self.rest_base = rest_base
        self.socket_url = socket_base.replace("http://", "ws://") + f"/calendar/api/api/v1?token={token}&ws=1"
        self.connection = None
        self.device_id = None

    async def connect(self) -> None:
        self.connection = await websockets.connect(self.socket_url)
        start = json.loads(await asyncio.wait_for(self.connection.recv(), RECEIVE_TIMEOUT))
        assert start["action"] == "start"
        self.device_id = start["body"]
        for name in ("events", "calendars"):
            await self.connection.send(json.dumps({"action": "subscribe", "name": name}))
        await self.connection.send(json.dumps({"action": "call", "body": [{"id": "sync", "name": "x", "args": []}]}))
        assert json.loads(await asyncio.wait_for(self.connection.recv(), RECEIVE_TIMEOUT))["action"] == "result"

    async def rest(self, method: str, path: str, body=None):
        return await asyncio.to_thread(request, self.rest_base, self.token, method, path, body)

    async def next_value(self) -> dict:
        frame = json.loads(await asyncio.wait_for(self.connection.recv(), RECEIVE_TIMEOUT))
        assert frame["action"] == "event", frame
        return frame["body"]["value"]

    async def assert_silent(self) -> None:
        with pytest.raises(TimeoutError):
            frame = await asyncio.wait_for(self.connection.recv(), QUIET)
            pytest.fail(f"unexpected frame: {frame}")

    async def close(self) -> None:
        await self.connection.close()


def needs_redis():
    if redis_is_reachable():
        return
    if os.environ.get("CI"):
        pytest.fail("Redis at 127.0.0.1:6379 is required under CI")
    pytest.skip("Redis is not reachable at 127.0.0.1:6379")


# Each deployment: the site, and where Alice and Bob send their REST calls and open their sockets.


@pytest.fixture(scope="module")
def single_process():
    site = LiveSite()
    base = site.start_server()
    yield site, [(base, base), (base, base)]
    site.close()


@pytest.fixture(scope="module")
def two_processes():
    needs_redis()
    site = LiveSite(redis=True)
    first, second = site.start_server(), site.start_server()
    # With Redis they are different processes: Alice talks to the first, Bob to the second.
    yield site, [(first, first), (second, second)]
    site.close()


@pytest.fixture(scope="module")
def wsgi_and_asgi():
    """The REST routes on WSGI workers (gunicorn), the sockets on an ASGI server: every change crosses
    from a worker process without an event loop to the socket server through Redis."""
    needs_redis()
    site = LiveSite(redis=True)
    rest, sockets = site.start_server(server="gunicorn"), site.start_server()
    yield site, [(rest, sockets), (rest, sockets)]
    site.close()


@pytest.fixture(params=["single_process", "two_processes", "wsgi_and_asgi"])
def deployment(request):
    return request.getfixturevalue(request.param)


async def connected_clients(deployment):
    site, (first, second) = deployment
    tokens = await asyncio.to_thread(site.tokens, "alice", "bob")
    alice, bob = Client(tokens["alice"], *first), Client(tokens["bob"], *second)
    await alice.connect()
    await bob.connect()
    return alice, bob


async def test_each_client_sees_the_others_changes_and_never_its_own(deployment):
    alice, bob = await connected_clients(deployment)
    try:
        status, created = await alice.rest("POST", "calendars", {"label": "Shared", "color": {"background": "#000"}})
        assert status == 200
        calendar_id = created["id"]
        value = await bob.next_value()
        assert value["type"] == "add-calendar" and value["calendar"]["id"] == calendar_id

        _, created = await bob.rest("POST", "events", event_body(calendar_id))
        event_id = created["id"]
        value = await alice.next_value()
        _, listed = await alice.rest("GET", "events")
        assert value == {"type": "add-event", "event": next(e for e in listed if e["id"] == event_id)}

        await alice.rest("PUT", f"events/{event_id}", {"text": "Edited by Alice"})
        value = await bob.next_value()
        assert value["type"] == "update-event" and value["event"]["text"] == "Edited by Alice"
        assert value["event"]["end_date"] == "2024-02-10T09:30:00.000Z"

        await bob.rest("DELETE", f"events/{event_id}")
        assert await alice.next_value() == {"type": "delete-event", "event": {"id": event_id}}

        await alice.rest("PUT", f"calendars/{calendar_id}", {"label": "Renamed by Alice"})
        value = await bob.next_value()
        assert value["type"] == "update-calendar" and value["calendar"]["label"] == "Renamed by Alice"

        await alice.rest("DELETE", f"calendars/{calendar_id}")
        assert await bob.next_value() == {"type": "delete-calendar", "calendar": {"id": calendar_id}}

        await alice.assert_silent()
        await bob.assert_silent()
    finally:
        await alice.close()
        await bob.close()


async def test_a_rolled_back_write_reaches_nobody(deployment):
    alice, bob = await connected_clients(deployment)
    try:
        _, created = await alice.rest("POST", "calendars", {"label": "Rollback"})
        await bob.next_value()
        # The event row is inserted, then linking an unknown file fails and the transaction rolls back.
        status, body = await alice.rest("POST", "events", event_body(created["id"], files=[{"id": 987654}]))
        assert status == 400 and body["status"] == "error"
        _, listed = await bob.rest("GET", "events")
        assert listed == []
        await bob.assert_silent()
        await alice.assert_silent()
    finally:
        await alice.close()
        await bob.close()


@pytest.mark.parametrize("server", ["daphne", "uvicorn", "gunicorn"])
async def test_the_servers_access_log_masks_tokens(single_process, server):
    site, _ = single_process
    base = await asyncio.to_thread(site.start_server, None, server)
    token = (await asyncio.to_thread(site.tokens, "carol"))["carol"]
    if server != "gunicorn":  # WSGI serves no sockets
        client = Client(token, base, base)
        await client.connect()
        await client.close()
    assert (await asyncio.to_thread(request, base, None, "GET", f"events?token={token}"))[0] == 200

    log = site.server_log(base)
    assert "GET /calendar/api/events?token=*** HTTP/1.1" in log or '"GET /calendar/api/events?token=***"' in log
    assert token.split(":")[-1] not in log
    await asyncio.to_thread(site.stop_server, base)


async def test_a_refused_token_cannot_open_the_socket(single_process):
    _, ((base, _), _) = single_process
    url = base.replace("http://", "ws://") + "/calendar/api/api/v1?token=forged&ws=1"
    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        await websockets.connect(url)
    assert refused.value.response.status_code == 403


class OwnRedis:
    """A Redis server of the test's own, on a free port, that it can stop and start again (empty)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


async def test_live_updates_come_back_by_themselves_after_redis_restarts_empty():
    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is required under CI")
        pytest.skip("redis-server is not installed")
    redis = OwnRedis()
    site = LiveSite(redis=True)
    site.env["EVENT_CALENDAR_TEST_REDIS_URL"] = redis.url
    try:
        first, second = site.start_server(), site.start_server()
        alice, bob = await connected_clients((site, [(first, first), (second, second)]))
        _, created = await alice.rest("POST", "calendars", {"label": "Before"})
        assert (await bob.next_value())["calendar"]["id"] == created["id"]

        redis.stop()
        await asyncio.sleep(0.5)
        redis.start()  # without the group memberships: every process must join again by itself
        deadline = time.monotonic() + 15
        while True:
            status, created = await alice.rest("POST", "calendars", {"label": "After"})
            try:
                value = await bob.next_value()
                break
            except TimeoutError:
                assert time.monotonic() < deadline, "no live update 15 seconds after Redis came back"
        assert status == 200 and value["calendar"]["id"] == created["id"]
        await alice.assert_silent()
        await alice.close()
        await bob.close()
    finally:
        site.close()
        redis.stop()
