"""Summarise a py-spy profile in collapsed-stack form (``py-spy record --format raw``, as
``run.py --profile`` writes them): samples per thread, the functions with the most samples of their own
(self) and in total (inclusive), and the share of each package.

    .venv/bin/python benchmarks/profile_summary.py PROFILE.txt [--top 25] [--thread SUBSTRING]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
AREAS = [
    ("event_calendar/", "event_calendar (the app)"),
    ("rest_framework/", "djangorestframework"),
    ("django/db/", "django.db (ORM)"),
    ("django/", "django (other)"),
    ("psycopg", "psycopg"),
    ("sqlite3", "sqlite3"),
    ("channels_redis/", "channels-redis"),
    ("redis/", "redis-py"),
    ("channels/", "channels"),
    ("asgiref/", "asgiref"),
    ("daphne/", "daphne"),
    ("autobahn/", "autobahn (daphne's websocket)"),
    ("twisted/", "twisted"),
    ("uvicorn/", "uvicorn"),
    ("websockets/", "websockets"),
    ("httptools", "httptools"),
    ("json/", "json"),
    ("asyncio/", "asyncio"),
    ("concurrent/", "concurrent.futures"),
    ("threading.py", "threading"),
    ("copy.py", "copy (deepcopy)"),
    ("msgpack", "msgpack"),
]


def parse(path: Path) -> list[tuple[list[str], int]]:
    stacks = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        frames, _, count = line.rpartition(" ")
        stacks.append((frames.split(";"), int(count)))
    return stacks


def name(frame: str) -> str:
    match = FRAME.match(frame)
    if not match:
        return frame
    file = match["file"]
    for marker in ("site-packages/", "lib/python3.11/", "/work/main/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{match['function']} ({file})"


def area(frame: str) -> str:
    for marker, label in AREAS:
        if marker in frame:
            return label
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--thread", default="", help="only stacks whose thread frame contains this")
    args = parser.parse_args()
    stacks = parse(args.profile)
    threads: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = 0
    for frames, count in stacks:
        thread, frames = (frames[0], frames[1:]) if frames and frames[0].startswith(("thread", "process")) else ("", frames)
        threads[re.sub(r"\(\d+\)|-\d+(_\d+)?", "", thread).strip()] += count
        if args.thread not in thread:
            continue
        total += count
        if not frames:
            continue
        self_time[name(frames[-1])] += count
        areas[area(frames[-1])] += count
        for function in {name(frame) for frame in frames}:
            inclusive[function] += count
    print(f"{args.profile}: {total} samples")
    print("\nsamples by thread (numbers dropped: one ThreadPoolExecutor per request under Django's ASGI handler):")
    for thread, count in threads.most_common():
        print(f"  {count:7d}  {thread}")
    print("\nself time by package (where the samples' innermost Python frame is):")
    for label, count in areas.most_common():
        print(f"  {100 * count / total:5.1f}%  {label}")
    print(f"\ntop {args.top} functions by self samples:")
    for function, count in self_time.most_common(args.top):
        print(f"  {100 * count / total:5.1f}%  {function}")
    print(f"\ntop {args.top} functions by inclusive samples:")
    for function, count in inclusive.most_common(args.top):
        print(f"  {100 * count / total:5.1f}%  {function}")


if __name__ == "__main__":
    main()
