"""The OpenAPI document the app serves: a valid document, in agreement with the input serializers, and
describing the replies the routes really give (each validated against it)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from event_calendar.openapi import EVENT_FIELDS
from event_calendar.serializers import CalendarSerializer, EventSerializer
from event_calendar.tokens import issue_token

from .conftest import BASE, WidgetClient, widget_event
from .test_uploads import upload


@pytest.fixture
def document() -> dict[str, Any]:
    response = Client().get(f"{BASE}/openapi.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    return response.json()


def assert_matches(document: dict[str, Any], schema: dict[str, Any] | str, instance: Any) -> None:
    """Validate ``instance`` against a schema of the document (a component's name, or a schema)."""
    root = {"$ref": f"#/components/schemas/{schema}"} if isinstance(schema, str) else schema
    Draft202012Validator({**document, **root}).validate(instance)


def reply_schema(document: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    return document["paths"][path][method]["responses"][str(status)]["content"]["application/json"]["schema"]


def test_the_document_is_valid_openapi_for_the_mounted_routes(document):
    validate(document)
    assert document["servers"] == [{"url": f"http://testserver{BASE}"}]
    assert set(document["paths"]) == {
        "/events",
        "/events/{id}",
        "/calendars",
        "/calendars/{id}",
        "/uploads",
        "/uploads/{id}/{name}",
        "/login",
        "/logout",
        "/api/v1",
    }


def test_input_schemas_name_exactly_the_serializers_fields(document):
    schemas = document["components"]["schemas"]
    assert set(schemas["EventInput"]["properties"]) == set(EventSerializer().fields)
    assert set(schemas["CalendarInput"]["properties"]) == set(CalendarSerializer().fields)
    assert set(schemas["Event"]["properties"]) == {"id", *EVENT_FIELDS}


def test_the_widgets_bodies_match_the_input_schemas(document):
    assert_matches(document, "EventInput", widget_event(1, files=[{"id": 3, "status": "server", "file": {}}]))
    assert_matches(
        document,
        "EventInput",
        {
            "recurringEventId": "7",
            "originalStartTime": "2024-02-11T08:30:00.000Z",
            "status": "cancelled",
            "type": 1,
        },
    )
    assert_matches(
        document,
        "CalendarInput",
        {
            "id": "temp://1707553800123",
            "label": "Team",
            "description": "",
            "color": {"background": "#5890DC", "border": "#2D74D3"},
        },
    )


@pytest.mark.django_db
def test_every_reply_matches_the_document(document, user, calendar, media_root):
    token = issue_token(user)
    api = WidgetClient(token)

    def check(path: str, method: str, response, status: int = 200) -> Any:
        assert response.status_code == status, response.content
        assert_matches(document, reply_schema(document, path, method, status), response.json())
        return response.json()

    file = check("/uploads", "post", upload(token))
    series = check(
        "/events",
        "post",
        api.post(
            "events",
            widget_event(
                calendar.pk,
                RRULE="FREQ=WEEKLY;INTERVAL=1;BYDAY=MO",
                STDATE="2024-02-10T08:30:00.000Z",
                DTEND="9999-12-31T00:00:00.000Z",
                recurring=True,
                color={"background": "#ff0000", "textColor": "white"},
                readonly=False,
                dragMove=True,
                dragResize=False,
                section="room-1",
                files=[file],
                priority={"level": 2},
            ),
        ),
    )
    check(
        "/events",
        "post",
        api.post(
            "events",
            {
                "type": calendar.pk,
                "recurringEventId": series["id"],
                "originalStartTime": "2024-02-12T08:30:00.000Z",
                "status": "cancelled",
            },
        ),
    )
    check("/events/{id}", "put", api.put(f"events/{series['id']}", {"text": "Weekly", "section": 4}))
    listed = check("/events", "get", api.get("events"))
    assert len(listed) == 2 and listed[0]["priority"] == {"level": 2} and listed[1]["start_date"] is None

    created = check(
        "/calendars", "post", api.post("calendars", {"label": "Second", "color": {"textColor": "#000"}})
    )
    check("/calendars/{id}", "put", api.put(f"calendars/{created['id']}", {"active": False}))
    assert len(check("/calendars", "get", api.get("calendars"))) == 2
    check("/calendars/{id}", "delete", api.delete(f"calendars/{created['id']}"))
    check("/events/{id}", "delete", api.delete(f"events/{series['id']}"))

    check("/api/v1", "get", api.get("api/v1"))
    check("/api/v1", "post", api.post("api/v1", [{"id": "1", "name": "a.b", "args": []}]))
    check("/logout", "post", api.post("logout"))


@pytest.mark.django_db
def test_error_replies_match_the_document(document, user, other_user):
    api = WidgetClient(issue_token(user))
    # Open to every signed-in user as editors (the test settings): others may not delete it.
    others = WidgetClient(issue_token(other_user)).post("calendars", {"label": "Theirs"}).json()["id"]
    errors = [
        ("/events", "post", api.post("events", {"type": "x"}), 400),
        ("/events", "get", WidgetClient("forged").get("events"), 401),
        ("/events/{id}", "put", api.put("events/999", {"text": "x"}), 404),
        ("/calendars/{id}", "delete", api.delete(f"calendars/{others}"), 403),
        ("/uploads", "post", WidgetClient(None).post("uploads?token=forged", {}), 401),
    ]
    for path, method, response, status in errors:
        assert response.status_code == status
        assert_matches(document, reply_schema(document, path, method, status), response.json())
