"""The audit trail's writer: every change of a clinical record appends an entry, whichever use case made it.

:func:`install_audit` hooks the database's sessionmaker (``open_database`` does it), so no
use case has to remember the trail:

* **ORM writes** (``session.add``, changed attributes, ``session.delete``): before each flush
  the rows about to change or go are read as the database has them; after it, the rows as
  they are now. Each record whose content changed gets one entry: who, when, insert / update /
  delete, the whole row before and after, and their hashes.
* **UPDATE and DELETE statements** on an audited table (``session.execute(delete(X).where(...))``):
  the rows the WHERE picks are read, the statement runs, and they are read again.
* **Stamps** (``session.execute(insert(StampEvent), rows)``, the link's commit path) are not
  audited one by one: each batch appends one entry per treatment session it touches (per device
  for stamps outside a session) with the session's new stamp count and digest
  (:mod:`stampside.app.storage.audit_hash`), computed from the rows being inserted, without reading the
  session's stamps back. A batch costs two indexed reads and one insert more.
* An UPDATE or DELETE of stamps (no use case makes one) counts the totals of the sessions it
  touched again from the stored stamps. A bulk INSERT into another audited table raises
  :class:`AuditError`: the trail cannot tell which rows it made, and silently skipping them
  would hide a change.

Writes around the session (``text()`` SQL, a connection's own ``execute``, the ``sqlite3``
shell) are not seen: ``stampside audit verify`` (:mod:`stampside.app.storage.audit_verify`) reports them
as changes made outside the app.

Audited: the tables of :data:`PATIENT_LINKS` (patients and everything recorded about them,
practitioners, link events) and the stamp totals. Not audited: ``devices`` and
``device_heads``, the link's bookkeeping of a device (identity, battery, delivery cursor,
rewritten on every connect and commit), and Alembic's version table.

The entries of a transaction are numbered after its first write. On SQLite the transaction
holds the database's write lock from then on, so two processes never take the same ``seq``. On
PostgreSQL several chairs write at once: the writer takes a transaction-scoped advisory lock
(:data:`TRAIL_LOCK`) before it reads the trail's tip, so appends queue for the moment between the
tip and the commit instead of failing on the primary key; elsewhere the primary key on ``seq``
fails the loser (the link's sink retries such a commit).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Connection,
    Result,
    Select,
    Table,
    and_,
    bindparam,
    event,
    insert,
    inspect,
    literal_column,
    select,
    text,
)
from sqlalchemy.engine import IteratorResult
from sqlalchemy.engine.result import SimpleResultMetaData
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, sessionmaker

from stampside.app.storage.audit_actor import current_actor
from stampside.app.storage.audit_hash import (
    GENESIS_HASH,
    STAMP_COLUMNS,
    canonical_json,
    content_hash,
    entry_hash,
    record_key,
    stamp_digest,
    stamp_totals,
)
from stampside.app.storage.bulk_insert import insert_rows
from stampside.app.storage.schema import AuditEntry, Base

__all__ = [
    "AUDITED_TABLES",
    "PATIENT_LINKS",
    "STAMP_TABLE",
    "AuditError",
    "TrailWriter",
    "install_audit",
    "read_rows",
    "stamp_group_key",
]

#: Each audited table → the column and table its rows lead to their patient by (``None``: no patient).
#: ``patients`` is its own; every table referred to here has an ``id`` primary key.
PATIENT_LINKS: dict[str, tuple[str, str] | None] = {
    "practitioners": None,
    "patients": None,
    "screenings": ("patient_id", "patients"),
    "screening_lab_results": ("screening_id", "screenings"),
    "screening_contraindications": ("screening_id", "screenings"),
    "courses": ("patient_id", "patients"),
    "course_screenings": ("course_id", "courses"),
    "course_overrides": ("course_id", "courses"),
    "treatment_sessions": ("course_id", "courses"),
    "session_zones": ("session_id", "treatment_sessions"),
    "schedule_deviations": ("session_id", "treatment_sessions"),
    "step_records": ("session_id", "treatment_sessions"),
    "step_checks": ("step_record_id", "step_records"),
    "step_overrides": ("step_record_id", "step_records"),
    "photos": ("patient_id", "patients"),
    "outcome_assessments": ("course_id", "courses"),
    "self_assessments": ("course_id", "courses"),
    "self_assessment_answers": ("self_assessment_id", "self_assessments"),
    "adverse_events": ("course_id", "courses"),
    "blinded_ratings": ("course_id", "courses"),
    "link_events": ("session_id", "treatment_sessions"),
    "corrections": ("patient_id", "patients"),
}
#: The tables whose rows are audited one by one.
AUDITED_TABLES = frozenset(PATIENT_LINKS)
#: Stamps are audited as totals per session (per device outside a session) under this table's name.
STAMP_TABLE = "stamp_events"

_PENDING = "stampside.audit.pending"
#: Parents before children: the order a flush's entries are written in.
_TABLE_ORDER = {table.name: index for index, table in enumerate(Base.metadata.sorted_tables)}


class AuditError(RuntimeError):
    """A write the audit trail cannot follow (a programming error: use ``session.add`` instead)."""


def now() -> datetime:
    """The time entries are stamped with (tests replace it)."""
    return datetime.now(UTC)


def iso_at(moment: datetime) -> str:
    """An entry's ``at``: ISO 8601 in UTC with microseconds and a ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def install_audit(maker: sessionmaker[Session]) -> None:
    """Append to the audit trail on every write made through sessions of ``maker``."""
    event.listen(maker, "before_flush", _before_flush)
    event.listen(maker, "after_flush", _after_flush)
    event.listen(maker, "do_orm_execute", _on_execute)


# --- reading rows as the database has them -----------------------------------------------------


def _key_of(table: Table, row: Mapping[str, Any]) -> dict[str, Any]:
    return {column.name: row.get(column.name) for column in table.primary_key.columns}


def read_rows(connection: Connection, table: Table, keys: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The rows of ``table`` with these primary keys, each as stored (``SELECT *``: no type conversion).

    Keyed by :func:`~stampside.app.storage.audit_hash.record_key`; a key with no row is left out.
    """
    wanted = list(keys)
    found: dict[str, dict[str, Any]] = {}
    pk = list(table.primary_key.columns)
    if len(pk) == 1:
        query = _by_id_query(table)
        batches = [
            {"ids": [key[pk[0].name] for key in wanted[start : start + 500]]} for start in range(0, len(wanted), 500)
        ]
        results = [connection.execute(query, batch) for batch in batches]
    else:
        everything: Select[Any] = select(literal_column("*")).select_from(table)
        results = [
            connection.execute(everything.where(and_(*(column == key[column.name] for column in pk)))) for key in wanted
        ]
    for result in results:
        names = list(result.keys())
        for values in result:
            row = dict(zip(names, values, strict=True))
            found[record_key(_key_of(table, row))] = row
    return found


@cache
def _by_id_query(table: Table) -> Select[Any]:
    """``SELECT * FROM table WHERE pk IN :ids``, built once per table (its compiled form is cached)."""
    (column,) = table.primary_key.columns
    return select(literal_column("*")).select_from(table).where(column.in_(bindparam("ids", expanding=True)))


def _rows_where(connection: Connection, table: Table, where: Any) -> list[dict[str, Any]]:
    query: Select[Any] = select(literal_column("*")).select_from(table)
    if where is not None:
        query = query.where(where)
    result = connection.execute(query)
    names = list(result.keys())
    return [dict(zip(names, values, strict=True)) for values in result]


class _PatientFinder:
    """Which patient a row is about, by :data:`PATIENT_LINKS`: one read per record referred to, remembered."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._known: dict[tuple[str, Any], int | None] = {}

    def of_row(self, table: str, row: Mapping[str, Any]) -> int | None:
        if table == "patients":
            return _as_id(row.get("id"))
        link = PATIENT_LINKS.get(table)
        return None if link is None else self.of_id(link[1], row.get(link[0]))

    def of_id(self, table: str, ident: Any) -> int | None:
        """The patient of row ``ident`` of ``table`` (a table with an ``id`` key)."""
        if ident is None:
            return None
        if table == "patients":
            return _as_id(ident)
        if (table, ident) not in self._known:
            query = _patient_query(table)
            found = self.connection.execute(query, {"ident": ident}).scalar() if query is not None else None
            self._known[(table, ident)] = _as_id(found)
        return self._known[(table, ident)]


@cache
def _patient_query(table: str) -> Select[Any] | None:
    """The patient id of one row of ``table`` (``:ident``), joined along :data:`PATIENT_LINKS` in one query."""
    source = Base.metadata.tables[table]
    joined: Any = source
    current, link = source, PATIENT_LINKS.get(table)
    while link is not None:
        column, parent_name = link
        if parent_name == "patients":
            return select(current.c[column]).select_from(joined).where(source.c.id == bindparam("ident"))
        parent = Base.metadata.tables[parent_name]
        joined = joined.join(parent, current.c[column] == parent.c.id)
        current, link = parent, PATIENT_LINKS.get(parent_name)
    return None


def _as_id(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# --- appending entries ---------------------------------------------------------------------------------


_AUDIT_ENTRIES = Base.metadata.tables[AuditEntry.__tablename__]
_TIP = select(AuditEntry.seq, AuditEntry.entry_hash).order_by(AuditEntry.seq.desc()).limit(1)
_LATEST = (
    select(AuditEntry.after_values)
    .where(AuditEntry.table_name == bindparam("table"), AuditEntry.record_key == bindparam("key"))
    .order_by(AuditEntry.seq.desc())
    .limit(1)
)


#: The advisory lock key (PostgreSQL) that serializes appends to the trail: "stampAUD" as a
#: 64-bit integer, so no other lock of the server's users is likely to take it.
TRAIL_LOCK = int.from_bytes(b"stampAUD", "big") - 2**63


class TrailWriter:
    """Appends entries after the trail's newest one, in this transaction; :meth:`write` stores them.

    Create it after the transaction's first write (see the module's notes on numbering).
    """

    def __init__(self, connection: Connection, *, actor: str | None = None, at: datetime | None = None) -> None:
        self.connection = connection
        self.actor = actor if actor is not None else current_actor()
        self.at = iso_at(at if at is not None else now())
        if connection.dialect.name == "postgresql":
            # Held until this transaction ends: the next writer reads the tip after our commit.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": TRAIL_LOCK})
        tip = connection.execute(_TIP).first()
        self.seq, self.tip = (int(tip[0]), str(tip[1])) if tip is not None else (0, GENESIS_HASH)
        self.patients = _PatientFinder(connection)
        self.rows: list[dict[str, Any]] = []

    def latest_after(self, table: str, key: str) -> dict[str, Any] | None:
        """The content the trail last gave this record (``None``: none yet, or deleted)."""
        for row in reversed(self.rows):
            if row["table_name"] == table and row["record_key"] == key:
                return _loads(row["after_values"])
        text = self.connection.execute(_LATEST, {"table": table, "key": key}).scalar()
        return _loads(text)

    def append(
        self,
        action: str,
        table: str,
        key: Mapping[str, Any],
        *,
        patient_id: int | None,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
    ) -> None:
        self.seq += 1
        before_text = canonical_json(before) if before is not None else None
        after_text = canonical_json(after) if after is not None else None
        fields: dict[str, Any] = {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": action,
            "table_name": table,
            "record_key": record_key(key),
            "patient_id": patient_id,
            "before_values": before_text,
            "after_values": after_text,
            "before_hash": content_hash(before) if before is not None else None,
            "after_hash": content_hash(after) if after is not None else None,
            "prev_hash": self.tip,
        }
        fields["entry_hash"] = self.tip = entry_hash(fields)
        self.rows.append(fields)

    def write(self) -> None:
        if self.rows:
            self.connection.execute(insert(_AUDIT_ENTRIES), self.rows)
            self.rows = []


def _loads(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    value = json.loads(text)
    return value if isinstance(value, dict) else None


# --- ORM flushes -------------------------------------------------------------------------------------


@dataclass
class _Change:
    """An audited object in a flush: what happens to it, and its row before (update, delete)."""

    obj: Any
    table: Table
    action: str
    key: dict[str, Any] = field(default_factory=dict)
    before: dict[str, Any] | None = None


def _audited_table(obj: Any) -> Table | None:
    table = inspect(obj).mapper.local_table
    return table if isinstance(table, Table) and table.name in AUDITED_TABLES else None


def _identity_key(obj: Any, table: Table) -> dict[str, Any]:
    state = inspect(obj)
    identity = state.identity or state.mapper.primary_key_from_instance(obj)
    return {column.name: value for column, value in zip(state.mapper.primary_key, identity, strict=True)}


def _before_flush(session: Session, flush_context: UOWTransaction, instances: object) -> None:
    changes: list[_Change] = []
    session.info[_PENDING] = changes
    for obj in session.new:
        table = _audited_table(obj)
        if table is not None:
            changes.append(_Change(obj, table, "insert"))
    for obj in session.dirty:
        table = _audited_table(obj)
        if table is not None and session.is_modified(obj, include_collections=False):
            changes.append(_Change(obj, table, "update", _identity_key(obj, table)))
    for obj in session.deleted:
        table = _audited_table(obj)
        if table is not None:
            changes.append(_Change(obj, table, "delete", _identity_key(obj, table)))
    known = [change for change in changes if change.action != "insert"]
    if known:
        connection = session.connection()
        for table, group in _by_table(known).items():
            rows = read_rows(connection, table, (change.key for change in group))
            for change in group:
                change.before = rows.get(record_key(change.key))


def _after_flush(session: Session, flush_context: UOWTransaction) -> None:
    changes: list[_Change] = session.info.pop(_PENDING, [])
    if not changes:
        return
    for change in changes:
        if change.action == "insert":
            change.key = _identity_key(change.obj, change.table)
    connection = session.connection()
    trail = TrailWriter(connection)
    for table, group in sorted(_by_table(changes).items(), key=lambda item: _TABLE_ORDER.get(item[0].name, 0)):
        rows = read_rows(connection, table, (change.key for change in group))
        for change in group:  # in the order the use case made them
            after = rows.get(record_key(change.key))
            _append_change(trail, table, change.key, change.before, after)
    trail.write()


def _by_table(changes: Iterable[_Change]) -> dict[Table, list[_Change]]:
    grouped: dict[Table, list[_Change]] = {}
    for change in changes:
        grouped.setdefault(change.table, []).append(change)
    return grouped


def _append_change(
    trail: TrailWriter,
    table: Table,
    key: Mapping[str, Any],
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """One entry for a record that went from ``before`` to ``after`` (either ``None``: not there)."""
    if before == after:
        return
    action = "insert" if before is None else "delete" if after is None else "update"
    row = after if after is not None else before
    assert row is not None
    trail.append(action, table.name, key, patient_id=trail.patients.of_row(table.name, row), before=before, after=after)


# --- statements: stamps, bulk UPDATE and DELETE ---------------------------------------------------


def _on_execute(state: ORMExecuteState) -> Result[Any] | None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return None
    mapper = state.bind_mapper
    table = mapper.local_table if mapper is not None else None
    if not isinstance(table, Table):
        return None
    if table.name == STAMP_TABLE:
        return _insert_stamps(state, table) if state.is_insert else _change_stamps(state, table)
    if table.name not in AUDITED_TABLES:
        return None
    if state.is_insert:
        raise AuditError(f"a bulk INSERT into {table.name} would bypass the audit trail; use session.add()")
    return _bulk_change(state, table)


def _bulk_change(state: ORMExecuteState, table: Table) -> Result[Any]:
    connection = state.session.connection()
    before = _rows_where(connection, table, getattr(state.statement, "whereclause", None))
    result = state.invoke_statement()
    if not before:
        return result
    keys = [_key_of(table, row) for row in before]
    after = read_rows(connection, table, keys) if state.is_update else {}
    trail = TrailWriter(connection)
    for key, row in zip(keys, before, strict=True):
        _append_change(trail, table, key, row, after.get(record_key(key)))
    trail.write()
    return result


def _NO_ROWS() -> Result[Any]:
    """What a stamp INSERT returns to its caller: no rows (stamps are inserted without RETURNING)."""
    return IteratorResult(SimpleResultMetaData([]), iter(()))


def stamp_group_key(session_id: Any, device_id: Any) -> dict[str, Any]:
    """The record a stamp counts in: its treatment session, or its device for a stamp outside one."""
    return {"session_id": session_id} if session_id is not None else {"device_id": device_id, "session_id": None}


def _insert_stamps(state: ORMExecuteState, table: Table) -> Result[Any]:
    parameters = state.parameters
    rows: Sequence[Mapping[str, Any]] = [parameters] if isinstance(parameters, Mapping) else list(parameters or [])
    if not rows:
        raise AuditError("insert stamps as a list of parameter rows (session.execute(insert(StampEvent), rows))")
    connection = state.session.connection()
    values_of = itemgetter(*STAMP_COLUMNS)
    session_at = STAMP_COLUMNS.index("session_id")
    device_at = STAMP_COLUMNS.index("device_id")
    groups: dict[tuple[Any, Any], list[tuple[Any, ...]]] = {}
    for row in rows:
        try:
            values = values_of(row)
        except KeyError:  # a column left to its default: NULL here
            values = tuple(row.get(name) for name in STAMP_COLUMNS)
        session_id = values[session_at]
        groups.setdefault((session_id, None if session_id is not None else values[device_at]), []).append(values)
    # Straight to the table (COPY on PostgreSQL): the ORM's bulk path adds nothing a stamp row
    # needs (no defaults, no relationships) and cost most of a commit's time.
    insert_rows(connection, table, rows)
    trail = TrailWriter(connection)
    for (session_id, device_id), lines in groups.items():
        count, digest = len(lines), stamp_digest(lines)
        key = stamp_group_key(session_id, device_id)
        before = trail.latest_after(STAMP_TABLE, record_key(key))
        start_count, start_digest = (int(before["count"]), int(before["digest"], 16)) if before else (0, 0)
        trail.append(
            "update" if before is not None else "insert",
            STAMP_TABLE,
            key,
            patient_id=trail.patients.of_id("treatment_sessions", session_id),
            before=before,
            after=stamp_totals(start_count + count, start_digest + digest),
        )
    trail.write()
    return _NO_ROWS()


def _change_stamps(state: ORMExecuteState, table: Table) -> Result[Any]:
    """An UPDATE or DELETE of stamps (no use case does one; a repair or a test might): each group it touched
    gets a new total, counted again from the stamps stored (slow, as such a change is rare)."""
    connection = state.session.connection()
    where = getattr(state.statement, "whereclause", None)
    picked = select(table.c.id, table.c.session_id, table.c.device_id)
    touched = connection.execute(picked.where(where) if where is not None else picked).all()
    result = state.invoke_statement()
    groups = {(row.session_id, row.device_id if row.session_id is None else None) for row in touched}
    if state.is_update and touched:
        ids = [row.id for row in touched]
        for start in range(0, len(ids), 500):
            moved = connection.execute(picked.where(table.c.id.in_(ids[start : start + 500])))
            groups |= {(row.session_id, row.device_id if row.session_id is None else None) for row in moved}
    trail = TrailWriter(connection)
    columns: list[Any] = [literal_column(name) for name in STAMP_COLUMNS]
    for session_id, device_id in sorted(groups, key=repr):
        key = stamp_group_key(session_id, device_id)
        if session_id is not None:
            where_group = table.c.session_id == session_id
        else:
            where_group = and_(table.c.session_id.is_(None), table.c.device_id == device_id)
        lines = [tuple(values) for values in connection.execute(select(*columns).select_from(table).where(where_group))]
        after = stamp_totals(len(lines), stamp_digest(lines)) if lines else None
        before = trail.latest_after(STAMP_TABLE, record_key(key))
        if before == after:
            continue
        trail.append(
            "insert" if before is None else "delete" if after is None else "update",
            STAMP_TABLE,
            key,
            patient_id=trail.patients.of_id("treatment_sessions", session_id),
            before=before,
            after=after,
        )
    trail.write()
    return result
