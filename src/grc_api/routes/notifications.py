"""Subscriptions, preferences, the inbox, and notification rules (administrators).

``/subscriptions`` and ``/preferences`` are the caller's own; ``/users/{login}/subscriptions``
and ``/users/{login}/preferences`` are anyone's, for administrators (and for the user
themself): an administrator sets up what a new colleague hears about.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select

from grc_api.admin_schemas import DeliveryOut, Retried, Retry, RuleUpdate
from grc_api.auth import Principal
from grc_api.context import Api, required_version
from grc_api.idempotent import Outcome, idempotent_post, respond
from grc_api.routes import PrincipalDependency
from grc_api.routes.preconditions import WithVersion, check
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
from grc_core.facade import Work
from grc_core.models import Preferences, Rule, User
from grc_core.notify import inbox, rule_admin, runaway, subscriptions
from grc_core.notify import worker as workers
from grc_core.services import users
from grc_core.services.concurrency import lock_for_update
from grc_core.services.users import require_admin

Login = Annotated[str, "a user's login"]


def _user(work: Work, login: str, what: str) -> User:
    """The user named in the path: the caller themself, or anyone for an administrator."""
    target = users.get_user(work.session, login)
    if target.id != work.actor.id:
        require_admin(work.actor, what)
    return target


def _rule_out(work: Work, rule: Rule) -> RuleOut:
    return RuleOut.of(rule, rule_admin.rule_triggers_of(work.session, rule))


def _prefs_version(prefs: Preferences) -> int:
    """The ETag version of a user's preferences: 0 while they never set any."""
    return prefs.version or 0


def router(api: Api, auth: PrincipalDependency) -> APIRouter:
    r = APIRouter(tags=["notifications"])
    Caller = Annotated[Principal, Depends(auth)]

    def channel_names() -> list[str]:
        return api.grc.registry.notification_channel_names()

    def subscribe_as(
        principal: Principal,
        request: Request,
        body: SubscriptionCreate,
        who: Callable[[Work], User],
    ) -> JSONResponse:
        def act(work: Work) -> SubscriptionOut:
            sub = subscriptions.subscribe(
                work.session,
                who(work),
                company_id=body.company_id,
                opportunity_id=body.opportunity_id,
                category=body.category,
                event_kinds=body.event_kinds,
                channels=body.channels,
                narrow=body.narrow,
                available_channels=channel_names(),
            )
            return SubscriptionOut.of(sub)

        return idempotent_post(api, principal, request, act, body=body)

    def update_preferences(work: Work, user: User, body: PreferencesUpdate) -> Preferences:
        quiet: object = False
        if body.clear_quiet_hours:
            quiet = None
        elif body.quiet_hours is not None:
            quiet = tuple(body.quiet_hours)
        return subscriptions.set_preferences(
            work.session,
            user,
            channels=body.channels,
            quiet_hours=quiet,  # type: ignore[arg-type]
            timezone=body.timezone,
            digest=body.digest,
            available_channels=channel_names(),
        )

    # -- the caller's own --------------------------------------------------------------------

    @r.get("/subscriptions", response_model=list[SubscriptionOut])
    def list_subscriptions(principal: Caller) -> list[SubscriptionOut]:
        """What the caller follows."""
        with api.work(principal, read_only=True) as work:
            found = subscriptions.list_subscriptions(work.session, work.actor)
            return [SubscriptionOut.of(s) for s in found]

    @r.post("/subscriptions", response_model=SubscriptionOut, status_code=201)
    def subscribe(principal: Caller, body: SubscriptionCreate, request: Request) -> JSONResponse:
        """Follow a company, an opportunity or a category (one subscription per target)."""
        return subscribe_as(principal, request, body, lambda work: work.actor)

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
            return PreferencesOut.of(update_preferences(work, work.actor, body))

    # -- anyone's, for administrators ----------------------------------------------------------

    @r.get("/users/{login}/subscriptions", response_model=list[SubscriptionOut])
    def list_user_subscriptions(principal: Caller, login: Login) -> list[SubscriptionOut]:
        """What a user follows (administrators, or the user themself)."""
        with api.work(principal, read_only=True) as work:
            user = _user(work, login, "reading another user's subscriptions")
            return [
                SubscriptionOut.of(s) for s in subscriptions.list_subscriptions(work.session, user)
            ]

    @r.post("/users/{login}/subscriptions", response_model=SubscriptionOut, status_code=201)
    def subscribe_user(
        principal: Caller, login: Login, body: SubscriptionCreate, request: Request
    ) -> JSONResponse:
        """Make a user follow a record (administrators, or the user themself); the channels
        must reach that user."""
        return subscribe_as(
            principal,
            request,
            body,
            lambda work: _user(work, login, "changing another user's subscriptions"),
        )

    @r.delete("/users/{login}/subscriptions/{subscription_id}", status_code=204)
    def unsubscribe_user(principal: Caller, login: Login, subscription_id: int) -> Response:
        """Remove one of a user's subscriptions (administrators, or the user themself)."""
        with api.work(principal) as work:
            user = _user(work, login, "changing another user's subscriptions")
            subscriptions.unsubscribe(work.session, user, subscription_id)
        return Response(status_code=204)

    @r.get("/users/{login}/preferences", response_model=PreferencesOut)
    def get_user_preferences(principal: Caller, login: Login) -> JSONResponse:
        """A user's preferences, with their ETag (administrators, or the user themself)."""
        with api.work(principal, read_only=True) as work:
            user = _user(work, login, "reading another user's preferences")
            prefs = subscriptions.get_preferences(work.session, user.id)
            data = PreferencesOut.of(prefs).model_dump(mode="json")
            return respond(data, 200, version=_prefs_version(prefs))

    @r.patch("/users/{login}/preferences", response_model=PreferencesOut)
    def set_user_preferences(
        principal: Caller, login: Login, body: PreferencesUpdate, request: Request
    ) -> JSONResponse:
        """Change a user's preferences (administrators, or the user themself; If-Match: the
        user may be changing them too)."""
        expected = required_version(request)
        with api.work(principal) as work:
            user = _user(work, login, "changing another user's preferences")
            stored = lock_for_update(work.session, Preferences, user.id)
            prefs = stored or subscriptions.get_preferences(work.session, user.id)
            check(_prefs_version(prefs), expected, lambda: PreferencesOut.of(prefs))
            prefs = update_preferences(work, user, body)
            work.session.flush()
            data = PreferencesOut.of(prefs).model_dump(mode="json")
            version = _prefs_version(prefs)
        return respond(data, 200, version=version)

    # -- the inbox ---------------------------------------------------------------------------

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
    def mark_read(principal: Caller, body: MarkRead, request: Request) -> JSONResponse:
        """Mark alerts read (ids, or "all")."""

        def act(work: Work) -> Marked:
            return Marked(marked=inbox.mark_read(work.session, work.actor, body.ids))

        return idempotent_post(api, principal, request, act, body=body, status=200)

    # -- deliveries (administrators) ---------------------------------------------------------

    @r.get("/deliveries/dead", response_model=list[DeliveryOut])
    def dead_deliveries(
        principal: Caller, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
    ) -> list[DeliveryOut]:
        """The deliveries parked after their last attempt, newest first (administrators)."""
        with api.work(principal, read_only=True) as work:
            found = workers.list_dead(work.session, work.actor, limit=limit)
            ids = {d.user_id for d in found}
            logins: dict[int, str] = {
                ident: login
                for ident, login in work.session.execute(
                    select(User.id, User.login).where(User.id.in_(ids))
                )
            }
            return [
                DeliveryOut(
                    id=d.id,
                    status=d.status,
                    channel=d.channel,
                    recipient=logins.get(d.user_id, f"#{d.user_id}"),
                    event_id=d.event_id,
                    rule_id=d.rule_id,
                    attempts=d.attempts,
                    last_error=d.last_error,
                    subject=d.subject,
                    due_at=d.due_at,
                    created_at=d.created_at,
                )
                for d in found
            ]

    @r.post("/deliveries/retry", response_model=Retried)
    def retry_deliveries(principal: Caller, body: Retry, request: Request) -> JSONResponse:
        """Put dead deliveries back in the queue, due now, with a fresh attempt count
        (administrators; 404 for an unknown id, 409 for one that is not dead)."""
        ids = list(dict.fromkeys(body.ids))

        def act(work: Work) -> Retried:
            workers.retry(work.session, work.actor, ids)
            return Retried(retried=sorted(ids))

        return idempotent_post(api, principal, request, act, body=body, status=200)

    # -- rules -------------------------------------------------------------------------------

    def rule_current(rule_id: int) -> Callable[[Work], Any]:
        def current(work: Work) -> Any:
            rule = rule_admin.get_rule(work.session, rule_id)
            return WithVersion(_rule_out(work, rule), rule.version)

        return current

    def check_rule(work: Work, rule: Rule, expected: int | None) -> None:
        check(rule.version, expected, lambda: _rule_out(work, rule))

    @r.get("/rules", response_model=list[RuleOut])
    def list_rules(principal: Caller) -> list[RuleOut]:
        """Notification rules (administrators)."""
        with api.work(principal, read_only=True) as work:
            require_admin(work.actor, "reading notification rules")
            return [_rule_out(work, rule) for rule in rule_admin.list_rules(work.session)]

    @r.post("/rules", response_model=RuleOut, status_code=201)
    def add_rule(principal: Caller, body: RuleCreate, request: Request) -> JSONResponse:
        """Save a rule after checking its condition, templates, recipients and channels."""

        def act(work: Work) -> Outcome:
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
            return Outcome(_rule_out(work, rule), version=rule.version)

        return idempotent_post(
            api, principal, request, act, body=body,
            location=lambda out: f"{request.url.path}/{out['id']}",
        )  # fmt: skip

    @r.get("/rules/{rule_id}", response_model=RuleOut)
    def get_rule(principal: Caller, rule_id: int) -> JSONResponse:
        """One rule, with its ETag (administrators)."""
        with api.work(principal, read_only=True) as work:
            require_admin(work.actor, "reading notification rules")
            rule = rule_admin.get_rule(work.session, rule_id)
            return respond(_rule_out(work, rule).model_dump(mode="json"), 200, version=rule.version)

    @r.patch("/rules/{rule_id}", response_model=RuleOut)
    def update_rule(
        principal: Caller, rule_id: int, body: RuleUpdate, request: Request
    ) -> JSONResponse:
        """Enable or disable a rule (administrators; If-Match): a disabled rule fires no
        more until enabled again."""
        expected = required_version(request)
        with api.work(principal, current=rule_current(rule_id)) as work:
            require_admin(work.actor, "changing notification rules")
            rule = rule_admin.get_rule(work.session, rule_id)
            check_rule(work, rule, expected)
            rule = rule_admin.set_enabled(
                work.session, work.actor, rule_id, body.enabled, expected_version=expected
            )
            work.session.flush()
            data = _rule_out(work, rule).model_dump(mode="json")
            version = rule.version
        return respond(data, 200, version=version)

    @r.post("/rules/{rule_id}/unpark", response_model=RuleOut)
    def unpark_rule(principal: Caller, rule_id: int, request: Request) -> JSONResponse:
        """Resume a rule the safety limit parked (administrators; 409 when it is not
        parked); its delivery count starts again from now."""

        def act(work: Work) -> Outcome:
            rule = runaway.unpark(work.session, work.actor, rule_id)
            work.session.flush()
            return Outcome(_rule_out(work, rule), version=rule.version)

        return idempotent_post(api, principal, request, act, status=200)

    @r.post("/rules/{rule_id}/dry-run", response_model=DryRunOut)
    def dry_run(principal: Caller, rule_id: int, body: DryRunIn, request: Request) -> JSONResponse:
        """Would the rule fire on this event, and what would it send?  Nothing is sent
        (nor stored under an Idempotency-Key: a retry simply runs it again)."""

        def act(work: Work) -> DryRunOut:
            dry = rule_admin.test_rule(work.session, rule_id, body.event_id, actor=work.actor)
            return DryRunOut(
                fires=dry.fires,
                reasons=dry.reasons,
                recipients=dry.recipients,
                subject=dry.subject,
                body=dry.body,
            )

        return idempotent_post(api, principal, request, act, body=body, status=200, read_only=True)

    @r.delete("/rules/{rule_id}", status_code=204)
    def delete_rule(principal: Caller, rule_id: int, request: Request) -> Response:
        """Delete a rule (administrators; If-Match); the notifications it sent keep their
        history."""
        expected = required_version(request)
        with api.work(principal, current=rule_current(rule_id)) as work:
            require_admin(work.actor, "changing notification rules")
            rule = lock_for_update(work.session, Rule, rule_id)
            if rule is None:
                rule_admin.get_rule(work.session, rule_id)  # the library's 404
            else:
                check_rule(work, rule, expected)
            rule_admin.delete_rule(work.session, work.actor, rule_id)
        return Response(status_code=204)

    return r
