"""Saving and loading a session's step records, with their device checks and overrides.

The rows mirror :class:`stampside.app.domain.steps.StepRecord` one to one, so what
:func:`load_step_records` gives back goes straight into :meth:`SessionFlow.restore
<app.domain.steps.SessionFlow.restore>` after a crash. Save a record each time it changes;
saving is an upsert by the step's position. Overrides are only ever added: a stored
override is never rewritten, so who made it and when stays as it was. An override signed
with a PIN (``Override.signer_id``) is stored with its signature, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from stampside.app.domain.gates import Gate, Override
from stampside.app.domain.signatures import SignedAct, Signer
from stampside.app.domain.steps import CheckOutcome, StepRecord
from stampside.app.domain.treatment_protocol import StepKind
from stampside.app.storage.schema import StepCheck, StepOverride, StepRecordRow, TreatmentSession
from stampside.app.storage.sessions import SessionError
from stampside.app.storage.signatures import (
    RECORD_TABLES,
    SignatureView,
    patient_of_session,
    sign_record,
    signatures_of,
)


def save_step_record(session: Session, session_id: int, record: StepRecord) -> None:
    """Store ``record`` (new or changed) for the open session ``session_id``."""
    treatment = session.get(TreatmentSession, session_id)
    if treatment is None:
        raise SessionError(f"no treatment session with id {session_id}")
    if treatment.status != "open":
        raise SessionError(f"session {treatment.number} is {treatment.status}; its steps cannot change")
    row = session.scalars(
        select(StepRecordRow).where(StepRecordRow.session_id == session_id, StepRecordRow.position == record.position)
    ).one_or_none()
    if row is None:
        row = StepRecordRow(session_id=session_id, position=record.position)
        session.add(row)
    elif row.step_id != record.step_id:
        raise SessionError(f"step {record.position + 1} is stored as {row.step_id!r}, not {record.step_id!r}")
    row.step_id = record.step_id
    row.kind = record.kind.value
    row.started_at = record.started_at
    row.started_by = record.started_by
    row.ended_at = record.ended_at
    row.confirmed_by = record.confirmed_by
    row.volume_ml = record.volume_ml
    row.lot = record.lot
    row.lot_expiry = record.lot_expiry
    row.timer_seconds = record.timer_seconds
    row.timer_started_at = record.timer_started_at
    row.timer_ran_seconds = record.timer_ran_seconds
    session.flush()
    _save_checks(session, row.id, record.checks)
    known = session.scalar(select(func.count(StepOverride.id)).where(StepOverride.step_record_id == row.id)) or 0
    if known > len(record.overrides):
        raise SessionError(f"step {record.step_id!r} has {known} stored overrides; they cannot be removed")
    added = [
        (
            override,
            StepOverride(
                step_record_id=row.id,
                gate=override.gate.value,
                reason=override.reason[:1000],
                made_by=override.by,
                made_at=override.at,
                failure=override.failure[:500],
            ),
        )
        for override in record.overrides[known:]
    ]
    session.add_all(stored for _, stored in added)
    session.flush()
    signed = [(override, stored) for override, stored in added if override.signer_id is not None]
    if signed:
        patient_id = patient_of_session(session, session_id)
        for override, stored in signed:
            assert override.signer_id is not None
            signer = Signer(override.signer_id, override.by)
            sign_record(session, signer, SignedAct.STEP_OVERRIDE, stored.id, at=override.at, patient_id=patient_id)


def _save_checks(session: Session, step_record_id: int, checks: Sequence[CheckOutcome]) -> None:
    """Store the step's checks: changed in place when the same gates are stored in the same order.

    Otherwise (a gate more or less, another order) they are replaced, so that
    :func:`load_step_records` gives them back in the record's order. Updating in place keeps
    the audit trail to the checks whose result changed, instead of every check of every save.
    """
    stored = list(
        session.scalars(select(StepCheck).where(StepCheck.step_record_id == step_record_id).order_by(StepCheck.id))
    )
    if [row.gate for row in stored] == [check.gate.value for check in checks]:
        for row, check in zip(stored, checks, strict=True):
            row.passed = check.passed
            row.message = check.message[:500]
        return
    for row in stored:
        session.delete(row)
    session.flush()
    session.add_all(
        StepCheck(
            step_record_id=step_record_id, gate=check.gate.value, passed=check.passed, message=check.message[:500]
        )
        for check in checks
    )


def save_step_records(session: Session, session_id: int, records: Iterable[StepRecord]) -> None:
    for record in records:
        save_step_record(session, session_id, record)


def _overrides(session: Session, step_record_id: int) -> list[Override]:
    rows = list(
        session.scalars(
            select(StepOverride).where(StepOverride.step_record_id == step_record_id).order_by(StepOverride.id)
        )
    )
    signed = signatures_of(session, RECORD_TABLES[SignedAct.STEP_OVERRIDE], (row.id for row in rows)) if rows else {}
    return [
        Override(
            Gate(row.gate),
            row.reason,
            row.made_by,
            row.made_at,
            row.failure,
            signed[row.id][0].practitioner_id if row.id in signed else None,
        )
        for row in rows
    ]


def step_override_signatures(session: Session, session_id: int) -> dict[tuple[int, int], SignatureView]:
    """The signatures of a session's step overrides, by (step position, override's place in the step)."""
    rows = session.execute(
        select(StepRecordRow.position, StepOverride.id)
        .join(StepOverride, StepOverride.step_record_id == StepRecordRow.id)
        .where(StepRecordRow.session_id == session_id)
        .order_by(StepRecordRow.position, StepOverride.id)
    ).all()
    signed = signatures_of(session, RECORD_TABLES[SignedAct.STEP_OVERRIDE], (override_id for _, override_id in rows))
    places: dict[int, int] = {}
    found: dict[tuple[int, int], SignatureView] = {}
    for position, override_id in rows:
        place = places[position] = places.get(position, -1) + 1
        if override_id in signed:
            found[(position, place)] = signed[override_id][0]
    return found


def load_step_records(session: Session, session_id: int) -> list[StepRecord]:
    """The session's step records in protocol order, ready for ``SessionFlow.restore``."""
    records = []
    for row in session.scalars(
        select(StepRecordRow).where(StepRecordRow.session_id == session_id).order_by(StepRecordRow.position)
    ):
        checks = tuple(
            CheckOutcome(Gate(check.gate), check.passed, check.message)
            for check in session.scalars(
                select(StepCheck).where(StepCheck.step_record_id == row.id).order_by(StepCheck.id)
            )
        )
        records.append(
            StepRecord(
                step_id=row.step_id,
                kind=StepKind(row.kind),
                position=row.position,
                started_at=row.started_at,
                started_by=row.started_by,
                ended_at=row.ended_at,
                confirmed_by=row.confirmed_by,
                volume_ml=row.volume_ml,
                lot=row.lot,
                lot_expiry=row.lot_expiry,
                timer_seconds=row.timer_seconds,
                timer_started_at=row.timer_started_at,
                timer_ran_seconds=row.timer_ran_seconds,
                checks=checks,
                overrides=tuple(_overrides(session, row.id)),
            )
        )
    return records
