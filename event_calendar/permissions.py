"""The one access policy: which calendars, events and files a user may see, and with which role.

Every queryset, check and live-update decision in the app asks this module. A user's role on a calendar is
the highest of: manager as its owner, the role of ``open_to`` (every signed-in user), and the roles granted
to the user or to one of their groups. Superusers manage every calendar. An administrator can also make a
calendar read-only for everyone.

Sockets decide without the database: ``Principal`` (who the user is) and ``CalendarAccess`` (who a
calendar is open to) are plain values, and ``role_in`` combines them the same way the querysets do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet

from .models import Attachment, Calendar, CalendarGrant, Event, Role

RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.MANAGER: 3}


def highest(roles: Iterable[str | None]) -> str | None:
    return max((role for role in roles if role), key=RANK.__getitem__, default=None)


class Principal:
    """Who is asking, as far as access goes. The user's groups are read when a calendar with grants to
    groups first asks for them: most calendars have none."""

    def __init__(self, user_id: int | None, group_ids: frozenset[int] | None = None, is_superuser: bool = False,
                 user=None) -> None:
        self.user_id = user_id
        self.is_superuser = is_superuser
        self._group_ids = frozenset() if user is None and group_ids is None else group_ids
        self._user = user

    @property
    def group_ids(self) -> frozenset[int]:
        return self.with_groups()._group_ids

    def with_groups(self) -> Principal:
        """The principal with its groups read (a socket decides later, away from the database)."""
        if self._group_ids is None:
            self._group_ids = frozenset(self._user.groups.values_list("pk", flat=True))
        return self

    @classmethod
    def of(cls, user) -> Principal:
        """The user's principal, worked out once per user object (one object serves one request)."""
        principal = getattr(user, "_event_calendar_principal", None)
        if principal is None:
            if not user.is_authenticated or not user.is_active:
                principal = cls(None)
            else:
                principal = cls(user.pk, is_superuser=user.is_superuser, user=user)
            user._event_calendar_principal = principal
        return principal


@dataclass(frozen=True)
class CalendarAccess:
    """Who one calendar is open to."""

    calendar_id: int
    owner_id: int | None
    open_to: str
    user_roles: dict[int, str] = field(default_factory=dict)
    group_roles: dict[int, str] = field(default_factory=dict)

    @classmethod
    def load(cls, calendar: Calendar) -> CalendarAccess:
        user_roles, group_roles = {}, {}
        for user_id, group_id, role in calendar.grants.values_list("user_id", "group_id", "role"):
            if user_id is not None:
                user_roles[user_id] = role
            else:
                group_roles[group_id] = role
        return cls(calendar.pk, calendar.owner_id, calendar.open_to, user_roles, group_roles)

    @classmethod
    def of(cls, calendar: Calendar) -> CalendarAccess:
        """The calendar's access, read once per calendar object (one object serves one request)."""
        access = getattr(calendar, "_event_calendar_access", None)
        if access is None or access.owner_id != calendar.owner_id or access.open_to != calendar.open_to:
            access = calendar._event_calendar_access = cls.load(calendar)
        return access

    def as_message(self) -> dict:
        # Channel layers carry msgpack: string keys only.
        return {
            "calendar_id": self.calendar_id,
            "owner_id": self.owner_id,
            "open_to": self.open_to,
            "user_roles": [[user_id, role] for user_id, role in self.user_roles.items()],
            "group_roles": [[group_id, role] for group_id, role in self.group_roles.items()],
        }

    @classmethod
    def from_message(cls, data: dict) -> CalendarAccess:
        return cls(
            data["calendar_id"],
            data["owner_id"],
            data["open_to"],
            {user_id: role for user_id, role in data["user_roles"]},
            {group_id: role for group_id, role in data["group_roles"]},
        )


def role_in(access: CalendarAccess, principal: Principal) -> str | None:
    """The principal's role on the calendar, or None when they may not see it."""
    if principal.user_id is None:
        return None
    if principal.is_superuser or access.owner_id == principal.user_id:
        return Role.MANAGER
    return highest(
        [
            access.open_to,
            access.user_roles.get(principal.user_id),
            *(role for group_id, role in access.group_roles.items() if group_id in principal.group_ids),
        ]
    )


def calendar_roles(user) -> dict[int, str]:
    """Every calendar the user may see, with their role on it."""
    principal = Principal.of(user)
    if principal.user_id is None:
        return {}
    if principal.is_superuser:
        return dict.fromkeys(Calendar.objects.values_list("pk", flat=True), Role.MANAGER)
    roles: dict[int, str] = {}
    for calendar_id, owner_id, open_to in Calendar.objects.filter(_visible(user, principal)).values_list(
        "pk", "owner_id", "open_to"
    ):
        roles[calendar_id] = Role.MANAGER if owner_id == principal.user_id else open_to
    for calendar_id, role in _grants_of(user).values_list("calendar_id", "role"):
        roles[calendar_id] = highest([roles.get(calendar_id), role])
    return roles


def has_role(user, calendar: Calendar, least: str) -> bool:
    """Whether the user has at least the role ``least`` on the calendar. The calendar's own fields
    settle most cases; its grants are read only when they could."""
    principal = Principal.of(user)
    if principal.user_id is None:
        return False
    if principal.is_superuser or calendar.owner_id == principal.user_id:
        return True
    if RANK.get(calendar.open_to, 0) >= RANK[least]:
        return True
    return RANK.get(role_in(CalendarAccess.of(calendar), principal), 0) >= RANK[least]


def visible_calendar(user, pk: int, *, lock: bool = False) -> Calendar | None:
    """One calendar the user may see, or None as if it did not exist; ``lock`` it for an update."""
    calendars = Calendar.objects.select_for_update() if lock else Calendar.objects
    calendar = calendars.filter(pk=pk).first()
    return calendar if calendar is not None and has_role(user, calendar, Role.VIEWER) else None


def visible_event(user, pk: int, *, lock: bool = False) -> Event | None:
    """One event the user may see, with its calendar, or None as if it did not exist; ``lock`` it for an
    update (the event's row only)."""
    events = Event.objects.select_related("calendar")
    if lock:
        events = events.select_for_update(of=("self",))
    event = events.filter(pk=pk).first()
    return event if event is not None and has_role(user, event.calendar, Role.VIEWER) else None


def _grants_of(user) -> QuerySet[CalendarGrant]:
    return CalendarGrant.objects.filter(Q(user=user) | Q(group__user=user))


def _visible(user, principal: Principal) -> Q:
    return Q(owner=user) | ~Q(open_to="") | Q(pk__in=_grants_of(user).values("calendar_id"))


def visible_calendars(user) -> QuerySet[Calendar]:
    principal = Principal.of(user)
    if principal.user_id is None:
        return Calendar.objects.none()
    if principal.is_superuser:
        return Calendar.objects.all()
    return Calendar.objects.filter(_visible(user, principal))


def visible_events(user) -> QuerySet[Event]:
    principal = Principal.of(user)
    if principal.user_id is None:
        return Event.objects.none()
    if principal.is_superuser:
        return Event.objects.all()
    return Event.objects.filter(calendar__in=visible_calendars(user).values("pk"))


def shows_readonly(calendar_readonly: bool, role: str | None) -> bool:
    """What the widget is told: read-only for everyone, or for this viewer."""
    return calendar_readonly or RANK.get(role, 0) < RANK[Role.EDITOR]


def may_create_calendar(user) -> bool:
    return Principal.of(user).user_id is not None


def may_manage_calendar(user, calendar: Calendar) -> bool:
    return has_role(user, calendar, Role.MANAGER)


def may_edit_events(user, calendar: Calendar) -> bool:
    return not calendar.readonly and has_role(user, calendar, Role.EDITOR)


def may_download(user, attachment: Attachment) -> bool:
    """A file goes to whoever may see its event, and, before it is linked to one, to its uploader."""
    if attachment.event_id is None:
        return attachment.uploaded_by_id is not None and attachment.uploaded_by_id == Principal.of(user).user_id
    return visible_events(user).filter(pk=attachment.event_id).exists()


def linkable_attachments(user, event: Event | None) -> QuerySet[Attachment]:
    """Files ``user`` may list in ``event.files``: their own unlinked uploads, and the event's files."""
    unlinked = Q(event__isnull=True, uploaded_by=user)
    if event is None or event.pk is None:
        return Attachment.objects.filter(unlinked)
    return Attachment.objects.filter(unlinked | Q(event=event))
