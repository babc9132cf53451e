"""The database schema: devices and heads, stamps, link events, the treatment records and the course around them.

Devices and their stamp events and link events come from the link; practitioners, patients,
courses, treatment sessions, their step records (with device checks and overrides) and
the treated zones come from the chairside app. A stamp belongs to at most one session
(``stamp_events.session_id``, NULL for stamps recorded outside one).

Alembic migrations in ``migrations/versions`` create and change these tables; every change
here needs a new migration. The metadata carries a naming convention so constraint names
are the same on every database, which migrations rely on.

The audit trail (``audit_entries``, v0005) records every change of the clinical records;
:mod:`stampside.app.storage.audit` writes it, :mod:`stampside.app.storage.audit_verify` checks it.

Integers that are u32 on the wire (``seq``, ``device_time_ms``, ``head_id``) are
BigInteger, because INTEGER is signed 32-bit on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: A 64-bit primary key that is still SQLite's auto-incrementing rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite keeps no time zone; PostgreSQL uses ``timestamptz``. Both give back UTC here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware UTC time")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Device(Base):
    """One numbering of a derma stamp: its serial and life, the identity it last reported, its delivery cursor.

    A device numbers its stamps (boot, seq) within an epoch (docs/protocol.md 3.5). When it
    restarts its numbering (a wiped boot counter, a re-flash, a board replaced under the
    same serial) its stamps may reuse (boot, seq) pairs already stored, so the host opens
    a new row for the same serial with ``life`` + 1: the new stamps hang off it and never
    collide with the earlier ones. The current numbering of a serial is its highest life.
    """

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("serial", "life"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(12))
    #: 1 for the first numbering the host saw of this serial, then 2, 3 …
    life: Mapped[int] = mapped_column(default=1)
    #: The numbering's epoch (u32) as the device said (protocol v2); NULL when not known.
    epoch: Mapped[int | None] = mapped_column(BigInteger)
    #: Why this numbering began (for life > 1): how the host could tell the device restarted.
    started_because: Mapped[str | None] = mapped_column(String(300))
    hw_revision: Mapped[int]
    firmware: Mapped[str] = mapped_column(String(16))
    min_version: Mapped[int] = mapped_column(SmallInteger)
    max_version: Mapped[int] = mapped_column(SmallInteger)
    needle_um: Mapped[int]
    head_id: Mapped[int] = mapped_column(BigInteger)
    head_uses: Mapped[int]
    footprint_mm2: Mapped[int]
    battery_pct: Mapped[int] = mapped_column(SmallInteger)
    last_boot: Mapped[int]
    last_seq: Mapped[int] = mapped_column(BigInteger)
    #: Delivery cursor: every event of this device with seq <= cursor_seq is stored
    #: (or was acknowledged to another host). Written in the same transaction as the stamps.
    cursor_boot: Mapped[int] = mapped_column(default=0)
    cursor_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime())
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime())


class StampEvent(Base):
    """One stamp a device counted, stored exactly once per (device, boot, seq)."""

    __tablename__ = "stamp_events"
    __table_args__ = (UniqueConstraint("device_id", "boot", "seq"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    boot: Mapped[int]
    seq: Mapped[int] = mapped_column(BigInteger)
    device_time_ms: Mapped[int] = mapped_column(BigInteger)
    #: Peak force in tenths of a newton, exactly as the device sent it (export: force_dn / 10 N).
    force_dn: Mapped[int] = mapped_column(SmallInteger)
    contact_ms: Mapped[int]
    #: 0 = unknown, 1–5 scalp zones (docs/protocol.md 4.3).
    zone: Mapped[int] = mapped_column(SmallInteger)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: Arrived as a replay (answer to RESUME) rather than live.
    replay: Mapped[bool]
    #: The treatment session the stamp was made in; NULL when recorded outside one.
    session_id: Mapped[int | None] = mapped_column(ForeignKey("treatment_sessions.id"), index=True)
    #: The zone the session credited (1–5); NULL when none was credited. ``zone`` stays the device's.
    credited_zone: Mapped[int | None] = mapped_column(SmallInteger)


class LinkEvent(Base):
    """Something that happened to a link: connects, drops, reboots, resyncs."""

    __tablename__ = "link_events"
    __table_args__ = (Index("ix_link_events_device_id_at", "device_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(500), default="")
    #: The treatment session that was open when it happened, if any.
    session_id: Mapped[int | None] = mapped_column(ForeignKey("treatment_sessions.id"))


class DeviceHead(Base):
    """A stamp head seen on a device. Its use history is the sessions that name it."""

    __tablename__ = "device_heads"
    __table_args__ = (UniqueConstraint("device_id", "head_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"))
    head_id: Mapped[int] = mapped_column(BigInteger)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime())


class Practitioner(Base):
    """Someone who treats: chosen at the start, named on every step they start or confirm."""

    __tablename__ = "practitioners"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Patient(Base):
    """A patient by pseudonymous code. Screenings and photos hang off ``patients.id``, outcomes off the course."""

    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    birth_year: Mapped[int | None] = mapped_column(SmallInteger)
    #: "3", "3V" or "4" (:class:`stampside.app.domain.zones.NorwoodGrade` values).
    norwood_grade: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Course(Base):
    """A planned series of treatment sessions for one patient."""

    __tablename__ = "courses"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'completed', 'stopped')", name="status"),
        # One active course per patient, kept by the database (v0009): two chairs starting a course
        # for one patient at once get one course; the second INSERT is refused.
        Index(
            "uq_courses_patient_id_active",
            "patient_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    planned_sessions: Mapped[int] = mapped_column(default=6)
    interval_days: Mapped[int] = mapped_column(default=7)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(16), default="active")


class TreatmentSession(Base):
    """Session ``number`` of its course, walked through one protocol version by one practitioner."""

    __tablename__ = "treatment_sessions"
    __table_args__ = (CheckConstraint("status IN ('open', 'finished', 'abandoned')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    number: Mapped[int]
    protocol_name: Mapped[str] = mapped_column(String(120))
    protocol_version: Mapped[str] = mapped_column(String(40))
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioners.id"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"))
    device_head_id: Mapped[int | None] = mapped_column(ForeignKey("device_heads.id"), index=True)
    #: The head footprint the device reported, for the coverage model on resume.
    footprint_mm2: Mapped[int | None]
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    #: The zone being stamped (1–5) when last changed, so a resumed session goes on in it.
    active_zone: Mapped[int | None] = mapped_column(SmallInteger)


class SessionZone(Base):
    """A zone treated in a session, with the area and target density used for its coverage."""

    __tablename__ = "session_zones"

    session_id: Mapped[int] = mapped_column(ForeignKey("treatment_sessions.id"), primary_key=True)
    #: The wire zone id, 1–5 (:class:`stampside.app.domain.zones.Zone`).
    zone: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    area_cm2: Mapped[float] = mapped_column(Float)
    #: Stamps per cm², or NULL when the protocol sets none for the zone.
    target_density: Mapped[float | None] = mapped_column(Float)


class StepRecordRow(Base):
    """One protocol step of a session (:class:`stampside.app.domain.steps.StepRecord`)."""

    __tablename__ = "step_records"
    __table_args__ = (UniqueConstraint("session_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("treatment_sessions.id"))
    step_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    position: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    started_by: Mapped[str] = mapped_column(String(120))
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    confirmed_by: Mapped[str | None] = mapped_column(String(120))
    volume_ml: Mapped[float | None] = mapped_column(Float)
    lot: Mapped[str | None] = mapped_column(String(64))
    lot_expiry: Mapped[date | None] = mapped_column(Date)
    timer_seconds: Mapped[int | None]
    timer_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    timer_ran_seconds: Mapped[float | None] = mapped_column(Float)


class StepCheck(Base):
    """What one device check said when a step ran it (:class:`stampside.app.domain.steps.CheckOutcome`)."""

    __tablename__ = "step_checks"
    __table_args__ = (UniqueConstraint("step_record_id", "gate"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    step_record_id: Mapped[int] = mapped_column(ForeignKey("step_records.id"))
    gate: Mapped[str] = mapped_column(String(32))
    passed: Mapped[bool]
    message: Mapped[str] = mapped_column(String(500))


class StepOverride(Base):
    """A failed gate let through: who, when, why, and what the gate said
    (:class:`stampside.app.domain.gates.Override`)."""

    __tablename__ = "step_overrides"

    id: Mapped[int] = mapped_column(primary_key=True)
    step_record_id: Mapped[int] = mapped_column(ForeignKey("step_records.id"), index=True)
    gate: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(1000))
    made_by: Mapped[str] = mapped_column(String(120))
    made_at: Mapped[datetime] = mapped_column(UtcDateTime())
    failure: Mapped[str] = mapped_column(String(500), default="")


# --- the course around the sessions (v0003): screening, schedule, photos, outcomes ---------------


class ScreeningRow(Base):
    """A screening form (:class:`stampside.app.domain.eligibility.Screening`) and its verdict when it was saved.

    ``result`` is the verdict under the protocol named here on the screening day; the override
    columns are set when a practitioner let a failed screening through with a typed reason.
    """

    __tablename__ = "screenings"
    __table_args__ = (CheckConstraint("result IN ('eligible', 'not_eligible')", name="result"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    screened_on: Mapped[date] = mapped_column(Date)
    screened_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sex: Mapped[str] = mapped_column(String(16))
    smoker: Mapped[bool] = mapped_column(Boolean)
    #: A Norwood–Hamilton grade as stored by :func:`stampside.app.domain.eligibility.parse_screening_grade`.
    norwood_grade: Mapped[str] = mapped_column(String(8))
    notes: Mapped[str] = mapped_column(String(2000), default="")
    protocol_name: Mapped[str] = mapped_column(String(120))
    protocol_version: Mapped[str] = mapped_column(String(40))
    result: Mapped[str] = mapped_column(String(16))
    #: The verdict's message ("not eligible: smoker; ...").
    findings: Mapped[str] = mapped_column(String(2000), default="")
    override_reason: Mapped[str | None] = mapped_column(String(1000))
    override_by: Mapped[str | None] = mapped_column(String(120))
    override_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    override_failure: Mapped[str | None] = mapped_column(String(2000))


class ScreeningLabResult(Base):
    """One lab result of a screening: test id, day taken, normal or abnormal, the value as written."""

    __tablename__ = "screening_lab_results"
    __table_args__ = (
        UniqueConstraint("screening_id", "test"),
        CheckConstraint("flag IN ('normal', 'abnormal')", name="flag"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    screening_id: Mapped[int] = mapped_column(ForeignKey("screenings.id"))
    test: Mapped[str] = mapped_column(String(40))
    taken_on: Mapped[date] = mapped_column(Date)
    flag: Mapped[str] = mapped_column(String(16))
    value: Mapped[str | None] = mapped_column(String(60))


class ScreeningContraindication(Base):
    """A contraindication (protocol id) found at a screening."""

    __tablename__ = "screening_contraindications"

    screening_id: Mapped[int] = mapped_column(ForeignKey("screenings.id"), primary_key=True)
    contraindication: Mapped[str] = mapped_column(String(40), primary_key=True)


class CourseScreening(Base):
    """Which screening let a course start (one row per course started through the screening gate)."""

    __tablename__ = "course_screenings"

    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), primary_key=True)
    screening_id: Mapped[int] = mapped_column(ForeignKey("screenings.id"), index=True)


class CourseOverrideRow(Base):
    """A course gate let through (baseline photos before session 1): who, when, why, what it said."""

    __tablename__ = "course_overrides"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("treatment_sessions.id"))
    gate: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(1000))
    made_by: Mapped[str] = mapped_column(String(120))
    made_at: Mapped[datetime] = mapped_column(UtcDateTime())
    failure: Mapped[str] = mapped_column(String(2000), default="")


class ScheduleDeviation(Base):
    """A session started outside its window, as confirmed (:class:`stampside.app.domain.schedule.Deviation`)."""

    __tablename__ = "schedule_deviations"
    __table_args__ = (CheckConstraint("timing IN ('early', 'late')", name="timing"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("treatment_sessions.id"), unique=True)
    timing: Mapped[str] = mapped_column(String(8))
    days_since_previous: Mapped[int]
    due_on: Mapped[date] = mapped_column(Date)
    earliest_days: Mapped[int]
    latest_days: Mapped[int]
    confirmed_by: Mapped[str] = mapped_column(String(120))
    confirmed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    note: Mapped[str] = mapped_column(String(1000), default="")


class Photo(Base):
    """A registered photo: its stored copy (path relative to the photo folder) and that copy's SHA-256."""

    __tablename__ = "photos"
    __table_args__ = (Index("ix_photos_course_id_time_point_view", "course_id", "time_point", "view"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    course_id: Mapped[int | None] = mapped_column(ForeignKey("courses.id"))
    time_point: Mapped[str] = mapped_column(String(40))
    view: Mapped[str] = mapped_column(String(40))
    stored_path: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    original_name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int]
    height: Mapped[int]
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    taken_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    registered_by: Mapped[str | None] = mapped_column(String(120))


class OutcomeAssessment(Base):
    """The investigator's global assessment at a time point (:class:`stampside.app.domain.outcomes.IgaAssessment`)."""

    __tablename__ = "outcome_assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    time_point: Mapped[str] = mapped_column(String(40))
    iga_density: Mapped[int] = mapped_column(SmallInteger)
    iga_coverage: Mapped[int] = mapped_column(SmallInteger)
    rater: Mapped[str] = mapped_column(String(120))
    assessed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    note: Mapped[str] = mapped_column(String(2000), default="")


class SelfAssessmentRow(Base):
    """The patient's questionnaire at a time point; its answers are rows of ``self_assessment_answers``."""

    __tablename__ = "self_assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    time_point: Mapped[str] = mapped_column(String(40))
    answered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_by: Mapped[str] = mapped_column(String(120))


class SelfAssessmentAnswer(Base):
    """One answer: a choice id (with its score), ``yes``/``no``, or text."""

    __tablename__ = "self_assessment_answers"

    self_assessment_id: Mapped[int] = mapped_column(ForeignKey("self_assessments.id"), primary_key=True)
    question_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(2000))
    score: Mapped[int | None] = mapped_column(SmallInteger)


class AdverseEventRow(Base):
    """An adverse event of a course (:class:`stampside.app.domain.outcomes.AdverseEvent`)."""

    __tablename__ = "adverse_events"
    __table_args__ = (CheckConstraint("severity IN ('mild', 'moderate', 'severe')", name="severity"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("treatment_sessions.id"))
    what: Mapped[str] = mapped_column(String(200))
    onset_on: Mapped[date] = mapped_column(Date)
    severity: Mapped[str] = mapped_column(String(16))
    resolved_on: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(String(2000), default="")
    recorded_by: Mapped[str] = mapped_column(String(120))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class BlindedRating(Base):
    """A rater's call on one blinded pair: which of two unlabeled photos shows more hair."""

    __tablename__ = "blinded_ratings"
    __table_args__ = (
        CheckConstraint("after_side IN ('left', 'right')", name="after_side"),
        CheckConstraint("call IN ('left', 'right', 'same')", name="call"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The seed of the round (:func:`stampside.app.domain.outcomes.blinded_pairs`) and the pair's place in it.
    round_seed: Mapped[int] = mapped_column(BigInteger)
    position: Mapped[int]
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id"), index=True)
    view: Mapped[str] = mapped_column(String(40))
    left_photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id"))
    right_photo_id: Mapped[int] = mapped_column(ForeignKey("photos.id"))
    after_side: Mapped[str] = mapped_column(String(8))
    call: Mapped[str] = mapped_column(String(8))
    rater: Mapped[str] = mapped_column(String(120))
    rated_at: Mapped[datetime] = mapped_column(UtcDateTime())


# --- the audit trail (v0005) ----------------------------------------------------------------------


class AuditEntry(Base):
    """One change of a clinical record (or of a session's stamp total), chained to the entry before it.

    ``before_values``/``after_values`` are the record's whole row as canonical JSON before and
    after the change (``None`` before an insert and after a delete); ``before_hash``/``after_hash``
    their SHA-256 (:func:`stampside.app.storage.audit_hash.content_hash`). ``entry_hash`` covers every
    other column, ``prev_hash`` (the previous entry's ``entry_hash``) among them. ``seq`` is the
    chain's order, 1, 2, 3 … with no gaps. ``at`` is ISO 8601 text in UTC, so it hashes the same
    read back as written. ``patient_id`` has no foreign key: the trail outlives the records.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_table_name_record_key_seq", "table_name", "record_key", "seq"),
        CheckConstraint("action IN ('baseline', 'insert', 'update', 'delete')", name="action"),
    )

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))
    table_name: Mapped[str] = mapped_column(String(64))
    #: The record's primary key as canonical JSON (``{"id":3}``); for stamps the group (``{"session_id":3}``).
    record_key: Mapped[str] = mapped_column(String(200))
    patient_id: Mapped[int | None] = mapped_column(index=True)
    before_values: Mapped[str | None] = mapped_column(Text)
    after_values: Mapped[str | None] = mapped_column(Text)
    before_hash: Mapped[str | None] = mapped_column(String(64))
    after_hash: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


# --- practitioner sign-in and signatures (v0006) --------------------------------------------------


class PractitionerPin(Base):
    """A practitioner's PIN as an argon2 hash (never the PIN), and their wrong PINs in a row.

    No row: the practitioner has no PIN yet (they choose one at their first sign-in). Kept
    apart from ``practitioners`` so the audit trail, which records every practitioner row,
    never holds a PIN's hash.
    """

    __tablename__ = "practitioner_pins"

    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioners.id"), primary_key=True, autoincrement=False)
    #: ``$argon2id$v=19$m=…,t=…,p=…$salt$hash`` (:mod:`stampside.app.storage.pin_hashing`).
    pin_hash: Mapped[str] = mapped_column(String(255))
    set_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: Wrong PINs since the last right one (:class:`stampside.app.domain.pins.LockoutPolicy`).
    failures: Mapped[int] = mapped_column(SmallInteger, default=0)
    #: Locked out until then after too many wrong PINs; NULL: not locked out.
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Signature(Base):
    """A signed record (21 CFR Part 11 §11.50): who signed, the name as signed, the meaning, when, and what.

    ``record_type`` is the signed record's table and ``record_id`` its id: a step override
    (``step_overrides``), a course override, a schedule deviation, a screening (its verdict, or
    its override), an outcome entry, a closed treatment session. Written in the same transaction
    as the record it signs.
    """

    __tablename__ = "signatures"
    __table_args__ = (
        Index("ix_signatures_record_type_record_id", "record_type", "record_id"),
        CheckConstraint("meaning IN ('performed', 'reviewed', 'approved', 'overridden')", name="meaning"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    practitioner_id: Mapped[int] = mapped_column(ForeignKey("practitioners.id"))
    #: The signer's name when they signed (a later rename does not change it).
    signer_name: Mapped[str] = mapped_column(String(120))
    #: :class:`stampside.app.domain.signatures.SignatureMeaning` values.
    meaning: Mapped[str] = mapped_column(String(16))
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    record_type: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[int]
    #: The patient the signed record is about.
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)


class SecurityEvent(Base):
    """Something the clinic's security officer should see: a practitioner locked out after wrong PINs, a PIN set."""

    __tablename__ = "security_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    #: ``pin_lockout``, ``pin_set``, ``pin_reset`` (:mod:`stampside.app.storage.security_events`).
    kind: Mapped[str] = mapped_column(String(32))
    practitioner_id: Mapped[int | None] = mapped_column(ForeignKey("practitioners.id"))
    detail: Mapped[str] = mapped_column(String(500), default="")


# --- corrections (v0007) --------------------------------------------------------------------------


class CorrectionRow(Base):
    """A stored record corrected in the app (:mod:`stampside.app.domain.corrections`): what changed, why, who, when.

    ``table_name`` and ``record_id`` name the corrected record (``outcome_assessments``,
    ``self_assessments``, ``adverse_events``, ``screenings``, ``patients``); ``changes`` is a JSON
    list of ``{"field", "label", "old", "new"}``. Written in the same transaction as the
    correction itself, and signed (``signatures``, record type ``corrections``, approved). The
    audit trail records it like any clinical record, and the corrected record's update entry
    keeps its old values.
    """

    __tablename__ = "corrections"
    __table_args__ = (Index("ix_corrections_table_name_record_id", "table_name", "record_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    table_name: Mapped[str] = mapped_column(String(64))
    record_id: Mapped[int]
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    changes: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(1000))
    corrected_by: Mapped[str] = mapped_column(String(120))
    corrected_at: Mapped[datetime] = mapped_column(UtcDateTime())


# --- chairs sharing one database (v0008) ----------------------------------------------------------


class SessionClaim(Base):
    """What an open treatment session holds while it is open, one row per thing: its patient, its
    device (serial) and its stamp head. Several chairs share one database, and the unique
    ``(kind, claim_key)`` is what stops two of them from holding the same patient, device or head
    at once: the second chair's INSERT fails in the database (or waits for the first chair's
    transaction and then fails), never a check-then-act in Python.

    Rows are written in the transaction that opens the session or attaches its device and are
    deleted in the one that finishes or abandons it. ``chair`` is the name of the chair that holds
    the claim (settings ``chair.name``, else the host name), for "open at Chair 2 by …" and the board.
    Not audited: a claim is a lock, not a clinical record (the session row keeps who and when).
    """

    __tablename__ = "session_claims"
    __table_args__ = (
        UniqueConstraint("kind", "claim_key"),
        CheckConstraint("kind IN ('patient', 'device', 'head')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ``patient`` (key: the patient's id), ``device`` (the serial), ``head`` (the head id).
    kind: Mapped[str] = mapped_column(String(16))
    claim_key: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[int] = mapped_column(ForeignKey("treatment_sessions.id"), index=True)
    chair: Mapped[str] = mapped_column(String(80))
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime())
