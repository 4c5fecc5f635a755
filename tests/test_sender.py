"""Sending live updates from threads without an event loop (WSGI workers, an ASGI server's threads for sync
views, management commands): one loop per process serves every send, so a layer that keeps connections per
loop (channels-redis) keeps them. (Through real WSGI and ASGI servers and Redis: tests/test_live.py.)"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from channels.layers import BaseChannelLayer

from event_calendar import broadcast
from event_calendar.models import Event

from .conftest import widget_event


class RecordingLayer(BaseChannelLayer):
    """Records each group send with the loop and the thread it ran on; fails the sends it is told to."""

    def __init__(self, failing: frozenset[int] = frozenset()) -> None:
        super().__init__()
        self.failing = failing
        self.sent: list[tuple[int, asyncio.AbstractEventLoop, int]] = []

    async def group_send(self, group, message):
        if message["n"] in self.failing:
            raise ConnectionError("the layer is down")
        self.sent.append((message["n"], asyncio.get_running_loop(), threading.get_ident()))


def send_numbers(layer: RecordingLayer, numbers: range) -> None:
    for n in numbers:
        broadcast.group_send(layer, broadcast.GROUP, {"type": "calendar.change", "n": n})


def test_sends_from_threads_without_a_loop_share_one_running_loop_and_keep_their_order():
    layer = RecordingLayer()
    send_numbers(layer, range(0, 5))
    threads = [threading.Thread(target=send_numbers, args=(layer, range(start, start + 5))) for start in (10, 20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    send_numbers(layer, range(30, 35))

    loops = {loop for _, loop, _ in layer.sent}
    assert len(loops) == 1 and loops.pop().is_running()
    senders = {thread_id for _, _, thread_id in layer.sent}
    assert len(senders) == 1 and senders.isdisjoint({threading.get_ident(), *(t.ident for t in threads)})
    numbers = [n for n, _, _ in layer.sent]
    for start in (0, 10, 20, 30):
        assert [n for n in numbers if start <= n < start + 5] == list(range(start, start + 5))
    assert len(numbers) == 20


def test_a_failed_send_is_raised_to_its_sender_and_the_loop_serves_the_next():
    layer = RecordingLayer(failing=frozenset({1}))
    send_numbers(layer, range(0, 1))
    with pytest.raises(ConnectionError):
        send_numbers(layer, range(1, 2))
    send_numbers(layer, range(2, 3))

    assert [n for n, _, _ in layer.sent] == [0, 2]


def test_a_send_that_hangs_is_given_up_after_the_timeout_and_the_loop_serves_the_next():
    sender = broadcast.SenderLoop(timeout=0.2)
    cancelled = threading.Event()

    async def hang():
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def answer():
        return 42

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        sender.run(hang())
    assert time.monotonic() - started < 5
    assert cancelled.wait(5)
    assert sender.run(answer()) == 42


class DownLayer(BaseChannelLayer):
    async def group_send(self, group, message):
        raise ConnectionError("the layer is down")


@pytest.mark.django_db(transaction=True)
def test_a_committed_write_answers_200_when_the_layer_is_down(settings, api, calendar, caplog):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.test_sender.DownLayer"}}

    response = api.post("events", widget_event(calendar.pk, text="Kept"))

    assert response.status_code == 200
    assert Event.objects.get(pk=response.json()["id"]).text == "Kept"
    assert [record.getMessage() for record in caplog.records if record.levelname == "ERROR"] == [
        "Could not send a live update to the channel layer"
    ]
