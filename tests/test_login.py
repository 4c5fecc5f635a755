"""``GET login``: a Remote-Token for the signed-in Django user, or, in demo mode only, for ``?id=N``."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from event_calendar.models import Device
from event_calendar.tokens import read_token

from .conftest import BASE, WidgetClient, assert_json_error

pytestmark = pytest.mark.django_db

LOGIN = f"{BASE}/login"
URL_SAFE = re.compile(r"[A-Za-z0-9_:-]+")


def browser() -> Client:
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def signed_in(user) -> Client:
    client = browser()
    client.force_login(user)
    return client


@pytest.fixture
def demo_mode(settings):
    settings.DEBUG = True
    settings.EVENT_CALENDAR = {"DEMO_LOGIN": True}


@pytest.fixture
def demo_user(django_user_model):
    return django_user_model.objects.create_user("carol", password="pw")


def test_login_gives_signed_in_user_a_plain_text_token(signed_in, user):
    response = signed_in.get(LOGIN)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    token = response.content.decode()
    assert URL_SAFE.fullmatch(token)
    assert read_token(token).user == user


def test_login_token_works_as_remote_token(signed_in, calendar):
    token = signed_in.get(LOGIN).content.decode()

    response = WidgetClient(token).get("calendars")

    assert response.status_code == 200
    assert [item["id"] for item in response.json()] == [calendar.pk]


def test_login_reply_is_never_cached(signed_in):
    response = signed_in.get(LOGIN)

    assert "no-store" in response["Cache-Control"]
    assert "private" in response["Cache-Control"]


def test_each_login_makes_a_new_device(signed_in, user):
    first = signed_in.get(LOGIN).content.decode()
    second = signed_in.get(LOGIN).content.decode()

    assert first != second
    devices = list(Device.objects.filter(user=user).order_by("pk"))
    assert len(devices) == 2
    assert [read_token(first), read_token(second)] == devices


def test_login_without_session_is_json_401():
    response = browser().get(LOGIN)

    assert_json_error(response, 401)
    assert Device.objects.count() == 0


def test_login_of_inactive_session_user_is_json_401(signed_in, user):
    user.is_active = False
    user.save()

    assert_json_error(signed_in.get(LOGIN), 401)
    assert Device.objects.count() == 0


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_login_refuses_other_methods_with_json_405(signed_in, method):
    response = signed_in.generic(method, LOGIN)

    assert_json_error(response, 405)
    assert Device.objects.count() == 0


# ---------------------------------------------------------------------------------------------------
# Demo login: ?id=N


@pytest.mark.usefixtures("demo_mode")
def test_demo_login_issues_token_for_user_id(demo_user):
    response = browser().get(LOGIN, {"id": demo_user.pk})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    token = response.content.decode()
    assert read_token(token).user == demo_user
    assert WidgetClient(token).get("events").status_code == 200


@pytest.mark.usefixtures("demo_mode")
def test_demo_login_id_wins_over_session_user(signed_in, demo_user):
    token = signed_in.get(LOGIN, {"id": demo_user.pk}).content.decode()

    assert read_token(token).user == demo_user


@pytest.mark.parametrize(("demo_login", "debug"), [(False, True), (True, False), (False, False)])
def test_demo_login_needs_both_demo_setting_and_debug(settings, demo_user, demo_login, debug):
    settings.DEBUG = debug
    settings.EVENT_CALENDAR = {"DEMO_LOGIN": demo_login}

    response = browser().get(LOGIN, {"id": demo_user.pk})

    assert_json_error(response, 403)
    assert Device.objects.count() == 0


def test_demo_login_off_gives_signed_in_user_no_other_users_token(signed_in, demo_user):
    response = signed_in.get(LOGIN, {"id": demo_user.pk})

    assert_json_error(response, 403)
    assert Device.objects.count() == 0


@pytest.mark.usefixtures("demo_mode")
@pytest.mark.parametrize(
    "flags",
    [
        {"is_staff": True},
        {"is_superuser": True},
        {"is_staff": True, "is_superuser": True},
        {"is_active": False},
    ],
    ids=["staff", "superuser", "staff-superuser", "inactive"],
)
def test_demo_login_refuses_staff_superusers_and_inactive_users(django_user_model, flags):
    target = django_user_model.objects.create_user("dave", password="pw", **flags)

    response = browser().get(LOGIN, {"id": target.pk})

    assert_json_error(response, 403)
    assert Device.objects.count() == 0


@pytest.mark.usefixtures("demo_mode")
@pytest.mark.parametrize(
    "raw_id",
    ["abc", "-1", "0", "1.5", "", "99999999999999999999999", "9223372036854775808", "1e3", "0{pk}", "+{pk}",
     "%20{pk}", "{pk}%20"],
)
def test_demo_login_with_garbage_id_is_json_403(demo_user, raw_id):
    response = browser().get(f"{LOGIN}?id={raw_id.format(pk=demo_user.pk)}")

    assert_json_error(response, 403)
    assert Device.objects.count() == 0


@pytest.mark.usefixtures("demo_mode")
def test_demo_login_of_unknown_user_is_json_403(demo_user):
    response = browser().get(LOGIN, {"id": demo_user.pk + 1000})

    assert_json_error(response, 403)
    assert Device.objects.count() == 0
