"""Subscriptions, preferences, the inbox, and notification rules (administrators)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from grc_api.auth import Principal
from grc_api.context import Api, idempotency_key, remember, replay
from grc_api.routes import PrincipalDependency
from grc_api.schemas import (
    DryRunIn,
    DryRunOut,
    InboxItemOut,
    InboxPage,
    Marked,
    MarkRead,
    PreferencesOut,
    PreferencesUpdate,
    RuleCreate,
    RuleOut,
    SubscriptionCreate,
    SubscriptionOut,
    UnreadCount,
)
from grc_core.notify import inbox, rule_admin, subscriptions
from grc_core.services.users import require_admin


def router(api: Api, auth: PrincipalDependency) -> APIRouter:
    r = APIRouter(tags=["notifications"])
    Caller = Annotated[Principal, Depends(auth)]

    def channel_names() -> list[str]:
        return api.grc.registry.notification_channel_names()

    @r.get("/subscriptions", response_model=list[SubscriptionOut])
    def list_subscriptions(principal: Caller) -> list[SubscriptionOut]:
        """What the caller follows."""
        with api.work(principal, read_only=True) as work:
            found = subscriptions.list_subscriptions(work.session, work.actor)
            return [SubscriptionOut.of(s) for s in found]

    @r.post("/subscriptions", response_model=SubscriptionOut, status_code=201)
    def subscribe(principal: Caller, body: SubscriptionCreate, request: Request) -> JSONResponse:
        """Follow a company, an opportunity or a category (one subscription per target)."""
        key = idempotency_key(request)
        with api.work(principal) as work:
            if (done := replay(work, request, key)) is not None:
                return done
            sub = subscriptions.subscribe(
                work.session,
                work.actor,
                company_id=body.company_id,
                opportunity_id=body.opportunity_id,
                category=body.category,
                event_kinds=body.event_kinds,
                channels=body.channels,
                narrow=body.narrow,
                available_channels=channel_names(),
            )
            out = SubscriptionOut.of(sub)
            remember(work, request, key, 201, out)
        return JSONResponse(out.model_dump(mode="json"), status_code=201)

    @r.delete("/subscriptions/{subscription_id}", status_code=204)
    def unsubscribe(principal: Caller, subscription_id: int) -> Response:
        """Stop following."""
        with api.work(principal) as work:
            subscriptions.unsubscribe(work.session, work.actor, subscription_id)
        return Response(status_code=204)

    @r.get("/preferences", response_model=PreferencesOut)
    def get_preferences(principal: Caller) -> PreferencesOut:
        """The caller's notification preferences."""
        with api.work(principal, read_only=True) as work:
            return PreferencesOut.of(subscriptions.get_preferences(work.session, work.actor.id))

    @r.patch("/preferences", response_model=PreferencesOut)
    def set_preferences(principal: Caller, body: PreferencesUpdate) -> PreferencesOut:
        """Change the caller's preferences (fields left out are unchanged).

        Preferences belong to the caller alone, so no ``If-Match`` is asked for.
        """
        with api.work(principal) as work:
            quiet: object = False
            if body.clear_quiet_hours:
                quiet = None
            elif body.quiet_hours is not None:
                quiet = tuple(body.quiet_hours)
            prefs = subscriptions.set_preferences(
                work.session,
                work.actor,
                channels=body.channels,
                quiet_hours=quiet,  # type: ignore[arg-type]
                timezone=body.timezone,
                digest=body.digest,
                available_channels=channel_names(),
            )
            return PreferencesOut.of(prefs)

    @r.get("/inbox", response_model=InboxPage)
    def list_inbox(
        principal: Caller,
        request: Request,
        unread_only: bool = False,
        limit: Annotated[int, Query(ge=1, le=inbox.MAX_PAGE)] = 50,
        before: Annotated[int | None, Query(ge=1, description="item id (next page)")] = None,
    ) -> InboxPage:
        """The caller's alerts, newest first."""
        with api.work(principal, read_only=True) as work:
            items = inbox.list_inbox(
                work.session, work.actor, unread_only=unread_only, limit=limit, before=before
            )
        next_url = None
        if len(items) == limit:
            next_url = str(request.url.include_query_params(before=items[-1].id))
        return InboxPage(items=[InboxItemOut.of(i) for i in items], next=next_url)

    @r.get("/inbox/unread", response_model=UnreadCount)
    def unread_count(principal: Caller) -> UnreadCount:
        """How many alerts are unread."""
        with api.work(principal, read_only=True) as work:
            return UnreadCount(unread=inbox.unread_count(work.session, work.actor))

    @r.post("/inbox/read", response_model=Marked)
    def mark_read(principal: Caller, body: MarkRead) -> Marked:
        """Mark alerts read (ids, or "all")."""
        with api.work(principal) as work:
            return Marked(marked=inbox.mark_read(work.session, work.actor, body.ids))

    @r.get("/rules", response_model=list[RuleOut])
    def list_rules(principal: Caller) -> list[RuleOut]:
        """Notification rules (administrators)."""
        with api.work(principal, read_only=True) as work:
            require_admin(work.actor, "reading notification rules")
            return [
                RuleOut.of(rule, rule_admin.rule_triggers_of(work.session, rule))
                for rule in rule_admin.list_rules(work.session)
            ]

    @r.post("/rules", response_model=RuleOut, status_code=201)
    def add_rule(principal: Caller, body: RuleCreate, request: Request) -> JSONResponse:
        """Save a rule after checking its condition, templates, recipients and channels."""
        key = idempotency_key(request)
        with api.work(principal) as work:
            if (done := replay(work, request, key)) is not None:
                return done
            rule = rule_admin.add_rule(
                work.session,
                work.actor,
                body.name,
                triggers=body.triggers,
                condition=body.condition,
                recipients=body.recipients,
                channels=body.channels,
                subject_template=body.subject_template,
                body_template=body.body_template,
                escalation=body.escalation,
                available_channels=channel_names(),
            )
            out = RuleOut.of(rule, rule_admin.rule_triggers_of(work.session, rule))
            remember(work, request, key, 201, out)
        return JSONResponse(out.model_dump(mode="json"), status_code=201)

    @r.post("/rules/{rule_id}/dry-run", response_model=DryRunOut)
    def dry_run(principal: Caller, rule_id: int, body: DryRunIn) -> DryRunOut:
        """Would the rule fire on this event, and what would it send?  Nothing is sent."""
        with api.work(principal, read_only=True) as work:
            dry = rule_admin.test_rule(work.session, rule_id, body.event_id, actor=work.actor)
            return DryRunOut(
                fires=dry.fires,
                reasons=dry.reasons,
                recipients=dry.recipients,
                subject=dry.subject,
                body=dry.body,
            )

    @r.delete("/rules/{rule_id}", status_code=204)
    def delete_rule(principal: Caller, rule_id: int) -> Response:
        """Delete a rule (administrators)."""
        with api.work(principal) as work:
            rule_admin.delete_rule(work.session, work.actor, rule_id)
        return Response(status_code=204)

    return r
