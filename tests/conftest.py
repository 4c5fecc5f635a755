from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from event_calendar.models import Calendar
from event_calendar.tokens import issue_token

BASE = "/calendar/api"


class WidgetClient:
    """Speaks to the API the way the widget's RestDataProvider does: JSON bodies, Remote-Token header."""

    def __init__(self, token: str | None) -> None:
        self.http = Client()
        self.token = token

    def headers(self) -> dict[str, str]:
        return {"Remote-Token": self.token} if self.token is not None else {}

    def request(self, method: str, path: str, body: Any = None, raw: bytes | str | None = None, **extra):
        data = raw if raw is not None else (json.dumps(body) if body is not None else "")
        return self.http.generic(
            method, f"{BASE}/{path}", data=data, content_type="application/json", headers=self.headers(), **extra
        )

    def get(self, path: str, **extra):
        return self.request("GET", path, **extra)

    def post(self, path: str, body: Any = None, **extra):
        return self.request("POST", path, body, **extra)

    def put(self, path: str, body: Any = None, **extra):
        return self.request("PUT", path, body, **extra)

    def delete(self, path: str, **extra):
        return self.request("DELETE", path, **extra)


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("alice", password="pw")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user("bob", password="pw")


@pytest.fixture
def token(user) -> str:
    return issue_token(user)


@pytest.fixture
def api(token) -> WidgetClient:
    return WidgetClient(token)


@pytest.fixture
def anonymous_api() -> WidgetClient:
    return WidgetClient(None)


@pytest.fixture
def calendar(user) -> Calendar:
    return Calendar.objects.create(label="Work", created_by=user)
