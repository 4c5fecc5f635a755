from datetime import UTC

from django.contrib import admin
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .files import clean_content_type, clean_file_name
from . import permissions as policy
from .models import Attachment, Calendar, CalendarGrant, Device, Event, Role
from .tokens import revoke_device


class GrantInline(admin.TabularInline):
    model = CalendarGrant
    fields = ["user", "group", "role"]
    autocomplete_fields = ["user", "group"]
    extra = 0


@admin.register(Calendar)
class CalendarAdmin(admin.ModelAdmin):
    """Calendars with who may see and change them. Staff who are not superusers see here only the
    calendars they manage."""

    list_display = ["label", "color_background", "owner", "open_to", "active", "readonly", "event_count", "updated_at"]
    list_filter = ["open_to", "active", "readonly"]
    list_select_related = ["owner"]
    search_fields = ["label", "description"]
    autocomplete_fields = ["owner"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    inlines = [GrantInline]
    fieldsets = [
        (None, {"fields": ["label", "description", "active", "readonly"]}),
        (_("Access"), {"fields": ["owner", "open_to"]}),
        (_("Colour"), {"fields": ["color_background", "color_border", "color_text"]}),
        (_("History"), {"fields": ["created_by", "created_at", "updated_at"]}),
    ]

    def get_queryset(self, request):
        calendars = super().get_queryset(request).annotate(event_count=Count("events"))
        if request.user.is_superuser:
            return calendars
        managed = [pk for pk, role in policy.calendar_roles(request.user).items() if role == Role.MANAGER]
        return calendars.filter(pk__in=managed)

    @admin.display(description=_("events"), ordering="event_count")
    def event_count(self, calendar: Calendar) -> int:
        return calendar.event_count

    def save_model(self, request, obj: Calendar, form, change: bool) -> None:
        if not change:
            obj.created_by = obj.created_by or request.user
            if obj.owner_id is None and not request.user.is_superuser:
                # Staff who are not superusers keep what they create.
                obj.owner = request.user
        super().save_model(request, obj, form, change)


class AttachmentInline(admin.TabularInline):
    model = Attachment
    fields = ["file", "name", "content_type", "size", "uploaded_by", "created_at"]
    readonly_fields = ["content_type", "size", "uploaded_by", "created_at"]
    extra = 0


def in_utc(view, *args, **kwargs):
    """Run and render an admin view with UTC as the current time zone."""
    with timezone.override(UTC):
        response = view(*args, **kwargs)
        if hasattr(response, "render"):
            response.render()
    return response


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """Events with their instants shown and entered in UTC, as the widget sends them: all-day events are
    stored at the creating browser's midnight, and a never-ending series ends in the year 9999, which a
    time zone east of UTC cannot show."""

    list_display = ["text", "calendar", "start_date", "end_date", "all_day", "is_series", "status", "updated_at"]
    list_filter = ["calendar", "all_day", "status", "recurring"]
    list_select_related = ["calendar"]
    search_fields = ["text", "details"]
    date_hierarchy = "start_date"
    raw_id_fields = ["recurring_event"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [AttachmentInline]
    fieldsets = [
        (
            None,
            {
                "fields": ["calendar", "text", "details", "start_date", "end_date", "all_day"],
                "description": _("All times are in UTC."),
            },
        ),
        (_("Colour"), {"fields": ["color_background", "color_border", "color_text"], "classes": ["collapse"]}),
        (_("Widget flags"), {"fields": ["readonly", "drag_move", "drag_resize", "section"], "classes": ["collapse"]}),
        (
            _("Recurrence"),
            {
                "fields": ["rrule", "series_start", "series_end", "recurring", "recurring_event", "original_start", "status"],
                "classes": ["collapse"],
            },
        ),
        (_("Other"), {"fields": ["extra", "created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    @admin.display(description=_("series"), boolean=True)
    def is_series(self, event: Event) -> bool:
        return bool(event.rrule)

    def get_queryset(self, request):
        # Staff who are not superusers see the events they may see, and change those they may edit.
        return super().get_queryset(request).filter(pk__in=policy.visible_events(request.user).values("pk"))

    def has_change_permission(self, request, obj: Event | None = None) -> bool:
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or policy.may_edit_events(request.user, obj.calendar))

    def has_delete_permission(self, request, obj: Event | None = None) -> bool:
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or policy.may_edit_events(request.user, obj.calendar))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "calendar" and not request.user.is_superuser:
            editable = [pk for pk, role in policy.calendar_roles(request.user).items() if role != Role.VIEWER]
            kwargs["queryset"] = Calendar.objects.filter(pk__in=editable, readonly=False)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def changelist_view(self, request, extra_context=None):
        return in_utc(super().changelist_view, request, extra_context)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return in_utc(super().changeform_view, request, object_id, form_url, extra_context)

    def save_formset(self, request, form, formset, change: bool) -> None:
        for attachment_form in formset.forms:
            attachment = attachment_form.instance
            upload = attachment_form.cleaned_data.get("file") if attachment_form.has_changed() else None
            if upload is not None and hasattr(upload, "content_type"):
                attachment.name = attachment.name or clean_file_name(upload.name)
                attachment.content_type = clean_content_type(upload.content_type, attachment.name)
                attachment.size = upload.size
                attachment.uploaded_by = attachment.uploaded_by or request.user
        super().save_formset(request, form, formset, change)


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ["name", "event", "content_type", "size", "uploaded_by", "created_at"]
    list_filter = ["content_type"]
    list_select_related = ["event", "uploaded_by"]
    search_fields = ["name"]
    raw_id_fields = ["event"]
    readonly_fields = ["content_type", "size", "uploaded_by", "created_at"]


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ["__str__", "user", "created_at", "last_seen_at", "revoked_at"]
    list_filter = ["revoked_at"]
    list_select_related = ["user"]
    search_fields = ["user__username"]
    raw_id_fields = ["user"]
    readonly_fields = ["created_at", "last_seen_at", "revoked_at"]
    actions = ["revoke"]

    @admin.action(description=_("Revoke the selected devices' tokens"))
    def revoke(self, request, queryset) -> None:
        devices = list(queryset.filter(revoked_at=None))
        for device in devices:
            revoke_device(device)
        self.message_user(request, _("%(count)d devices revoked.") % {"count": len(devices)})
