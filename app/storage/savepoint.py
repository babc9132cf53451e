"""A SAVEPOINT around one write that the database may refuse, on SQLite as on PostgreSQL.

Two chairs may insert the same unique thing at once (a patient code, a session's claim on a
patient, device or head). The database refuses the second INSERT (on PostgreSQL after waiting
for the first chair's transaction); the use case turns that into a message for a person. On
PostgreSQL a failed statement spoils its whole transaction, so the INSERT runs in a savepoint
(:meth:`Session.begin_nested`): rolled back to it, the transaction goes on and can read who holds
the thing.

pysqlite (Python 3.11, its legacy transaction handling, which the app keeps) begins a
transaction only before an INSERT, UPDATE or DELETE. A SAVEPOINT issued before the transaction's
first write would then start a transaction of SQLite's own, and releasing the savepoint would
commit everything up to there: the caller's transaction would no longer be one. :func:`savepoint`
begins the transaction first when pysqlite has not, so the savepoint is always inside it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

__all__ = ["savepoint"]


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """``session.begin_nested()``, inside the caller's transaction on every database the app runs on.

    An exception inside rolls back to the savepoint and passes on; the caller's transaction stays usable.
    """
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        if raw is not None and not getattr(raw, "in_transaction", True):
            connection.exec_driver_sql("BEGIN")
    with session.begin_nested():
        yield
