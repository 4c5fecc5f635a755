"""How uploaded files are named, typed and served. Uploaded names are shown, never used as paths."""

from __future__ import annotations

import mimetypes
import re
import unicodedata

from django.http import FileResponse

from .conf import app_settings
from .models import Attachment

MAX_NAME_LENGTH = 200
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]{0,62}/[a-z0-9][a-z0-9.+-]{0,126}")

# Shown in the browser; everything else is downloaded. Scriptable types (HTML, SVG, XML) never show inline.
INLINE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/avif",
        "image/bmp",
        "application/pdf",
        "text/plain",
        "audio/mpeg",
        "audio/ogg",
        "audio/wav",
        "video/mp4",
        "video/webm",
        "video/ogg",
    }
)


def clean_file_name(name: str | None) -> str:
    """The base name a person gave the file, without folders, control characters or excess length."""
    name = re.split(r"[/\\]", name or "")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if len(name) > MAX_NAME_LENGTH:
        stem, dot, suffix = name.rpartition(".")
        if dot and len(suffix) < 16:
            name = stem[: MAX_NAME_LENGTH - len(suffix) - 1] + dot + suffix
        else:
            name = name[:MAX_NAME_LENGTH]
    return name if name not in ("", ".", "..") else "file"


def type_is_accepted(content_type: str) -> bool:
    """Whether ``UPLOAD_CONTENT_TYPES`` accepts the type (``"image/*"`` accepts every image)."""
    accepted = app_settings.UPLOAD_CONTENT_TYPES
    if accepted is None:
        return True
    family = content_type.split("/")[0] + "/*"
    return content_type in accepted or family in accepted


def clean_content_type(declared: str | None, name: str) -> str:
    """The browser's declared type if it is well formed, else a guess from the name."""
    declared = (declared or "").split(";")[0].strip().lower()
    if _CONTENT_TYPE.fullmatch(declared):
        return declared
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def file_response(attachment: Attachment, handle) -> FileResponse:
    """The stored file with its own type, shown inline only when that type cannot run script."""
    response = FileResponse(
        handle,
        content_type=attachment.content_type or "application/octet-stream",
        as_attachment=attachment.content_type not in INLINE_TYPES,
        filename=attachment.name,
    )
    response["X-Content-Type-Options"] = "nosniff"
    # Even if a browser renders the file, it runs nothing and loads nothing.
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response
