"""SQL building blocks of the rule compiler: how to reach each field from ``exchanges``, and
the two text operations whose SQL differs between SQLite and PostgreSQL.

Every field is reached through a :data:`Reach` function: given a *test* on the field's
column, it returns a predicate on :class:`~grc_core.models.Exchange` that is TRUE when the
exchange has a non-NULL value passing the test, and FALSE otherwise — never NULL.  Columns
of ``exchanges`` itself are guarded with ``IS NOT NULL`` when they may be NULL; related
records (picklist codes, users, company, opportunities, custom values) are reached through
``EXISTS`` subqueries, which are never NULL and need no join in the caller's query.  That is
what makes the SQL two-valued like the Python evaluator: ``NOT`` of a never-NULL predicate
is its exact complement.

The subqueries correlate to :class:`Exchange` explicitly, so a caller may join other tables
(even ``picklist_values``) into its query without capturing the subqueries' tables.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    FromClause,
    Numeric,
    String,
    and_,
    exists,
    literal,
    select,
    type_coerce,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from grc_core.models import (
    Category,
    Company,
    Exchange,
    ExchangeFieldValue,
    Opportunity,
    PicklistValue,
    User,
    exchange_assignees,
    exchange_opportunities,
)
from grc_core.models.base import UTCDateTime

#: A test on a column: ``lambda column: column < 5``.
Test = Callable[[ColumnElement[Any]], ColumnElement[bool]]

#: Turns a test on a field's column into a never-NULL predicate on ``exchanges``.
Reach = Callable[[Test], ColumnElement[bool]]


# --- dialect-specific text operations ---------------------------------------------------------


class ascii_lower(FunctionElement[str]):  # named like the SQL function
    """Lower-case ASCII letters only, as :func:`grc_core.rules.values.ascii_lower` does.

    SQLite's built-in ``lower()`` already folds only A-Z.  PostgreSQL's ``lower()`` folds
    every letter its locale knows, which Python would have to imitate locale by locale; a
    ``translate()`` of the 26 letters is the same on every server.
    """

    type = String()
    inherit_cache = True
    name = "ascii_lower"


@compiles(ascii_lower)
def _ascii_lower_default(element: ascii_lower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(ascii_lower, "postgresql")
def _ascii_lower_postgresql(element: ascii_lower, compiler: SQLCompiler, **kw: Any) -> str:
    upper = literal("ABCDEFGHIJKLMNOPQRSTUVWXYZ", String())
    lower = literal("abcdefghijklmnopqrstuvwxyz", String())
    args = compiler.process(element.clauses, **kw)
    return f"translate({args}, {compiler.process(upper, **kw)}, {compiler.process(lower, **kw)})"


class codepoint_order(FunctionElement[str]):  # named like an SQL function
    """A text compared in code-point order, as Python compares ``str``.

    SQLite's default ``BINARY`` collation compares UTF-8 bytes, which is code-point order.
    PostgreSQL compares with the database's locale (``'a' < 'B'`` under ``en_US``), so the
    column gets ``COLLATE "C"`` there: byte order, hence code-point order too.
    """

    type = String()
    inherit_cache = True
    name = "codepoint_order"


@compiles(codepoint_order)
def _codepoint_default(element: codepoint_order, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(codepoint_order, "postgresql")
def _codepoint_postgresql(element: codepoint_order, compiler: SQLCompiler, **kw: Any) -> str:
    return f'({compiler.process(element.clauses, **kw)} COLLATE "C")'


# --- bound values -----------------------------------------------------------------------------


def bind(value: object) -> ColumnElement[Any]:
    """A constant as a bound parameter typed by its Python type.

    The type matters: a date-time must go through :class:`UTCDateTime` (ISO text on
    SQLite), a Decimal through :class:`Numeric` (a float on SQLite, which has no decimal
    type), whatever the column it is compared with.
    """
    if isinstance(value, bool):
        return literal(value, Boolean())
    if isinstance(value, int):
        # BIGINT, not INTEGER: PostgreSQL would refuse a 15-digit literal cast to int4 even
        # when compared with an int4 column.
        return literal(value, BigInteger())
    if isinstance(value, Decimal):
        return literal(value, Numeric())
    if isinstance(value, datetime):
        return literal(value, UTCDateTime())
    if isinstance(value, date):
        return literal(value, Date())
    if isinstance(value, str):
        return literal(value, String())
    raise TypeError(f"no SQL type for {type(value).__name__}")  # pragma: no cover


# --- reaching fields from exchanges -------------------------------------------------------------


def column(attribute: Any, *, nullable: bool) -> Reach:
    """A column of ``exchanges`` itself."""

    def reach(test: Test) -> ColumnElement[bool]:
        predicate = test(attribute)
        return and_(attribute.is_not(None), predicate) if nullable else predicate

    return reach


def related(source: FromClause | type, link: ColumnElement[bool], target: Any) -> Reach:
    """A column of a related table: ``EXISTS (SELECT 1 FROM source WHERE link AND test)``.

    With a to-many ``source`` (opportunities, assignees) this is exactly the language's
    "some linked record satisfies the comparison".
    """

    def reach(test: Test) -> ColumnElement[bool]:
        query = select(1).select_from(source).where(link, test(target)).correlate(Exchange)
        return exists(query)

    return reach


def picklist(foreign_key: Any) -> Reach:
    """The code of the picklist value ``foreign_key`` points to (action, status, medium)."""
    return related(PicklistValue, PicklistValue.id == foreign_key, PicklistValue.code)


def category() -> Reach:
    """The code of the exchange's category."""
    return related(Category, Category.id == Exchange.category_id, Category.code)


def user_login(foreign_key: Any) -> Reach:
    """The login of the user ``foreign_key`` points to (author)."""
    return related(User, User.id == foreign_key, User.login)


def assignee_login() -> Reach:
    """The logins of the exchange's assigned users (to-many)."""
    source = exchange_assignees.join(User, User.id == exchange_assignees.c.user_id)
    return related(source, exchange_assignees.c.exchange_id == Exchange.id, User.login)


def company_column(target: Any) -> Reach:
    """A column of the exchange's company (none for a global exchange)."""
    return related(Company, Company.id == Exchange.company_id, target)


def company_status() -> Reach:
    """The company's status, compared as plain text (the column is an enum type)."""
    return company_column(type_coerce(Company.status, String()))


def company_owner() -> Reach:
    """The login of the company's owner."""
    source = Company.__table__.join(User.__table__, User.id == Company.owner_id)
    return related(source, Company.id == Exchange.company_id, User.login)


def _opportunities() -> Any:
    return exchange_opportunities.join(
        Opportunity.__table__, Opportunity.id == exchange_opportunities.c.opportunity_id
    )


def opportunity_column(target: Any) -> Reach:
    """A column of the exchange's linked opportunities (to-many)."""
    return related(_opportunities(), exchange_opportunities.c.exchange_id == Exchange.id, target)


def opportunity_stage() -> Reach:
    """The stage codes of the exchange's linked opportunities."""
    source = _opportunities().join(
        PicklistValue.__table__, PicklistValue.id == Opportunity.stage_id
    )
    return related(source, exchange_opportunities.c.exchange_id == Exchange.id, PicklistValue.code)


def opportunity_owner() -> Reach:
    """The owner logins of the exchange's linked opportunities."""
    source = _opportunities().join(User.__table__, User.id == Opportunity.owner_id)
    return related(source, exchange_opportunities.c.exchange_id == Exchange.id, User.login)


def custom_value(field_id: int, value_column: str) -> Reach:
    """The value of one custom field, in the typed column of its type."""
    target = getattr(ExchangeFieldValue, value_column)
    link = and_(
        ExchangeFieldValue.exchange_id == Exchange.id, ExchangeFieldValue.field_id == field_id
    )
    return related(ExchangeFieldValue, link, target)
