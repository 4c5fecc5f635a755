"""Remote-Tokens: signed, URL-safe strings naming a user and one of their devices.

The widget sends the token unencoded in the socket URL, so it uses only URL-safe characters
(``signing.dumps`` output: base64url and ``:``). A device can be revoked, which refuses its token.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core import signing
from django.db import connections
from django.utils import timezone

from . import broadcast
from .conf import app_settings
from .models import Device
from .validators import fits_64_bits

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
    # Every request and socket asks this. Written out, the query costs a third of what the ORM spends
    # building the same join, which was a tenth of a write's time.
    # The query takes what the ORM would have refused or converted: booleans (True == 1) and big integers.
    if isinstance(device_id, bool) or not fits_64_bits(device_id):
        return None
    using = Device.objects.db
    User = get_user_model()
    for user in User._default_manager.db_manager(using).raw(_live_device_sql(using), [device_id, True]):
        return Device(
            pk=device_id,
            user=user,
            created_at=_from_db(Device._meta.get_field("created_at"), user.device_created_at, using),
            last_seen_at=_from_db(Device._meta.get_field("last_seen_at"), user.device_last_seen_at, using),
            revoked_at=None,
        )
    return None


def _from_db(field, value, using: str):
    """A column read outside the model's own columns, converted as the ORM converts the field (SQLite
    hands back datetimes as text)."""
    connection = connections[using]
    column = field.get_col(field.model._meta.db_table)
    for converter in connection.ops.get_db_converters(column) + field.get_db_converters(connection):
        value = converter(value, column, connection)
    return value


def _live_device_sql(using: str) -> str:
    """The user's columns, and the device's as ``device_<field>``, of a device that is not revoked and
    whose user is active."""
    User = get_user_model()
    quote = connections[using].ops.quote_name
    device = {name: quote(Device._meta.get_field(name).column) for name in ("id", "user", "created_at",
                                                                            "last_seen_at", "revoked_at")}
    user_columns = ", ".join(f"u.{quote(field.column)}" for field in User._meta.concrete_fields)
    return (
        f"SELECT {user_columns}, d.{device['created_at']} AS device_created_at,"
        f" d.{device['last_seen_at']} AS device_last_seen_at"
        f" FROM {quote(Device._meta.db_table)} d"
        f" JOIN {quote(User._meta.db_table)} u ON u.{quote(User._meta.pk.column)} = d.{device['user']}"
        f" WHERE d.{device['id']} = %s AND d.{device['revoked_at']} IS NULL"
        f" AND u.{quote(User._meta.get_field('is_active').column)} = %s"
    )


def revoke_device(device: Device) -> None:
    """Refuse the device's token from now on, and close its open sockets."""
    Device.objects.filter(pk=device.pk, revoked_at=None).update(revoked_at=timezone.now())
    broadcast.close_device_sockets(device.pk)
