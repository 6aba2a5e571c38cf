"""The category tree: add, retire, list, and resolve a code (with its sub-categories)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from grc_core.errors import Conflict, ValidationError
from grc_core.models import Category, EventKind, User
from grc_core.services.concurrency import check_version, lock_for_update, stale_as_conflict
from grc_core.services.events import record_event
from grc_core.services.picklists import check_code
from grc_core.services.text import clean_line
from grc_core.services.users import require_admin


def list_categories(session: Session, *, include_retired: bool = False) -> list[Category]:
    """Every category, parents before children, then by code."""
    rows = list(session.scalars(select(Category).order_by(Category.code)))
    if not include_retired:
        rows = [c for c in rows if c.active]
    by_parent: dict[int | None, list[Category]] = {}
    for cat in rows:
        by_parent.setdefault(cat.parent_id, []).append(cat)
    ordered: list[Category] = []
    known = {c.id for c in rows}

    def walk(parent: int | None) -> None:
        for child in by_parent.get(parent, []):
            ordered.append(child)
            walk(child.id)

    walk(None)
    # Children of a retired parent are still listed when asked for, after the tree.
    ordered += [c for c in rows if c not in ordered and c.parent_id not in known]
    return ordered


def get_category(session: Session, code: str) -> Category:
    """A category by code, retired or not."""
    cat = session.scalar(select(Category).where(Category.code == code))
    if cat is None:
        accepted = ", ".join(c.code for c in list_categories(session))
        raise ValidationError(f"unknown category {code!r}; accepted: {accepted}", field="category")
    return cat


def resolve_for_write(session: Session, code: str, current: Category | None = None) -> Category:
    """The category to store: active, unless it is the one the record already has."""
    cat = get_category(session, code)
    if not cat.active and (current is None or current.id != cat.id):
        raise ValidationError(f"category {code!r} is retired and cannot be chosen")
    return cat


def descendant_ids(session: Session, category_id: int) -> set[int]:
    """``category_id`` and the ids of every category below it."""
    children: dict[int | None, list[int]] = {}
    for cid, parent in session.execute(select(Category.id, Category.parent_id)):
        children.setdefault(parent, []).append(cid)
    found, todo = set(), [category_id]
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(children.get(current, []))
    return found


def add_category(
    session: Session,
    actor: User,
    code: str,
    *,
    label_fr: str,
    label_en: str | None = None,
    parent: str | None = None,
) -> Category:
    """Add a category, under ``parent`` (a code) or at the top."""
    require_admin(actor, "changing categories")
    code = check_code(code)
    if session.scalar(select(Category.id).where(Category.code == code)) is not None:
        raise Conflict(f"category {code!r} already exists")
    parent_cat = resolve_for_write(session, parent) if parent else None
    cat = Category(
        code=code,
        label_fr=clean_line(label_fr, "label_fr", 100),
        label_en=clean_line(label_en or label_fr, "label_en", 100),
        parent_id=parent_cat.id if parent_cat else None,
        active=True,
    )
    session.add(cat)
    session.flush()
    record_event(
        session,
        actor,
        EventKind.CATEGORY_ADDED,
        entity_type="category",
        entity_id=cat.id,
        company_id=None,
        changes={
            "code": [None, code],
            "label_fr": [None, cat.label_fr],
            "label_en": [None, cat.label_en],
            "parent": [None, parent_cat.code if parent_cat else None],
        },
    )
    return cat


def set_active(
    session: Session,
    actor: User,
    code: str,
    active: bool,
    *,
    expected_version: int | None = None,
) -> Category:
    """Retire or restore a category; exchanges keep it either way.

    :param expected_version: the ``version`` the caller read; if it changed since, nothing
        is written and :class:`~grc_core.errors.VersionConflict` is raised.
    """
    require_admin(actor, "changing categories")
    cat = get_category(session, code)
    cat = lock_for_update(session, Category, cat.id) or cat
    check_version(cat, expected_version, f"category {cat.code!r}")
    if cat.active == active:
        return cat
    cat.active = active
    with stale_as_conflict(cat, f"category {cat.code!r}"):
        session.flush()
    record_event(
        session,
        actor,
        EventKind.CATEGORY_UPDATED,
        entity_type="category",
        entity_id=cat.id,
        company_id=None,
        changes={"active": [not active, active]},
    )
    return cat


#: ``parent`` argument of :func:`update_category` meaning "leave where it is".
KEEP_PARENT = "\0keep"


def update_category(
    session: Session,
    actor: User,
    code: str,
    *,
    label_fr: str | None = None,
    label_en: str | None = None,
    parent: str | None = KEEP_PARENT,
    expected_version: int | None = None,
) -> Category:
    """Relabel a category or move it in the tree (``parent``: a code, or ``None`` for the top).

    Labels left ``None`` and ``parent`` left out are unchanged.  The code never changes:
    exchanges and subscriptions refer to the category.  A category cannot move under itself
    or one of its own sub-categories, nor under a retired one.

    :param expected_version: the ``version`` the caller read; if it changed since, nothing
        is written and :class:`~grc_core.errors.VersionConflict` is raised.
    """
    require_admin(actor, "changing categories")
    cat = get_category(session, code)
    cat = lock_for_update(session, Category, cat.id) or cat
    label = f"category {cat.code!r}"
    check_version(cat, expected_version, label)
    changes: dict[str, list[object]] = {}
    if label_fr is not None:
        cleaned = clean_line(label_fr, "label_fr", 100)
        if cleaned != cat.label_fr:
            changes["label_fr"] = [cat.label_fr, cleaned]
            cat.label_fr = cleaned
    if label_en is not None:
        cleaned = clean_line(label_en, "label_en", 100)
        if cleaned != cat.label_en:
            changes["label_en"] = [cat.label_en, cleaned]
            cat.label_en = cleaned
    if parent != KEEP_PARENT:
        old = cat.parent.code if cat.parent else None
        target = resolve_for_write(session, parent, cat.parent) if parent else None
        if target is not None and target.id in descendant_ids(session, cat.id):
            raise ValidationError(
                f"category {cat.code!r} cannot move under {target.code!r}: that is itself or "
                "one of its sub-categories",
                field="parent",
            )
        new = target.code if target else None
        if new != old:
            changes["parent"] = [old, new]
            cat.parent_id = target.id if target else None
            cat.parent = target
    if not changes:
        return cat
    with stale_as_conflict(cat, label):
        session.flush()
    record_event(
        session,
        actor,
        EventKind.CATEGORY_UPDATED,
        entity_type="category",
        entity_id=cat.id,
        company_id=None,
        changes=changes,
    )
    return cat
