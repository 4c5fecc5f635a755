"""Request body parsing that turns every malformed body into a JSON 4xx, never a 500."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, MultiPartParser

from .conf import app_settings
from .exceptions import RequestTooLarge, UploadTooLarge


def _declared_length(request) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ParseError(_("Invalid Content-Length header.")) from None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


class JSONBodyParser(BaseParser):
    """UTF-8 JSON within ``DATA_UPLOAD_MAX_MEMORY_SIZE``; NaN, Infinity and deep nesting refused."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and _declared_length(parser_context["request"]) > limit:
            raise RequestTooLarge()
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge()
        try:
            return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
        except UnicodeDecodeError:
            raise ParseError(_("The body is not valid UTF-8.")) from None
        except ValueError as exc:
            raise ParseError(_("Malformed JSON: %(error)s") % {"error": exc}) from None
        except RecursionError:
            raise ParseError(_("The JSON body is nested too deeply.")) from None


class UploadParser(MultiPartParser):
    """Multipart bodies, refused by their declared length before any of the body is read."""

    def parse(self, stream, media_type=None, parser_context=None):
        # Room for the multipart boundaries and headers around the file itself.
        if _declared_length(parser_context["request"]) > app_settings.UPLOAD_MAX_SIZE + 64 * 1024:
            raise UploadTooLarge()
        return super().parse(stream, media_type, parser_context)
