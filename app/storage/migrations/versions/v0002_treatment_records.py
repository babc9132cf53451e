"""Practitioners, patients, courses, treatment sessions, step records, heads; stamps and link events join sessions.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stampside.app.storage.schema import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "practitioners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_practitioners")),
        sa.UniqueConstraint("name", name=op.f("uq_practitioners_name")),
    )
    op.create_table(
        "patients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("birth_year", sa.SmallInteger(), nullable=True),
        sa.Column("norwood_grade", sa.String(length=8), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patients")),
        sa.UniqueConstraint("code", name=op.f("uq_patients_code")),
    )
    op.create_table(
        "courses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("planned_sessions", sa.Integer(), nullable=False),
        sa.Column("interval_days", sa.Integer(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.CheckConstraint("status IN ('active', 'completed', 'stopped')", name=op.f("ck_courses_status")),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_courses_patient_id_patients")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_courses")),
    )
    op.create_index(op.f("ix_courses_patient_id"), "courses", ["patient_id"], unique=False)
    op.create_table(
        "device_heads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("head_id", sa.BigInteger(), nullable=False),
        sa.Column("first_seen", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_device_heads_device_id_devices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_heads")),
        sa.UniqueConstraint("device_id", "head_id", name=op.f("uq_device_heads_device_id_head_id")),
    )
    op.create_table(
        "treatment_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("protocol_name", sa.String(length=120), nullable=False),
        sa.Column("protocol_version", sa.String(length=40), nullable=False),
        sa.Column("practitioner_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("device_head_id", sa.Integer(), nullable=True),
        sa.Column("footprint_mm2", sa.Integer(), nullable=True),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.CheckConstraint("status IN ('open', 'finished', 'abandoned')", name=op.f("ck_treatment_sessions_status")),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], name=op.f("fk_treatment_sessions_course_id_courses")),
        sa.ForeignKeyConstraint(
            ["practitioner_id"], ["practitioners.id"], name=op.f("fk_treatment_sessions_practitioner_id_practitioners")
        ),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_treatment_sessions_device_id_devices")),
        sa.ForeignKeyConstraint(
            ["device_head_id"], ["device_heads.id"], name=op.f("fk_treatment_sessions_device_head_id_device_heads")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_treatment_sessions")),
    )
    op.create_index(op.f("ix_treatment_sessions_course_id"), "treatment_sessions", ["course_id"], unique=False)
    op.create_index(
        op.f("ix_treatment_sessions_device_head_id"), "treatment_sessions", ["device_head_id"], unique=False
    )
    op.create_index(op.f("ix_treatment_sessions_status"), "treatment_sessions", ["status"], unique=False)
    op.create_table(
        "session_zones",
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("zone", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("area_cm2", sa.Float(), nullable=False),
        sa.Column("target_density", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"], ["treatment_sessions.id"], name=op.f("fk_session_zones_session_id_treatment_sessions")
        ),
        sa.PrimaryKeyConstraint("session_id", "zone", name=op.f("pk_session_zones")),
    )
    op.create_table(
        "step_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("started_by", sa.String(length=120), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
        sa.Column("confirmed_by", sa.String(length=120), nullable=True),
        sa.Column("volume_ml", sa.Float(), nullable=True),
        sa.Column("lot", sa.String(length=64), nullable=True),
        sa.Column("lot_expiry", sa.Date(), nullable=True),
        sa.Column("timer_seconds", sa.Integer(), nullable=True),
        sa.Column("timer_started_at", UtcDateTime(), nullable=True),
        sa.Column("timer_ran_seconds", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"], ["treatment_sessions.id"], name=op.f("fk_step_records_session_id_treatment_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_records")),
        sa.UniqueConstraint("session_id", "position", name=op.f("uq_step_records_session_id_position")),
    )
    op.create_table(
        "step_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("step_record_id", sa.Integer(), nullable=False),
        sa.Column("gate", sa.String(length=32), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["step_record_id"], ["step_records.id"], name=op.f("fk_step_checks_step_record_id_step_records")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_checks")),
        sa.UniqueConstraint("step_record_id", "gate", name=op.f("uq_step_checks_step_record_id_gate")),
    )
    op.create_table(
        "step_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("step_record_id", sa.Integer(), nullable=False),
        sa.Column("gate", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("made_by", sa.String(length=120), nullable=False),
        sa.Column("made_at", UtcDateTime(), nullable=False),
        sa.Column("failure", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(
            ["step_record_id"], ["step_records.id"], name=op.f("fk_step_overrides_step_record_id_step_records")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_overrides")),
    )
    op.create_index(op.f("ix_step_overrides_step_record_id"), "step_overrides", ["step_record_id"], unique=False)

    with op.batch_alter_table("stamp_events") as batch:
        batch.add_column(sa.Column("session_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("credited_zone", sa.SmallInteger(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_stamp_events_session_id_treatment_sessions"), "treatment_sessions", ["session_id"], ["id"]
        )
        batch.create_index(batch.f("ix_stamp_events_session_id"), ["session_id"], unique=False)
    with op.batch_alter_table("link_events") as batch:
        batch.add_column(sa.Column("session_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_link_events_session_id_treatment_sessions"), "treatment_sessions", ["session_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("link_events") as batch:
        batch.drop_constraint(batch.f("fk_link_events_session_id_treatment_sessions"), type_="foreignkey")
        batch.drop_column("session_id")
    with op.batch_alter_table("stamp_events") as batch:
        batch.drop_index(batch.f("ix_stamp_events_session_id"))
        batch.drop_constraint(batch.f("fk_stamp_events_session_id_treatment_sessions"), type_="foreignkey")
        batch.drop_column("credited_zone")
        batch.drop_column("session_id")
    op.drop_index(op.f("ix_step_overrides_step_record_id"), table_name="step_overrides")
    op.drop_table("step_overrides")
    op.drop_table("step_checks")
    op.drop_table("step_records")
    op.drop_table("session_zones")
    op.drop_index(op.f("ix_treatment_sessions_status"), table_name="treatment_sessions")
    op.drop_index(op.f("ix_treatment_sessions_device_head_id"), table_name="treatment_sessions")
    op.drop_index(op.f("ix_treatment_sessions_course_id"), table_name="treatment_sessions")
    op.drop_table("treatment_sessions")
    op.drop_table("device_heads")
    op.drop_index(op.f("ix_courses_patient_id"), table_name="courses")
    op.drop_table("courses")
    op.drop_table("patients")
    op.drop_table("practitioners")
