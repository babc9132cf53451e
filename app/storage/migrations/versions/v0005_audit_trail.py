"""The audit trail: ``audit_entries``, with the records already stored as its baseline.

Every row of the audited tables becomes a ``baseline`` entry holding the row as it is, and
the stamps one baseline entry per treatment session (per device for stamps outside a
session) with their count and digest, so ``stampside audit verify`` has something to compare
each record with from the start. The entries are chained by SHA-256 like every later one.

The tables, their keys and how their rows lead to a patient are written out here as they are
at this revision (later revisions of the app may audit more); the hashes come from
``stampside.app.storage.audit_hash``, which is a stored format and never changes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

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

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

ACTOR = "migration:0005"
#: The audited tables at this revision, parents first: primary key columns, and (column, table)
#: leading to the patient (None: no patient; patients are their own).
TABLES: tuple[tuple[str, tuple[str, ...], tuple[str, str] | None], ...] = (
    ("practitioners", ("id",), None),
    ("patients", ("id",), None),
    ("screenings", ("id",), ("patient_id", "patients")),
    ("screening_lab_results", ("id",), ("screening_id", "screenings")),
    ("screening_contraindications", ("screening_id", "contraindication"), ("screening_id", "screenings")),
    ("courses", ("id",), ("patient_id", "patients")),
    ("course_screenings", ("course_id",), ("course_id", "courses")),
    ("treatment_sessions", ("id",), ("course_id", "courses")),
    ("course_overrides", ("id",), ("course_id", "courses")),
    ("session_zones", ("session_id", "zone"), ("session_id", "treatment_sessions")),
    ("schedule_deviations", ("id",), ("session_id", "treatment_sessions")),
    ("step_records", ("id",), ("session_id", "treatment_sessions")),
    ("step_checks", ("id",), ("step_record_id", "step_records")),
    ("step_overrides", ("id",), ("step_record_id", "step_records")),
    ("photos", ("id",), ("patient_id", "patients")),
    ("outcome_assessments", ("id",), ("course_id", "courses")),
    ("self_assessments", ("id",), ("course_id", "courses")),
    ("self_assessment_answers", ("self_assessment_id", "question_id"), ("self_assessment_id", "self_assessments")),
    ("adverse_events", ("id",), ("course_id", "courses")),
    ("blinded_ratings", ("id",), ("course_id", "courses")),
    ("link_events", ("id",), ("session_id", "treatment_sessions")),
)


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False),
        sa.Column("at", sa.String(length=32), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("table_name", sa.String(length=64), nullable=False),
        sa.Column("record_key", sa.String(length=200), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("before_values", sa.Text(), nullable=True),
        sa.Column("after_values", sa.Text(), nullable=True),
        sa.Column("before_hash", sa.String(length=64), nullable=True),
        sa.Column("after_hash", sa.String(length=64), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint(
            "action IN ('baseline', 'insert', 'update', 'delete')", name=op.f("ck_audit_entries_action")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entries")),
    )
    op.create_index(op.f("ix_audit_entries_patient_id"), "audit_entries", ["patient_id"], unique=False)
    op.create_index(
        "ix_audit_entries_table_name_record_key_seq", "audit_entries", ["table_name", "record_key", "seq"], unique=False
    )
    if not op.get_context().as_sql:
        _baseline(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_audit_entries_table_name_record_key_seq", table_name="audit_entries")
    op.drop_index(op.f("ix_audit_entries_patient_id"), table_name="audit_entries")
    op.drop_table("audit_entries")


def _rows(connection: sa.Connection, table: str, order: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every row of ``table`` as stored (``SELECT *``: values as the database gives them back)."""
    quote = connection.dialect.identifier_preparer.quote
    result = connection.exec_driver_sql(
        f"SELECT * FROM {quote(table)} ORDER BY {', '.join(quote(name) for name in order)}"
    )
    names = list(result.keys())
    return [dict(zip(names, values, strict=True)) for values in result]


def _baseline(connection: sa.Connection) -> None:
    at = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    tables = {name: _rows(connection, name, key) for name, key, _ in TABLES}
    links = {name: link for name, _, link in TABLES}
    by_id = {name: {row.get("id"): row for row in rows} for name, rows in tables.items()}

    def patient_of(table: str, ident: Any) -> int | None:
        for _ in range(8):  # the longest path is step_checks → step_records → sessions → courses → patients
            if ident is None:
                return None
            if table == "patients":
                return ident if isinstance(ident, int) else None
            link = links.get(table)
            row = by_id.get(table, {}).get(ident)
            if link is None or row is None:
                return None
            table, ident = link[1], row.get(link[0])
        return None

    entries: list[dict[str, Any]] = []
    tip = GENESIS_HASH

    def append(table: str, key: dict[str, Any], patient_id: int | None, content: dict[str, Any]) -> None:
        nonlocal tip
        fields: dict[str, Any] = {
            "seq": len(entries) + 1,
            "at": at,
            "actor": ACTOR,
            "action": "baseline",
            "table_name": table,
            "record_key": record_key(key),
            "patient_id": patient_id,
            "before_values": None,
            "after_values": canonical_json(content),
            "before_hash": None,
            "after_hash": content_hash(content),
            "prev_hash": tip,
        }
        fields["entry_hash"] = tip = entry_hash(fields)
        entries.append(fields)

    for name, key_columns, link in TABLES:
        for row in tables[name]:
            key = {column: row.get(column) for column in key_columns}
            if name == "patients":
                patient = patient_of("patients", row.get("id"))
            else:
                patient = patient_of(link[1], row.get(link[0])) if link is not None else None
            append(name, key, patient, row)

    quote = connection.dialect.identifier_preparer.quote
    columns = ", ".join(quote(name) for name in STAMP_COLUMNS)
    groups: dict[tuple[Any, Any], list[tuple[Any, ...]]] = {}
    for values in connection.exec_driver_sql(f"SELECT {columns} FROM stamp_events ORDER BY id"):
        line = tuple(values)
        session_id, device_id = line[STAMP_COLUMNS.index("session_id")], line[STAMP_COLUMNS.index("device_id")]
        groups.setdefault((session_id, None if session_id is not None else device_id), []).append(line)
    for (session_id, device_id), lines in groups.items():
        key = {"session_id": session_id} if session_id is not None else {"device_id": device_id, "session_id": None}
        totals = stamp_totals(len(lines), stamp_digest(lines))
        append("stamp_events", key, patient_of("treatment_sessions", session_id), totals)

    if entries:
        audit = sa.table(
            "audit_entries",
            *(sa.column(name) for name in entries[0]),
        )
        for start in range(0, len(entries), 1000):
            connection.execute(sa.insert(audit), entries[start : start + 1000])
