"""Checking the audit trail: its chain, and every audited record against the trail's last word on it.

:func:`verify_trail` reads the whole trail once, oldest first, and then every audited table:

* **The chain.** Entries are numbered 1, 2, 3 … with no gaps, each entry's hash must match
  its content, and each must name the hash of the entry before it. An edited entry fails its
  own hash; a deleted one leaves a gap; an entry edited *and* re-hashed breaks the link to the
  next one.
* **Each entry against the record's history.** An update or delete names the hash of the row
  as the app found it; it must be the hash the trail last gave that record. Otherwise the
  record was changed (or inserted, or deleted) outside the app before that entry, even if the
  app has changed it since.
* **The records now.** Every row of an audited table must hash to what the trail last
  recorded for it; a row the trail never saw was inserted outside the app, a row the trail
  holds but the table does not was deleted outside it. Stamps are compared as totals per
  treatment session (per device outside a session): their count and digest.

Each problem is a :class:`Finding` naming the table, the record (with the patient's code)
and what differs. Outside the app means anything that did not go through
:mod:`stampside.app.storage.audit`: the ``sqlite3`` shell, another program, a restored file.

What it cannot see: someone who rewrites a record *and* appends matching entries re-hashing
the chain from there on. The trail has no secret key; keep the head hash ``stampside audit
verify`` prints somewhere else (a report, a signed note) to be able to tell.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, CursorResult, Select, Table, literal_column, select
from sqlalchemy.orm import Session

from stampside.app.storage.audit import AUDITED_TABLES, PATIENT_LINKS, STAMP_TABLE, stamp_group_key
from stampside.app.storage.audit_hash import (
    GENESIS_HASH,
    STAMP_COLUMNS,
    content_hash,
    entry_hash,
    plain_values,
    record_key,
    stamp_digest,
    stamp_totals,
)
from stampside.app.storage.audit_trail import describe_record, differences, show_value
from stampside.app.storage.schema import AuditEntry, Base

__all__ = ["Finding", "Verification", "verify_trail"]

#: The columns an entry's hash covers, as stored.
_HASHED = (
    "seq",
    "at",
    "actor",
    "action",
    "table_name",
    "record_key",
    "patient_id",
    "before_values",
    "after_values",
    "before_hash",
    "after_hash",
    "prev_hash",
)
#: Columns named in one finding before "and N more".
_MAX_COLUMNS_SHOWN = 6


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing that does not verify: ``table`` and ``record`` (``None`` for the chain itself) and what is wrong."""

    table: str | None
    record: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.record}: {self.message}" if self.record else self.message


@dataclass(frozen=True, slots=True)
class Verification:
    """What :func:`verify_trail` found: ``ok`` when nothing."""

    entries: int
    records: int
    #: The newest entry's hash: note it elsewhere to tell later that the trail was not rewritten.
    head: str | None
    findings: tuple[Finding, ...]

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass(slots=True)
class _Last:
    """What the trail last said about one record."""

    seq: int
    after_values: str | None
    after_hash: str | None
    patient_id: int | None


@dataclass
class _Check:
    findings: list[Finding] = field(default_factory=list)
    last: dict[tuple[str, str], _Last] = field(default_factory=dict)
    codes: dict[int, str] = field(default_factory=dict)
    #: Entries are missing from the trail: a record without one may have lost it there.
    gaps: bool = False

    def unaccounted(self) -> str:
        return " (or its entry is one of those deleted from the trail)" if self.gaps else ""

    def record(self, table: str, key_text: str, patient_id: int | None) -> str:
        key = _json(key_text)
        return describe_record(
            table, key if isinstance(key, dict) else {"key": key_text}, self.codes.get(patient_id or -1)
        )

    def add(self, table: str, key_text: str, patient_id: int | None, message: str) -> None:
        self.findings.append(Finding(table, self.record(table, key_text, patient_id), message))


def verify_trail(session: Session) -> Verification:
    """Check the chain, each entry against the record's history, and every audited record now.

    The records compared are those of the audited tables and of any other table the trail has
    entries for (the signatures and security events sign-in appends itself).
    """
    connection = session.connection()
    tables = Base.metadata.tables
    check = _Check()
    patients_now = _rows(connection, tables["patients"])
    check.codes = {row["id"]: str(row["code"]) for row in patients_now if isinstance(row.get("id"), int)}
    entries, head = _check_chain(connection, check)
    named = {
        table for table, _ in check.last if table in tables and table not in (STAMP_TABLE, AuditEntry.__tablename__)
    }
    current = {
        name: patients_now if name == "patients" else _rows(connection, tables[name])
        for name in _ordered_tables(AUDITED_TABLES | named)
    }
    patients = _PatientIndex(current)
    compared = 0
    for name, rows in current.items():
        compared += len(rows)
        _compare_rows(check, name, tables[name], rows, patients)
    compared += _compare_stamps(connection, check, patients)
    return Verification(entries, compared, head, tuple(check.findings))


def _ordered_tables(names: Collection[str]) -> list[str]:
    order = {table.name: index for index, table in enumerate(Base.metadata.sorted_tables)}
    return sorted(names, key=lambda name: order[name])


def _rows(connection: Connection, table: Table) -> list[dict[str, Any]]:
    """Every row as stored (``SELECT *``): what an entry's hash was taken over."""
    result: CursorResult[Any] = connection.execute(select(literal_column("*")).select_from(table))
    names = list(result.keys())
    return [dict(zip(names, values, strict=True)) for values in result]


def _json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _hash_of(text: str | None) -> str | None:
    """The content hash of stored values (``content_hash`` of the JSON they are)."""
    values = _json(text)
    return content_hash(values) if isinstance(values, dict) else None


def _check_chain(connection: Connection, check: _Check) -> tuple[int, str | None]:
    expected, previous, count = 1, GENESIS_HASH, 0
    for row in _entries(connection):
        count += 1
        seq = row["seq"]
        # Codes of patients the trail knows (deleted ones too), so findings can name them.
        if row["table_name"] == "patients":
            for values in (_json(row["before_values"]), _json(row["after_values"])):
                if isinstance(values, dict) and isinstance(values.get("id"), int) and values.get("code") is not None:
                    check.codes.setdefault(values["id"], str(values["code"]))
        intact = entry_hash({name: row[name] for name in _HASHED}) == row["entry_hash"]
        if seq != expected:
            check.gaps = True
            gone = f"#{expected}" if seq == expected + 1 else f"#{expected} to #{seq - 1}"
            check.findings.append(
                Finding(
                    None,
                    None,
                    f"audit entr{'y' if seq == expected + 1 else 'ies'} {gone} missing: deleted from the trail",
                )
            )
        elif not intact:
            pass  # said below, for the entry itself
        elif row["prev_hash"] != previous:
            check.findings.append(
                Finding(
                    None,
                    None,
                    f"audit entry #{seq} does not follow entry #{seq - 1}: the trail was rewritten before it",
                )
            )
        if not intact:
            check.add(
                row["table_name"],
                row["record_key"],
                row["patient_id"],
                f"audit entry #{seq} was changed after it was written (its hash does not match its content)",
            )
        elif (row["before_hash"], row["after_hash"]) != (_hash_of(row["before_values"]), _hash_of(row["after_values"])):
            check.add(
                row["table_name"],
                row["record_key"],
                row["patient_id"],
                f"audit entry #{seq}'s values do not match their hashes",
            )
        _follow_record(check, row)
        expected, previous = (seq if isinstance(seq, int) else expected) + 1, row["entry_hash"]
    return count, previous if count else None


def _entries(connection: Connection) -> Iterator[dict[str, Any]]:
    table = AuditEntry.__table__
    result: CursorResult[Any] = connection.execute(
        select(literal_column("*")).select_from(table).order_by(table.c.seq).execution_options(yield_per=2000)
    )
    names = list(result.keys())
    for values in result:
        yield dict(zip(names, values, strict=True))


def _follow_record(check: _Check, row: Mapping[str, Any]) -> None:
    """Check an entry against what the trail said of its record before, then remember it."""
    table, key, action, seq = row["table_name"], row["record_key"], row["action"], row["seq"]
    last = check.last.get((table, key))
    there = last is not None and last.after_hash is not None
    if action in ("insert", "baseline"):
        if there and last is not None:
            check.add(
                table,
                key,
                row["patient_id"],
                f"entry #{seq} creates it, but the trail had it already (entry #{last.seq}): "
                "it was deleted outside the app before",
            )
    elif last is None:
        check.add(table, key, row["patient_id"], f"entry #{seq} changes it, but it was inserted outside the app")
    elif last.after_hash is None:
        check.add(
            table,
            key,
            row["patient_id"],
            f"entry #{seq} changes it after entry #{last.seq} deleted it: it was inserted again outside the app",
        )
    elif row["before_hash"] != last.after_hash:
        found = _json(row["before_values"])
        trail = _json(last.after_values)
        what = _said(differences(trail, found)) if isinstance(found, dict) and isinstance(trail, dict) else ""
        check.add(
            table,
            key,
            row["patient_id"],
            f"changed outside the app between entries #{last.seq} and #{seq}{what}",
        )
    check.last[(table, key)] = _Last(seq, row["after_values"], row["after_hash"], row["patient_id"])


def _said(changes: list[tuple[str, Any, Any]]) -> str:
    if not changes:
        return ""
    shown = [f"{name} {show_value(old)} → {show_value(new)}" for name, old, new in changes[:_MAX_COLUMNS_SHOWN]]
    more = f" and {len(changes) - _MAX_COLUMNS_SHOWN} more" if len(changes) > _MAX_COLUMNS_SHOWN else ""
    return ": " + ", ".join(shown) + more


class _PatientIndex:
    """Which patient a current row is about, from the current rows (for records the trail never saw)."""

    def __init__(self, current: Mapping[str, list[dict[str, Any]]]) -> None:
        self.by_id = {name: {row.get("id"): row for row in rows if "id" in row} for name, rows in current.items()}

    def of(self, table: str, row: Mapping[str, Any]) -> int | None:
        if table == "patients":
            ident = row.get("id")
            return ident if isinstance(ident, int) else None
        link = PATIENT_LINKS.get(table)
        for _ in range(len(PATIENT_LINKS)):
            if link is None:
                return None
            column, parent = link
            ident = row.get(column)
            if parent == "patients":
                return ident if isinstance(ident, int) else None
            found = self.by_id.get(parent, {}).get(ident)
            if found is None:
                return None
            row, link = found, PATIENT_LINKS.get(parent)
        return None

    def of_session(self, session_id: Any) -> int | None:
        found = self.by_id.get("treatment_sessions", {}).get(session_id)
        return self.of("treatment_sessions", found) if found is not None else None


def _compare_rows(check: _Check, name: str, table: Table, rows: list[dict[str, Any]], patients: _PatientIndex) -> None:
    seen: set[str] = set()
    pk = [column.name for column in table.primary_key.columns]
    for row in rows:
        key = record_key({column: row.get(column) for column in pk})
        seen.add(key)
        last = check.last.get((name, key))
        if last is None:
            check.add(
                name,
                key,
                patients.of(name, row),
                f"inserted outside the app: the audit trail has no entry for it{check.unaccounted()}",
            )
        elif last.after_hash is None:
            check.add(
                name, key, last.patient_id, f"deleted by entry #{last.seq} but back: inserted again outside the app"
            )
        elif content_hash(row) != last.after_hash:
            trail = _json(last.after_values)
            what = _said(differences(trail, plain_values(row))) if isinstance(trail, dict) else ""
            check.add(name, key, last.patient_id, f"changed outside the app since entry #{last.seq}{what}")
    for (table_name, key), last in check.last.items():
        if table_name == name and key not in seen and last.after_hash is not None:
            check.add(
                name,
                key,
                last.patient_id,
                f"deleted outside the app (its last entry is #{last.seq}){check.unaccounted()}",
            )


def _compare_stamps(connection: Connection, check: _Check, patients: _PatientIndex) -> int:
    """Compare every session's (device's) stamp total with the trail's; returns the number of groups."""
    table = Base.metadata.tables[STAMP_TABLE]
    session_at = STAMP_COLUMNS.index("session_id")
    device_at = STAMP_COLUMNS.index("device_id")
    groups: dict[str, list[tuple[Any, ...]]] = {}
    columns: list[Any] = [literal_column(name) for name in STAMP_COLUMNS]
    query: Select[Any] = select(*columns).select_from(table)
    for values in connection.execute(query.execution_options(yield_per=5000)):
        line = tuple(values)
        session_id = line[session_at]
        groups.setdefault(record_key(stamp_group_key(session_id, line[device_at])), []).append(line)
    for key, lines in groups.items():
        totals = stamp_totals(len(lines), stamp_digest(lines))
        last = check.last.get((STAMP_TABLE, key))
        session_id = lines[0][session_at]
        patient = patients.of_session(session_id)
        if last is None or last.after_hash is None:
            check.add(
                STAMP_TABLE,
                key,
                patient,
                f"{len(lines)} stamps inserted outside the app: no audit entry for them{check.unaccounted()}",
            )
        elif content_hash(totals) != last.after_hash:
            trail = _json(last.after_values)
            counted = trail.get("count") if isinstance(trail, dict) else None
            how = (
                f"{counted} stamps in the trail, {len(lines)} stored"
                if counted != len(lines)
                else f"{len(lines)} stamps as in the trail, but their contents differ"
            )
            check.add(
                STAMP_TABLE, key, last.patient_id, f"stamps changed outside the app since entry #{last.seq}: {how}"
            )
    for (table_name, key), last in check.last.items():
        if table_name == STAMP_TABLE and key not in groups and last.after_hash is not None:
            trail = _json(last.after_values)
            counted = trail.get("count") if isinstance(trail, dict) else "its"
            check.add(
                STAMP_TABLE,
                key,
                last.patient_id,
                f"all {counted} stamps deleted outside the app (last entry #{last.seq})",
            )
    return len(groups)
