"""Remote-Tokens: URL-safe, signed, naming a live device of an active user, refused with a JSON 401."""

from __future__ import annotations

import logging
import re
import time
from unittest import mock

import pytest
from django.core import signing

from event_calendar.models import Device, Event
from event_calendar.tokens import MAX_TOKEN_LENGTH, SALT, issue_token, read_token, revoke_device

from .conftest import WidgetClient, assert_json_error, database_state, widget_event

pytestmark = pytest.mark.django_db

URL_SAFE = re.compile(r"[A-Za-z0-9_:-]+")
CHALLENGE = 'Remote-Token realm="event_calendar"'


def assert_refused(response) -> None:
    assert_json_error(response, 401)
    assert response["WWW-Authenticate"] == CHALLENGE


def issued_seconds_ago(user, seconds: int) -> str:
    """A token whose signature carries a timestamp ``seconds`` in the past."""
    past = signing.b62_encode(int(time.time()) - seconds)
    with mock.patch.object(signing.TimestampSigner, "timestamp", return_value=past):
        return issue_token(user)


def device_of(token: str) -> Device:
    return Device.objects.get(pk=signing.loads(token, salt=SALT)[1])


@pytest.fixture
def event(calendar) -> Event:
    return Event.objects.create(
        calendar=calendar,
        text="Standup",
        start_date="2024-02-10T08:30:00Z",
        end_date="2024-02-10T09:00:00Z",
    )


def test_token_in_header_authenticates_the_user(api, user, calendar):
    response = api.get("calendars")

    assert response.status_code == 200
    assert [item["label"] for item in response.json()] == ["Work"]


def test_tokens_use_only_url_safe_characters(django_user_model):
    users = [django_user_model.objects.create_user(f"user{n}") for n in range(20)]

    tokens = [issue_token(user) for user in users for _ in range(3)]

    assert all(URL_SAFE.fullmatch(token) for token in tokens), tokens
    assert len(set(tokens)) == len(tokens)


def test_each_token_names_its_own_device(user):
    first, second = issue_token(user), issue_token(user)

    assert read_token(first).pk != read_token(second).pk
    assert {device.user for device in Device.objects.all()} == {user}


def test_reading_a_token_records_when_the_device_was_last_seen(api, token):
    assert device_of(token).last_seen_at is None

    api.get("events")

    assert device_of(token).last_seen_at is not None


def test_request_without_token_is_json_401_with_challenge(anonymous_api):
    assert_refused(anonymous_api.get("events"))


@pytest.mark.parametrize("token", ["", "garbage", "a:b:c", "WyIxIiwxXQ:1xZACr:"], ids=repr)
def test_malformed_token_is_json_401(token):
    assert_refused(WidgetClient(token).get("events"))


def test_token_signed_with_another_key_is_json_401(user):
    device = Device.objects.create(user=user)
    forged = signing.dumps([str(user.pk), device.pk], salt=SALT, key="not-the-site-secret-key-0123456789")

    assert_refused(WidgetClient(forged).get("events"))


def test_token_signed_for_another_purpose_is_json_401(user):
    device = Device.objects.create(user=user)
    forged = signing.dumps([str(user.pk), device.pk])

    assert_refused(WidgetClient(forged).get("events"))


def test_token_with_payload_of_another_token_is_json_401(token, other_user):
    # Someone who holds a token for one user swaps in the payload of another user's token.
    their_payload = issue_token(other_user).split(":", 1)[0]
    tampered = their_payload + ":" + token.split(":", 1)[1]

    assert_refused(WidgetClient(tampered).get("events"))


@pytest.mark.parametrize("position", [0, 12, -1])
def test_token_with_one_character_changed_is_json_401(token, position):
    index = position % len(token)
    replacement = "A" if token[index] != "A" else "B"
    tampered = token[:index] + replacement + token[index + 1 :]

    assert_refused(WidgetClient(tampered).get("events"))


def test_token_naming_another_users_device_is_json_401(user, other_user):
    # Only a holder of the secret key could make this one; the device must still belong to the user.
    their_device = Device.objects.create(user=other_user)
    token = signing.dumps([str(user.pk), their_device.pk], salt=SALT)

    assert_refused(WidgetClient(token).get("events"))


@pytest.mark.parametrize(
    "payload", [{"user": 1}, [1, 1], ["1"], ["1", "1"], ["1", 1, 1], "1", None, ["1", 10**30]], ids=repr
)
def test_validly_signed_token_with_malformed_payload_is_json_401(payload):
    assert_refused(WidgetClient(signing.dumps(payload, salt=SALT)).get("events"))


@pytest.mark.parametrize("device_id", [True, False])
def test_validly_signed_token_naming_a_device_by_a_boolean_is_json_401(user, device_id):
    Device.objects.get_or_create(pk=1, defaults={"user": user})  # True would name it, as 1 == True

    assert_refused(WidgetClient(signing.dumps([str(user.pk), device_id], salt=SALT)).get("events"))


def test_token_of_revoked_device_is_json_401(user, token):
    other_device_token = issue_token(user)

    revoke_device(device_of(token))

    assert_refused(WidgetClient(token).get("events"))
    assert WidgetClient(other_device_token).get("events").status_code == 200


def test_token_of_deleted_device_is_json_401(token):
    device_of(token).delete()

    assert_refused(WidgetClient(token).get("events"))


def test_token_of_inactive_user_is_json_401(user, token):
    user.is_active = False
    user.save()

    assert_refused(WidgetClient(token).get("events"))


def test_token_older_than_max_age_is_json_401(user, settings):
    settings.EVENT_CALENDAR = {"TOKEN_MAX_AGE": 3600}

    expired = issued_seconds_ago(user, 3700)

    assert_refused(WidgetClient(expired).get("events"))


def test_token_younger_than_max_age_is_accepted(user, settings):
    settings.EVENT_CALENDAR = {"TOKEN_MAX_AGE": 3600}

    recent = issued_seconds_ago(user, 3500)

    assert WidgetClient(recent).get("events").status_code == 200


def test_default_max_age_is_fourteen_days(user):
    thirteen_days = issued_seconds_ago(user, 13 * 24 * 3600)
    fifteen_days = issued_seconds_ago(user, 15 * 24 * 3600)

    assert WidgetClient(thirteen_days).get("events").status_code == 200
    assert_refused(WidgetClient(fifteen_days).get("events"))


def test_over_long_token_is_json_401(token):
    assert_refused(WidgetClient(token + "A" * MAX_TOKEN_LENGTH).get("events"))
    assert_refused(WidgetClient("A" * 100_000).get("events"))


# ---------------------------------------------------------------------------------------------------
# ?token= in the query


def test_query_token_is_accepted_on_get(anonymous_api, token, event):
    response = anonymous_api.get(f"events?token={token}")

    assert response.status_code == 200
    assert [item["id"] for item in response.json()] == [event.pk]


def test_bad_query_token_on_get_is_json_401(anonymous_api, token):
    assert_refused(anonymous_api.get(f"events?token={token}x"))


def test_query_token_is_not_accepted_on_post(anonymous_api, token, calendar):
    before = database_state()

    response = anonymous_api.post(f"events?token={token}", widget_event(calendar.pk))

    assert_refused(response)
    assert database_state() == before


def test_query_token_is_not_accepted_on_put(anonymous_api, token, event):
    before = database_state()

    response = anonymous_api.put(f"events/{event.pk}?token={token}", {"text": "Hijacked"})

    assert_refused(response)
    assert database_state() == before


def test_query_token_is_not_accepted_on_delete(anonymous_api, token, event):
    before = database_state()

    response = anonymous_api.delete(f"events/{event.pk}?token={token}")

    assert_refused(response)
    assert database_state() == before


# ---------------------------------------------------------------------------------------------------
# Logging


def test_tokens_do_not_appear_in_log_output(caplog, user, token, settings):
    settings.EVENT_CALENDAR = {"TOKEN_MAX_AGE": 3600}
    revoked = issue_token(user)
    revoke_device(device_of(revoked))
    expired = issued_seconds_ago(user, 7200)
    forged = token[:-3] + "xyz"
    refused = [revoked, expired, forged]

    with caplog.at_level(logging.DEBUG):
        for bad in refused:
            assert_refused(WidgetClient(bad).get("events"))
            assert_refused(WidgetClient(None).get(f"events?token={bad}"))
            assert_refused(WidgetClient(None).post(f"events?token={bad}", {"text": "x"}))
        assert WidgetClient(None).get(f"events?token={token}").status_code == 200

    # The refusals were logged (Django logs every 4xx), but without the tokens.
    assert len([record for record in caplog.records if record.name == "django.request"]) >= len(refused) * 3
    for secret in [*refused, token]:
        assert secret not in caplog.text
        assert secret.split(":")[-1] not in caplog.text


def test_logout_refuses_the_devices_token_and_keeps_the_users_other_devices(user, calendar):
    token, other = issue_token(user), issue_token(user)

    response = WidgetClient(token).post("logout")

    assert (response.status_code, response.json()) == (200, {})
    assert_refused(WidgetClient(token).get("events"))
    assert WidgetClient(other).get("events").status_code == 200
    assert device_of(other).revoked_at is None


def test_logout_without_a_token_is_a_json_401_and_revokes_nothing(user):
    issue_token(user)

    assert_json_error(WidgetClient(None).post("logout"), 401)
    assert not Device.objects.exclude(revoked_at=None).exists()
