"""Audit entries for the sign-in tables the audit hooks do not follow yet: signatures and security events.

:mod:`stampside.app.storage.audit` appends an entry for every change of the tables in its
``PATIENT_LINKS``; ``signatures`` and ``security_events`` (v0006) are not among them yet. Until
they are, :func:`record_insert` appends the entry for a new row of theirs itself, in the same
transaction and chained like any other, so a signature or a lockout is in the trail from the
first one on. Once a table joins ``PATIENT_LINKS`` the hooks write its entries and this does
nothing for it (no entry twice); its rows already have their ``insert`` entries, so it needs
no baseline.

Both tables are only ever inserted into; nothing here follows an update or a delete.
"""

from __future__ import annotations

from sqlalchemy import Table, inspect
from sqlalchemy.orm import Session

from stampside.app.storage.audit import AUDITED_TABLES, TrailWriter, read_rows
from stampside.app.storage.audit_hash import record_key
from stampside.app.storage.schema import Base

__all__ = ["record_insert"]


def record_insert(session: Session, row: Base) -> None:
    """Flush the new ``row`` and append its ``insert`` entry to the trail (unless the audit hooks do)."""
    table = row.__table__
    assert isinstance(table, Table)
    if table.name in AUDITED_TABLES:
        return
    session.flush()
    mapper = inspect(row).mapper
    key = {
        column.name: value
        for column, value in zip(mapper.primary_key, mapper.primary_key_from_instance(row), strict=True)
    }
    connection = session.connection()
    stored = read_rows(connection, table, [key]).get(record_key(key))
    if stored is None:  # pragma: no cover - flushed just above
        return
    patient = stored.get("patient_id")
    trail = TrailWriter(connection)
    trail.append(
        "insert",
        table.name,
        key,
        patient_id=patient if isinstance(patient, int) else None,
        before=None,
        after=stored,
    )
    trail.write()
