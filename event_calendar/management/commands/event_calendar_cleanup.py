from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from event_calendar.conf import app_settings
from event_calendar.models import Attachment, Device


class Command(BaseCommand):
    help = (
        "Delete uploads that were never linked to an event, and devices whose tokens can no longer be used "
        "(revoked, or unused for longer than TOKEN_MAX_AGE). Run it daily, e.g. from cron."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--unlinked-hours",
            type=int,
            default=24,
            help="Delete unlinked uploads older than this many hours (default: 24).",
        )

    def handle(self, *args, unlinked_hours: int, **options) -> None:
        now = timezone.now()
        stale_uploads = Attachment.objects.filter(event__isnull=True, created_at__lt=now - timedelta(hours=unlinked_hours))
        uploads = 0
        for attachment in stale_uploads.iterator():
            with transaction.atomic():
                # Each delete removes its stored file when it commits.
                attachment.delete()
            uploads += 1

        expired = now - timedelta(seconds=app_settings.TOKEN_MAX_AGE)
        devices, _ = Device.objects.filter(Q(revoked_at__isnull=False) | Q(created_at__lt=expired)).delete()
        self.stdout.write(f"Deleted {uploads} unlinked uploads and {devices} unusable devices.")
