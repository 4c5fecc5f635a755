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
    return Calendar.objects.create(label="Work", created_by=user, owner=user)


def widget_event(calendar_id: Any, **fields: Any) -> dict[str, Any]:
    """An event body as the widget's editor POSTs it: temp id and the config-derived flags included."""
    body = {
        "id": "temp://1707553800123",
        "type": calendar_id,
        "text": "Planning",
        "details": "",
        "start_date": "2024-02-10T08:30:00.000Z",
        "end_date": "2024-02-10T09:30:00.000Z",
        "allDay": False,
    }
    body.update(fields)
    return body


def database_state() -> dict[str, list[dict[str, Any]]]:
    """Every stored row, to prove that a refused request changed nothing."""
    from django.forms.models import model_to_dict

    from event_calendar.models import Attachment, Device, Event

    return {
        model.__name__: [model_to_dict(obj) for obj in model.objects.order_by("pk")]
        for model in (Calendar, Event, Attachment)
    } | {"Device": list(Device.objects.order_by("pk").values("pk", "revoked_at"))}


def assert_json_error(response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["status"] == "error"
    assert isinstance(body["message"], str) and body["message"]
    return body


@pytest.fixture
def media_root(settings, tmp_path):
    """An empty MEDIA_ROOT of the test's own, so a test sees exactly which files were stored."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    return root
