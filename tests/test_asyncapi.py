"""The AsyncAPI document of the socket: consistent in itself, and describing the frames the socket really
sends and takes (each validated against it) through the real router."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client
from jsonschema import Draft202012Validator

from .conftest import BASE, widget_event
from .test_socket import (  # noqa: F401  (fixtures: alice, bob, and the autouse fresh_channel_layer)
    alice,
    bob,
    communicator_for,
    fresh_channel_layer,
    make_calendar,
    rest,
    token_for,
)

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def document() -> dict[str, Any]:
    response = Client().get(f"{BASE}/asyncapi.json")
    assert response.status_code == 200
    return response.json()


def message_schema(document: dict[str, Any], name: str) -> Draft202012Validator:
    payload = document["channels"]["live"]["messages"][name]["payload"]
    return Draft202012Validator({**document, **payload})


def test_the_document_describes_the_mounted_socket_and_its_references_resolve(document):
    assert document["asyncapi"] == "3.0.0"
    assert document["servers"]["site"] == {"host": "testserver", "pathname": BASE, "protocol": "ws"}
    channel = document["channels"]["live"]
    assert channel["address"] == "/api/v1"
    for operation in document["operations"].values():
        assert operation["channel"] == {"$ref": "#/channels/live"}
        for reference in operation["messages"]:
            assert reference["$ref"].removeprefix("#/channels/live/messages/") in channel["messages"]
    for message in channel["messages"].values():
        name = message["payload"]["$ref"].removeprefix("#/components/schemas/")
        Draft202012Validator.check_schema(document["components"]["schemas"][name])


async def test_every_frame_of_a_session_matches_the_document(alice, bob):
    document = await database_sync_to_async(lambda: Client().get(f"{BASE}/asyncapi.json").json())()
    writer = await token_for(alice)
    receiver = communicator_for(f"?token={await token_for(bob)}&ws=1")
    assert (await receiver.connect())[0]
    received: list[dict] = [await receiver.receive_json_from()]
    sent = [
        {"action": "subscribe", "name": "events"},
        {"action": "subscribe", "name": "calendars"},
        {"action": "call", "body": [{"id": "1", "name": "a.b", "args": []}]},
    ]
    for frame in sent:
        await receiver.send_json_to(frame)
    received.append(await receiver.receive_json_from())  # the call's result: every frame before it is handled

    calendar = await make_calendar(owner=None, open_to="editor")
    _, created = await rest(writer, "POST", "events", widget_event(calendar.pk, color={"background": "red"}))
    await rest(writer, "PUT", f"events/{created['id']}", {"text": "Moved"})
    await rest(writer, "DELETE", f"events/{created['id']}")
    _, second = await rest(writer, "POST", "calendars", {"label": "Second"})
    await rest(writer, "PUT", f"calendars/{second['id']}", {"label": "Renamed"})
    await rest(writer, "DELETE", f"calendars/{second['id']}")
    for _ in range(7):  # add-calendar (the fixture's), then the six changes
        received.append(await receiver.receive_json_from(timeout=2))
    await receiver.send_json_to({"action": "unsubscribe", "key": "events"})
    sent.append({"action": "unsubscribe", "key": "events"})
    await receiver.send_to(text_data="not json")
    received.append(await receiver.receive_json_from())
    await receiver.disconnect()

    assert [frame["action"] for frame in received] == ["start", "result", *["event"] * 7, "error"]
    changes = [frame["body"]["value"]["type"] for frame in received if frame["action"] == "event"]
    assert changes == [
        "add-calendar",
        "add-event",
        "update-event",
        "delete-event",
        "add-calendar",
        "update-calendar",
        "delete-calendar",
    ]
    for frame in received:
        message_schema(document, frame["action"]).validate(frame)
    for frame in sent:
        message_schema(document, frame["action"]).validate(frame)
