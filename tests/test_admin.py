"""The admin: every page opens for a superuser, calendars and events can be added, devices revoked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from event_calendar.models import Attachment, Calendar, Device, Event
from event_calendar.tokens import issue_token

from .conftest import WidgetClient

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

INLINE = "attachments"


def url(model: str, view: str, *args) -> str:
    return reverse(f"admin:event_calendar_{model}_{view}", args=args)


@pytest.fixture
def event(calendar) -> Event:
    return Event.objects.create(
        calendar=calendar,
        text="Review",
        start_date=datetime(2024, 2, 10, 8, 30, tzinfo=UTC),
        end_date=datetime(2024, 2, 10, 9, 30, tzinfo=UTC),
    )


@pytest.fixture
def attachment(event, user) -> Attachment:
    attachment = Attachment(
        name="agenda.pdf", content_type="application/pdf", size=8, uploaded_by=user, event=event
    )
    attachment.file.save("agenda.pdf", ContentFile(b"%PDF-1.4"), save=False)
    attachment.save()
    return attachment


@pytest.fixture
def device(user) -> Device:
    return Device.objects.create(user=user)


def inline_management(total: int = 0, initial: int = 0) -> dict[str, int]:
    return {
        f"{INLINE}-TOTAL_FORMS": total,
        f"{INLINE}-INITIAL_FORMS": initial,
        f"{INLINE}-MIN_NUM_FORMS": 0,
        f"{INLINE}-MAX_NUM_FORMS": 1000,
    }


def grants_management(total: int = 0) -> dict[str, int]:
    return {
        "grants-TOTAL_FORMS": total,
        "grants-INITIAL_FORMS": 0,
        "grants-MIN_NUM_FORMS": 0,
        "grants-MAX_NUM_FORMS": 1000,
    }


def event_form(calendar: Calendar, **fields) -> dict:
    """The add form as a person fills it: split date and time inputs, the flags left at "Unknown"."""
    form = {
        "calendar": calendar.pk,
        "text": "Offsite",
        "details": "Bring laptops",
        "start_date_0": "2024-02-10",
        "start_date_1": "08:30:00",
        "end_date_0": "2024-02-10",
        "end_date_1": "17:00:00",
        "color_background": "",
        "color_border": "",
        "color_text": "",
        "readonly": "unknown",
        "drag_move": "unknown",
        "drag_resize": "unknown",
        "section": "null",
        "rrule": "",
        "series_start_0": "",
        "series_start_1": "",
        "series_end_0": "",
        "series_end_1": "",
        "recurring": "unknown",
        "recurring_event": "",
        "original_start_0": "",
        "original_start_1": "",
        "status": "",
        "extra": "{}",
        **inline_management(),
        "_save": "Save",
    }
    form.update(fields)
    return form


# ---------------------------------------------------------------------------------------------------
# Every page opens


@pytest.mark.parametrize("model", ["calendar", "event", "attachment", "device"])
def test_superuser_opens_changelist(admin_client, attachment, device, model):
    response = admin_client.get(url(model, "changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_calendar_change_page_opens(admin_client, calendar):
    response = admin_client.get(url("calendar", "change", calendar.pk))

    assert response.status_code == 200
    assert response.context["original"] == calendar


def test_event_change_page_shows_its_attachments_inline(admin_client, event, attachment):
    response = admin_client.get(url("event", "change", event.pk))

    assert response.status_code == 200
    formsets = response.context["inline_admin_formsets"]
    assert [[form.instance for form in inline.formset.initial_forms] for inline in formsets] == [[attachment]]
    assert "agenda.pdf" in response.content.decode()


def test_attachment_change_page_opens(admin_client, attachment):
    response = admin_client.get(url("attachment", "change", attachment.pk))

    assert response.status_code == 200
    assert response.context["original"] == attachment


def test_device_change_page_opens(admin_client, device):
    response = admin_client.get(url("device", "change", device.pk))

    assert response.status_code == 200
    assert response.context["original"] == device


@pytest.mark.parametrize("model", ["calendar", "event", "attachment", "device"])
def test_superuser_opens_add_page(admin_client, model):
    assert admin_client.get(url(model, "add")).status_code == 200


# ---------------------------------------------------------------------------------------------------
# Adding through the forms


def test_superuser_adds_calendar(admin_client, admin_user):
    response = admin_client.post(
        url("calendar", "add"),
        {
            "label": "Team",
            "description": "Shared dates",
            "active": "on",
            "color_background": "#112233",
            "color_border": "#445566",
            "color_text": "white",
            "owner": "",
            "open_to": "editor",
            **grants_management(),
            "_save": "Save",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert response["Location"] == url("calendar", "changelist")
    calendar = Calendar.objects.get()
    assert (calendar.label, calendar.description, calendar.active, calendar.readonly) == (
        "Team",
        "Shared dates",
        True,
        False,
    )
    colors = (calendar.color_background, calendar.color_border, calendar.color_text)
    assert colors == ("#112233", "#445566", "white")
    assert calendar.created_by == admin_user


def test_calendar_added_in_admin_is_served_to_the_widget(admin_client, api):
    admin_client.post(
        url("calendar", "add"),
        {
            "label": "Team",
            "description": "",
            "color_background": "#112233",
            "color_border": "#445566",
            "open_to": "viewer",
            **grants_management(),
        },
    )

    assert api.get("calendars").json() == [
        {
            "id": Calendar.objects.get().pk,
            "label": "Team",
            "description": "",
            "active": False,
            "readonly": True,
            "color": {"background": "#112233", "border": "#445566"},
        }
    ]


def test_admin_refuses_calendar_with_unsafe_colour(admin_client):
    response = admin_client.post(
        url("calendar", "add"),
        {"label": "Team", "color_background": "red;background:url(x)", "color_border": "#445566"},
    )

    assert response.status_code == 200
    assert "color_background" in response.context["adminform"].form.errors
    assert Calendar.objects.count() == 0


def test_superuser_adds_event(admin_client, calendar):
    response = admin_client.post(url("event", "add"), event_form(calendar))

    assert response.status_code == 302, response.context["adminform"].form.errors
    event = Event.objects.get()
    assert (event.calendar, event.text, event.details) == (calendar, "Offsite", "Bring laptops")
    assert event.all_day is False
    # The event admin reads times in UTC, whatever the site's TIME_ZONE (Europe/Berlin here).
    assert event.start_date == datetime(2024, 2, 10, 8, 30, tzinfo=UTC)
    assert event.end_date == datetime(2024, 2, 10, 17, 0, tzinfo=UTC)
    assert (event.readonly, event.drag_move, event.drag_resize, event.recurring) == (None, None, None, None)


def test_event_added_in_admin_is_served_to_the_widget(admin_client, api, calendar):
    admin_client.post(url("event", "add"), event_form(calendar))

    assert api.get("events").json() == [
        {
            "id": Event.objects.get().pk,
            "type": calendar.pk,
            "text": "Offsite",
            "details": "Bring laptops",
            "start_date": "2024-02-10T08:30:00.000Z",
            "end_date": "2024-02-10T17:00:00.000Z",
            "allDay": False,
            "files": [],
        }
    ]


@pytest.mark.parametrize("extra", ["", "null"])
def test_event_added_with_cleared_custom_keys_box_has_no_custom_keys(admin_client, api, calendar, extra):
    response = admin_client.post(url("event", "add"), event_form(calendar, extra=extra))

    assert response.status_code == 302
    assert Event.objects.get().extra == {}
    assert api.put(f"events/{Event.objects.get().pk}", {"priority": "high"}).status_code == 200
    assert api.get("events").json()[0]["priority"] == "high"


@pytest.mark.parametrize("extra", ["[1, 2]", '"text"', "42"])
def test_admin_refuses_custom_keys_that_are_not_an_object(admin_client, api, calendar, extra):
    response = admin_client.post(url("event", "add"), event_form(calendar, extra=extra))

    assert response.status_code == 200
    assert "extra" in response.context["adminform"].form.errors
    assert Event.objects.count() == 0
    assert api.get("events").json() == []


def test_superuser_adds_event_with_an_attached_file(admin_client, admin_user, calendar, media_root):
    form = event_form(
        calendar,
        **inline_management(total=1),
        **{
            f"{INLINE}-0-file": SimpleUploadedFile("agenda.pdf", b"%PDF-1.4", content_type="application/pdf"),
            f"{INLINE}-0-name": "Agenda.pdf",
        },
    )

    response = admin_client.post(url("event", "add"), form)

    assert response.status_code == 302
    attachment = Attachment.objects.get()
    assert attachment.event == Event.objects.get()
    assert (attachment.name, attachment.content_type, attachment.size) == ("Agenda.pdf", "application/pdf", 8)
    assert attachment.uploaded_by == admin_user
    assert attachment.file.name != "agenda.pdf"
    assert (media_root / attachment.file.name).read_bytes() == b"%PDF-1.4"


def test_admin_refuses_event_ending_before_it_starts(admin_client, calendar):
    response = admin_client.post(url("event", "add"), event_form(calendar, end_date_1="07:00:00"))

    assert response.status_code == 200
    assert "end_date" in response.context["adminform"].form.errors
    assert Event.objects.count() == 0


# ---------------------------------------------------------------------------------------------------
# Revoking devices


def test_revoke_action_revokes_the_selected_devices(admin_client, user):
    chosen_token, other_token = issue_token(user), issue_token(user)
    chosen, other = Device.objects.order_by("pk")

    response = admin_client.post(
        url("device", "changelist"), {"action": "revoke", ACTION_CHECKBOX_NAME: [chosen.pk]}, follow=True
    )

    assert response.status_code == 200
    assert [str(message) for message in response.context["messages"]] == ["1 devices revoked."]
    chosen.refresh_from_db()
    other.refresh_from_db()
    assert chosen.revoked_at is not None
    assert other.revoked_at is None
    assert WidgetClient(chosen_token).get("events").status_code == 401
    assert WidgetClient(other_token).get("events").status_code == 200


def test_revoke_action_keeps_the_first_revocation_time(admin_client, user):
    earlier = timezone.now() - timedelta(days=3)
    revoked = Device.objects.create(user=user, revoked_at=earlier)
    live = Device.objects.create(user=user)
    selected = {"action": "revoke", ACTION_CHECKBOX_NAME: [revoked.pk, live.pk]}

    admin_client.post(url("device", "changelist"), selected)

    revoked.refresh_from_db()
    live.refresh_from_db()
    assert revoked.revoked_at == earlier
    assert live.revoked_at is not None and live.revoked_at > earlier


@pytest.mark.parametrize("page", ["changelist", "change"])
def test_event_pages_show_year_9999_instants_in_a_time_zone_east_of_utc(admin_client, calendar, page, settings):
    """A never-ending series created at UTC-10 ends at 9999-12-31T10:00Z, past the year 9999 at UTC+14."""
    settings.TIME_ZONE = "Pacific/Kiritimati"
    event = Event.objects.create(
        calendar=calendar,
        text="Forever",
        start_date=datetime(9999, 12, 31, 22, 0, tzinfo=UTC),
        end_date=datetime(9999, 12, 31, 23, 0, tzinfo=UTC),
        rrule="FREQ=DAILY",
        series_end=datetime(9999, 12, 31, 10, 0, tzinfo=UTC),
    )
    args = (event.pk,) if page == "change" else ()
    response = admin_client.get(url("event", page, *args))
    assert response.status_code == 200
    assert b"Forever" in response.content


def test_event_form_reads_times_in_utc(admin_client, calendar, settings):
    settings.TIME_ZONE = "America/New_York"
    response = admin_client.post(url("event", "add"), event_form(calendar))
    assert response.status_code == 302, response.content
    event = Event.objects.get()
    assert event.start_date == datetime(2024, 2, 10, 8, 30, tzinfo=UTC)


@pytest.fixture
def staff(django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="event_calendar"))
    return user


def test_staff_see_only_the_calendars_they_manage_and_the_events_they_may_see(client, staff, user):
    from event_calendar.models import CalendarGrant, Role

    managed = Calendar.objects.create(label="Managed", open_to="")
    CalendarGrant.objects.create(calendar=managed, user=staff, role=Role.MANAGER)
    readable = Calendar.objects.create(label="Readable", open_to="viewer")
    hidden = Calendar.objects.create(label="Hidden", open_to="", owner=user)
    for calendar in (managed, readable, hidden):
        Event.objects.create(
            calendar=calendar, text=f"In {calendar.label}", start_date=datetime(2024, 2, 10, tzinfo=UTC),
            end_date=datetime(2024, 2, 10, 1, tzinfo=UTC),
        )
    client.force_login(staff)

    calendars = client.get(url("calendar", "changelist"))
    assert [c.label for c in calendars.context["cl"].result_list] == ["Managed"]
    assert client.get(url("calendar", "change", hidden.pk)).status_code == 302  # "doesn't exist" redirect

    events = client.get(url("event", "changelist"))
    assert sorted(e.text for e in events.context["cl"].result_list) == ["In Managed", "In Readable"]
    readable_event = Event.objects.get(calendar=readable)
    response = client.post(url("event", "change", readable_event.pk), event_form(readable, text="Changed"))
    assert response.status_code == 403
    assert Event.objects.get(pk=readable_event.pk).text == "In Readable"


def test_calendar_created_by_staff_is_theirs(client, staff):
    client.force_login(staff)
    response = client.post(
        url("calendar", "add"),
        {"label": "Mine", "description": "", "color_background": "#112233", "color_border": "#445566",
         "open_to": "", **grants_management(), "_save": "Save"},
    )
    assert response.status_code == 302, response.content
    assert Calendar.objects.get().owner == staff
