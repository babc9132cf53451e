"""One active course per patient, kept by the database: a partial unique index on
``courses(patient_id) WHERE status = 'active'``.

The app always refused a second active course with a check in Python; two chairs starting a
course for the same patient at the same moment could both pass that check. Should a database
hold such a pair already, the upgrade stops and names the patients (which course to stop is a
clinical decision, not a migration's), and nothing is changed. No table's rows change, so the
audit trail's records hash as before.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stampside.app.storage.errors import StorageError

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    codes: list[str] = []
    if not op.get_context().as_sql:  # rendered as SQL there is no database to look at
        doubled = op.get_bind().execute(
            sa.text(
                "SELECT p.code FROM courses c JOIN patients p ON p.id = c.patient_id WHERE c.status = 'active' "
                "GROUP BY p.code HAVING COUNT(*) > 1 ORDER BY p.code"
            )
        )
        codes = [row[0] for row in doubled]
    if codes:
        raise StorageError(
            f"patients with two active courses: {', '.join(codes)}; stop one of each in the app "
            "(stampside app, the patient's course), then upgrade again"
        )
    op.create_index(
        "uq_courses_patient_id_active",
        "courses",
        ["patient_id"],
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )


def downgrade() -> None:
    op.drop_index("uq_courses_patient_id_active", table_name="courses")
