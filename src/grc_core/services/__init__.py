"""Domain services.

Every service takes the caller's :class:`~sqlalchemy.orm.Session` and the acting user,
flushes when it needs ids and never commits: the caller owns the transaction.
"""
