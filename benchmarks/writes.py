"""Writes: creates, updates and deletes from N concurrent clients (one process each, so that the client
side's GIL does not set the pace), each with its own user and token, for a fixed time; then the database
is checked against every reply: nothing a client got 200 for may be missing or stale."""

from __future__ import annotations

import json
import multiprocessing
import random
import time
from pathlib import Path
from typing import Any

from .harness import Http, MachineCPU, Profile, Site, busy_fraction, summary

MAX_OPS_PER_CLIENT = 100_000
SEED_EVENTS = 1000


def event_body(calendar_id: int, text: str, serial: int) -> dict[str, Any]:
    day = 1 + serial % 28
    return {
        "id": f"temp://{serial}",
        "type": calendar_id,
        "text": text,
        "details": "",
        "start_date": f"2024-03-{day:02d}T09:00:00.000Z",
        "end_date": f"2024-03-{day:02d}T10:30:00.000Z",
        "allDay": False,
    }


def client(index: int, port: int, token: str, calendar_id: int, start_at: float, duration: float,
           connection) -> None:
    """One client: a mix of 35% creates, 40% updates and 25% deletes of its own events until the time is up.
    Sends back its latencies and what it expects the database to hold."""
    http = Http(port, token, timeout=30)
    rng = random.Random(index)
    live: list[int] = []
    expected: dict[int, str | None] = {}  # event id -> last text written, None once deleted
    uncertain: set[int] = set()  # ids whose last write failed: their state is unknown
    latencies: dict[str, list[float]] = {"create": [], "update": [], "delete": []}
    errors: list[str] = []
    while time.monotonic() < start_at:
        time.sleep(0.001)
    end = start_at + duration
    finished = start_at
    for serial in range(MAX_OPS_PER_CLIENT):
        if time.monotonic() >= end:
            break
        roll = rng.random()
        kind = "create" if not live or roll < 0.35 else "update" if roll < 0.75 else "delete"
        text = f"client {index} write {serial}"
        target = None
        started = time.perf_counter()
        try:
            if kind == "create":
                status, body = http.call("POST", "events", event_body(calendar_id, text, serial))
            elif kind == "update":
                target = rng.choice(live)
                status, body = http.call("PUT", f"events/{target}", {**event_body(calendar_id, text, serial),
                                                                       "id": target})
            else:
                target = live.pop(rng.randrange(len(live)))
                status, body = http.call("DELETE", f"events/{target}")
        except Exception as exc:  # a failed request is an error, never the end of the run
            status, body = None, repr(exc).encode()
            http.close()
        latencies[kind].append((time.perf_counter() - started) * 1000)
        finished = time.monotonic()
        if status != 200:
            errors.append(f"{kind} {target}: {status} {body[:200]!r}")
            if target is not None:
                uncertain.add(target)
            continue
        if kind == "create":
            target = json.loads(body)["id"]
            live.append(target)
            expected[target] = text
        elif kind == "update":
            expected[target] = text
        else:
            expected[target] = None
        uncertain.discard(target)
    http.close()
    connection.send({
        "latencies": latencies,
        "errors": errors,
        "expected": {str(pk): text for pk, text in expected.items() if pk not in uncertain},
        "uncertain": len(uncertain),
        "finished": finished,
    })
    connection.close()


def process_label(row: dict[str, Any]) -> str:
    """The server configuration a row of figures was measured on."""
    if row.get("server") == "gunicorn":
        return f"gunicorn, {row['server_processes']} WSGI workers + Redis"
    return "1 process" if row.get("server_processes", 1) == 1 else f"{row['server_processes']} processes + Redis"


def run_clients(ports: list[int], tokens: list[str], calendar_ids: list[int], duration: float) -> dict[str, Any]:
    """One process per token; client i talks to ``ports[i % len(ports)]`` (a proxy's round robin)."""
    context = multiprocessing.get_context("fork")
    start_at = time.monotonic() + 1.0 + 0.02 * len(tokens)
    pipes, processes = [], []
    for index, token in enumerate(tokens):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=client,
            args=(index, ports[index % len(ports)], token, calendar_ids[index % len(calendar_ids)], start_at, duration,
                  sender),
            daemon=True,
        )
        process.start()
        sender.close()
        pipes.append(receiver)
        processes.append(process)
    reports = []
    for receiver, process in zip(pipes, processes, strict=True):
        if not receiver.poll(duration + 120):
            process.kill()
            raise RuntimeError("a write client did not report in time")
        reports.append(receiver.recv())
        process.join(timeout=30)
    elapsed = max(report["finished"] for report in reports) - start_at
    return {"reports": reports, "elapsed": elapsed}


def lost_writes(site: Site, reports: list[dict[str, Any]]) -> tuple[int, int, list[str]]:
    """Writes answered 200 that the database does not show: a created or updated event missing or with
    another text, or a deleted one still there. Returns (checked, lost, examples)."""
    expected: dict[str, str | None] = {}
    for report in reports:
        expected.update(report["expected"])
    stored: dict[str, str] = {}
    ids = list(expected)
    for first in range(0, len(ids), 20000):
        stored.update(site.seed({"op": "texts", "ids": [int(pk) for pk in ids[first:first + 20000]]}))
    lost = [pk for pk, text in expected.items() if stored.get(pk) != text]
    examples = [f"event {pk}: expected {expected[pk]!r}, stored {stored.get(pk)!r}" for pk in lost[:5]]
    return len(expected), len(lost), examples


def run_writes(database: str, concurrency: list[int], server_kind: str, duration: float,
               profile_dir: Path | None, profile_clients: int | None, processes: int = 1,
               log=print) -> list[dict[str, Any]]:
    """With ``processes`` > 1, that many server processes share the database and Redis (as a deployment
    behind a proxy), and the clients are spread over them. With ``server_kind`` "gunicorn", one gunicorn
    serves the REST routes with ``processes`` WSGI workers, sending live updates through Redis."""
    wsgi = server_kind == "gunicorn"
    site = Site(database, redis=processes > 1 or wsgi)
    results = []
    try:
        seeded = site.seed({"op": "events", "total": SEED_EVENTS, "calendars": 5})
        tokens = site.seed({"op": "users", "count": max(concurrency), "prefix": "writer"})
        if wsgi:
            servers = [site.start_server(server_kind, workers=processes)]
        else:
            servers = [site.start_server(server_kind) for _ in range(processes)]
        ports = [server.port for server in servers]
        run_clients(ports, tokens[:2 * processes], seeded["calendars"], min(duration, 2.0))  # warm-up
        for clients in concurrency:
            background = busy_fraction(0.5)
            cpu_before = [server.cpu_seconds() for server in servers]
            machine = MachineCPU()
            machine.start()
            outcome = run_clients(ports, tokens[:clients], seeded["calendars"], duration)
            machine_cpu = machine.fraction()
            server_cpu = sum(s.cpu_seconds() - b for s, b in zip(servers, cpu_before, strict=True))
            reports = outcome["reports"]
            latencies = {kind: [t for r in reports for t in r["latencies"][kind]] for kind in ("create", "update",
                                                                                             "delete")}
            every = [t for values in latencies.values() for t in values]
            errors = [e for r in reports for e in r["errors"]]
            checked, lost, examples = lost_writes(site, reports)
            ops = len(every) - len(errors)
            row = {
                "database": database,
                "server": server_kind,
                "clients": clients,
                "server_processes": processes,
                "channel_layer": "redis" if processes > 1 or wsgi else "in-memory",
                "duration_s": outcome["elapsed"],
                "ops": ops,
                "ops_per_s": ops / outcome["elapsed"],
                "by_kind": {kind: {"ops": len(values), "latency_ms": summary(values)}
                            for kind, values in latencies.items()},
                "latency_ms": summary(every),
                "errors": len(errors),
                "error_examples": errors[:5],
                "checked_events": checked,
                "lost_writes": lost,
                "lost_examples": examples,
                "uncertain_events": sum(r["uncertain"] for r in reports),
                "peak_rss_kb": sum(server.peak_kb() for server in servers),
                "background_cpu": background,
                # CPU seconds the server processes used per second of the run (1.0 = one core busy), and
                # how busy the whole machine was (0 to 1: clients, PostgreSQL and anything else too).
                "server_cpu_cores": server_cpu / outcome["elapsed"],
                "machine_cpu": machine_cpu,
                "server_cpu_ms_per_op": server_cpu * 1000 / max(ops, 1),
            }
            results.append(row)
            log(f"  writes {database}, {process_label(row)}, {clients} clients: {row['ops_per_s']:.0f} ops/s, median "
                f"{row['latency_ms']['median']:.1f} ms, p95 {row['latency_ms']['p95']:.1f} ms, "
                f"{len(errors)} errors, {lost} lost of {checked}")
            if profile_dir is not None and clients == profile_clients:
                path = profile_dir / f"writes-{database}-{processes}p-{clients}-{server_kind}.txt"
                with Profile(servers[0].pids()[-1], path):
                    run_clients(ports, tokens[:clients], seeded["calendars"], duration)
                log(f"  profile written to {path}")
    finally:
        site.close()
    return results
