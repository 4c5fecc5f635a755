from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from event_calendar.models import Attachment, Device, Event
from event_calendar.tokens import issue_token, revoke_device

pytestmark = pytest.mark.django_db(transaction=True)


def make_upload(user, hours_old: int, event: Event | None = None) -> Attachment:
    attachment = Attachment(name="notes.txt", content_type="text/plain", size=2, uploaded_by=user, event=event)
    attachment.file.save("notes.txt", ContentFile(b"hi"), save=False)
    attachment.save()
    Attachment.objects.filter(pk=attachment.pk).update(created_at=timezone.now() - timedelta(hours=hours_old))
    return attachment


def test_cleanup_deletes_old_unlinked_uploads_and_their_files_only(user, calendar):
    event = Event.objects.create(calendar=calendar, start_date=timezone.now(), end_date=timezone.now())
    stale = make_upload(user, hours_old=30)
    fresh = make_upload(user, hours_old=1)
    linked = make_upload(user, hours_old=30, event=event)
    storage = stale.file.storage

    call_command("event_calendar_cleanup", stdout=StringIO())

    assert set(Attachment.objects.values_list("pk", flat=True)) == {fresh.pk, linked.pk}
    assert not storage.exists(stale.file.name)
    assert storage.exists(fresh.file.name) and storage.exists(linked.file.name)


def test_cleanup_deletes_revoked_and_expired_devices(user):
    issue_token(user)
    revoked = Device.objects.get()
    revoke_device(revoked)
    issue_token(user)
    old = Device.objects.latest("pk")
    Device.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=15))
    issue_token(user)
    live = Device.objects.latest("pk")

    call_command("event_calendar_cleanup", stdout=StringIO())

    assert list(Device.objects.values_list("pk", flat=True)) == [live.pk]
