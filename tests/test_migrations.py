"""The migrations match the models."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_models_have_no_changes_missing_a_migration():
    output = StringIO()

    # --check exits with status 1, listing the missing operations, when a model has changed.
    call_command("makemigrations", "event_calendar", "--check", "--dry-run", stdout=output, stderr=output)

    assert output.getvalue() == "No changes detected in app 'event_calendar'\n"
