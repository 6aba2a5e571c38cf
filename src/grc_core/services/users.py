"""Users: creation, lookup, update, and the administrator check."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from grc_core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from grc_core.loaded_rows import read_as_loaded
from grc_core.models import User
from grc_core.services.concurrency import check_version, lock_for_update, stale_as_conflict
from grc_core.services.text import clean_line, optional_line

if TYPE_CHECKING:
    # The audit trail (grc_core.services.events and the event model) is imported by the
    # functions that write it: reading a user, which every command does for its acting
    # user, needs neither.
    from grc_core.models import EventKind

LOGIN_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

#: How a user may be named in service calls: the object, its id, or its login.
UserRef = User | int | str


def require_active(actor: User) -> None:
    """Refuse a deactivated acting user."""
    if not actor.active:
        raise PermissionDenied(f"user {actor.login!r} is deactivated and cannot act")


def require_admin(actor: User | None, what: str) -> None:
    """Refuse ``what`` unless ``actor`` is an active administrator."""
    if actor is None or not actor.is_admin or not actor.active:
        who = "nobody" if actor is None else repr(actor.login)
        raise PermissionDenied(f"{what} needs an administrator; {who} is not one")


def require_self_or_admin(actor: User, user: User, what: str) -> None:
    """Refuse ``what`` on ``user``'s behalf unless ``actor`` is them or an administrator."""
    require_active(actor)
    if actor.id != user.id and not actor.is_admin:
        raise PermissionDenied(
            f"{what} of {user.login!r} needs an administrator or {user.login!r} themself"
        )


#: Built once: a statement used again keeps its cache key (every request names its user).
_BY_LOGIN = select(User).where(User.login == bindparam("login"))


def get_user(session: Session, ref: UserRef) -> User:
    """Find a user by object, id or login, or raise :class:`NotFound`."""
    if isinstance(ref, User):
        return ref
    if isinstance(ref, int) and not isinstance(ref, bool):
        user = read_as_loaded(session, User, ref)
    elif isinstance(ref, str):
        user = session.scalar(_BY_LOGIN, {"login": ref.strip().lower()})
    else:
        raise ValidationError(f"a user is named by id or login, got {type(ref).__name__}")
    if user is None:
        raise NotFound(f"no user {ref!r}")
    return user


def get_user_by_ref(session: Session, external_ref: str) -> User:
    """Find a user by the host application's reference."""
    user = session.scalar(select(User).where(User.external_ref == external_ref))
    if user is None:
        raise NotFound(f"no user with external reference {external_ref!r}")
    return user


def list_users(session: Session, *, include_inactive: bool = False) -> list[User]:
    """Users ordered by login."""
    stmt = select(User).order_by(User.login)
    if not include_inactive:
        stmt = stmt.where(User.active.is_(True))
    return list(session.scalars(stmt))


def _check_login(login: str) -> str:
    value = login.strip().lower()
    if not LOGIN_RE.match(value):
        raise ValidationError(
            f"login {login!r} is invalid: use 1 to 64 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            field="login",
        )
    return value


def _check_unique(session: Session, column: Any, value: str | None, label: str) -> None:
    if value is not None and session.scalar(select(User.id).where(column == value)) is not None:
        raise Conflict(f"a user with {label} {value!r} already exists")


def create_user(
    session: Session,
    actor: User | None,
    *,
    login: str,
    display_name: str,
    email: str | None = None,
    phone: str | None = None,
    is_admin: bool = False,
    external_ref: str | None = None,
) -> User:
    """Create a user.

    Only an administrator may do it, except on an empty database, where the first user
    (who must then be an administrator) bootstraps the installation with ``actor=None``.
    """
    if actor is None:
        if session.scalar(select(func.count(User.id))):
            raise PermissionDenied("creating a user needs an administrator as the acting user")
        if not is_admin:
            raise ValidationError("the first user of a database must be an administrator")
    else:
        require_admin(actor, "creating a user")
    login = _check_login(login)
    external_ref = optional_line(external_ref, "external_ref", 200)
    _check_unique(session, User.login, login, "login")
    _check_unique(session, User.external_ref, external_ref, "external reference")
    user = User(
        login=login,
        display_name=clean_line(display_name, "display_name", 200),
        email=optional_line(email, "email", 320),
        phone=optional_line(phone, "phone", 40),
        is_admin=is_admin,
        active=True,
        external_ref=external_ref,
    )
    session.add(user)
    session.flush()
    from grc_core.models import EventKind

    _record(
        session,
        actor,
        EventKind.USER_CREATED,
        user,
        {k: [None, v] for k, v in _user_fields(user).items() if v is not None},
    )
    return user


def _user_fields(user: User) -> dict[str, Any]:
    """The audited fields of a user."""
    return {
        "login": user.login,
        "display_name": user.display_name,
        "email": user.email,
        "phone": user.phone,
        "is_admin": user.is_admin,
        "active": user.active,
        "external_ref": user.external_ref,
    }


def _record(
    session: Session, actor: User | None, kind: EventKind, user: User, changes: dict[str, Any]
) -> None:
    from grc_core.services.events import record_event

    record_event(
        session,
        actor,
        kind,
        entity_type="user",
        entity_id=user.id,
        company_id=None,
        changes=changes,
    )


def update_user(
    session: Session,
    actor: User,
    ref: UserRef,
    *,
    display_name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    active: bool | None = None,
    is_admin: bool | None = None,
    external_ref: str | None = None,
    expected_version: int | None = None,
) -> User:
    """Change a user's details; users may edit their own contact details, admins anything.

    :param expected_version: the ``version`` the caller read; if the user changed since,
        nothing is written and :class:`~grc_core.errors.VersionConflict` is raised.
    """
    user = get_user(session, ref)
    require_active(actor)
    user = lock_for_update(session, User, user.id) or user
    check_version(user, expected_version, f"user {user.login!r}")
    touches_rights = active is not None or is_admin is not None or external_ref is not None
    if actor.id != user.id or touches_rights:
        require_admin(actor, "changing another user or access rights")
    if user.id == actor.id and (active is False or is_admin is False):
        raise ValidationError("an administrator cannot deactivate or demote themselves")
    before = _user_fields(user)
    if display_name is not None:
        user.display_name = clean_line(display_name, "display_name", 200)
    if email is not None:
        user.email = optional_line(email, "email", 320)
    if phone is not None:
        user.phone = optional_line(phone, "phone", 40)
    if active is not None:
        user.active = active
    if is_admin is not None:
        user.is_admin = is_admin
    if external_ref is not None:
        ref_value = optional_line(external_ref, "external_ref", 200)
        if ref_value != user.external_ref:
            _check_unique(session, User.external_ref, ref_value, "external reference")
        user.external_ref = ref_value
    from grc_core.models import EventKind
    from grc_core.services.events import diff

    changes = diff(before, _user_fields(user))
    if changes:
        with stale_as_conflict(user, f"user {user.login!r}"):
            session.flush()
        _record(session, actor, EventKind.USER_UPDATED, user, changes)
    return user
