"""The audit trail read back: its entries oldest first, filtered by patient, time or table.

These use cases take the session of a transaction the caller opened::

    with db.Session.begin() as session:
        ids = patient_ids(session, "DEMO-001")        # [] when the trail never saw that code
        for entry in read_trail(session, patient_ids=ids, since=datetime(2026, 3, 1, tzinfo=UTC)):
            print(entry.seq, entry.actor, entry.action, describe_record(entry.table, entry.key))

:mod:`stampside.app.storage.audit` writes the entries and :mod:`stampside.app.storage.audit_verify` checks them;
the values are the rows as the database stored them (on SQLite times are text, flags 0/1).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from stampside.app.storage.audit import STAMP_TABLE, iso_at
from stampside.app.storage.schema import AuditEntry, Patient

__all__ = [
    "TrailEntry",
    "describe_record",
    "differences",
    "patient_codes",
    "patient_ids",
    "read_trail",
    "show_value",
]

#: Longest value shown in full; longer ones are cut with "…".
MAX_SHOWN_CHARS = 80


@dataclass(frozen=True, slots=True)
class TrailEntry:
    """One entry: who changed which record when, and its whole row before and after (``None``: not there)."""

    seq: int
    at: str
    actor: str
    action: str
    table: str
    key: dict[str, Any]
    patient_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    def changed(self) -> list[tuple[str, Any, Any]]:
        """``(column, before, after)`` for each column whose value the change set, altered or cleared."""
        return differences(self.before or {}, self.after or {})

    def as_dict(self, patient_code: str | None = None) -> dict[str, Any]:
        """JSON-ready, for ``stampside audit show --format jsonl``."""
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "table": self.table,
            "record": self.key,
            "patient": patient_code,
            "before": self.before,
            "after": self.after,
        }


def _loads(text: str | None) -> Any:
    return json.loads(text) if text is not None else None


def _entry(row: AuditEntry) -> TrailEntry:
    key = _loads(row.record_key)
    return TrailEntry(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        table=row.table_name,
        key=key if isinstance(key, dict) else {"key": key},
        patient_id=row.patient_id,
        before=_loads(row.before_values),
        after=_loads(row.after_values),
    )


def read_trail(
    session: Session,
    *,
    patient_ids: Collection[int] | None = None,
    since: datetime | None = None,
    tables: Collection[str] = (),
    chunk: int = 1000,
) -> Iterator[TrailEntry]:
    """The entries oldest first; ``patient_ids`` keeps those about these patients, ``since`` (timezone-aware)
    those written at or after it, ``tables`` those of these tables (empty: all)."""
    query = select(AuditEntry).order_by(AuditEntry.seq)
    if patient_ids is not None:
        query = query.where(AuditEntry.patient_id.in_(sorted(patient_ids)))
    if since is not None:
        if since.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware time for since")
        query = query.where(AuditEntry.at >= iso_at(since))
    if tables:
        query = query.where(AuditEntry.table_name.in_(sorted(set(tables))))
    for row in session.scalars(query.execution_options(yield_per=chunk)):
        yield _entry(row)


def patient_ids(session: Session, code: str) -> list[int]:
    """The ids the patient with this code has had: in ``patients`` now, or in the trail (a deleted patient)."""
    found = set(session.scalars(select(Patient.id).where(Patient.code == code)))
    quoted = json.dumps(code, ensure_ascii=False)
    for row in session.scalars(
        select(AuditEntry).where(
            AuditEntry.table_name == "patients",
            or_(AuditEntry.after_values.contains(quoted), AuditEntry.before_values.contains(quoted)),
        )
    ):
        for values in (_loads(row.before_values), _loads(row.after_values)):
            if isinstance(values, dict) and values.get("code") == code and isinstance(values.get("id"), int):
                found.add(values["id"])
    return sorted(found)


def patient_codes(session: Session) -> dict[int, str]:
    """Patient id → code, for every patient stored now or ever named in the trail (current codes win)."""
    codes: dict[int, str] = {}
    for row in session.scalars(select(AuditEntry).where(AuditEntry.table_name == "patients")):
        for values in (_loads(row.before_values), _loads(row.after_values)):
            if isinstance(values, dict) and isinstance(values.get("id"), int) and values.get("code") is not None:
                codes[values["id"]] = str(values["code"])
    codes.update({ident: code for ident, code in session.execute(select(Patient.id, Patient.code))})
    return codes


def show_value(value: Any) -> str:
    """A stored value for a person: ``'text'``, numbers as they are, ``NULL``; long ones cut."""
    text = "NULL" if value is None else repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 1] + "…"


def differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """``(column, before, after)`` for every column whose value differs (a missing column reads as NULL)."""
    columns = list(after) + [name for name in before if name not in after]
    return [(name, before.get(name), after.get(name)) for name in columns if before.get(name) != after.get(name)]


def describe_record(table: str, key: Mapping[str, Any], patient_code: str | None = None) -> str:
    """A record for a person: ``patients id=3 (DEMO-001)``, ``step_checks id=12 (patient DEMO-002)``,
    ``session_zones session_id=4, zone=2``."""
    if table == STAMP_TABLE and key.get("session_id") is None and "device_id" in key:
        shown = f"device_id={show_value(key['device_id'])}, outside a session"
    else:
        shown = ", ".join(f"{name}={show_value(value)}" for name, value in key.items())
    if patient_code is None:
        return f"{table} {shown}"
    return f"{table} {shown} ({patient_code if table == 'patients' else 'patient ' + patient_code})"
