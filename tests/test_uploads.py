"""``POST uploads``, the signed download links it hands out, and linking files to events."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from event_calendar.models import Attachment, Calendar, Device, Event
from event_calendar.tokens import issue_token

from .conftest import BASE, WidgetClient, assert_json_error, database_state, widget_event

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

BOUNDARY = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
STORED_NAME = re.compile(r"event_calendar/[0-9a-f]{32}")


def multipart(filename: str, content: bytes, content_type: str, field: str = "upload") -> bytes:
    """The body a browser's ``FormData`` makes, built by hand so the file name is sent exactly as given
    (Django's test client would strip folders from it first)."""
    head = (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{BOUNDARY}--\r\n".encode()


def browser() -> Client:
    # The widget's pages are browsers: CSRF checks apply to anything that is not exempt.
    return Client(enforce_csrf_checks=True)


def upload(
    token: str | None,
    filename: str = "cat.png",
    content: bytes = PNG,
    content_type: str = "image/png",
    *,
    via: str = "query",
    field: str = "upload",
    **extra,
):
    """POST one file as the widget's uploader does: ``via="query"`` puts the token in the upload URL (the
    uploader sends no headers), ``via="header"`` sends it as ``Remote-Token``."""
    path = f"{BASE}/uploads"
    headers = {}
    if token is not None and via == "query":
        path += f"?token={token}"
    elif token is not None:
        headers["Remote-Token"] = token
    return browser().generic(
        "POST",
        path,
        data=multipart(filename, content, content_type, field),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
        headers=headers,
        **extra,
    )


def stored_files(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def download(url: str, **extra):
    return browser().get(url, **extra)


def body_of(response) -> bytes:
    content = b"".join(response.streaming_content)
    response.close()
    return content


def as_sent(uploaded: dict) -> dict:
    """A file entry as the widget's editor sends it back after a successful upload."""
    return {**uploaded, "status": "server", "file": {}, "isCover": True}


def events_by_id(api: WidgetClient) -> dict[int, dict]:
    response = api.get("events")
    assert response.status_code == 200
    return {event["id"]: event for event in response.json()}


@pytest.fixture
def uploaded(token) -> dict:
    response = upload(token, "cat.png")
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def other_token(other_user) -> str:
    return issue_token(other_user)


# ---------------------------------------------------------------------------------------------------
# Uploading


def test_upload_with_token_in_query_returns_id_name_and_signed_absolute_url(token, user):
    response = upload(token, "cat.png", via="query")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"id", "name", "url"}
    attachment = Attachment.objects.get()
    assert body["id"] == attachment.pk
    assert body["name"] == "cat.png"
    url = urlsplit(body["url"])
    assert (url.scheme, url.netloc) == ("http", "testserver")
    assert url.path == f"{BASE}/uploads/{attachment.pk}/cat.png"
    query = parse_qs(url.query)
    assert list(query) == ["device", "sig"]
    assert query["device"] == [str(Device.objects.get().pk)]
    assert query["sig"][0]
    assert (attachment.name, attachment.content_type, attachment.size) == ("cat.png", "image/png", len(PNG))
    assert attachment.uploaded_by == user
    assert attachment.event is None


def test_upload_with_token_in_header_is_accepted(token):
    response = upload(token, "notes.txt", b"hello", "text/plain", via="header")

    assert response.status_code == 200
    assert response.json()["name"] == "notes.txt"
    assert Attachment.objects.get().size == 5


def test_upload_success_body_has_no_status_key(token):
    # The widget takes any "status" other than "server" as a failed upload.
    assert "status" not in upload(token).json()


def test_upload_stores_file_under_random_name_not_the_uploaded_one(token, media_root):
    upload(token, "cat.png")

    attachment = Attachment.objects.get()
    assert STORED_NAME.fullmatch(attachment.file.name)
    assert stored_files(media_root) == [attachment.file.name]
    assert (media_root / attachment.file.name).read_bytes() == PNG


@pytest.mark.parametrize(
    ("sent_name", "shown_name"),
    [("../../etc/passwd", "passwd"), ("a/b\\c.txt", "c.txt"), ("..\\..\\boot.ini", "boot.ini")],
)
def test_upload_name_with_folders_never_becomes_a_path(token, media_root, sent_name, shown_name):
    response = upload(token, sent_name, b"root:x:0:0", "text/plain")

    assert response.status_code == 200
    assert response.json()["name"] == shown_name
    attachment = Attachment.objects.get()
    assert STORED_NAME.fullmatch(attachment.file.name)
    assert stored_files(media_root) == [attachment.file.name]
    assert not (media_root.parent / "etc").exists()


def test_upload_without_upload_field_is_json_400(token, media_root):
    response = upload(token, "cat.png", field="file")

    body = assert_json_error(response, 400)
    assert "upload" in body["errors"]
    assert Attachment.objects.count() == 0
    assert stored_files(media_root) == []


def test_upload_of_file_over_size_limit_is_json_413_and_stores_nothing(token, media_root, settings):
    settings.EVENT_CALENDAR = {"UPLOAD_MAX_SIZE": 1000}

    response = upload(token, "big.bin", b"x" * 1001, "application/octet-stream")

    body = assert_json_error(response, 413)
    assert "1000" in body["message"]
    assert Attachment.objects.count() == 0
    assert stored_files(media_root) == []


def test_upload_of_file_at_size_limit_is_accepted(token, settings):
    settings.EVENT_CALENDAR = {"UPLOAD_MAX_SIZE": 1000}

    response = upload(token, "exact.bin", b"x" * 1000, "application/octet-stream")

    assert response.status_code == 200
    assert Attachment.objects.get().size == 1000


@pytest.mark.parametrize(
    ("filename", "content_type", "accepted"),
    [
        ("cat.png", "image/png", True),
        ("scan.pdf", "application/pdf", True),
        ("notes.txt", "text/plain", False),
        ("page.html", "", False),  # no declared type: judged by the name
        ("cat.png", "image/svg+xml", True),  # a family: every image (SVG is still never shown inline)
    ],
)
def test_upload_types_outside_the_accepted_list_are_json_415_and_store_nothing(
    token, media_root, settings, filename, content_type, accepted
):
    settings.EVENT_CALENDAR = {**settings.EVENT_CALENDAR, "UPLOAD_CONTENT_TYPES": ["image/*", "application/pdf"]}
    response = upload(token, filename, b"content", content_type)
    if accepted:
        assert response.status_code == 200 and Attachment.objects.get().content_type == content_type
    else:
        assert "not accepted" in assert_json_error(response, 415)["message"]
        assert not Attachment.objects.exists() and not any(media_root.rglob("*.*"))


def test_upload_without_content_length_is_json_411_and_stores_nothing(token, media_root):
    # A chunked upload has no Content-Length, and Django would read its body as empty.
    response = upload(token, "small.bin", b"x" * 10, "application/octet-stream", CONTENT_LENGTH="")
    body = assert_json_error(response, 411)
    assert "Content-Length" in body["message"]
    assert not Attachment.objects.exists()


def test_upload_with_too_large_content_length_is_json_413_and_stores_nothing(token, media_root, settings):
    settings.EVENT_CALENDAR = {"UPLOAD_MAX_SIZE": 1000}

    response = upload(token, "big.bin", b"x" * 200_000, "application/octet-stream")

    assert_json_error(response, 413)
    assert Attachment.objects.count() == 0
    assert stored_files(media_root) == []


def test_upload_is_refused_by_declared_length_before_the_body_is_read(token, media_root, settings):
    settings.EVENT_CALENDAR = {"UPLOAD_MAX_SIZE": 1000}

    # The test client's payload raises if more is read than it holds, so a 413 here proves the refusal
    # came from the Content-Length header alone.
    response = upload(token, "small.bin", b"x" * 10, "application/octet-stream", CONTENT_LENGTH="50000000")

    assert_json_error(response, 413)
    assert Attachment.objects.count() == 0
    assert stored_files(media_root) == []


def test_upload_without_token_is_json_401(media_root):
    response = upload(None)

    assert_json_error(response, 401)
    assert response["WWW-Authenticate"] == 'Remote-Token realm="event_calendar"'
    assert Attachment.objects.count() == 0
    assert stored_files(media_root) == []


@pytest.mark.parametrize("via", ["query", "header"])
def test_upload_with_bad_token_is_json_401(token, via, media_root):
    response = upload(token[:-2] + ("AA" if not token.endswith("AA") else "BB"), via=via)

    assert_json_error(response, 401)
    assert response["WWW-Authenticate"] == 'Remote-Token realm="event_calendar"'
    assert Attachment.objects.count() == 0
    assert stored_files(media_root) == []


# ---------------------------------------------------------------------------------------------------
# Downloading through the returned url


def test_download_returns_the_uploaded_bytes_and_type_inline_for_images(token):
    url = upload(token, "cat.png", PNG, "image/png").json()["url"]

    response = download(url)

    assert response.status_code == 200
    assert body_of(response) == PNG
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"] == 'inline; filename="cat.png"'
    assert response["X-Content-Type-Options"] == "nosniff"


def test_download_names_non_ascii_file_in_content_disposition(token):
    name = "Prüfbericht März.pdf"
    uploaded = upload(token, name, b"%PDF-1.4", "application/pdf").json()
    assert uploaded["name"] == name

    response = download(uploaded["url"])

    assert response.status_code == 200
    assert body_of(response) == b"%PDF-1.4"
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == "inline; filename*=utf-8''Pr%C3%BCfbericht%20M%C3%A4rz.pdf"


@pytest.mark.parametrize(
    ("name", "content_type", "disposition"),
    [
        ("page.html", "text/html", 'attachment; filename="page.html"'),
        ("logo.svg", "image/svg+xml", 'attachment; filename="logo.svg"'),
        ("отчёт.html", "text/html", "attachment; filename*=utf-8''%D0%BE%D1%82%D1%87%D1%91%D1%82.html"),
    ],
)
def test_download_of_scriptable_file_is_an_attachment(token, name, content_type, disposition):
    content = b"<svg onload=alert(1)></svg>" if name.endswith(".svg") else b"<script>alert(1)</script>"
    url = upload(token, name, content, content_type).json()["url"]

    response = download(url)

    assert response.status_code == 200
    assert body_of(response) == content
    assert response["Content-Type"] == content_type
    assert response["Content-Disposition"] == disposition
    assert response["X-Content-Type-Options"] == "nosniff"


def test_download_needs_no_token(token):
    # The widget puts the url into <img> and <a> tags, which send no Remote-Token.
    url = upload(token).json()["url"]

    response = Client().get(url)

    assert response.status_code == 200
    assert body_of(response) == PNG


def test_download_with_wrong_signature_is_json_404(token):
    url = upload(token).json()["url"]
    path, _, query = url.partition("?sig=")

    assert_json_error(download(f"{path}?sig={'A' * len(query)}"), 404)


def test_download_without_signature_is_json_404(token):
    url = upload(token).json()["url"]

    assert_json_error(download(url.partition("?")[0]), 404)


def test_download_with_signature_of_another_file_is_json_404(token):
    first = upload(token, "one.png").json()
    second = upload(token, "two.png").json()
    signature_of_second = second["url"].partition("?")[2]

    assert_json_error(download(f"{first['url'].partition('?')[0]}?{signature_of_second}"), 404)


def test_download_with_wrong_name_is_json_404(token):
    uploaded = upload(token, "cat.png").json()
    query = uploaded["url"].partition("?")[2]

    assert_json_error(download(f"{BASE}/uploads/{uploaded['id']}/dog.png?{query}"), 404)


def test_download_of_unknown_id_is_json_404(token):
    uploaded = upload(token, "cat.png").json()
    query = uploaded["url"].partition("?")[2]

    assert_json_error(download(f"{BASE}/uploads/{uploaded['id'] + 1000}/cat.png?{query}"), 404)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_download_url_refuses_other_methods_with_json_405(token, method):
    url = upload(token).json()["url"]

    response = browser().generic(method, url)

    assert_json_error(response, 405)
    assert Attachment.objects.count() == 1


# ---------------------------------------------------------------------------------------------------
# Linking files to events


def test_event_posted_with_uploaded_file_gets_it(api, calendar, uploaded):
    response = api.post("events", widget_event(calendar.pk, files=[as_sent(uploaded)]))

    assert response.status_code == 200
    event = Event.objects.get(pk=response.json()["id"])
    assert list(event.attachments.values_list("pk", flat=True)) == [uploaded["id"]]


def test_get_events_renders_files_as_id_name_url(api, calendar, uploaded):
    event_id = api.post("events", widget_event(calendar.pk, files=[as_sent(uploaded)])).json()["id"]

    files = events_by_id(api)[event_id]["files"]

    assert files == [{"id": uploaded["id"], "name": "cat.png", "url": uploaded["url"]}]
    assert body_of(download(files[0]["url"])) == PNG


def test_event_put_with_uploaded_file_gets_it(api, calendar, uploaded):
    event_id = api.post("events", widget_event(calendar.pk)).json()["id"]

    response = api.put(f"events/{event_id}", {"id": event_id, "files": [as_sent(uploaded)]})

    assert response.status_code == 200
    assert response.json() == {}
    assert events_by_id(api)[event_id]["files"] == [uploaded]


def test_event_put_without_files_key_keeps_the_files(api, calendar, uploaded):
    event_id = api.post("events", widget_event(calendar.pk, files=[as_sent(uploaded)])).json()["id"]

    response = api.put(f"events/{event_id}", {"id": event_id, "text": "Renamed"})

    assert response.status_code == 200
    event = events_by_id(api)[event_id]
    assert event["text"] == "Renamed"
    assert event["files"] == [uploaded]


def test_event_put_with_shorter_files_list_unlinks_and_deletes_the_dropped_file(
    api, token, calendar, media_root, django_capture_on_commit_callbacks
):
    kept = upload(token, "kept.png").json()
    dropped = upload(token, "dropped.png").json()
    files = [as_sent(kept), as_sent(dropped)]
    event_id = api.post("events", widget_event(calendar.pk, files=files)).json()["id"]
    dropped_path = Attachment.objects.get(pk=dropped["id"]).file.name
    kept_path = Attachment.objects.get(pk=kept["id"]).file.name

    with django_capture_on_commit_callbacks(execute=True):
        response = api.put(f"events/{event_id}", {"id": event_id, "files": [as_sent(kept)]})

    assert response.status_code == 200
    assert events_by_id(api)[event_id]["files"] == [kept]
    assert list(Attachment.objects.values_list("pk", flat=True)) == [kept["id"]]
    assert stored_files(media_root) == [kept_path]
    assert not (media_root / dropped_path).exists()
    assert_json_error(download(dropped["url"]), 404)


def test_dropped_file_stays_stored_until_commit(
    api, token, calendar, media_root, django_capture_on_commit_callbacks
):
    uploaded = upload(token).json()
    event_id = api.post("events", widget_event(calendar.pk, files=[as_sent(uploaded)])).json()["id"]
    path = Attachment.objects.get().file.name

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        api.put(f"events/{event_id}", {"id": event_id, "files": []})

    assert Attachment.objects.count() == 0
    assert stored_files(media_root) == [path]
    for callback in callbacks:
        callback()
    assert stored_files(media_root) == []


def test_event_post_with_another_users_upload_is_400_and_creates_no_event(api, calendar, other_token):
    theirs = upload(other_token, "theirs.png").json()
    before = database_state()

    response = api.post("events", widget_event(calendar.pk, files=[as_sent(theirs)]))

    body = assert_json_error(response, 400)
    assert "files" in body["errors"]
    assert database_state() == before
    assert Event.objects.count() == 0
    assert Attachment.objects.get(pk=theirs["id"]).event is None


def test_event_put_with_another_users_upload_is_400_and_leaves_event_unchanged(
    api, calendar, uploaded, other_token
):
    event_id = api.post("events", widget_event(calendar.pk, files=[as_sent(uploaded)])).json()["id"]
    theirs = upload(other_token, "theirs.png").json()
    before = database_state()

    files = [as_sent(uploaded), as_sent(theirs)]
    response = api.put(f"events/{event_id}", {"id": event_id, "text": "Changed", "files": files})

    assert_json_error(response, 400)
    assert database_state() == before
    event = events_by_id(api)[event_id]
    assert event["text"] == "Planning"
    assert event["files"] == [uploaded]
    assert Attachment.objects.get(pk=theirs["id"]).event is None


def test_file_linked_to_another_event_cannot_be_linked_again(api, calendar, uploaded):
    first_id = api.post("events", widget_event(calendar.pk, files=[as_sent(uploaded)])).json()["id"]
    second_id = api.post("events", widget_event(calendar.pk, text="Second")).json()["id"]
    before = database_state()

    put = api.put(f"events/{second_id}", {"id": second_id, "text": "Changed", "files": [as_sent(uploaded)]})
    post = api.post("events", widget_event(calendar.pk, files=[as_sent(uploaded)], text="Third"))

    assert_json_error(put, 400)
    assert_json_error(post, 400)
    assert database_state() == before
    events = events_by_id(api)
    assert sorted(events) == [first_id, second_id]
    assert events[first_id]["files"] == [uploaded]
    assert events[second_id]["files"] == []
    assert events[second_id]["text"] == "Second"


def test_event_post_with_unknown_file_id_is_400_and_creates_no_event(api, calendar):
    unknown = {"id": 987654, "status": "server", "name": "x.png"}

    response = api.post("events", widget_event(calendar.pk, files=[unknown]))

    assert_json_error(response, 400)
    assert Event.objects.count() == 0


def test_file_entries_not_yet_on_the_server_are_skipped(api, calendar, uploaded):
    files = [
        {"id": "temp://1707553800001", "status": "client", "name": "pending.png", "file": {}},
        {"id": "temp://1707553800002", "status": "error", "name": "failed.png", "file": {}},
        as_sent(uploaded),
    ]

    response = api.post("events", widget_event(calendar.pk, files=files))

    assert response.status_code == 200
    assert events_by_id(api)[response.json()["id"]]["files"] == [uploaded]


@pytest.mark.parametrize("status", [None, "server"])
def test_file_entries_with_a_server_or_null_status_are_linked(api, calendar, uploaded, status):
    response = api.post("events", widget_event(calendar.pk, files=[{**uploaded, "status": status}]))
    assert events_by_id(api)[response.json()["id"]]["files"] == [uploaded]


def test_deleting_event_deletes_its_files_from_storage(
    api, token, calendar, media_root, django_capture_on_commit_callbacks
):
    first = upload(token, "one.png").json()
    second = upload(token, "two.png").json()
    files = [as_sent(first), as_sent(second)]
    event_id = api.post("events", widget_event(calendar.pk, files=files)).json()["id"]
    assert len(stored_files(media_root)) == 2

    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"events/{event_id}")

    assert response.status_code == 200
    assert Attachment.objects.count() == 0
    assert stored_files(media_root) == []


def test_deleting_calendar_deletes_its_events_files_from_storage(
    api, token, calendar, media_root, django_capture_on_commit_callbacks
):
    elsewhere = Calendar.objects.create(label="Home")
    doomed = upload(token, "doomed.png").json()
    survivor = upload(token, "survivor.png").json()
    api.post("events", widget_event(calendar.pk, files=[as_sent(doomed)]))
    api.post("events", widget_event(elsewhere.pk, files=[as_sent(survivor)]))
    survivor_path = Attachment.objects.get(pk=survivor["id"]).file.name

    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"calendars/{calendar.pk}")

    assert response.status_code == 200
    assert list(Attachment.objects.values_list("pk", flat=True)) == [survivor["id"]]
    assert stored_files(media_root) == [survivor_path]

