"""A process's hub when the channel layer fails: it keeps no broken state, hands nothing out twice, and
rejoins a layer that lost its groups. (Sockets through the real router are in tests/test_socket.py; a
real Redis restart under real servers in tests/test_live.py.)"""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import InMemoryChannelLayer

from event_calendar import broadcast
from event_calendar.consumers import Hub


class FlakyLayer(InMemoryChannelLayer):
    """The in-memory layer, with failures on demand, as Redis gives them when it restarts."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: set[str] = set()

    def fail(self, *operations: str) -> None:
        self.failing = set(operations)

    def check(self, operation: str) -> None:
        if operation in self.failing:
            raise ConnectionError(f"{operation} failed")

    async def group_add(self, group, channel):
        self.check("group_add")
        await super().group_add(group, channel)

    async def group_discard(self, group, channel):
        self.check("group_discard")
        await super().group_discard(group, channel)

    async def receive(self, channel):
        if "receive" in self.failing:
            await asyncio.sleep(0.05)
            self.check("receive")
        return await super().receive(channel)


class Socket:
    user_id = device_id = 1

    def __init__(self) -> None:
        self.received: list[str] = []

    def post(self, message: dict) -> None:
        self.received.append(message["n"])


async def change(layer: FlakyLayer, n: str) -> None:
    await layer.group_send(broadcast.GROUP, {"type": "calendar.change", "n": n})
    await asyncio.sleep(0.05)


async def test_a_failed_join_leaves_nothing_behind_and_the_next_socket_joins():
    layer, first, second = FlakyLayer(), Socket(), Socket()
    hub = Hub(layer)
    layer.fail("group_add")
    with pytest.raises(ConnectionError):
        await hub.add(first)
    assert hub.channel is None and not hub.sockets and not layer.groups

    layer.fail()
    await hub.add(second)
    await change(layer, "a")
    assert (first.received, second.received) == ([], ["a"])
    await hub.remove(second)


async def test_a_failed_leave_still_stops_the_reader_so_nothing_arrives_twice():
    layer, first, second = FlakyLayer(), Socket(), Socket()
    hub = Hub(layer)
    await hub.add(first)
    (old_reader, _) = hub.tasks
    layer.fail("group_discard")
    await hub.remove(first)  # logged, not raised: the socket is gone either way
    layer.fail()

    await hub.add(second)
    await change(layer, "a")  # the old channel is still in the group: it must hand nothing out
    assert second.received == ["a"]
    assert old_reader.done()
    await hub.remove(second)


async def test_after_failed_reads_the_hub_rejoins_a_layer_that_lost_its_groups():
    layer, socket = FlakyLayer(), Socket()
    hub = Hub(layer)
    await hub.add(socket)
    layer.fail("receive")
    await asyncio.sleep(0.1)
    layer.groups.clear()  # restarted without its data
    layer.fail()
    await asyncio.sleep(1.2)  # the hub retries after a second

    await change(layer, "a")
    assert socket.received == ["a"]
    await hub.remove(socket)
    assert not layer.groups.get(broadcast.GROUP)
