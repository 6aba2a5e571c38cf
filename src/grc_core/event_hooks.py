"""Calling the ``grc_event_committed`` hook for every audit event, once it is committed.

The services add :class:`~grc_core.models.Event` rows to the caller's session; nothing may
be announced before the transaction commits (it may still roll back).  :func:`watch`
attaches three SQLAlchemy session listeners to a session, a ``sessionmaker`` or the
``Session`` class:

* ``after_flush`` notes the events just written, with the transaction (or savepoint) that
  wrote them (an event written by a plain INSERT, without the unit of work, is noted by
  :func:`written` instead);
* ``after_soft_rollback`` forgets those of a rolled-back savepoint or transaction;
* ``after_commit`` of the outermost transaction (not of a savepoint) calls every plugin's
  ``grc_event_committed`` once per event, in id order.  An exception in one plugin is
  logged and does not stop the others, nor the caller: the change is committed whatever a
  plugin does.

This is in-process and best-effort: a crash between the commit and the call, or a plugin
that fails, loses the notification.  A consumer that must see every event reads the trail
from a cursor instead (:func:`grc_core.queries.audit.audit_events` with
``oldest_first=True``).

The :class:`~grc_core.facade.Grc` facade watches its own sessions.  A host that builds its
own sessions on ``grc.engine`` calls ``watch(its_sessionmaker, grc.registry.plugin_manager)``.
"""

from __future__ import annotations

import copy
import logging
import sys
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

if TYPE_CHECKING:  # pluggy is loaded by the plugins' registry, when a commit has events
    import pluggy

    from grc_core.models import Event

log = logging.getLogger(__name__)

HOOK_NAME = "grc_event_committed"
_PENDING = "grc.events_to_announce"
#: Marks a session given to :func:`watch` itself (sessionmakers and classes: see below).
_WATCHED = "grc.events_announced"
#: The session classes :func:`watch` was given, a sessionmaker's own subclass included.
_watched_classes: weakref.WeakSet[type[Session]] = weakref.WeakSet()

#: Where the plugin manager comes from: the manager itself, or a function returning it
#: (called on the first commit that has events, so that plugins load only when needed).
ManagerSource: TypeAlias = "pluggy.PluginManager | Callable[[], pluggy.PluginManager]"


@dataclass(frozen=True)
class CommittedEvent:
    """A committed audit event, as ``grc_event_committed`` receives it (a read-only copy,
    detached from any session).

    :param id: the event's id; ids grow with time but transactions may commit out of order.
    :param occurred_at: when the change was made (UTC).
    :param kind: what happened (``"exchange.updated"``, ``"company.created"``…).
    :param entity_type: the kind of record (``"exchange"``, ``"company"``, ``"user"``…).
    :param entity_id: the record's id.
    :param company_id: the company the event is scoped to, if any.
    :param actor_id: the user who made the change (``None``: the system, a bootstrap).
    :param changes: ``{field: [old, new]}``, JSON values — unfiltered, private exchanges'
        values included.
    :param audience: for events about an exchange, who could see it right after the event
        (``{"uuid", "private", "author_id", "assignee_ids"}``), else ``None``.
    """

    id: int
    occurred_at: datetime
    kind: str
    entity_type: str
    entity_id: int
    company_id: int | None
    actor_id: int | None
    changes: Mapping[str, Any]
    audience: Mapping[str, Any] | None

    @classmethod
    def of(cls, event: Event) -> CommittedEvent:
        """A copy of ``event`` (taken when it is flushed, so later changes do not leak in)."""
        audience = getattr(event, "audience", None)
        return cls(
            id=event.id,
            occurred_at=event.occurred_at,
            kind=event.kind,
            entity_type=event.entity_type,
            entity_id=event.entity_id,
            company_id=event.company_id,
            actor_id=event.actor_id,
            changes=MappingProxyType(copy.deepcopy(dict(event.changes or {}))),
            audience=MappingProxyType(copy.deepcopy(dict(audience))) if audience else None,
        )


class _Announcer:
    """The listeners of one :func:`watch` call."""

    def __init__(self, source: ManagerSource) -> None:
        self.source = source

    def manager(self) -> pluggy.PluginManager:
        # A plugin manager is not callable: the source is either it or what returns it.
        return self.source() if callable(self.source) else self.source

    # -- listeners ----------------------------------------------------------------------

    def after_flush(self, session: Session, _context: Any) -> None:
        # The event model is declared by what writes events: a process that never imported
        # it (a command that only reads) has none to announce, and does not declare it.
        declared = sys.modules.get("grc_core.models.event")
        if declared is None:
            return
        new = [obj for obj in session.new if isinstance(obj, declared.Event)]
        if not new:
            return
        transaction = session.get_nested_transaction() or session.get_transaction()
        pending: list[tuple[Any, CommittedEvent]] = session.info.setdefault(_PENDING, [])
        pending.extend((transaction, CommittedEvent.of(e)) for e in new)

    def after_soft_rollback(self, session: Session, previous: SessionTransaction) -> None:
        pending = session.info.get(_PENDING)
        if pending:
            session.info[_PENDING] = [(t, e) for t, e in pending if not _within(t, previous)]

    def after_commit(self, session: Session) -> None:
        if session.in_nested_transaction():
            return  # a savepoint released: its events wait for the outermost commit
        pending = session.info.pop(_PENDING, None)
        if not pending:
            return
        events = sorted((e for _t, e in pending), key=lambda e: e.id)
        try:
            impls = self.manager().hook.grc_event_committed.get_hookimpls()
        except Exception:  # plugins that fail to load must not fail a committed change
            log.exception("cannot load the plugins to announce %d committed events", len(events))
            return
        announce(impls, events)


def written(session: Session, event: CommittedEvent) -> None:
    """Announce ``event``, just written in ``session`` by a plain INSERT, once it commits.

    What ``after_flush`` does for the events the unit of work writes: noted with the
    transaction (or savepoint) that wrote it, forgotten if that one rolls back.  Nothing is
    noted for a session no :func:`watch` covers (nobody would announce it, or clear it).
    """
    if not _watched(session):
        return
    transaction = session.get_nested_transaction() or session.get_transaction()
    pending: list[tuple[Any, CommittedEvent]] = session.info.setdefault(_PENDING, [])
    pending.append((transaction, event))


def _watched(session: Session) -> bool:
    if session.info.get(_WATCHED):
        return True
    return any(cls in _watched_classes for cls in type(session).__mro__)


def _within(transaction: Any, ancestor: SessionTransaction) -> bool:
    """Whether ``transaction`` is ``ancestor`` or one of its savepoints."""
    while transaction is not None:
        if transaction is ancestor:
            return True
        transaction = transaction.parent
    return False


def announce(impls: list[Any], events: list[CommittedEvent]) -> None:
    """Call each hook implementation for each event; log and go on when one fails."""
    for committed in events:
        for impl in reversed(impls):  # pluggy's order: last registered first
            try:
                impl.function(**{name: committed for name in impl.argnames})
            except Exception:
                log.exception(
                    "plugin %r failed in %s for event %d (%s); the change stays committed",
                    impl.plugin_name,
                    HOOK_NAME,
                    committed.id,
                    committed.kind,
                )


def watch(target: Session | sessionmaker[Session] | type[Session], source: ManagerSource) -> None:
    """Announce the events committed by sessions of ``target`` to ``source``'s plugins.

    :param target: a session, a ``sessionmaker``, or the ``Session`` class (every session).
    :param source: a plugin manager, or a function that returns one (called on the first
        commit that has events).
    """
    announcer = _Announcer(source)
    if isinstance(target, Session):
        target.info[_WATCHED] = True
    else:
        # A sessionmaker makes its sessions of a subclass of its own, the one it listens on.
        _watched_classes.add(target.class_ if isinstance(target, sessionmaker) else target)
    sa_event.listen(target, "after_flush", announcer.after_flush)
    sa_event.listen(target, "after_soft_rollback", announcer.after_soft_rollback)
    sa_event.listen(target, "after_commit", announcer.after_commit)
