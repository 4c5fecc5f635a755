"""The widget's REST routes: events, calendars, uploads and login (CONTRACT.md section 1).

Every reply is JSON (the widget calls ``res.json()`` on all of them and ignores the status), success is
always 200, POST answers ``{"id": ...}``, PUT merges the keys it is sent, DELETE is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from . import broadcast
from . import permissions as policy
from .asyncapi import asyncapi_document
from .authentication import RemoteTokenAuthentication
from .conf import app_settings
from .consumers import MAX_CALLS, unknown_service_result
from .exceptions import (
    LengthRequired,
    UploadTooLarge,
    UploadTypeRefused,
    exception_handler,
    json_error,
    private,
)
from .files import clean_content_type, clean_file_name, file_response, type_is_accepted
from .models import Attachment, Calendar, CalendarPreference, Event, sidebar_of
from .openapi import openapi_document
from .parsers import JSONBodyParser, UploadParser
from .serializers import (
    MAX_ID,
    CalendarSerializer,
    EventSerializer,
    FileLinks,
    file_signature_is_valid,
    merge_extra,
    render_calendars,
    render_events,
)
from .tokens import issue_token, live_device, revoke_device


class WireRenderer(JSONRenderer):
    """Compact UTF-8 JSON, encoded by orjson (a long event list is mostly encoding time), and pinned here
    so that a site's REST_FRAMEWORK settings cannot change the wire format."""

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return orjson.dumps(data)


class JSONOnlyNegotiation(DefaultContentNegotiation):
    """Always JSON, whatever the Accept header says: the widget parses every reply as JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class UserRateThrottle(SimpleRateThrottle):
    """``REST_THROTTLE_RATE`` requests per user, over all their devices."""

    scope = "event_calendar"

    def get_rate(self) -> str | None:
        return app_settings.REST_THROTTLE_RATE

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class CalendarAPIView(APIView):
    """The app's DRF settings, pinned so that a site's ``REST_FRAMEWORK`` setting never changes them."""

    authentication_classes = [RemoteTokenAuthentication]
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONBodyParser]
    renderer_classes = [WireRenderer]
    content_negotiation_class = JSONOnlyNegotiation
    throttle_classes = [UserRateThrottle]
    versioning_class = None
    # No OPTIONS metadata (it names the views); cross-origin preflights are the CORS middleware's.
    metadata_class = None

    def get_exception_handler(self):
        return exception_handler

    def dispatch(self, request, *args, **kwargs):
        with broadcast.request_context():
            return super().dispatch(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        return private(super().finalize_response(request, response, *args, **kwargs))

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        # Live updates of this request's writes name its device, which is not sent them back.
        broadcast.bind_device(getattr(request.auth, "pk", None))

    @cached_property
    def file_links(self) -> FileLinks:
        """Links to files, signed for the requesting device."""
        uploads = self.request.build_absolute_uri(reverse("event_calendar:uploads"))
        return FileLinks(uploads, getattr(self.request.auth, "pk", None))

    def serializer_context(self, **visible: Calendar | Event) -> dict[str, Any]:
        """``visible``: objects this request has loaded through the policy, by the field naming them."""
        return {"user": self.request.user, "visible": visible}


class EventWriteMixin:
    def save_event(self, event: Event, values: dict[str, Any]) -> None:
        """Apply validated wire values to ``event`` and save it, with its files. Call inside a transaction."""
        user = self.request.user
        file_ids = values.pop("files", None)
        extra = values.pop("extra", None)
        calendars = {event.calendar} if event.pk else set()
        for field, value in values.items():
            setattr(event, field, value)
        calendars.add(event.calendar)
        if not all(policy.may_edit_events(user, calendar) for calendar in calendars):
            raise exceptions.PermissionDenied(_("You may not change events in this calendar."))
        if extra is not None:
            event.extra = merge_extra(event.extra, extra)
        event.clean()
        event.save()
        if file_ids is not None:
            link_attachments(event, file_ids, user)


def link_attachments(event: Event, file_ids: list[int], user) -> None:
    """Make ``file_ids`` the event's files: claim the user's unlinked uploads, delete the dropped files."""
    wanted = set(file_ids)
    linkable = set(policy.linkable_attachments(user, event).filter(pk__in=wanted).values_list("pk", flat=True))
    current = set(event.attachments.values_list("pk", flat=True))
    to_claim = wanted - current
    # The update re-checks "unlinked", so two events racing for one upload cannot both get it.
    claimed = Attachment.objects.filter(pk__in=to_claim & linkable, event__isnull=True).update(event=event)
    if wanted - linkable or claimed != len(to_claim):
        unknown = sorted(wanted - linkable) or sorted(to_claim)
        raise exceptions.ValidationError({"files": [_("Unknown file id: %(id)s") % {"id": unknown[0]}]})
    for attachment in event.attachments.exclude(pk__in=wanted):
        attachment.delete()


class EventListView(EventWriteMixin, CalendarAPIView):
    def get(self, request):
        return Response(render_events(policy.visible_events(request.user), self.file_links))

    def post(self, request):
        serializer = EventSerializer(data=request.data, context=self.serializer_context())
        serializer.is_valid(raise_exception=True)
        event = Event()
        with transaction.atomic():
            self.save_event(event, dict(serializer.validated_data))
        return Response({"id": event.pk})


class EventDetailView(EventWriteMixin, CalendarAPIView):
    def put(self, request, pk: int):
        with transaction.atomic():
            event = policy.visible_event(request.user, pk, lock=True)
            if event is None:
                raise exceptions.NotFound()
            # An edit mostly keeps the event's calendar, which need not be read again.
            context = self.serializer_context(type=event.calendar)
            serializer = EventSerializer(data=request.data, partial=True, context=context)
            serializer.is_valid(raise_exception=True)
            if serializer.validated_data:
                self.save_event(event, dict(serializer.validated_data))
            elif not policy.may_edit_events(request.user, event.calendar):
                # Even a body that changes nothing: an event the user may not change answers 403.
                raise exceptions.PermissionDenied(_("You may not change events in this calendar."))
        return Response({})

    def delete(self, request, pk: int):
        with transaction.atomic():
            event = policy.visible_event(request.user, pk, lock=True)
            if event is not None:
                if not policy.may_edit_events(request.user, event.calendar):
                    raise exceptions.PermissionDenied(_("You may not change events in this calendar."))
                event.delete()
        return Response({})


class CalendarListView(CalendarAPIView):
    def get(self, request):
        roles, sidebar = policy.calendar_roles(request.user), sidebar_of(request.user.pk)
        calendars = render_calendars(
            policy.visible_calendars(request.user),
            readonly=lambda pk, stored: policy.shows_readonly(stored, roles.get(pk)),
            active=lambda pk, stored: sidebar.get(pk, stored),
        )
        return Response(calendars)

    def post(self, request):
        if not policy.may_create_calendar(request.user):
            raise exceptions.PermissionDenied(_("You may not create calendars."))
        serializer = CalendarSerializer(data=request.data, context=self.serializer_context())
        serializer.is_valid(raise_exception=True)
        calendar = Calendar(created_by=request.user, owner=request.user, **serializer.validated_data)
        with transaction.atomic():
            calendar.save()
        return Response({"id": calendar.pk})


class CalendarDetailView(CalendarAPIView):
    def put(self, request, pk: int):
        serializer = CalendarSerializer(data=request.data, partial=True, context=self.serializer_context())
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            calendar = policy.visible_calendar(request.user, pk, lock=True)
            if calendar is None:
                raise exceptions.NotFound()
            values = dict(serializer.validated_data)
            # The sidebar's checkbox: each user shows or hides a calendar for themselves only.
            active = values.pop("active", None)
            manages = policy.may_manage_calendar(request.user, calendar)
            if not manages:
                # The widget sends the whole calendar back, readonly as it was shown to this viewer.
                values.pop("readonly", None)
            # The widget sends the whole calendar on a sidebar toggle too: what did not change is not a
            # change (saving it would announce the toggle to every user of the calendar).
            values = {field: value for field, value in values.items() if getattr(calendar, field) != value}
            if values and not manages:
                raise exceptions.PermissionDenied(_("You may not change this calendar."))
            if values:
                for field, value in values.items():
                    setattr(calendar, field, value)
                calendar.save()
            if active is not None and active != sidebar_of(request.user.pk).get(calendar.pk, calendar.active):
                CalendarPreference.objects.update_or_create(
                    user=request.user, calendar=calendar, defaults={"active": active}
                )
        return Response({})

    def delete(self, request, pk: int):
        with transaction.atomic():
            calendar = policy.visible_calendar(request.user, pk, lock=True)
            if calendar is not None:
                if not policy.may_manage_calendar(request.user, calendar):
                    raise exceptions.PermissionDenied(_("You may not change this calendar."))
                # Cascades to the events, their exceptions and their files.
                calendar.delete()
        return Response({})


class UploadView(CalendarAPIView):
    """``POST uploads``: one file in the multipart field ``upload``, as the widget's editor sends it.

    The widget's uploader sends no headers, so the token may come as ``?token=`` in the upload URL.
    """

    accepts_query_token = True
    parser_classes = [UploadParser]

    def post(self, request):
        upload = request.FILES.get("upload")
        if upload is None and not request.META.get("CONTENT_LENGTH"):
            raise LengthRequired()
        if upload is None:
            raise exceptions.ValidationError({"upload": [_("Send one file in the form field 'upload'.")]})
        if upload.size > app_settings.UPLOAD_MAX_SIZE:
            raise UploadTooLarge()
        name = clean_file_name(upload.name)
        content_type = clean_content_type(upload.content_type, name)
        if not type_is_accepted(content_type):
            raise UploadTypeRefused()
        attachment = Attachment(
            name=name,
            content_type=content_type,
            size=upload.size,
            uploaded_by=request.user,
        )
        attachment.file.save(name, upload, save=False)
        attachment.save()
        # No "status" key: the widget would take any value but "server" as a failed upload.
        return Response(self.file_links.render(attachment.pk, attachment.name))


class LogoutView(CalendarAPIView):
    """``POST logout``: refuse the calling device's token from now on and close its sockets (a page's
    sign-out). The user's other devices keep theirs. Not throttled: a user over the rate can still sign out."""

    throttle_classes: list[type] = []

    def post(self, request):
        revoke_device(request.auth)
        return Response({})


class RemoteDiscoveryView(CalendarAPIView):
    """``GET api/v1``: go-remote's discovery answer; this server offers live updates and no RPC services.

    ``POST api/v1`` is go-remote's RPC over HTTP, answered call by call with "Unknown service".
    """

    def get(self, request):
        return Response({"api": {}, "data": {}, "websocket": True})

    def post(self, request):
        if not isinstance(request.data, list) or len(request.data) > MAX_CALLS:
            raise exceptions.ValidationError(
                {"non_field_errors": [_("Expected a list of at most %(count)d calls.") % {"count": MAX_CALLS}]}
            )
        return Response([unknown_service_result(call) for call in request.data])


# The plain views change nothing on any method; exempt, so that a POST gets their JSON 405 rather than
# CsrfViewMiddleware's HTML 403.
@csrf_exempt
def upload_file(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    """``GET uploads/<id>/<name>?device=...&sig=...``: the file, when the link is one we handed to that
    device and the device's user may still see the file.

    The widget puts links straight into ``<a>`` and ``<img>`` tags, which send no token: the link itself
    names the device, and its signature proves it.
    """
    if request.method not in ("GET", "HEAD"):
        return json_error(_("Method not allowed."), 405)
    device_id = request.GET.get("device", "")
    signature = request.GET.get("sig", "")
    device = None
    if device_id.isascii() and device_id.isdigit() and len(device_id) <= 18:
        if file_signature_is_valid(pk, name, int(device_id), signature):
            device = live_device(int(device_id))
    attachment = Attachment.objects.filter(pk=pk, name=name).first() if device is not None else None
    if attachment is None or not policy.may_download(device.user, attachment):
        return json_error(_("File not found."), 404)
    try:
        handle = attachment.file.open("rb")
    except OSError:
        return json_error(_("File not found."), 404)
    return file_response(attachment, handle)


@csrf_exempt
@never_cache
def login(request: HttpRequest) -> HttpResponse:
    """``GET login``: a new Remote-Token, as text, for the signed-in Django user.

    ``?id=N`` issues one for user N instead, only with ``DEMO_LOGIN`` on, only while ``DEBUG`` is on,
    and never for staff or superusers.
    """
    if request.method != "GET":
        return json_error(_("Method not allowed."), 405)
    if "id" in request.GET:
        user = demo_user(request.GET["id"])
        if user is None:
            return json_error(_("Demo login is off, or there is no such user."), 403)
    else:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return json_error(_("Sign in to the site first."), 401)
    return private(HttpResponse(issue_token(user), content_type="text/plain; charset=utf-8"))


def demo_user(raw_id: str):
    if not (app_settings.DEMO_LOGIN and settings.DEBUG):
        return None
    if not raw_id.isascii():
        return None
    User = get_user_model()
    try:
        pk = User._meta.pk.to_python(raw_id)
    except DjangoValidationError:
        return None
    # One spelling per user, as in the routes' paths: no signs, spaces or leading zeros.
    if str(pk) != raw_id or (isinstance(pk, int) and not 0 < pk <= MAX_ID):
        return None
    return User.objects.filter(pk=pk, is_active=True, is_staff=False, is_superuser=False).first()


def public_document(request: HttpRequest, route: str, build: Callable[[str], dict[str, Any]]) -> HttpResponse:
    """A document for anyone (it holds no data), built for the absolute URL of one of these routes."""
    if request.method not in ("GET", "HEAD"):
        return json_error(_("Method not allowed."), 405)
    return JsonResponse(build(request.build_absolute_uri(reverse(f"event_calendar:{route}"))))


@csrf_exempt
def openapi(request: HttpRequest) -> HttpResponse:
    """``GET openapi.json``: the OpenAPI document of these routes."""
    return public_document(request, "openapi", lambda url: openapi_document(url.removesuffix("/openapi.json")))


@csrf_exempt
def asyncapi(request: HttpRequest) -> HttpResponse:
    """``GET asyncapi.json``: the AsyncAPI document of the ``api/v1`` socket."""
    return public_document(request, "remote", lambda url: asyncapi_document("ws" + url.removeprefix("http")))


@csrf_exempt
def not_found(request: HttpRequest, path: str = "") -> HttpResponse:
    """Any other path under the app's prefix: a JSON 404, never the site's HTML page."""
    return json_error(_("Not found."), 404)
