"""The floor of ``GET events``: the same rows read and encoded as the same JSON by a bare script, with no
framework (sqlite3 or psycopg directly, ``json.dumps``), timed the way the benchmark times the server
(warm-up, then repeated runs, each from the query to the encoded bytes). Dates and JSON columns are read
as text and sliced or decoded only where needed, as a careful bare script would; ``--encoder orjson``
encodes with orjson instead of ``json.dumps``.

``python benchmarks/floor.py --db sqlite:/path | postgres:dbname [--encoder json|orjson] --runs 30 --max-seconds 60``
prints ``{"times_ms": [...], "bytes": N, "events": N, "files": N}``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

COLUMNS = (
    "id, calendar_id, text, details, start_date, end_date, all_day, color_background, color_border, color_text, "
    "readonly, drag_move, drag_resize, rrule, series_start, series_end, recurring, recurring_event_id, "
    "original_start, status, section, extra"
)
EVENTS_SQL = f"SELECT {COLUMNS} FROM event_calendar_event ORDER BY id"
FILES_SQL = "SELECT event_id, id, name FROM event_calendar_attachment WHERE event_id IS NOT NULL ORDER BY id"
UPLOADS_URL = "http://127.0.0.1:8000/calendar/api/uploads"
DEVICE_ID = 1
KEY = hashlib.sha256(b"floor-signing-key").digest()


def file_link(attachment_id: int, name: str) -> dict[str, Any]:
    """``{id, name, url}`` with a link signed per device, as the server signs its links (HMAC-SHA256)."""
    mac = hmac.new(KEY, f"{attachment_id}/{DEVICE_ID}/{name}".encode(), hashlib.sha256).digest()
    signature = base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    url = f"{UPLOADS_URL}/{attachment_id}/{quote(name, safe='')}?device={DEVICE_ID}&sig={signature}"
    return {"id": attachment_id, "name": name, "url": url}


def sqlite_instant(value: str | None) -> str | None:
    # Django stores UTC as "YYYY-MM-DD HH:MM:SS[.ffffff]" in SQLite.
    if value is None:
        return None
    millis = value[20:23] if len(value) > 19 else "000"
    return f"{value[:10]}T{value[11:19]}.{millis:0<3}Z"


def postgres_instant(value: str | None) -> str | None:
    # Read as text in a UTC session: "YYYY-MM-DD HH:MM:SS[.ffffff]+00".
    if value is None:
        return None
    millis = value[20:23] if value[19] == "." else "000"
    return f"{value[:10]}T{value[11:19]}.{millis:0<3}Z"


def json_text(value: str | None):
    # JSON columns read as text: decoded only when there is something in them.
    return None if value is None or value == "{}" else json.loads(value)


def encode_json(events: list[dict[str, Any]]) -> bytes:
    return json.dumps(events, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def encode_orjson(events: list[dict[str, Any]]) -> bytes:
    import orjson

    return orjson.dumps(events)


ENCODERS = {"json": encode_json, "orjson": encode_orjson}


def render(rows, file_rows, instant: Callable[[Any], str | None], load_json: Callable[[Any], Any],
           encode: Callable[[list[dict[str, Any]]], bytes]) -> bytes:
    files: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for event_id, attachment_id, name in file_rows:
        files[event_id].append(file_link(attachment_id, name))
    events = []
    for (pk, calendar_id, text, details, start, end, all_day, background, border, text_color, readonly,
         drag_move, drag_resize, rrule, series_start, series_end, recurring, series_id, original_start,
         status, section, extra) in rows:
        event = {
            "id": pk,
            "type": calendar_id,
            "text": text,
            "details": details,
            "start_date": instant(start),
            "end_date": instant(end),
            "allDay": bool(all_day),
            "files": files.get(pk, []),
        }
        if background or border or text_color:
            color = {}
            if background:
                color["background"] = background
            if border:
                color["border"] = border
            if text_color:
                color["textColor"] = text_color
            event["color"] = color
        if readonly is not None:
            event["readonly"] = bool(readonly)
        if drag_move is not None:
            event["dragMove"] = bool(drag_move)
        if drag_resize is not None:
            event["dragResize"] = bool(drag_resize)
        if rrule:
            event["RRULE"] = rrule
        if series_start is not None:
            event["STDATE"] = instant(series_start)
        if series_end is not None:
            event["DTEND"] = instant(series_end)
        if recurring is not None:
            event["recurring"] = bool(recurring)
        if series_id is not None:
            event["recurringEventId"] = series_id
        if original_start is not None:
            event["originalStartTime"] = instant(original_start)
        if status:
            event["status"] = status
        section = load_json(section)
        if section is not None:
            event["section"] = section
        extra = load_json(extra)
        if extra:
            event.update(extra)
        events.append(event)
    return encode(events)


def sqlite_runner(path: str, encode: Callable[[list[dict[str, Any]]], bytes] = encode_json) -> Callable[[], bytes]:
    import sqlite3

    connection = sqlite3.connect(path)

    def run() -> bytes:
        rows = connection.execute(EVENTS_SQL).fetchall()
        file_rows = connection.execute(FILES_SQL).fetchall()
        return render(rows, file_rows, sqlite_instant, json_text, encode)

    return run


def postgres_runner(name: str, encode: Callable[[list[dict[str, Any]]], bytes] = encode_json) -> Callable[[], bytes]:
    import psycopg
    from psycopg.types.string import TextLoader

    connection = psycopg.connect(host="127.0.0.1", user="postgres", dbname=name, autocommit=True)
    connection.execute("SET TIME ZONE 'UTC'")
    # Dates and JSON as PostgreSQL's text, turned into the wire's text by slicing (as for SQLite).
    for type_name in ("timestamptz", "jsonb", "json"):
        connection.adapters.register_loader(type_name, TextLoader)

    def run() -> bytes:
        rows = connection.execute(EVENTS_SQL).fetchall()
        file_rows = connection.execute(FILES_SQL).fetchall()
        return render(rows, file_rows, postgres_instant, json_text, encode)

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True, help="sqlite:/path or postgres:dbname")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=60)
    parser.add_argument("--min-runs", type=int, default=5)
    parser.add_argument("--encoder", choices=sorted(ENCODERS), default="json")
    args = parser.parse_args()
    kind, _, target = args.db.partition(":")
    encode = ENCODERS[args.encoder]
    run = sqlite_runner(target, encode) if kind == "sqlite" else postgres_runner(target, encode)
    for _ in range(args.warmup):
        body = run()
    times = []
    deadline = time.monotonic() + args.max_seconds
    while len(times) < args.runs and (len(times) < args.min_runs or time.monotonic() < deadline):
        started = time.perf_counter()
        body = run()
        times.append((time.perf_counter() - started) * 1000)
    events = json.loads(body)
    print(json.dumps({
        "times_ms": times,
        "bytes": len(body),
        "events": len(events),
        "files": sum(len(event["files"]) for event in events),
    }))


if __name__ == "__main__":
    main()
