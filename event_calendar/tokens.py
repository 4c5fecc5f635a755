"""Remote-Tokens: signed, URL-safe strings naming a user and one of their devices.

The widget sends the token unencoded in the socket URL, so it uses only URL-safe characters
(``signing.dumps`` output: base64url and ``:``). A device can be revoked, which refuses its token.
"""

from __future__ import annotations

from datetime import timedelta

from django.core import signing
from django.utils import timezone

from . import broadcast
from .conf import app_settings
from .models import Device

SALT = "event_calendar.remote-token"
MAX_TOKEN_LENGTH = 512
# Writing last_seen_at on every request would turn each read into a write.
LAST_SEEN_RESOLUTION = timedelta(minutes=5)


class InvalidToken(Exception):
    """The token is malformed, forged, expired or revoked, or its user may no longer sign in."""


def issue_token(user) -> str:
    """A new device for ``user``, and the token that names it."""
    device = Device.objects.create(user=user)
    return signing.dumps([str(user.pk), device.pk], salt=SALT)


def read_token(token: str) -> Device:
    """The live device the token names, with its user loaded; raises ``InvalidToken``."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("Invalid token.")
    try:
        user_id, device_id = signing.loads(token, salt=SALT, max_age=app_settings.TOKEN_MAX_AGE)
    except signing.SignatureExpired:
        raise InvalidToken("Token expired.") from None
    except (signing.BadSignature, ValueError, TypeError):
        raise InvalidToken("Invalid token.") from None
    if not isinstance(device_id, int) or not isinstance(user_id, str):
        raise InvalidToken("Invalid token.")
    device = live_device(device_id)
    if device is None or str(device.user_id) != user_id:
        raise InvalidToken("Token revoked, or its user may no longer sign in.")
    now = timezone.now()
    if device.last_seen_at is None or now - device.last_seen_at > LAST_SEEN_RESOLUTION:
        Device.objects.filter(pk=device.pk).update(last_seen_at=now)
        device.last_seen_at = now
    return device


def live_device(device_id: int) -> Device | None:
    """The device, with its user, unless it was revoked or its user was deactivated."""
    return Device.objects.select_related("user").filter(pk=device_id, revoked_at=None, user__is_active=True).first()


def revoke_device(device: Device) -> None:
    """Refuse the device's token from now on, and close its open sockets."""
    Device.objects.filter(pk=device.pk, revoked_at=None).update(revoked_at=timezone.now())
    broadcast.close_device_sockets(device.pk)
