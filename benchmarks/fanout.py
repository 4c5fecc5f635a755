"""Fan-out: N sockets connected (each with its own user and token, subscribed to ``events``), one writer
making a few writes spaced apart through REST; per write, the time from the write's reply to each socket's
frame, and the server memory each idle socket costs.

The sockets live in a few client processes (one asyncio loop each), so that one Python client does not set
the pace; every process stamps frames with ``time.monotonic()``, which is one clock for the whole machine.
Frames are only stamped and kept while measuring; they are parsed afterwards.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from pathlib import Path
from typing import Any

import websockets

from .harness import HOST, Http, Profile, Site, busy_fraction, summary

CONNECT_CONCURRENCY = 16
CONNECT_TIMEOUT = 30
READY_TIMEOUT = 300
COLLECT_TIMEOUT = 10
SETTLE_SECONDS = 1.5
SEED_EVENTS = 1000


def socket_url(port: int, token: str) -> str:
    return f"ws://{HOST}:{port}/calendar/api/api/v1?token={token}&ws=1"


def frame_key(raw: str) -> str | None:
    """What a frame is about, as the writer names its writes: ``add-event:ID``, ``update-event:ID:TEXT``,
    ``delete-event:ID``."""
    frame = json.loads(raw)
    if frame.get("action") != "event":
        return None
    value = frame["body"]["value"]
    event = value.get("event") or {}
    key = f"{value.get('type')}:{event.get('id')}"
    return f"{key}:{event.get('text')}" if value.get("type") == "update-event" else key


# ---------------------------------------------------------------------------------------------------
# Client processes


async def _client_main(connection, urls: list[str]) -> None:
    frames: list[list[tuple[float, str]]] = [[] for _ in urls]
    sockets: list[Any] = [None] * len(urls)
    readers: list[asyncio.Task] = []
    errors: list[str] = []
    extensions: set[str] = set()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def read(index: int, socket) -> None:
        stamped = frames[index]
        try:
            async for message in socket:
                stamped.append((time.monotonic(), message))
        except websockets.ConnectionClosed:
            pass

    async def open_socket(index: int) -> None:
        async with gate:
            try:
                socket = await websockets.connect(urls[index], open_timeout=CONNECT_TIMEOUT, ping_interval=None,
                                                  max_size=None)
                start = json.loads(await asyncio.wait_for(socket.recv(), CONNECT_TIMEOUT))
                if start.get("action") != "start":
                    raise RuntimeError(f"first frame {start}")
                await socket.send('{"action":"subscribe","name":"events"}')
                # The answer to a call proves the subscription was handled before any write is made.
                await socket.send('{"action":"call","body":[{"id":"sync","name":"sync","args":[]}]}')
                result = json.loads(await asyncio.wait_for(socket.recv(), CONNECT_TIMEOUT))
                if result.get("action") != "result":
                    raise RuntimeError(f"answer to a call: {result}")
                extensions.add(socket.response.headers.get("Sec-WebSocket-Extensions", ""))
                sockets[index] = socket
                readers.append(asyncio.create_task(read(index, socket)))
            except Exception as exc:
                errors.append(repr(exc)[:300])

    started = time.monotonic()
    await asyncio.gather(*(open_socket(index) for index in range(len(urls))))
    connected = sum(socket is not None for socket in sockets)
    connection.send({"connected": connected, "errors": errors[:5], "connect_s": time.monotonic() - started,
                     "extensions": sorted(extensions)})
    while True:
        command = await asyncio.to_thread(connection.recv)
        if command["op"] != "collect":
            break
        # Wait until every open socket has the frames expected, or the deadline.
        deadline = time.monotonic() + command["timeout"]
        expected = command["frames"]
        while time.monotonic() < deadline:
            if all(len(frames[i]) >= expected for i, s in enumerate(sockets) if s is not None):
                break
            await asyncio.sleep(0.05)
        collected = [[(frame_key(raw), stamp) for stamp, raw in frames[i]] for i in range(len(urls))]
        for stamped in frames:
            stamped.clear()
        closed: dict[str, int] = {}
        for socket in sockets:
            if socket is not None and socket.close_code is not None:
                closed[str(socket.close_code)] = closed.get(str(socket.close_code), 0) + 1
        connection.send({"frames": collected, "closed": closed})
    for socket in sockets:
        if socket is not None:
            await socket.close()
    await asyncio.gather(*readers, return_exceptions=True)
    connection.send({"closed": True})


def _client_process(connection, urls: list[str]) -> None:
    asyncio.run(_client_main(connection, urls))


class SocketClients:
    """N sockets spread over a few client processes."""

    def __init__(self, urls: list[str], processes: int) -> None:
        context = multiprocessing.get_context("fork")
        self.count = len(urls)
        self.pipes, self.processes = [], []
        processes = max(1, min(processes, len(urls)))
        for index in range(processes):
            ours, theirs = context.Pipe()
            process = context.Process(target=_client_process, args=(theirs, urls[index::processes]), daemon=True)
            process.start()
            theirs.close()
            self.pipes.append(ours)
            self.processes.append(process)
        self.urls_of = [urls[index::processes] for index in range(processes)]
        reports = [self._receive(pipe, READY_TIMEOUT) for pipe in self.pipes]
        self.connected = sum(report["connected"] for report in reports)
        self.connect_errors = [error for report in reports for error in report["errors"]]
        self.connect_s = max(report["connect_s"] for report in reports)
        self.extensions = sorted({e for report in reports for e in report["extensions"]})

    @staticmethod
    def _receive(pipe, timeout: float) -> dict[str, Any]:
        if not pipe.poll(timeout):
            raise RuntimeError("a socket client process did not answer in time")
        return pipe.recv()

    def collect(self, frames: int, timeout: float) -> list[list[tuple[str | None, float]]]:
        """Per socket, the frames received since the last collect, as (key, time). Sockets the server has
        closed meanwhile are counted in ``closed_by_server`` (close code -> count)."""
        for pipe in self.pipes:
            pipe.send({"op": "collect", "frames": frames, "timeout": timeout})
        collected: list[list[tuple[str | None, float]]] = []
        self.closed_by_server: dict[str, int] = {}
        for pipe in self.pipes:
            report = self._receive(pipe, timeout + 120)
            collected.extend(report["frames"])
            for code, count in report["closed"].items():
                self.closed_by_server[code] = self.closed_by_server.get(code, 0) + count
        return collected

    def close(self) -> None:
        for pipe, process in zip(self.pipes, self.processes, strict=True):
            try:
                pipe.send({"op": "close"})
                self._receive(pipe, 60)
            except (OSError, EOFError, RuntimeError):
                pass
            process.join(timeout=10)
            if process.is_alive():
                process.kill()


# ---------------------------------------------------------------------------------------------------
# The writer


def write_spaced(http: Http, calendar_id: int, writes: int, spacing: float,
                 label: str) -> list[tuple[str, float, float]]:
    """``writes`` changes (create, update, delete, create ...) ``spacing`` seconds apart; returns each
    write's key, the time its request was sent and the time its reply was read."""
    done: list[tuple[str, float, float]] = []
    event_id = None
    next_at = time.monotonic()
    for serial in range(writes):
        while time.monotonic() < next_at:
            time.sleep(0.002)
        next_at = time.monotonic() + spacing
        step = serial % 3 if event_id is not None else 0
        text = f"{label} write {serial}"
        body = {"id": f"temp://{serial}", "type": calendar_id, "text": text, "details": "",
                "start_date": "2024-05-06T10:00:00.000Z", "end_date": "2024-05-06T11:00:00.000Z", "allDay": False}
        sent = time.monotonic()
        if step == 0:
            status, reply = http.call("POST", "events", body)
            replied = time.monotonic()
            event_id = json.loads(reply)["id"] if status == 200 else None
            key = f"add-event:{event_id}"
        elif step == 1:
            status, reply = http.call("PUT", f"events/{event_id}", {**body, "id": event_id})
            replied = time.monotonic()
            key = f"update-event:{event_id}:{text}"
        else:
            status, reply = http.call("DELETE", f"events/{event_id}")
            replied = time.monotonic()
            key = f"delete-event:{event_id}"
            event_id = None
        if status != 200:
            raise RuntimeError(f"the writer's write answered {status}: {reply[:300]!r}")
        done.append((key, sent, replied))
    return done


def delivery(writes: list[tuple[str, float, float]], frames: list[list[tuple[str | None, float]]],
             socket_servers: list[int]) -> dict[str, Any]:
    """Latencies from each write's reply to each socket's frame, for all sockets and per server process
    (and from the write's request, which includes the write itself)."""
    latencies: list[float] = []
    from_request: list[float] = []
    replies: list[float] = []
    by_server: dict[int, list[float]] = {}
    last_per_write: list[float] = []
    lost = 0
    lost_by_write: list[int] = []
    lost_by_server: dict[int, int] = {}
    keys = {key for key, _, _ in writes}
    for key, sent, replied in writes:
        replies.append((replied - sent) * 1000)
        last = None
        lost_by_write.append(0)
        for socket_index, received in enumerate(frames):
            stamp = next((t for k, t in received if k == key), None)
            if stamp is None:
                lost += 1
                lost_by_write[-1] += 1
                server = socket_servers[socket_index]
                lost_by_server[server] = lost_by_server.get(server, 0) + 1
                continue
            latency = (stamp - replied) * 1000
            latencies.append(latency)
            from_request.append((stamp - sent) * 1000)
            by_server.setdefault(socket_servers[socket_index], []).append(latency)
            last = latency if last is None else max(last, latency)
        if last is not None:
            last_per_write.append(last)
    return {
        "latency_ms": summary(latencies),
        "last_socket_ms": summary(last_per_write),
        "from_request_ms": summary(from_request),
        "write_reply_ms": summary(replies),
        "by_server_latency_ms": {str(index): summary(values) for index, values in sorted(by_server.items())},
        "frames_expected": len(writes) * len(frames),
        "frames_lost": lost,
        "frames_lost_by_write": lost_by_write,
        "frames_lost_by_server": {str(server): count for server, count in sorted(lost_by_server.items())},
        "sockets_missing_frames": [index for index, received in enumerate(frames)
                                   if len({k for k, _ in received} & keys) < len(keys)][:20],
    }


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def run_fanout(config: dict[str, Any], sizes: list[int], server_kind: str, writes: int, spacing: float,
               client_processes: int, profile_dir: Path | None, profile_size: int | None,
               log=print) -> list[dict[str, Any]]:
    """``config``: ``{"name", "servers": 1 or 2, "redis": bool, "database"}``."""
    site = Site(config["database"], redis=config["redis"])
    results = []
    try:
        seeded = site.seed({"op": "events", "total": SEED_EVENTS, "calendars": 5})
        calendar_id = seeded["calendars"][0]
        tokens = site.seed({"op": "users", "count": max(sizes) + 3, "prefix": "viewer"})
        writer_token, warm_tokens, socket_tokens = tokens[0], tokens[1:3], tokens[3:]
        for size in sizes:
            servers = [site.start_server(server_kind) for _ in range(config["servers"])]
            writer = Http(servers[0].port, writer_token)
            # Warm-up: a socket on each server receives a few changes, so that code paths are loaded.
            warm = SocketClients([socket_url(s.port, t) for s, t in zip(servers, warm_tokens, strict=False)], 1)
            try:
                write_spaced(writer, calendar_id, 3, 0.1, "warm-up")
                warm.collect(3, COLLECT_TIMEOUT)
            finally:
                warm.close()
            time.sleep(SETTLE_SECONDS)
            before_kb = [server.rss_kb() for server in servers]
            urls = [socket_url(servers[index % len(servers)].port, token)
                    for index, token in enumerate(socket_tokens[:size])]
            clients = SocketClients(urls, client_processes)
            # The socket order of collect(): process by process, as SocketClients split the URLs.
            socket_servers = [index % len(servers) for part in range(len(clients.pipes))
                              for index in range(part, size, len(clients.pipes))]
            try:
                background = busy_fraction(SETTLE_SECONDS)
                idle_kb = [server.rss_kb() for server in servers]
                done = write_spaced(writer, calendar_id, writes, spacing, f"{config['name']} {size}")
                frames = clients.collect(writes, COLLECT_TIMEOUT)
                measured = delivery(done, frames, socket_servers)
                row = {
                    "config": config["name"],
                    "server": server_kind,
                    "server_processes": config["servers"],
                    "channel_layer": "redis" if config["redis"] else "in-memory",
                    "database": config["database"],
                    "sockets": size,
                    "connected": clients.connected,
                    "connect_errors": clients.connect_errors,
                    "connect_s": clients.connect_s,
                    "ws_extensions": clients.extensions,
                    "writes": writes,
                    "spacing_s": spacing,
                    **measured,
                    "sockets_closed_by_server": clients.closed_by_server,
                    "rss_before_kb": before_kb,
                    "rss_idle_kb": idle_kb,
                    "kb_per_idle_socket": (sum(idle_kb) - sum(before_kb)) / size,
                    "peak_rss_kb": [server.peak_kb() for server in servers],
                    "background_cpu": background,
                }
                results.append(row)
                log(f"  fanout {config['name']} {size} sockets ({clients.connected} connected in "
                    f"{clients.connect_s:.1f} s): median {ms(row['latency_ms']['median'])}, p99 "
                    f"{ms(row['latency_ms']['p99'])}, from request p99 {ms(row['from_request_ms']['p99'])}, "
                    f"lost {row['frames_lost']}, closed by the server {row['sockets_closed_by_server']}, "
                    f"{row['kb_per_idle_socket']:.1f} KB per socket")
                if profile_dir is not None and size == profile_size:
                    path = profile_dir / f"fanout-{config['name']}-{size}-{server_kind}.txt"
                    with Profile(servers[0].pid, path):
                        write_spaced(writer, calendar_id, writes, spacing, "profiled")
                        clients.collect(writes, COLLECT_TIMEOUT)
                    log(f"  profile written to {path}")
            finally:
                clients.close()
                writer.close()
                site.stop_servers()
    finally:
        site.close()
    return results
