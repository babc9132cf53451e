"""Two processes appending to one audit trail at once (two chairs on one database): neither write
fails and the trail stays one unbroken chain.

On SQLite the write lock orders them; on PostgreSQL a transaction-scoped advisory lock does
(before it, two transactions read the same tip and the second failed on ``audit_entries``'
primary key: the app showed "step not stored yet" mid-session).
"""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier

from sqlalchemy import func, select

from stampside.app.storage import open_database
from stampside.app.storage.audit_verify import verify_trail
from stampside.app.storage.patients import NewPatient, create_patient
from stampside.app.storage.schema import AuditEntry, Patient

PER_CHAIR = 25
T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


def chair(url: str, prefix: str, start: Barrier, errors: multiprocessing.Queue[str]) -> None:
    """Create PER_CHAIR patients, one transaction each, starting with the other chair."""
    database = open_database(url)
    try:
        start.wait(timeout=60)
        for n in range(PER_CHAIR):
            try:
                with database.Session.begin() as session:
                    create_patient(session, NewPatient.parse(f"{prefix}-{n:03d}"), now=T0)
            except Exception as exc:
                errors.put(f"{prefix}-{n:03d}: {exc}")
    finally:
        database.close()


def test_two_chairs_writing_at_once_both_succeed_and_the_trail_verifies(db_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    errors: multiprocessing.Queue[str] = context.Queue()
    chairs = [context.Process(target=chair, args=(db_url, prefix, start, errors)) for prefix in ("A", "B")]
    for process in chairs:
        process.start()
    for process in chairs:
        process.join(timeout=120)
        assert process.exitcode == 0
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []

    database = open_database(db_url)
    try:
        with database.Session.begin() as session:
            assert session.scalar(select(func.count()).select_from(Patient)) == 2 * PER_CHAIR
            seqs = list(session.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
            assert seqs == list(range(1, 2 * PER_CHAIR + 1))
            result = verify_trail(session)
        assert result.ok, result
    finally:
        database.close()
