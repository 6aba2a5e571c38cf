"""Everything a user can read, by every read path and every channel, as text.

Read paths are called as the user, through the library's public functions.  Channel outputs
are append-only (inbox items, e-mails and reports in mbox files, SMS received by the local
gateway): only what arrived since the previous look is read, and it is attributed to its
recipient.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from grc_core import Grc
from grc_core.errors import AttachmentNotFound, ExchangeNotFound
from grc_core.models import Exchange
from grc_core.notify.inbox import list_inbox
from grc_core.queries import history
from grc_core.queries.audit import audit_events
from grc_core.queries.exchanges import list_exchanges
from grc_core.queries.search import search
from grc_core.services import attachments
from grc_core.services.exchanges import get_exchange

from .gateway import SmsGateway
from .model import Entitlements, ModelExchange, word_for, words_in
from .world import Team


@dataclass(frozen=True)
class Leak:
    """A forbidden word found in something a user can read."""

    user: str
    path: str
    word: int
    origin: str
    excerpt: str

    def __str__(self) -> str:
        return (
            f"{self.user} can read {word_for(self.word)} (written in {self.origin}, never "
            f"visible to {self.user} while current) through {self.path}: {self.excerpt!r}"
        )


def _excerpt(text: str, number: int) -> str:
    word = word_for(number).lower()
    at = text.lower().find(word)
    return text[max(at - 80, 0) : at + 80] if at >= 0 else text[:160]


@dataclass
class Outputs:
    """Where the channels write, and how much of it was already looked at."""

    mailboxes: dict[str, Path]
    gateway: SmsGateway
    sms_seen: int = 0
    mbox_offsets: dict[str, int] = field(default_factory=dict)
    inbox_seen: dict[str, int] = field(default_factory=dict)
    audit_cursors: dict[str, str] = field(default_factory=dict)


def _entry_text(entry: Any) -> str:
    return " | ".join(str(x) for x in (entry.subject, entry.details, entry.company or ""))


def _mbox_messages(path: Path, offset: int) -> tuple[list[EmailMessage], int]:
    """Messages appended to an mbox file after byte ``offset``, and the new offset."""
    if not path.exists():
        return [], offset
    data = path.read_bytes()
    fresh = data[offset:]
    chunks = [c for c in fresh.split(b"\nFrom ") if c.strip()]
    messages = []
    for chunk in chunks:
        raw = chunk if chunk.startswith(b"From ") else b"From " + chunk
        body = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
        messages.append(
            email.message_from_bytes(body, policy=email.policy.default)  # type: ignore[arg-type]
        )
    return messages, len(data)


def _mail_text(message: EmailMessage) -> str:
    parts = [str(message.get("Subject", ""))]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
    return "\n".join(parts)


class Observer:
    """Reads everything each user can read and reports the forbidden words in it."""

    def __init__(self, grc: Grc, team: Team, outputs: Outputs) -> None:
        self.grc = grc
        self.team = team
        self.outputs = outputs
        self.by_email = {team.email(u): u for u in team.users}
        self.by_phone = {Team.phone(u): u for u in team.users}

    def leaks(
        self,
        entitlements: Entitlements,
        exchanges: list[ModelExchange],
        users: tuple[str, ...],
        touched: set[str],
    ) -> list[Leak]:
        """Every forbidden word each of ``users`` can read now.

        :param touched: the exchanges changed since the last look (their words are searched
            one by one: a search index is stale, if ever, right after a change).
        """
        found: list[Leak] = []
        forbidden = {u: entitlements.forbidden(u) for u in users}

        def scan(user: str, path: str, text: str) -> None:
            if user not in forbidden:
                return
            for number in words_in(text) & forbidden[user]:
                origin = entitlements.origin.get(number, "?")
                found.append(Leak(user, path, number, origin, _excerpt(text, number)))

        for user in users:
            reads = self.read_paths(user, entitlements, exchanges, forbidden[user], touched)
            for path, text in reads:
                scan(user, path, text)
        for user, path, text in self.channel_outputs():
            scan(user, path, text)
        return found

    # --- read paths --------------------------------------------------------------------------

    def read_paths(
        self,
        user: str,
        entitlements: Entitlements,
        exchanges: list[ModelExchange],
        forbidden: set[int],
        touched: set[str],
    ) -> Iterator[tuple[str, str]]:
        team = self.team
        with self.grc.acting_as(user, read_only=True) as work:
            s, actor = work.session, work.actor
            visible: set[int] = set()
            for ex in list_exchanges(s, actor, limit=1000):
                visible.add(ex.id)
                yield f"list_exchanges → exchange {ex.id}", f"{ex.subject} | {ex.details}"
            # Every other id must be "not found" (the text of those listed is read above:
            # get_exchange returns the same rows).
            top = s.scalar(select(func.max(Exchange.id))) or 0
            for ident in sorted(set(range(1, top + 1)) - visible):
                try:
                    ex = get_exchange(s, actor, ident)
                except ExchangeNotFound as exc:
                    yield f"get_exchange({ident}) error", str(exc)
                    continue
                yield f"get_exchange({ident})", f"{ex.subject} | {ex.details}"
            scopes: list[tuple[str, Any]] = [
                (f"company_history({c})", lambda cur, c=cid: history.company_history(
                    s, actor, c, limit=200, cursor=cur))
                for c, cid in team.companies.items()
            ] + [
                (f"opportunity_history({o})", lambda cur, o=oid: history.opportunity_history(
                    s, actor, o, limit=200, cursor=cur))
                for o, oid in team.opportunities.items()
            ] + [
                (f"user_history({u})", lambda cur, u=uid: history.user_history(
                    s, actor, u, limit=200, cursor=cur))
                for u, uid in team.users.items()
            ] + [
                ("global_history", lambda cur: history.global_history(
                    s, actor, limit=200, cursor=cur))
            ]  # fmt: skip
            for path, read in scopes:
                cursor = None
                while True:
                    page = read(cursor)
                    for entry in page.entries:
                        yield f"{path} → exchange {entry.id}", _entry_text(entry)
                    cursor = page.next_cursor
                    if cursor is None:
                        break
            for hit in search(s, actor, "Zq", limit=100):
                yield (
                    f"search('Zq') → exchange {hit.entry.id}",
                    (f"{_entry_text(hit.entry)} | {hit.snippet}"),
                )
            # A forbidden word can only be found in an exchange the user may see: search each
            # such word of those just changed (any hit reveals it, even a stale index entry).
            keys = {ex.key for ex in exchanges if ex.id in visible and ex.key in touched}
            for number in sorted(forbidden):
                if entitlements.origin.get(number) not in keys:
                    continue
                for hit in search(s, actor, word_for(number) + " ", limit=100):
                    yield (
                        f"search({word_for(number)!r}) → exchange {hit.entry.id}",
                        (f"{_entry_text(hit.entry)} | {hit.snippet} | {word_for(number)}"),
                    )
            for ex in exchanges:
                if not ex.attachments:
                    continue
                for att in attachments.list_attachments(s, actor, exchange_id=ex.id):
                    yield f"list_attachments(exchange {ex.id})", att.filename
                for att_id in ex.attachments:
                    try:
                        att = attachments.get_attachment(s, actor, att_id)
                    except AttachmentNotFound as exc:
                        yield f"get_attachment({att_id}) error", str(exc)
                        continue
                    yield f"get_attachment({att_id})", att.filename
            yield from self._audit(s, actor)

    def _audit(self, session: Any, actor: Any) -> Iterator[tuple[str, str]]:
        """The events recorded since the last look, read as a feed (each event is judged on
        who could see its exchange then, which never changes)."""
        cursor = self.outputs.audit_cursors.get(actor.login)
        while True:
            page = audit_events(session, actor, limit=200, cursor=cursor, oldest_first=True)
            for entry in page.entries:
                yield (
                    f"audit event {entry.id} ({entry.kind})",
                    json.dumps(dataclasses.asdict(entry), default=str, ensure_ascii=False),
                )
            if page.resume_cursor is not None:
                self.outputs.audit_cursors[actor.login] = page.resume_cursor
            cursor = page.next_cursor
            if cursor is None:
                break

    # --- channels ----------------------------------------------------------------------------

    def channel_outputs(self) -> Iterator[tuple[str, str, str]]:
        out = self.outputs
        for name, path in out.mailboxes.items():
            messages, out.mbox_offsets[name] = _mbox_messages(path, out.mbox_offsets.get(name, 0))
            for message in messages:
                for _, address in getaddresses(message.get_all("To", [])):
                    user = self.by_email.get(address, address)
                    yield user, f"{name} to {user}", _mail_text(message)
        fresh = out.gateway.since(out.sms_seen)
        out.sms_seen += len(fresh)
        for phone, subject, text in fresh:
            user = self.by_phone.get(phone, phone)
            yield user, f"sms to {user}", f"{subject}\n{text}"
        for user in self.team.users:
            if user == "admin":
                continue
            with self.grc.acting_as(user, read_only=True) as work:
                last = out.inbox_seen.get(user, 0)
                before = None
                newest = last
                while True:
                    items = list_inbox(work.session, work.actor, limit=200, before=before)
                    fresh_items = [i for i in items if i.id > last]
                    for item in fresh_items:
                        newest = max(newest, item.id)
                        yield (
                            user,
                            f"inbox item {item.id} of {user}",
                            (f"{item.title}\n{item.body}\n{json.dumps(item.about, default=str)}"),
                        )
                    if len(fresh_items) < len(items) or len(items) < 200:
                        break
                    before = items[-1].id
                out.inbox_seen[user] = newest
