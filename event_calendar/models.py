"""Calendars, their events, files attached to events, and the devices behind Remote-Tokens.

Field names are Django's; the widget's key names (``type``, ``allDay``, ``RRULE`` ...) live in
``serializers.py`` only.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from .conf import app_settings
from .validators import validate_color

DEFAULT_BACKGROUND = "#5890DC"
DEFAULT_BORDER = "#2D74D3"
CANCELLED = "cancelled"


class Role(models.TextChoices):
    """What a user may do with a calendar, each role including the ones before it."""

    VIEWER = "viewer", _("viewer: sees the calendar and its events")
    EDITOR = "editor", _("editor: also adds, changes and deletes events")
    MANAGER = "manager", _("manager: also changes the calendar and its grants")


OPEN_TO_CHOICES = [
    ("", _("nobody else")),
    (Role.VIEWER, _("all signed-in users, as viewers")),
    (Role.EDITOR, _("all signed-in users, as editors")),
]


def default_open_to() -> str:
    return app_settings.NEW_CALENDAR_OPEN_TO


class Calendar(models.Model):
    """A calendar of the sidebar; events name it in their ``type`` key.

    Fields: ``label``, ``description``, the colour (``color_background``, ``color_border``,
    ``color_text``), ``active`` (shown in the sidebar unless a user hid it for themselves),
    ``readonly`` (no edits in the widget for anyone); access: ``owner`` (a manager of it; none for a site
    calendar run by administrators), ``open_to`` (every signed-in user as viewer or editor) and ``grants``;
    ``created_by`` and timestamps.
    """

    label = models.CharField(_("label"), max_length=255)
    description = models.TextField(_("description"), blank=True, default="")
    color_background = models.CharField(
        _("background colour"), max_length=64, default=DEFAULT_BACKGROUND, validators=[validate_color]
    )
    color_border = models.CharField(
        _("border colour"), max_length=64, default=DEFAULT_BORDER, validators=[validate_color]
    )
    color_text = models.CharField(
        _("text colour"), max_length=64, blank=True, default="", validators=[validate_color]
    )
    active = models.BooleanField(
        _("active"), default=True, help_text=_("Shown in the sidebar, for users who have not chosen for themselves.")
    )
    readonly = models.BooleanField(_("read-only"), default=False, help_text=_("Nobody changes its events."))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_event_calendars",
        help_text=_("Manages the calendar. Without an owner it is a site calendar, run by administrators."),
    )
    open_to = models.CharField(
        _("open to"), max_length=16, choices=OPEN_TO_CHOICES, blank=True, default=default_open_to
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("calendar")
        verbose_name_plural = _("calendars")
        indexes = [models.Index(fields=["open_to"], name="event_calendar_open_to_idx")]

    def __str__(self) -> str:
        return self.label or f"#{self.pk}"


class CalendarGrant(models.Model):
    """A role on one calendar, for one user or for every member of one group."""

    calendar = models.ForeignKey(Calendar, verbose_name=_("calendar"), on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="event_calendar_grants",
    )
    group = models.ForeignKey(
        "auth.Group",
        verbose_name=_("group"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="event_calendar_grants",
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        ordering = ["id"]
        verbose_name = _("grant")
        verbose_name_plural = _("grants")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="event_calendar_grant_user_or_group",
                violation_error_message=_("A grant is for a user or for a group, not both."),
            ),
            models.UniqueConstraint(
                fields=["calendar", "user"], condition=models.Q(user__isnull=False), name="event_calendar_grant_user"
            ),
            models.UniqueConstraint(
                fields=["calendar", "group"],
                condition=models.Q(group__isnull=False),
                name="event_calendar_grant_group",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user or self.group}: {self.get_role_display()}"


class CalendarPreference(models.Model):
    """One user's choice to show or hide a calendar in their own sidebar (the widget's ``active``)."""

    calendar = models.ForeignKey(
        Calendar, verbose_name=_("calendar"), on_delete=models.CASCADE, related_name="preferences"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="event_calendar_preferences",
    )
    active = models.BooleanField(_("active"))

    class Meta:
        verbose_name = _("sidebar preference")
        verbose_name_plural = _("sidebar preferences")
        constraints = [models.UniqueConstraint(fields=["user", "calendar"], name="event_calendar_preference_once")]


class Event(models.Model):
    """One event, a recurring series (``rrule`` set), or an exception of a series (``recurring_event`` set).

    Fields: ``calendar`` (the wire's ``type``), ``text``, ``details``, ``start_date``, ``end_date``,
    ``all_day``; an optional colour; the widget's per-event flags ``readonly``, ``drag_move``,
    ``drag_resize`` (null: the widget's configuration decides); recurrence as the widget stores it
    (``rrule``, ``series_start``, ``series_end``, ``recurring``, ``recurring_event``,
    ``original_start``, ``status``); the timeline ``section``; ``extra``, the custom keys the widget sent
    that have no column. Occurrences are never expanded here: the widget does that.
    Dates are nullable because a cancelled occurrence has none.
    """

    calendar = models.ForeignKey(
        Calendar, verbose_name=_("calendar"), on_delete=models.CASCADE, related_name="events"
    )
    text = models.TextField(_("text"), blank=True, default="")
    details = models.TextField(_("details"), blank=True, default="")
    start_date = models.DateTimeField(_("start"), null=True, blank=True)
    end_date = models.DateTimeField(_("end"), null=True, blank=True)
    all_day = models.BooleanField(_("all day"), default=False)
    color_background = models.CharField(
        _("background colour"), max_length=64, blank=True, default="", validators=[validate_color]
    )
    color_border = models.CharField(
        _("border colour"), max_length=64, blank=True, default="", validators=[validate_color]
    )
    color_text = models.CharField(
        _("text colour"), max_length=64, blank=True, default="", validators=[validate_color]
    )
    readonly = models.BooleanField(_("read-only"), null=True, blank=True)
    drag_move = models.BooleanField(_("can be moved"), null=True, blank=True)
    drag_resize = models.BooleanField(_("can be resized"), null=True, blank=True)
    rrule = models.TextField(_("recurrence rule"), blank=True, default="")
    series_start = models.DateTimeField(_("series start"), null=True, blank=True)
    series_end = models.DateTimeField(_("series end"), null=True, blank=True)
    recurring = models.BooleanField(_("recurring"), null=True, blank=True)
    recurring_event = models.ForeignKey(
        "self",
        verbose_name=_("series"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="exceptions",
    )
    original_start = models.DateTimeField(_("original start of the occurrence"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=32, blank=True, default="")
    section = models.JSONField(_("timeline section"), null=True, blank=True)
    extra = models.JSONField(_("custom keys"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [models.Index(fields=["calendar", "start_date"], name="event_calendar_start_idx")]

    def __str__(self) -> str:
        return self.text or f"#{self.pk}"

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # Remembered so that a move to another calendar can be announced to the audiences of both.
        instance._loaded_calendar_id = instance.__dict__.get("calendar_id")
        return instance

    def save(self, *args, **kwargs) -> None:
        moved = self.pk is not None and getattr(self, "_loaded_calendar_id", self.calendar_id) != self.calendar_id
        super().save(*args, **kwargs)
        if moved:
            # A series and its exceptions stay in one calendar, whoever moves it (API, admin, ORM code).
            for exception in self.exceptions.exclude(calendar_id=self.calendar_id):
                exception.calendar_id = self.calendar_id
                exception.save()

    @property
    def is_cancelled_occurrence(self) -> bool:
        return self.status == CANCELLED and self.recurring_event_id is not None

    def clean(self) -> None:
        """The rules every stored event keeps, whichever way it is written (API or admin)."""
        errors: dict[str, str] = {}
        if not self.is_cancelled_occurrence:
            for name in ("start_date", "end_date"):
                if getattr(self, name) is None:
                    errors[name] = _("This field is required.")
        if self.start_date and self.end_date and self.end_date < self.start_date:
            errors["end_date"] = _("The end must not be before the start.")
        if self.recurring_event_id is not None:
            series = self.recurring_event
            if self.pk is not None and series.pk == self.pk:
                errors["recurring_event"] = _("An event cannot be an exception of itself.")
            elif series.recurring_event_id is not None:
                errors["recurring_event"] = _("The series must not itself be an exception.")
            elif self.pk is not None and self.exceptions.exists():
                errors["recurring_event"] = _("A series with exceptions cannot become an exception.")
            elif series.calendar_id != self.calendar_id:
                errors["recurring_event"] = _("The series must be in the same calendar.")
        if self.status == CANCELLED and (self.recurring_event_id is None or self.original_start is None):
            errors["status"] = _("A cancelled occurrence needs its series and its original start.")
        # The admin's form gives None for an emptied box; the column is NOT NULL and rendering merges a dict.
        if self.extra is None:
            self.extra = {}
        elif not isinstance(self.extra, dict):
            errors["extra"] = _("Custom keys must be a JSON object.")
        if self.section is not None and (isinstance(self.section, bool) or not isinstance(self.section, str | int)):
            errors["section"] = _("The section must be a string or an integer.")
        if errors:
            raise ValidationError(errors)


def attachment_storage():
    return storages[app_settings.UPLOAD_STORAGE]


def attachment_path(instance: Attachment, filename: str) -> str:
    # Uploaded names are never used as paths: a random name cannot traverse, collide or run.
    return f"{app_settings.UPLOAD_DIRECTORY}/{uuid.uuid4().hex}"


class Attachment(models.Model):
    """A file uploaded through the widget's editor, linked to an event once the event is saved.

    Fields: ``file`` (in the ``UPLOAD_STORAGE`` storage, under a random name), ``name`` (the original
    file name, shown to users), ``content_type``, ``size``, ``uploaded_by``, ``event`` (null until linked),
    ``created_at``.
    """

    file = models.FileField(_("file"), storage=attachment_storage, upload_to=attachment_path, max_length=255)
    name = models.CharField(_("name"), max_length=255, blank=True, help_text=_("Taken from the file when empty."))
    content_type = models.CharField(_("content type"), max_length=255, blank=True, default="")
    size = models.PositiveBigIntegerField(_("size"), default=0)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    event = models.ForeignKey(
        Event,
        verbose_name=_("event"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="attachments",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(event__isnull=True),
                name="event_calendar_unlinked_idx",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Device(models.Model):
    """A browser tab or client holding a Remote-Token. Revoking it refuses the token from then on.

    Fields: ``user``, ``created_at``, ``last_seen_at`` (updated at most every few minutes),
    ``revoked_at``.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="event_calendar_devices",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_seen_at = models.DateTimeField(_("last seen at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("device")
        verbose_name_plural = _("devices")

    def __str__(self) -> str:
        return f"{_('device')} {self.pk}"


def delete_stored_file(sender, instance: Attachment, using: str, **kwargs) -> None:
    """Remove the stored file once the row's deletion has committed (a rollback keeps both)."""
    file = instance.file
    if file.name:
        transaction.on_commit(lambda: file.storage.delete(file.name), using=using)


def sidebar_of(user_id: int) -> dict[int, bool]:
    """The calendars a user has shown or hidden for themselves, with their choice."""
    return dict(CalendarPreference.objects.filter(user_id=user_id).values_list("calendar_id", "active"))
