from datetime import UTC

from django.contrib import admin
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .files import clean_content_type, clean_file_name
from .models import Attachment, Calendar, Device, Event
from .tokens import revoke_device


@admin.register(Calendar)
class CalendarAdmin(admin.ModelAdmin):
    list_display = ["label", "color_background", "active", "readonly", "event_count", "created_by", "updated_at"]
    list_filter = ["active", "readonly"]
    search_fields = ["label", "description"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["label", "description", "active", "readonly"]}),
        (_("Colour"), {"fields": ["color_background", "color_border", "color_text"]}),
        (_("History"), {"fields": ["created_by", "created_at", "updated_at"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(event_count=Count("events"))

    @admin.display(description=_("events"), ordering="event_count")
    def event_count(self, calendar: Calendar) -> int:
        return calendar.event_count

    def save_model(self, request, obj: Calendar, form, change: bool) -> None:
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
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
