"""Every error as JSON: ``{"status": "error", "message": ..., "errors": {...}}`` with a 4xx status.

The widget parses every reply with ``res.json()``, so an HTML error page is never an option.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core import signals
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from .conf import app_settings
from .serializers import wire_errors

logger = logging.getLogger("event_calendar")


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "too_large"


class UploadTooLarge(RequestTooLarge):
    def __init__(self) -> None:
        limit = app_settings.UPLOAD_MAX_SIZE
        super().__init__(_("The file is larger than the limit of %(limit)d bytes.") % {"limit": limit})


class UploadTypeRefused(exceptions.APIException):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_detail = _("Files of this type are not accepted.")
    default_code = "type_refused"


class LengthRequired(exceptions.APIException):
    # Django reads no body without a Content-Length (a chunked upload would arrive empty).
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_detail = _("Send the file with a Content-Length header.")
    default_code = "length_required"


def error_body(message: str, errors: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "error", "message": str(message)}
    if errors:
        body["errors"] = errors
    return body


def private(response: HttpResponse) -> HttpResponse:
    """Headers of every reply that may carry a user's data or token: kept by no cache, never sniffed."""
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def json_error(message: str, status_code: int) -> JsonResponse:
    """The error reply for the plain Django views (file downloads, login, unknown paths)."""
    return private(
        JsonResponse(
            error_body(message), status=status_code, json_dumps_params={"separators": (",", ":"), "ensure_ascii": False}
        )
    )


def _first_message(errors: Any) -> str:
    """``"start_date: This field is required."``: the first error, named by where it is."""
    path = []
    while isinstance(errors, dict | list) and errors:
        if isinstance(errors, dict):
            key, errors = next(iter(errors.items()))
            path.append(str(key))
        else:
            errors = errors[0]
    return f"{'.'.join(path)}: {errors}" if path else str(errors)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(wire_errors(exc) if hasattr(exc, "error_dict") else exc.messages)
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(_("The request was refused."))

    set_rollback()
    if not isinstance(exc, exceptions.APIException):
        request = context["request"]
        logger.error("Unhandled error in %s %s", request.method, request.path, exc_info=exc)
        # Error reporters (and Django's test client) listen for this, as for any failed request.
        signals.got_request_exception.send(sender=None, request=request._request)
        return Response(error_body(_("Internal server error.")), status=500)

    headers = {}
    if auth_header := getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = auth_header
    if wait := getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(wait))

    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = error_body(_first_message(errors), errors)
    else:
        body = error_body(exc.detail)
    return Response(body, status=exc.status_code, headers=headers)
