"""``manage.py rundemo [addrport]``: everything the demo needs, then Daphne's development server."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.urls import reverse

from event_calendar.conf import app_settings
from example_project.views import demo_users

DEFAULT_ADDRPORT = "127.0.0.1:8000"
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "admin"


class Command(BaseCommand):
    help = (
        "Apply migrations, load the demo data, create the superuser admin/admin (DEBUG only, when missing) "
        "and serve the site with Daphne."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "addrport",
            nargs="?",
            default=DEFAULT_ADDRPORT,
            help=f"Address and port (default {DEFAULT_ADDRPORT}).",
        )

    def handle(self, *args: Any, addrport: str, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        call_command("load_calendar_demo")
        self.ensure_admin()

        site = site_url(addrport)
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Calendar page: {site}{reverse('calendar')}"))
        if app_settings.DEMO_LOGIN and settings.DEBUG:
            for user in demo_users()[:5]:
                name = user.get_username()
                self.stdout.write(f"  as demo user {name}: {site}{reverse('calendar')}?user={name}")
        self.stdout.write(self.style.SUCCESS(f"Admin:         {site}{reverse('admin:index')}"))
        self.stdout.write("")
        # The reloader would run this whole command again in a child process.
        call_command("runserver", addrport, use_reloader=False)

    def ensure_admin(self) -> None:
        User = get_user_model()
        if not settings.DEBUG:
            self.stdout.write("DEBUG is off: no admin user created, and the demo login is off.")
            return
        if User.objects.filter(**{User.USERNAME_FIELD: ADMIN_USERNAME}).exists():
            self.stdout.write(f"Superuser {ADMIN_USERNAME} exists already; its password is unchanged.")
            return
        User.objects.create_superuser(ADMIN_USERNAME, password=ADMIN_PASSWORD)
        self.stdout.write(
            f"Created the superuser {ADMIN_USERNAME} with password {ADMIN_PASSWORD} (DEBUG only)."
        )


def site_url(addrport: str) -> str:
    """``http://host:port`` for an addrport as runserver takes it ("8000", "0.0.0.0:8000", "[::1]:8000")."""
    address, _, port = addrport.rpartition(":")
    if not port.isdigit():
        address, port = addrport, "8000"
    if address in ("", "0.0.0.0", "[::]", "0"):
        address = "127.0.0.1"
    return f"http://{address}:{port}"
