"""The ``report`` channel: an HTML digest of the concerned company's recent history, e-mailed.

For each message, the company it is about (``about["company_id"]``, or the company of
``about["exchange_id"]``) has its history of the last ``days`` days read **as the
recipient** (:func:`grc_core.queries.history.company_history`, so private exchanges they may
not see are left out), rendered as HTML and text by built-in templates in the same sandbox
as rule templates, and sent with the ``email`` channel's transport (SMTP, one connection
per batch, or an mbox file) and its Message-ID rule.  The message's own text opens the
report.

A digest (several notifications in one message) reports on every company its members are
about, one section each (at most :data:`MAX_COMPANIES`).  A message about no company (a
global exchange) is sent with its text and no history.  The report goes to its recipient
only, and the history in it is what they may see: privacy holds whatever the path.

External like email: it only reads through the session it is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from grc_adapters.email.transport import (
    EmailSettings,
    Envelope,
    build_email,
    make_transport,
    usable_address,
)
from grc_core.models import Company, Exchange, PicklistValue, User
from grc_core.notify.channels import OutgoingMessage, SendResult
from grc_core.notify.templates import DATETIME_FORMAT, TemplateError, render_html, render_text
from grc_core.queries.exchanges import ExchangeFilter
from grc_core.queries.history import company_history
from grc_core.timeutil import utcnow, zone

#: Reports are longer than notifications.
MAX_REPORT = 512_000
#: The most companies one report covers (a digest about many).
MAX_COMPANIES = 10

REPORT_HTML = """\
<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body style="font-family: sans-serif; color: #222">
{% if intro %}<p style="white-space: pre-line">{{ intro }}</p>{% endif %}
{%- for section in sections %}
<h1 style="font-size: 1.3em">{{ section.company.name }}</h1>
<p>Historique des {{ days }} derniers jours ({{ section.entries|length }} échange(s)
{%- if section.more %}, les {{ section.entries|length }} plus récents{% endif %}).</p>
<table style="border-collapse: collapse" cellpadding="4">
<thead><tr><th align="left">Date</th><th align="left">Action</th><th align="left">Objet</th>
<th align="left">Auteur</th><th align="left">Statut</th></tr></thead>
<tbody>
{%- for e in section.entries %}
<tr><td>{{ e.start }}</td><td>{{ e.action }}</td><td>{{ e.subject }}
{%- if e.private %} <em>(privé)</em>{% endif %}</td><td>{{ e.author }}</td>
<td>{{ e.status }}</td></tr>
{%- else %}
<tr><td colspan="5">Aucun échange sur la période.</td></tr>
{%- endfor %}
</tbody></table>
{%- else %}
<p>Aucune société concernée : pas d'historique à joindre.</p>
{%- endfor %}
</body></html>
"""

REPORT_TEXT = """\
{% if intro %}{{ intro }}

{% endif %}
{%- for section in sections %}
{{ section.company.name }}
Historique des {{ days }} derniers jours :
{% for e in section.entries %}
- {{ e.start }}  {{ e.action }} — {{ e.subject }}{% if e.private %} (privé){% endif %} \
({{ e.author }}, {{ e.status }})
{%- else %}
Aucun échange sur la période.
{%- endfor %}

{% else %}
Aucune société concernée : pas d'historique à joindre.
{% endfor %}
"""


class ReportChannel:
    """E-mails a digest of a company's recent history to each recipient.

    :param settings: how to send (see :class:`~grc_adapters.email.transport.EmailSettings`).
    :param days: how far back the history goes.
    :param limit: the most exchanges listed (the most recent ones).
    """

    name = "report"

    def __init__(self, settings: EmailSettings, *, days: int = 30, limit: int = 50) -> None:
        self.settings = settings
        self.days = days
        self.limit = limit
        self.transport = make_transport(settings)

    def send(self, session: Session, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Build and send one report per message; one that cannot be built fails alone."""
        results: list[SendResult | None] = [None] * len(messages)
        envelopes: list[tuple[int, Envelope]] = []
        labels = _labels(session)
        for index, message in enumerate(messages):
            built = self._build(session, message, labels)
            if isinstance(built, SendResult):
                results[index] = built
            else:
                envelopes.append((index, built))
        sent = self.transport.send([envelope for _, envelope in envelopes])
        for (index, _), result in zip(envelopes, sent, strict=True):
            results[index] = result
        return [result for result in results if result is not None]

    def _build(
        self, session: Session, message: OutgoingMessage, labels: dict[tuple[str, str], str]
    ) -> Envelope | SendResult:
        ident = message.delivery_id
        address = usable_address(message.recipient.email)
        if address is None:
            error = f"user {message.recipient.login!r} has no usable e-mail address"
            return SendResult.failed(ident, error, retryable=False)
        reader = session.get(User, message.recipient.user_id)
        if reader is None or not reader.active:
            error = f"user {message.recipient.login!r} does not exist or is deactivated"
            return SendResult.failed(ident, error, retryable=False)
        companies = _companies_of(session, message.about)
        tz = zone(message.recipient.timezone)
        since = utcnow() - timedelta(days=self.days)
        sections = []
        for company in companies:
            page = company_history(
                session, reader, company.id, ExchangeFilter(since=since), limit=self.limit
            )
            sections.append(
                {
                    "company": {"id": company.id, "name": company.name},
                    "more": page.next_cursor is not None,
                    "entries": [
                        {
                            "start": entry.start_at.astimezone(tz).strftime(DATETIME_FORMAT),
                            "action": labels.get(("action", entry.action), entry.action),
                            "status": labels.get(("status", entry.status), entry.status),
                            "subject": entry.subject,
                            "author": entry.author,
                            "private": entry.private,
                        }
                        for entry in page.entries
                    ],
                }
            )
        names = ", ".join(c.name for c in companies)
        values = {
            "title": message.subject or (f"GRC — {names}" if names else "GRC"),
            "intro": message.text,
            "days": self.days,
            "sections": sections,
        }
        try:
            html = render_html(REPORT_HTML, values, max_output=MAX_REPORT)
            text = render_text(REPORT_TEXT, values, max_output=MAX_REPORT)
        except TemplateError as exc:
            return SendResult.failed(ident, f"cannot render the report: {exc}", retryable=False)
        return build_email(message, self.settings, address, text=text, html=html)

    def close(self) -> None:
        """End the SMTP connections kept between batches."""
        self.transport.close()


def _companies_of(session: Session, about: Any) -> list[Company]:
    """The companies a message is about: its own, its exchange's, or for a digest those of
    every member (in order, each once, at most :data:`MAX_COMPANIES`)."""
    members = about.get("items") if about.get("digest") is not None else None
    ids: list[int] = []
    for item in members if members is not None else [about]:
        company_id = item.get("company_id")
        if company_id is None and item.get("exchange_id") is not None:
            company_id = session.scalar(
                select(Exchange.company_id).where(Exchange.id == item["exchange_id"])
            )
        if company_id is not None and company_id not in ids:
            ids.append(int(company_id))
    found = [session.get(Company, i) for i in ids[:MAX_COMPANIES]]
    return [company for company in found if company is not None]


def _labels(session: Session) -> dict[tuple[str, str], str]:
    """French labels of actions and statuses, by (kind, code): one query per batch."""
    rows = session.execute(
        select(PicklistValue.kind, PicklistValue.code, PicklistValue.label_fr).where(
            PicklistValue.kind.in_(["action", "status"])
        )
    )
    return {(str(getattr(kind, "value", kind)), code): label for kind, code, label in rows}
