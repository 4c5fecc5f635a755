"""``manage.py load_calendar_demo``: demo users, three calendars and a month of events around today."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from event_calendar.models import Calendar, Event, Role

DEMO_USERNAMES = ("alice", "bob")
# The widget's own sentinel for a series that never ends.
NEVER = datetime(9999, 12, 31, tzinfo=UTC)

CALENDARS = (
    # label, description, background, border, owner
    ("Work", "Meetings, deadlines and travel", "#5890DC", "#2D74D3", "alice"),
    ("Personal", "Appointments and family", "#5CBF8A", "#349966", "alice"),
    ("Team", "Shared with the whole team", "#F2A33A", "#D4821C", "bob"),
)

# Timed events: calendar, title, days from this week's Monday, start, end, details.
TIMED_EVENTS = (
    ("Work", "Sprint planning", -14, time(10, 0), time(11, 30), "Pick the stories for the next two weeks."),
    ("Personal", "Dentist", -10, time(8, 30), time(9, 15), ""),
    ("Team", "Code review session", -3, time(14, 0), time(15, 0), ""),
    ("Work", "Customer call", 1, time(11, 0), time(11, 45), "Agenda: renewal and the new API."),
    ("Team", "Release 1.4", 3, time(16, 0), time(17, 0), "Tag, build, announce."),
    ("Personal", "Yoga class", 8, time(18, 0), time(19, 0), ""),
    ("Team", "Quarterly review", 10, time(13, 0), time(15, 0), ""),
    ("Work", "Board meeting", 15, time(9, 30), time(11, 0), ""),
)


class Command(BaseCommand):
    help = (
        "Create demo users (alice, bob), three calendars and a month of events around today. "
        "Does nothing when calendars exist, unless --reset is given."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete every calendar (with all events and attachments) first, then load the demo data.",
        )
        parser.add_argument(
            "--password",
            help="Give the demo users this password. Without it, new demo users get an unusable password "
            "and sign in through the demo login only.",
        )

    def handle(self, *args: Any, reset: bool, password: str | None, **options: Any) -> None:
        with transaction.atomic():
            existing = Calendar.objects.count()
            if existing and not reset:
                self.stdout.write(
                    f"{existing} calendars exist already, so nothing was loaded. "
                    "Use --reset to replace all calendars and events with the demo data."
                )
                return
            if existing:
                Calendar.objects.all().delete()
                self.stdout.write(f"Deleted {existing} calendars with their events and attachments.")
            users = self.demo_users(password)
            calendars = self.create_calendars(users)
            events = self.create_events(calendars)
        self.stdout.write(self.style.SUCCESS(f"Created {len(calendars)} calendars: {', '.join(calendars)}."))
        self.stdout.write(self.style.SUCCESS(f"Created {len(events)} events:"))
        for event in events:
            self.stdout.write(f"  {describe(event)}")

    def demo_users(self, password: str | None) -> dict[str, Any]:
        User = get_user_model()
        users = {}
        for username in DEMO_USERNAMES:
            user, created = User.objects.get_or_create(**{User.USERNAME_FIELD: username})
            if created or password is not None:
                if password is None:
                    user.set_unusable_password()
                else:
                    user.set_password(password)
                user.save()
            state = "created" if created else "exists" + (", password set" if password is not None else "")
            if user.is_staff or user.is_superuser or not user.is_active:
                state += "; staff, superuser or inactive, so the demo login refuses it"
            self.stdout.write(f"Demo user {username} (id {user.pk}): {state}.")
            users[username] = user
        return users

    def create_calendars(self, users: dict[str, Any]) -> dict[str, Calendar]:
        calendars = {}
        for label, description, background, border, owner in CALENDARS:
            calendar = Calendar(
                label=label,
                description=description,
                color_background=background,
                color_border=border,
                created_by=users[owner],
                owner=users[owner],
                # Shared like the vendor's demo: every signed-in user sees and edits every demo calendar.
                open_to=Role.EDITOR,
            )
            calendar.full_clean()
            calendar.save()
            calendars[label] = calendar
        return calendars

    def create_events(self, calendars: dict[str, Calendar]) -> list[Event]:
        today = timezone.localdate()
        monday = today - timedelta(days=today.weekday())
        zone = timezone.get_current_timezone()

        def at(offset: int, clock: time, day: date = monday) -> datetime:
            # Timed events sit at these wall-clock times in the site's TIME_ZONE.
            return datetime.combine(day + timedelta(days=offset), clock, tzinfo=zone)

        def midnight(offset: int) -> datetime:
            # All-day events: UTC midnight instants.
            return datetime.combine(monday + timedelta(days=offset), time(0), tzinfo=UTC)

        specs: list[dict[str, Any]] = [
            {
                "calendar": calendars[label],
                "text": text,
                "details": details,
                "start_date": at(offset, start),
                "end_date": at(offset, end),
            }
            for label, text, offset, start, end, details in TIMED_EVENTS
        ]
        specs += [
            {
                "calendar": calendars["Personal"],
                "text": "Lunch with Sam",
                "details": "The new place on the corner.",
                "start_date": at(0, time(12, 30), day=today),
                "end_date": at(0, time(13, 30), day=today),
            },
            {
                "calendar": calendars["Work"],
                "text": "Conference in Lyon",
                "details": "Three days of talks; the train leaves at 7:05.",
                "start_date": at(-6, time(9, 0)),
                "end_date": at(-4, time(17, 0)),
            },
            {
                "calendar": calendars["Team"],
                "text": "Hackathon",
                "details": "This event has its own colour.",
                "start_date": midnight(-12),
                "end_date": midnight(-10),
                "all_day": True,
                "color_background": "#E86A92",
                "color_border": "#C2185B",
            },
            {
                "calendar": calendars["Work"],
                "text": "Company offsite",
                "start_date": midnight(9),
                "end_date": midnight(10),
                "all_day": True,
            },
            {
                "calendar": calendars["Personal"],
                "text": "Family visit",
                "start_date": midnight(12),
                "end_date": midnight(15),
                "all_day": True,
            },
        ]
        events = [self.save(Event(**spec)) for spec in specs]

        # Every Monday from two weeks ago on, for ever; next Monday's stand-up moves to the Tuesday.
        series = self.save(
            Event(
                calendar=calendars["Team"],
                text="Team stand-up",
                start_date=at(-14, time(9, 30)),
                end_date=at(-14, time(9, 45)),
                rrule="FREQ=WEEKLY;INTERVAL=1;BYDAY=MO",
                series_start=at(-14, time(9, 30)),
                series_end=NEVER,
                recurring=True,
            )
        )
        moved = self.save(
            Event(
                calendar=calendars["Team"],
                text="Team stand-up (moved to Tuesday)",
                start_date=at(8, time(10, 0)),
                end_date=at(8, time(10, 15)),
                recurring_event=series,
                original_start=at(7, time(9, 30)),
            )
        )
        return sorted([*events, series, moved], key=lambda event: event.start_date)

    @staticmethod
    def save(event: Event) -> Event:
        event.full_clean()
        event.save()
        return event


def describe(event: Event) -> str:
    local = timezone.localtime
    if event.all_day:
        days = (event.end_date - event.start_date).days
        when = f"{event.start_date:%a %Y-%m-%d}, all day" + (f" ({days} days)" if days > 1 else "")
    else:
        start, end = local(event.start_date), local(event.end_date)
        end_format = "%H:%M" if start.date() == end.date() else "%a %Y-%m-%d %H:%M"
        when = f"{start:%a %Y-%m-%d %H:%M}-{end.strftime(end_format)}"
    if event.rrule:
        when += f", {event.rrule}"
    if event.recurring_event_id:
        when += f", replaces the occurrence of {local(event.original_start):%a %Y-%m-%d %H:%M}"
    return f"[{event.calendar.label}] {event.text}: {when}"
