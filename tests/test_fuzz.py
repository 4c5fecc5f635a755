"""Fuzzing, seeded and bounded so that CI stays deterministic and quick.

- The REST API, from its own OpenAPI document, with schemathesis against a real server process: valid and
  invalid requests to every route; no 5xx, no reply that is not JSON, none that the document does not
  describe.
- The wire parser, with Hypothesis, through the real routes: whatever a body holds, the reply is JSON with
  a 200 or a 4xx, and a refused write changes nothing.
- The socket, with Hypothesis: whatever frames arrive, the connection answers and keeps working.

``EVENT_CALENDAR_FUZZ_EXAMPLES`` sets the examples per case (default 25); a longer run, for example
``EVENT_CALENDAR_FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest tests/test_fuzz.py``, is a command to run by hand.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from websockets.sync.client import connect

from event_calendar.models import Calendar
from event_calendar.tokens import issue_token

from .conftest import WidgetClient, database_state
from .live import LiveSite

EXAMPLES = int(os.environ.get("EVENT_CALENDAR_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the same examples on every run
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
# Revoking the fuzzer's own token would leave every later case a 401: logout is tested on its own.
NOT_FUZZED = {"POST /logout"}
# A request the document allows can still be refused for what no schema says (a calendar that does not
# exist, an end before the start): that is not a failure here.
EXCLUDED_CHECKS = [schemathesis.checks.positive_data_acceptance]


@pytest.fixture(scope="module")
def site():
    # uvicorn hands every request to the app; Daphne answers a malformed multipart body itself (README).
    # No throttle, and room for the socket's frames: the fuzzer sends far more than any client.
    site = LiveSite(app_settings={"REST_THROTTLE_RATE": None, "SOCKET_MAX_FRAMES_PER_MINUTE": 1_000_000})
    base = site.start_server(server="uvicorn")
    token = site.tokens("fuzzer")["fuzzer"]
    yield base, token
    site.close()


def test_the_rest_api_survives_its_own_schema(site):
    base, token = site
    schema = schemathesis.openapi.from_dict(requests.get(f"{base}/calendar/api/openapi.json", timeout=10).json())
    schema.config.update(base_url=f"{base}/calendar/api")
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in NOT_FUZZED:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @FUZZ
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                response = case.call(headers={"Remote-Token": token}, timeout=30)
                case.validate_response(response, excluded_checks=EXCLUDED_CHECKS)

            try:
                run()
            except Exception as error:  # collected, so that one run reports every operation that fails
                failures.append(f"{operation.label} ({mode.value}): {error}")
    assert not failures, "\n\n".join(failures)


# --- the wire parser, through the routes ------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
DATES = st.one_of(
    st.datetimes().map(lambda moment: moment.isoformat()),
    st.datetimes().map(lambda moment: moment.isoformat() + "Z"),
    st.text(alphabet="0123456789-:TZ.+ ", max_size=32),
    JSON_VALUES,
)
IDS = st.one_of(st.integers(), st.text(alphabet="0123456789+- ", max_size=21), JSON_VALUES)
COLORS = st.one_of(
    st.dictionaries(st.sampled_from(["background", "border", "textColor", "x"]), st.text(max_size=20) | JSON_VALUES),
    JSON_VALUES,
)
EVENT_BODIES = st.fixed_dictionaries(
    {},
    optional={
        "id": IDS,
        "type": IDS,
        "text": JSON_VALUES,
        "start_date": DATES,
        "end_date": DATES,
        "allDay": JSON_VALUES,
        "color": COLORS,
        "RRULE": JSON_VALUES,
        "STDATE": DATES,
        "DTEND": DATES,
        "recurring": JSON_VALUES,
        "recurringEventId": IDS,
        "originalStartTime": DATES,
        "status": st.sampled_from(["cancelled", "", "x"]) | JSON_VALUES,
        "section": JSON_VALUES,
        "files": JSON_VALUES,
        "custom": JSON_VALUES,
    },
)


@pytest.fixture
def writer(django_user_model):
    user = django_user_model.objects.create_user("writer")
    Calendar.objects.create(label="Work", owner=user)
    return WidgetClient(issue_token(user))


def assert_json_reply(response, *statuses: int) -> Any:
    assert response.status_code in statuses, response.content
    assert response["Content-Type"] == "application/json"
    return json.loads(response.content)


@pytest.mark.django_db
def test_any_event_body_is_stored_or_refused_whole(writer):
    calendar = Calendar.objects.get()

    @FUZZ
    @given(body=EVENT_BODIES, valid_type=st.booleans())
    def run(body, valid_type):
        if valid_type:
            body = {**body, "type": calendar.pk}
        before = database_state()
        reply = assert_json_reply(writer.post("events", body), 200, 400)
        if "id" not in reply:
            assert database_state() == before
            return
        listed = {event["id"]: event for event in writer.get("events").json()}
        assert listed[reply["id"]]["type"] == calendar.pk
        before = database_state()
        update = assert_json_reply(writer.put(f"events/{reply['id']}", body), 200, 400)
        if update != {}:
            assert database_state() == before

    run()


@pytest.mark.django_db
def test_any_raw_body_is_a_json_reply(writer):
    @FUZZ
    @given(raw=st.binary(max_size=256) | st.text(max_size=256).map(str.encode))
    def run(raw):
        before = database_state()
        response = writer.request("POST", "events", raw=raw)
        assert_json_reply(response, 200, 400, 415)
        if response.status_code != 200:
            assert database_state() == before

    run()


@pytest.mark.django_db
def test_deep_and_huge_bodies_are_refused_as_json(writer, settings):
    deep = "[" * 100_000 + "]" * 100_000
    assert_json_reply(writer.request("POST", "events", raw=deep), 400)
    huge = json.dumps({"text": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    assert_json_reply(writer.request("POST", "events", raw=huge), 413)
    assert_json_reply(writer.request("POST", "events", raw=b'{"text": "\xff\xfe"}'), 400)


# --- the socket -------------------------------------------------------------------------------------

FRAMES = st.one_of(
    JSON_VALUES.map(json.dumps),
    st.fixed_dictionaries({"action": st.sampled_from(["subscribe", "unsubscribe", "call", "x"]) | JSON_VALUES},
                          optional={"name": JSON_VALUES, "key": JSON_VALUES, "body": JSON_VALUES}).map(json.dumps),
    st.text(max_size=64),
    st.binary(max_size=64),
)


def test_the_socket_answers_any_frames_and_keeps_working(site):
    base, token = site
    url = base.replace("http://", "ws://") + f"/calendar/api/api/v1?token={token}&ws=1"
    with connect(url, open_timeout=10) as socket:
        assert json.loads(socket.recv(timeout=10))["action"] == "start"

        @FUZZ
        @given(frames=st.lists(FRAMES, min_size=1, max_size=5))
        def run(frames):
            for frame in frames:
                socket.send(frame)
            socket.send(json.dumps({"action": "call", "body": [{"id": "alive", "name": "x"}]}))
            while True:  # error frames for the bad ones, results for calls, then the barrier's answer
                reply = json.loads(socket.recv(timeout=10))
                assert reply["action"] in ("error", "result")
                if reply["action"] == "result" and reply["body"] == [{"id": "alive", "data": None,
                                                                       "error": "Unknown service"}]:
                    return

        run()
