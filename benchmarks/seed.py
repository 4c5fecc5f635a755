"""Seeding and inspection of a benchmark database, run by the harness in a subprocess with Django set up
(``DJANGO_SETTINGS_MODULE=benchmarks.settings``): ``python -m benchmarks.seed '<json command>'``.
Prints one JSON value.

Commands:
- ``{"op": "events", "total": N, "calendars": C}``: calendars open to every user, and events up to N in
  all (added with ``bulk_create`` while broadcasting is paused); every 10th event has a file, every
  50th a second one; some have colours, details, recurrence or custom keys.
- ``{"op": "users", "count": N, "prefix": "p"}``: users ``p0`` ... and one new token (device) for each.
- ``{"op": "texts", "ids": [...]}``: ``{id: text}`` of those events that exist.
- ``{"op": "count"}``: the number of events.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import transaction  # noqa: E402

from event_calendar import broadcast  # noqa: E402
from event_calendar.models import Attachment, Calendar, Event  # noqa: E402
from event_calendar.tokens import issue_token  # noqa: E402

BATCH = 2000
START = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)


def calendars(count: int) -> list[Calendar]:
    existing = list(Calendar.objects.order_by("pk")[:count])
    for index in range(len(existing), count):
        existing.append(
            Calendar.objects.create(label=f"Calendar {index + 1}", color_background="#5890DC", open_to="editor")
        )
    return existing


def event(index: int, calendar: Calendar) -> Event:
    start = START + timedelta(minutes=37 * index)
    values = {
        "calendar": calendar,
        "text": f"Event {index}: planning meeting",
        "start_date": start,
        "end_date": start + timedelta(minutes=45),
        "all_day": index % 17 == 0,
    }
    if index % 3 == 0:
        values["details"] = f"Agenda item {index}, room {index % 40}, bring the figures."
    if index % 7 == 0:
        values.update(color_background="#FF9633", color_border="#FF7A00", color_text="#FFFFFF")
    if index % 20 == 0:
        values.update(
            rrule="FREQ=WEEKLY;INTERVAL=1;BYDAY=MO,WE",
            recurring=True,
            series_start=start,
            series_end=datetime(9999, 1, 1, tzinfo=UTC),
        )
    if index % 5 == 0:
        values["extra"] = {"location": f"Room {index % 40}", "priority": index % 3}
    return Event(**values)


def file_count(index: int) -> int:
    if index % 10:
        return 0
    return 2 if index % 50 == 0 else 1


def seed_events(total: int, calendar_count: int) -> dict:
    with broadcast.paused(), transaction.atomic():
        owners = calendars(calendar_count)
        have = Event.objects.count()
        for first in range(have, total, BATCH):
            indexes = range(first, min(first + BATCH, total))
            created = Event.objects.bulk_create([event(i, owners[i % len(owners)]) for i in indexes])
            files = []
            for index, row in zip(indexes, created, strict=True):
                for copy in range(file_count(index)):
                    files.append(
                        Attachment(
                            event=row,
                            name=f"minutes {index}-{copy}.pdf",
                            file=f"event_calendar/bench/{index}-{copy}",
                            content_type="application/pdf",
                            size=12345,
                        )
                    )
            Attachment.objects.bulk_create(files)
    return {
        "events": Event.objects.count(),
        "attachments": Attachment.objects.count(),
        "calendars": [c.pk for c in owners],
    }


def users(count: int, prefix: str) -> list[str]:
    User = get_user_model()
    names = [f"{prefix}{index}" for index in range(count)]
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    User.objects.bulk_create([User(username=name) for name in names if name not in existing])
    by_name = {user.username: user for user in User.objects.filter(username__in=names)}
    with transaction.atomic():
        return [issue_token(by_name[name]) for name in names]


def main() -> None:
    command = json.loads(sys.argv[1])
    op = command["op"]
    if op == "events":
        result = seed_events(command["total"], command.get("calendars", 5))
    elif op == "users":
        result = users(command["count"], command["prefix"])
    elif op == "texts":
        result = {str(pk): text for pk, text in Event.objects.filter(pk__in=command["ids"]).values_list("pk", "text")}
    elif op == "count":
        result = Event.objects.count()
    else:
        raise SystemExit(f"unknown op {op!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
