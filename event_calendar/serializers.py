"""The widget's wire format, and the only place that knows it.

Input: DRF serializers keyed by the widget's own mixed-case names (``allDay``, ``RRULE``,
``recurringEventId`` ...), tolerant of the extra keys the widget sends, strict on types.
Output: ``render_events`` and ``render_calendars`` build plain dicts straight from database rows, for
lists, single objects and live updates alike.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson
from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import Func, QuerySet
from django.db.models.functions import Cast
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from . import permissions as policy
from .conf import app_settings
from .models import Attachment, Calendar, Event
from .validators import fits_64_bits, validate_color, validate_storable_json, validate_storable_text

MAX_ID = 2**63 - 1
TEXT_MAX_LENGTH = 65_536

# Keys the widget adds to bodies that carry nothing worth keeping (CONTRACT.md G4).
IGNORED_EVENT_KEYS = frozenset({"id", "parent_id", "DTSTART"})

# Model field -> wire key, for errors raised by model validation.
EVENT_WIRE_NAMES = {
    "calendar": "type",
    "all_day": "allDay",
    "recurring_event": "recurringEventId",
    "original_start": "originalStartTime",
    "series_start": "STDATE",
    "series_end": "DTEND",
    "rrule": "RRULE",
}

# ---------------------------------------------------------------------------------------------------
# Dates


# An ISO-8601 date and time, with an offset or naive: what ``Date.toJSON()`` and people write. Python's
# own parser takes more (week dates, basic format, date-only, trailing junk), none of which is an instant.
ISO_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})?", re.ASCII
)


def parse_instant(value: Any) -> datetime:
    """An ISO-8601 string with an offset, or naive (taken as UTC), as an aware UTC datetime."""
    if not isinstance(value, str) or not ISO_INSTANT.fullmatch(value):
        raise serializers.ValidationError(_("Expected an ISO-8601 date string."), code="invalid")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise serializers.ValidationError(_("Expected an ISO-8601 date string."), code="invalid") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise serializers.ValidationError(_("The date is out of range."), code="out_of_range") from None


def format_instant(value: datetime | None) -> str | None:
    """UTC with milliseconds and ``Z``: never date-only, never naive, safe for the year 9999."""
    if value is None:
        return None
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


# ---------------------------------------------------------------------------------------------------
# Strict fields: the widget sends JSON types, so a number where text belongs is an error, not a cast.


class InstantField(serializers.Field):
    default_error_messages = {"null": _("This field may not be null.")}

    def to_internal_value(self, data: Any) -> datetime:
        return parse_instant(data)

    def to_representation(self, value: datetime) -> str | None:
        return format_instant(value)


class TextField(serializers.CharField):
    """A string (null is taken as empty): no numbers cast to text, no NUL, no lone surrogates."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("max_length", TEXT_MAX_LENGTH)
        super().__init__(**kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is None and self.allow_null:
            return True, ""
        return super().validate_empty_values(data)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            validate_storable_text(data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return data


class FlagField(serializers.BooleanField):
    """``true`` or ``false`` only."""

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, bool):
            return data
        self.fail("invalid", input=data)


class IdField(serializers.Field):
    """A positive integer id, also accepted as a numeric string (Go's FuzzyInt does the same)."""

    default_error_messages = {"invalid": _("Expected an integer id.")}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and data.isascii() and data.isdigit() and len(data) <= 19:
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int) or not 0 < data <= MAX_ID:
            self.fail("invalid")
        return data

    def to_representation(self, value: int) -> int:
        return value


class VisibleIdField(IdField):
    """The id of an object the policy lets ``context["user"]`` see, found with ``lookup(user, pk)``;
    validates to the object itself. ``context["visible"]`` maps field names to an object the view has
    already loaded through the policy: when the id names it, it is taken as it is."""

    default_error_messages = {**IdField.default_error_messages, "unknown": _("Unknown id.")}

    def __init__(self, *, lookup: Callable[[Any, int], Calendar | Event | None], **kwargs: Any) -> None:
        self.lookup = lookup
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Calendar | Event:
        pk = super().to_internal_value(data)
        known = self.context.get("visible", {}).get(self.field_name)
        found = known if known is not None and known.pk == pk else self.lookup(self.context["user"], pk)
        if found is None:
            self.fail("unknown")
        return found


class SectionField(serializers.Field):
    """A timeline section key: a string or an integer, kept with its JSON type (the widget uses ===)."""

    default_error_messages = {"invalid": _("Expected a string or an integer.")}

    def to_internal_value(self, data: Any) -> str | int:
        if isinstance(data, str) and len(data) <= 255:
            try:
                validate_storable_text(data)
            except DjangoValidationError as exc:
                raise serializers.ValidationError(exc.messages) from None
            return data
        if isinstance(data, int) and not isinstance(data, bool) and abs(data) <= MAX_ID:
            return data
        self.fail("invalid")


COLOR_KEYS = {"background": "color_background", "border": "color_border", "textColor": "color_text"}


class ColorField(serializers.Field):
    """``{"background", "border", "textColor"}``, each optional; returns model field -> value for the keys sent.

    A key sent as null or "" clears it; null for the whole object clears all three.
    """

    default_error_messages = {"invalid": _("Expected an object with background, border and textColor.")}

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is None and self.allow_null:
            return True, {field: "" for field in COLOR_KEYS.values()}
        return super().validate_empty_values(data)

    def to_internal_value(self, data: Any) -> dict[str, str]:
        if not isinstance(data, Mapping):
            self.fail("invalid")
        values = {}
        for key, field in COLOR_KEYS.items():
            if key not in data:
                continue
            value = data[key] if data[key] is not None else ""
            if not isinstance(value, str):
                self.fail("invalid")
            try:
                validate_color(value)
            except DjangoValidationError as exc:
                raise serializers.ValidationError({key: exc.messages}) from None
            values[field] = value
        return values


class FileListField(serializers.Field):
    """The event's ``files``: the uploader's entries, of which only ``id`` counts; returns the ids.

    Entries the uploader has not finished (``status`` other than ``"server"``) are skipped.
    """

    default_error_messages = {"invalid": _("Expected a list of files with integer ids.")}

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is None:
            return True, []
        return super().validate_empty_values(data)

    def to_internal_value(self, data: Any) -> list[int]:
        if not isinstance(data, list) or len(data) > 1000:
            self.fail("invalid")
        ids = []
        for entry in data:
            if not isinstance(entry, Mapping):
                self.fail("invalid")
            if entry.get("status") not in (None, "server"):
                continue
            ids.append(IdField().to_internal_value(entry.get("id")))
        return ids


# ---------------------------------------------------------------------------------------------------
# Input


class WireSerializer(serializers.Serializer):
    """Collects the body's unknown keys (less ``ignored_keys``) into ``validated_data["extra"]``."""

    ignored_keys: frozenset[str] = frozenset()
    keeps_extra = False

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        values = super().to_internal_value(data)
        color = values.pop("color", None)
        if color:
            values.update(color)
        if self.keeps_extra:
            extra = {
                key: value
                for key, value in data.items()
                if key not in self.fields and key not in self.ignored_keys
            }
            if extra or not self.partial:
                values["extra"] = self.validate_extra(extra)
        return values

    def validate_extra(self, extra: dict[str, Any]) -> dict[str, Any]:
        try:
            validate_storable_json(extra)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"extra": exc.messages}) from None
        check_numbers(extra)
        return extra


def check_numbers(value: Any) -> None:
    """JSON columns refuse NaN and infinity (``1e400`` parses to infinity without any error), and the
    wire's numbers are 64-bit: larger integers could be neither stored everywhere nor sent."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise serializers.ValidationError({"extra": [_("Numbers must be finite.")]})
        if isinstance(item, int) and not isinstance(item, bool) and not fits_64_bits(item):
            raise serializers.ValidationError({"extra": [_("Integers must fit in 64 bits.")]})
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def merge_extra(stored: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
    """Key by key; a key sent as null is removed. The result is capped by ``EXTRA_MAX_SIZE``."""
    merged = {**stored, **sent}
    merged = {key: value for key, value in merged.items() if value is not None}
    size = len(json.dumps(merged, ensure_ascii=False).encode())
    if size > app_settings.EXTRA_MAX_SIZE:
        raise serializers.ValidationError(
            {"extra": [_("Custom keys take %(size)d bytes, over the limit of %(limit)d.")
                       % {"size": size, "limit": app_settings.EXTRA_MAX_SIZE}]}
        )
    return merged


class EventSerializer(WireSerializer):
    """An event body from the widget. ``type``, ``start_date`` and ``end_date`` are required on create,
    except for a cancelled occurrence; model validation (``Event.clean``) checks the result."""

    ignored_keys = IGNORED_EVENT_KEYS
    keeps_extra = True

    type = VisibleIdField(
        lookup=policy.visible_calendar, source="calendar", error_messages={"unknown": _("Unknown calendar.")}
    )
    text = TextField(required=False)
    details = TextField(required=False)
    start_date = InstantField(required=False, allow_null=True)
    end_date = InstantField(required=False, allow_null=True)
    allDay = FlagField(source="all_day", required=False)
    color = ColorField(required=False, allow_null=True)
    readonly = FlagField(required=False, allow_null=True)
    dragMove = FlagField(source="drag_move", required=False, allow_null=True)
    dragResize = FlagField(source="drag_resize", required=False, allow_null=True)
    RRULE = TextField(source="rrule", required=False, max_length=4096)
    STDATE = InstantField(source="series_start", required=False, allow_null=True)
    DTEND = InstantField(source="series_end", required=False, allow_null=True)
    recurring = FlagField(required=False, allow_null=True)
    recurringEventId = VisibleIdField(
        lookup=policy.visible_event,
        source="recurring_event",
        required=False,
        allow_null=True,
        error_messages={"unknown": _("Unknown event.")},
    )
    originalStartTime = InstantField(source="original_start", required=False, allow_null=True)
    status = TextField(required=False, max_length=32)
    section = SectionField(required=False, allow_null=True)
    files = FileListField(required=False)


class CalendarSerializer(WireSerializer):
    """A calendar body from the widget's sidebar form or its show/hide checkbox."""

    label = TextField(max_length=255, allow_blank=False, allow_null=False)
    description = TextField(required=False)
    color = ColorField(required=False)
    active = FlagField(required=False)
    readonly = FlagField(required=False)

    def validate(self, values: dict[str, Any]) -> dict[str, Any]:
        for field in ("color_background", "color_border"):
            if values.get(field) == "":
                values.pop(field)
        return values


def wire_errors(error: DjangoValidationError) -> dict[str, list[str]]:
    """Model validation errors, keyed by the wire's names."""
    return {EVENT_WIRE_NAMES.get(field, field): messages for field, messages in error.message_dict.items()}


# ---------------------------------------------------------------------------------------------------
# Output

FILE_SIGNER_SALT = "event_calendar.file"


def file_signer() -> signing.Signer:
    return signing.Signer(salt=FILE_SIGNER_SALT)


def file_signature(attachment_id: int, name: str, device_id: int, signer: signing.Signer | None = None) -> str:
    return (signer or file_signer()).signature(f"{attachment_id}/{device_id}/{name}")


def file_signature_is_valid(attachment_id: int, name: str, device_id: int, signature: str) -> bool:
    return constant_time_compare(signature, file_signature(attachment_id, name, device_id))


class FileLinks:
    """Builds each file's absolute link under ``uploads_url`` (``https://host/.../uploads``), signed for one
    device: the download checks that the device's user may still see the file."""

    def __init__(self, uploads_url: str, device_id: int) -> None:
        self.uploads_url = uploads_url.rstrip("/")
        self.device_id = device_id
        # One signer for all the links of a list: building one per file was a tenth of a long GET.
        self.signer = file_signer()

    def url(self, attachment_id: int, name: str) -> str:
        signature = file_signature(attachment_id, name, self.device_id, self.signer)
        return f"{self.uploads_url}/{attachment_id}/{quote(name, safe='')}?device={self.device_id}&sig={signature}"

    def render(self, attachment_id: int, name: str) -> dict[str, Any]:
        return {"id": attachment_id, "name": name, "url": self.url(attachment_id, name)}


class InstantText(Func):
    """A datetime column as the wire writes it (``format_instant``), formatted by the database: parsing
    every date into a ``datetime`` only to print it again is most of the cost of a long list."""

    output_field = models.CharField()

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores SQLite datetimes as UTC text, "YYYY-MM-DD HH:MM:SS[.ffffff]": cut, don't round.
        template = (
            "substr(%(expressions)s, 1, 10) || 'T' || substr(%(expressions)s, 12, 8) || '.'"
            " || substr(substr(%(expressions)s, 21) || '000', 1, 3) || 'Z'"
        )
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_postgresql(self, compiler, connection, **extra):
        template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
        return self.as_sql(compiler, connection, template=template, **extra)


def instant_text(value: str | datetime | None) -> str | None:
    # Other databases hand back the datetime itself.
    return format_instant(value) if isinstance(value, datetime) else value


def json_column(value: str | None) -> Any:
    """A JSON column read as text: most rows hold ``{}`` or ``null``, and orjson decodes the rest faster
    than the field's own converter."""
    return None if value in (None, "null", "{}") else orjson.loads(value)


# Dates come formatted by the database, and JSON columns as text, under names of their own.
EVENT_COMPUTED = {
    "section_text": Cast("section", models.TextField()),
    "extra_text": Cast("extra", models.TextField()),
    "start_text": InstantText("start_date"),
    "end_text": InstantText("end_date"),
    "series_start_text": InstantText("series_start"),
    "series_end_text": InstantText("series_end"),
    "original_start_text": InstantText("original_start"),
}

EVENT_COLUMNS = (
    "id",
    "calendar_id",
    "text",
    "details",
    "start_text",
    "end_text",
    "all_day",
    "color_background",
    "color_border",
    "color_text",
    "readonly",
    "drag_move",
    "drag_resize",
    "rrule",
    "series_start_text",
    "series_end_text",
    "recurring",
    "recurring_event_id",
    "original_start_text",
    "status",
    "section_text",
    "extra_text",
)


def render_color(background: str, border: str, text: str) -> dict[str, str]:
    color = {}
    if background:
        color["background"] = background
    if border:
        color["border"] = border
    if text:
        color["textColor"] = text
    return color


def render_events(events: QuerySet[Event], links: FileLinks) -> list[dict[str, Any]]:
    """The events as ``GET events`` sends them: always the core keys, optional keys only when set,
    then the custom keys. Two queries, whatever the number of events."""
    files: dict[int, list[dict[str, Any]]] = defaultdict(list)
    attachments = Attachment.objects.filter(event__in=events.values("pk")).order_by("pk")
    for event_id, attachment_id, name in attachments.values_list("event_id", "pk", "name"):
        files[event_id].append(links.render(attachment_id, name))
    rows = events.annotate(**EVENT_COMPUTED).order_by("pk").values_list(*EVENT_COLUMNS)
    return [_render_event_row(row, files.get(row[0], [])) for row in rows]


# The model attribute behind each column: the computed ones read one field each.
EVENT_ATTRIBUTES = tuple(
    EVENT_COMPUTED[column].get_source_expressions()[0].name if column in EVENT_COMPUTED else column
    for column in EVENT_COLUMNS
)


def render_event(event: Event, links: FileLinks) -> dict[str, Any]:
    """One event as ``render_events`` renders it, from the instance as loaded (a live update renders one
    event per change, where building the list's query would cost more than the rest)."""
    attachments = Attachment.objects.filter(event_id=event.pk).order_by("pk").values_list("pk", "name")
    row = tuple(getattr(event, attribute) for attribute in EVENT_ATTRIBUTES)
    return _render_event_row(row, [links.render(pk, name) for pk, name in attachments], decode=_loaded)


def _loaded(value: Any) -> Any:
    return value


def _render_event_row(
    row: tuple[Any, ...], files: list[dict[str, Any]], decode: Callable[[Any], Any] = json_column
) -> dict[str, Any]:
    """``decode`` reads the JSON columns: text from a row, values already decoded from an instance."""
    (
        pk, calendar_id, text, details, start, end, all_day, background, border, text_color, readonly,
        drag_move, drag_resize, rrule, series_start, series_end, recurring, series_id, original_start,
        status, section, extra,
    ) = row
    event: dict[str, Any] = {
        "id": pk,
        "type": calendar_id,
        "text": text,
        "details": details,
        "start_date": instant_text(start),
        "end_date": instant_text(end),
        "allDay": all_day,
        "files": files,
    }
    # Optional keys only when set: plain ifs, as this runs once per event of a list.
    if background or border or text_color:
        event["color"] = render_color(background, border, text_color)
    if readonly is not None:
        event["readonly"] = readonly
    if drag_move is not None:
        event["dragMove"] = drag_move
    if drag_resize is not None:
        event["dragResize"] = drag_resize
    if rrule:
        event["RRULE"] = rrule
    if series_start is not None:
        event["STDATE"] = instant_text(series_start)
    if series_end is not None:
        event["DTEND"] = instant_text(series_end)
    if recurring is not None:
        event["recurring"] = recurring
    if series_id is not None:
        event["recurringEventId"] = series_id
    if original_start is not None:
        event["originalStartTime"] = instant_text(original_start)
    if status:
        event["status"] = status
    section = decode(section)
    if section is not None:
        event["section"] = section
    extra = decode(extra)
    if extra:
        event.update(extra)
    return event


CALENDAR_COLUMNS = (
    "id", "label", "description", "active", "readonly", "color_background", "color_border", "color_text",
)


def render_calendars(
    calendars: QuerySet[Calendar],
    readonly: Callable[[int, bool], Any],
    active: Callable[[int, bool], Any],
) -> list[dict[str, Any]]:
    """The calendars as ``GET calendars`` sends them. ``readonly`` and ``active`` depend on the viewer:
    each is called with the calendar's id and stored value."""
    return [
        {
            "id": pk,
            "label": label,
            "description": description,
            "active": active(pk, stored_active),
            "readonly": readonly(pk, stored_readonly),
            "color": render_color(background, border, text_color),
        }
        for pk, label, description, stored_active, stored_readonly, background, border, text_color in (
            calendars.order_by("pk").values_list(*CALENDAR_COLUMNS)
        )
    ]
