"""The course around the sessions: screenings, course gates and schedule deviations, photos, outcomes.

Only new tables, so the migration is the same plain SQL on SQLite and PostgreSQL (no table
copies). Which screening let a course start is its own table (``course_screenings``) rather
than a new column on ``courses``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from stampside.app.storage.schema import UtcDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "screenings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("screened_on", sa.Date(), nullable=False),
        sa.Column("screened_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("sex", sa.String(length=16), nullable=False),
        sa.Column("smoker", sa.Boolean(), nullable=False),
        sa.Column("norwood_grade", sa.String(length=8), nullable=False),
        sa.Column("notes", sa.String(length=2000), nullable=False),
        sa.Column("protocol_name", sa.String(length=120), nullable=False),
        sa.Column("protocol_version", sa.String(length=40), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("findings", sa.String(length=2000), nullable=False),
        sa.Column("override_reason", sa.String(length=1000), nullable=True),
        sa.Column("override_by", sa.String(length=120), nullable=True),
        sa.Column("override_at", UtcDateTime(), nullable=True),
        sa.Column("override_failure", sa.String(length=2000), nullable=True),
        sa.CheckConstraint("result IN ('eligible', 'not_eligible')", name=op.f("ck_screenings_result")),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_screenings_patient_id_patients")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screenings")),
    )
    op.create_index(op.f("ix_screenings_patient_id"), "screenings", ["patient_id"], unique=False)
    op.create_table(
        "course_screenings",
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("screening_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], name=op.f("fk_course_screenings_course_id_courses")),
        sa.ForeignKeyConstraint(
            ["screening_id"], ["screenings.id"], name=op.f("fk_course_screenings_screening_id_screenings")
        ),
        sa.PrimaryKeyConstraint("course_id", name=op.f("pk_course_screenings")),
    )
    op.create_index(op.f("ix_course_screenings_screening_id"), "course_screenings", ["screening_id"], unique=False)
    op.create_table(
        "outcome_assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("time_point", sa.String(length=40), nullable=False),
        sa.Column("iga_density", sa.SmallInteger(), nullable=False),
        sa.Column("iga_coverage", sa.SmallInteger(), nullable=False),
        sa.Column("rater", sa.String(length=120), nullable=False),
        sa.Column("assessed_at", UtcDateTime(), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=False),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], name=op.f("fk_outcome_assessments_course_id_courses")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcome_assessments")),
    )
    op.create_index(op.f("ix_outcome_assessments_course_id"), "outcome_assessments", ["course_id"], unique=False)
    op.create_table(
        "photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=True),
        sa.Column("time_point", sa.String(length=40), nullable=False),
        sa.Column("view", sa.String(length=40), nullable=False),
        sa.Column("stored_path", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("original_name", sa.String(length=255), nullable=False),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("taken_at", UtcDateTime(), nullable=True),
        sa.Column("registered_at", UtcDateTime(), nullable=False),
        sa.Column("registered_by", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], name=op.f("fk_photos_course_id_courses")),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_photos_patient_id_patients")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photos")),
    )
    op.create_index("ix_photos_course_id_time_point_view", "photos", ["course_id", "time_point", "view"], unique=False)
    op.create_index(op.f("ix_photos_patient_id"), "photos", ["patient_id"], unique=False)
    op.create_table(
        "screening_contraindications",
        sa.Column("screening_id", sa.Integer(), nullable=False),
        sa.Column("contraindication", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["screening_id"], ["screenings.id"], name=op.f("fk_screening_contraindications_screening_id_screenings")
        ),
        sa.PrimaryKeyConstraint("screening_id", "contraindication", name=op.f("pk_screening_contraindications")),
    )
    op.create_table(
        "screening_lab_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("screening_id", sa.Integer(), nullable=False),
        sa.Column("test", sa.String(length=40), nullable=False),
        sa.Column("taken_on", sa.Date(), nullable=False),
        sa.Column("flag", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=60), nullable=True),
        sa.CheckConstraint("flag IN ('normal', 'abnormal')", name=op.f("ck_screening_lab_results_flag")),
        sa.ForeignKeyConstraint(
            ["screening_id"], ["screenings.id"], name=op.f("fk_screening_lab_results_screening_id_screenings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_screening_lab_results")),
        sa.UniqueConstraint("screening_id", "test", name=op.f("uq_screening_lab_results_screening_id_test")),
    )
    op.create_table(
        "self_assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("time_point", sa.String(length=40), nullable=False),
        sa.Column("answered_at", UtcDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], name=op.f("fk_self_assessments_course_id_courses")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_self_assessments")),
    )
    op.create_index(op.f("ix_self_assessments_course_id"), "self_assessments", ["course_id"], unique=False)
    op.create_table(
        "adverse_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("what", sa.String(length=200), nullable=False),
        sa.Column("onset_on", sa.Date(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("resolved_on", sa.Date(), nullable=True),
        sa.Column("notes", sa.String(length=2000), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("severity IN ('mild', 'moderate', 'severe')", name=op.f("ck_adverse_events_severity")),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], name=op.f("fk_adverse_events_course_id_courses")),
        sa.ForeignKeyConstraint(
            ["session_id"], ["treatment_sessions.id"], name=op.f("fk_adverse_events_session_id_treatment_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_adverse_events")),
    )
    op.create_index(op.f("ix_adverse_events_course_id"), "adverse_events", ["course_id"], unique=False)
    op.create_table(
        "blinded_ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_seed", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("view", sa.String(length=40), nullable=False),
        sa.Column("left_photo_id", sa.Integer(), nullable=False),
        sa.Column("right_photo_id", sa.Integer(), nullable=False),
        sa.Column("after_side", sa.String(length=8), nullable=False),
        sa.Column("call", sa.String(length=8), nullable=False),
        sa.Column("rater", sa.String(length=120), nullable=False),
        sa.Column("rated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("after_side IN ('left', 'right')", name=op.f("ck_blinded_ratings_after_side")),
        sa.CheckConstraint("call IN ('left', 'right', 'same')", name=op.f("ck_blinded_ratings_call")),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], name=op.f("fk_blinded_ratings_course_id_courses")),
        sa.ForeignKeyConstraint(["left_photo_id"], ["photos.id"], name=op.f("fk_blinded_ratings_left_photo_id_photos")),
        sa.ForeignKeyConstraint(
            ["right_photo_id"], ["photos.id"], name=op.f("fk_blinded_ratings_right_photo_id_photos")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blinded_ratings")),
    )
    op.create_index(op.f("ix_blinded_ratings_course_id"), "blinded_ratings", ["course_id"], unique=False)
    op.create_table(
        "course_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("course_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("gate", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("made_by", sa.String(length=120), nullable=False),
        sa.Column("made_at", UtcDateTime(), nullable=False),
        sa.Column("failure", sa.String(length=2000), nullable=False),
        sa.ForeignKeyConstraint(["course_id"], ["courses.id"], name=op.f("fk_course_overrides_course_id_courses")),
        sa.ForeignKeyConstraint(
            ["session_id"], ["treatment_sessions.id"], name=op.f("fk_course_overrides_session_id_treatment_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_course_overrides")),
    )
    op.create_index(op.f("ix_course_overrides_course_id"), "course_overrides", ["course_id"], unique=False)
    op.create_table(
        "schedule_deviations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("timing", sa.String(length=8), nullable=False),
        sa.Column("days_since_previous", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("earliest_days", sa.Integer(), nullable=False),
        sa.Column("latest_days", sa.Integer(), nullable=False),
        sa.Column("confirmed_by", sa.String(length=120), nullable=False),
        sa.Column("confirmed_at", UtcDateTime(), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=False),
        sa.CheckConstraint("timing IN ('early', 'late')", name=op.f("ck_schedule_deviations_timing")),
        sa.ForeignKeyConstraint(
            ["session_id"], ["treatment_sessions.id"], name=op.f("fk_schedule_deviations_session_id_treatment_sessions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_deviations")),
        sa.UniqueConstraint("session_id", name=op.f("uq_schedule_deviations_session_id")),
    )
    op.create_table(
        "self_assessment_answers",
        sa.Column("self_assessment_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=2000), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["self_assessment_id"],
            ["self_assessments.id"],
            name=op.f("fk_self_assessment_answers_self_assessment_id_self_assessments"),
        ),
        sa.PrimaryKeyConstraint("self_assessment_id", "question_id", name=op.f("pk_self_assessment_answers")),
    )


def downgrade() -> None:
    op.drop_table("self_assessment_answers")
    op.drop_table("schedule_deviations")
    op.drop_index(op.f("ix_course_overrides_course_id"), table_name="course_overrides")
    op.drop_table("course_overrides")
    op.drop_index(op.f("ix_blinded_ratings_course_id"), table_name="blinded_ratings")
    op.drop_table("blinded_ratings")
    op.drop_index(op.f("ix_adverse_events_course_id"), table_name="adverse_events")
    op.drop_table("adverse_events")
    op.drop_index(op.f("ix_self_assessments_course_id"), table_name="self_assessments")
    op.drop_table("self_assessments")
    op.drop_table("screening_lab_results")
    op.drop_table("screening_contraindications")
    op.drop_index(op.f("ix_photos_patient_id"), table_name="photos")
    op.drop_index("ix_photos_course_id_time_point_view", table_name="photos")
    op.drop_table("photos")
    op.drop_index(op.f("ix_outcome_assessments_course_id"), table_name="outcome_assessments")
    op.drop_table("outcome_assessments")
    op.drop_index(op.f("ix_course_screenings_screening_id"), table_name="course_screenings")
    op.drop_table("course_screenings")
    op.drop_index(op.f("ix_screenings_patient_id"), table_name="screenings")
    op.drop_table("screenings")
