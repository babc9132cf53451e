"""Many chairs, one clinic: what an open session holds (its patient, stamp and head) is the database's to
enforce (``session_claims``, unique per thing), and a patient code two chairs create at once is one patient.

Every test runs on a SQLite file and on the suite's PostgreSQL server (``db_url``). The races run
in two processes of their own (a pool of two spawned workers, reused), each with its own engine on
the same database, as two chairs would:

* **at once**: both wait on a barrier, then try the same thing; exactly one gets it, and the other
  the clear error naming the holder (chair, practitioner, since when); the database holds one of it.
* **held**: the first chair's transaction has written and stays open; the second chair tries and is
  seen waiting (on PostgreSQL a backend waiting on a lock in ``pg_stat_activity``; on SQLite it has
  not returned while the writer lock is held); committed, the second is refused; rolled back, the
  second gets it.

The rest are single-process: finishing or abandoning lets go of everything, a new device lets go
of the old one, a session left open before claims existed is taken over by the chair that resumes
it, and a refused claim leaves the caller's transaction usable.

**Taking over** a session from a chair that cannot go on with it moves every claim to the new chair
and records who, when, why and from which chair (a signed course override, in the audit trail); a
stale one (the session moved or closed meanwhile) is refused and changes nothing; of two chairs
taking over at once (and one holding its transaction), exactly one gets it.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from stampside.app.chairside.session_cases import resume_offer
from stampside.app.domain.course_gates import CourseGate, OverrideRefused
from stampside.app.domain.signatures import SignatureMeaning, SignedAct, Signer
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.storage import Database, DatabaseSink, open_database
from stampside.app.storage.claims import (
    DEVICE,
    HEAD,
    LEGACY_CHAIR,
    PATIENT,
    ClaimKind,
    SessionClaimed,
    claim,
    default_chair_name,
    holder,
)
from stampside.app.storage.courses import CourseError, start_course
from stampside.app.storage.patients import NewPatient, PatientInputError, create_patient, find_patient
from stampside.app.storage.practitioners import add_practitioner
from stampside.app.storage.schedule import course_overrides
from stampside.app.storage.schema import AuditEntry, Course, Patient, SessionClaim, TreatmentSession
from stampside.app.storage.sessions import (
    SessionError,
    TakeOverRefused,
    abandon_session,
    attach_device,
    find_resumable_session,
    finish_session,
    get_session,
    open_session,
    resume_session,
    take_over_session,
)
from stampside.app.storage.signatures import RECORD_TABLES, signatures_of
from stampside.firmware_protocol import DeviceInfo

PROTOCOL = default_protocol()
T0 = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)
#: Generous: the suite runs on a loaded 2-core machine. Only reached when something is wrong.
PATIENCE = 30.0
#: On SQLite: how long the second chair is watched not returning while the first holds the writer lock
#: (well under SQLite's 5 s busy timeout, after which the second would give up).
SQLITE_WATCH_S = 0.3
SERIAL = "SS-000001"
OTHER_SERIAL = "SS-000002"
HEAD_ID = 41
OTHER_HEAD_ID = 42


# -- the clinic: two chairs' practitioners, patients and courses ------------------------------------------


@dataclass(frozen=True)
class Clinic:
    url: str
    ada: int
    bea: int
    #: Patient X (P-0001) and patient Y (P-0002), each with an active course.
    x: int
    y: int
    x_course: int
    y_course: int


@pytest.fixture
def clinic(db_url: str) -> Iterator[tuple[Database, Clinic]]:
    database = open_database(db_url)
    with database.Session.begin() as s:
        ada = add_practitioner(s, "Dr Ada")
        bea = add_practitioner(s, "Dr Bea")
        x = create_patient(s, NewPatient.parse("P-0001"), now=T0)
        y = create_patient(s, NewPatient.parse("P-0002"), now=T0)
        x_course = start_course(s, x.id, now=T0)
        y_course = start_course(s, y.id, now=T0)
    sink = DatabaseSink(database)
    sink.open_device(device_info(SERIAL, HEAD_ID))
    sink.open_device(device_info(OTHER_SERIAL, OTHER_HEAD_ID))
    yield database, Clinic(db_url, ada.id, bea.id, x.id, y.id, x_course, y_course)
    database.close()


def device_info(serial: str, head_id: int) -> DeviceInfo:
    return DeviceInfo(serial, 2, 1, 0, 0, 1, 1, 1, 2000, head_id, 0, 100, 88, 1, 0)


def opened(database: Database, course_id: int, practitioner_id: int, chair: str, at: datetime = T0) -> int:
    with database.Session.begin() as s:
        return open_session(s, course_id, protocol=PROTOCOL, practitioner_id=practitioner_id, now=at, chair=chair).id


def attached(database: Database, session_id: int, serial: str, head_id: int, chair: str) -> None:
    with database.Session.begin() as s:
        attach_device(s, session_id, serial=serial, head_id=head_id, footprint_mm2=100, now=T0, chair=chair)


def claims(database: Database) -> set[tuple[str, str, int, str]]:
    """Every claim: (kind, key, session id, chair)."""
    with database.Session.begin() as s:
        rows = s.execute(select(SessionClaim.kind, SessionClaim.claim_key, SessionClaim.session_id, SessionClaim.chair))
        return {(kind, key, session_id, chair) for kind, key, session_id, chair in rows}


def open_sessions(database: Database, patient_id: int) -> int:
    from stampside.app.storage.schema import Course

    with database.Session.begin() as s:
        return int(
            s.scalar(
                select(func.count(TreatmentSession.id))
                .join(Course, TreatmentSession.course_id == Course.id)
                .where(Course.patient_id == patient_id, TreatmentSession.status == "open")
            )
            or 0
        )


# -- one chair, then another ------------------------------------------------------------------------------


def test_a_patients_open_session_is_read_only_at_another_chair_naming_who_has_it(
    clinic: tuple[Database, Clinic],
) -> None:
    database, c = clinic
    first = opened(database, c.x_course, c.ada, "Chair 1")
    assert claims(database) == {(PATIENT, str(c.x), first, "Chair 1")}
    with pytest.raises(SessionClaimed) as refused, database.Session.begin() as s:
        open_session(
            s, c.x_course, protocol=PROTOCOL, practitioner_id=c.bea, now=T0 + timedelta(minutes=5), chair="Chair 2"
        )
    exc = refused.value
    assert (exc.what, exc.chair, exc.practitioner, exc.since) == (PATIENT, "Chair 1", "Dr Ada", T0)
    assert exc.holder.session_id == first and exc.holder.patient_code == "P-0001"
    message = exc.describe(UTC)
    assert message == (
        "Patient P-0001 is in session 1 at Chair 1 (Dr Ada, since Sat 05 Dec 2026 09:30): "
        "read only here; resume or finish it at Chair 1."
    )
    assert "\n" not in str(exc)
    # Resuming it from the other chair is refused the same way; at its own chair it goes on.
    with pytest.raises(SessionClaimed, match="at Chair 1 \\(Dr Ada"), database.Session.begin() as s:
        resume_session(s, first, now=T0, chair="Chair 2")
    with database.Session.begin() as s:
        assert resume_session(s, first, now=T0, chair="Chair 1").id == first
    assert open_sessions(database, c.x) == 1
    # The same chair is told what it was told before claims existed: resume or abandon it.
    with pytest.raises(SessionError, match="still open; resume or abandon it first"), database.Session.begin() as s:
        open_session(s, c.x_course, protocol=PROTOCOL, practitioner_id=c.ada, now=T0, chair="Chair 1")


@pytest.mark.parametrize("close", ["finish", "abandon"])
def test_finishing_or_abandoning_lets_go_of_the_patient_the_stamp_and_the_head(
    clinic: tuple[Database, Clinic], close: str
) -> None:
    database, c = clinic
    first = opened(database, c.x_course, c.ada, "Chair 1")
    attached(database, first, SERIAL, HEAD_ID, "Chair 1")
    assert {(kind, key) for kind, key, _, _ in claims(database)} == {
        (PATIENT, str(c.x)),
        (DEVICE, SERIAL),
        (HEAD, str(HEAD_ID)),
    }
    with database.Session.begin() as s:
        if close == "finish":
            finish_session(s, first, now=T0 + timedelta(hours=1))
        else:
            abandon_session(s, first, now=T0 + timedelta(hours=1))
    assert claims(database) == set()
    # The next session of the patient opens at the other chair, and takes the stamp and head there.
    second = opened(database, c.x_course, c.bea, "Chair 2", T0 + timedelta(days=7))
    attached(database, second, SERIAL, HEAD_ID, "Chair 2")
    assert {chair for _, _, _, chair in claims(database)} == {"Chair 2"}


def test_a_stamp_or_head_another_chairs_session_holds_is_refused_and_nothing_is_attached(
    clinic: tuple[Database, Clinic],
) -> None:
    database, c = clinic
    one = opened(database, c.x_course, c.ada, "Chair 1")
    two = opened(database, c.y_course, c.bea, "Chair 2")
    attached(database, one, SERIAL, HEAD_ID, "Chair 1")
    with pytest.raises(SessionClaimed) as refused:
        attached(database, two, SERIAL, OTHER_HEAD_ID, "Chair 2")
    assert (refused.value.what, refused.value.chair, refused.value.practitioner) == (DEVICE, "Chair 1", "Dr Ada")
    assert str(refused.value).startswith(f"Stamp {SERIAL} is feeding P-0001's session 1 at Chair 1 (Dr Ada, since ")
    with pytest.raises(SessionClaimed) as refused:
        attached(database, two, OTHER_SERIAL, HEAD_ID, "Chair 2")
    assert (refused.value.what, refused.value.holder.key) == (HEAD, str(HEAD_ID))
    assert "fit a new head for this session" in str(refused.value)
    with database.Session.begin() as s:
        view = get_session(s, two)
    assert (view.device_id, view.head_id) == (None, None), "nothing of the refused attach is stored"
    assert {(kind, session_id) for kind, _, session_id, _ in claims(database)} == {
        (PATIENT, one),
        (PATIENT, two),
        (DEVICE, one),
        (HEAD, one),
    }


def test_a_session_that_takes_another_stamp_and_head_lets_go_of_the_ones_it_had(
    clinic: tuple[Database, Clinic],
) -> None:
    database, c = clinic
    one = opened(database, c.x_course, c.ada, "Chair 1")
    two = opened(database, c.y_course, c.bea, "Chair 2")
    attached(database, one, SERIAL, HEAD_ID, "Chair 1")
    attached(database, one, SERIAL, HEAD_ID, "Chair 1")  # again, the same: nothing changes
    attached(database, one, OTHER_SERIAL, OTHER_HEAD_ID, "Chair 1")
    held = {(kind, key) for kind, key, session_id, _ in claims(database) if session_id == one}
    assert held == {(PATIENT, str(c.x)), (DEVICE, OTHER_SERIAL), (HEAD, str(OTHER_HEAD_ID))}
    attached(database, two, SERIAL, HEAD_ID, "Chair 2")  # free again


def test_a_refused_claim_leaves_the_callers_transaction_usable(clinic: tuple[Database, Clinic]) -> None:
    database, c = clinic
    one = opened(database, c.x_course, c.ada, "Chair 1")
    two = opened(database, c.y_course, c.bea, "Chair 2")
    with database.Session.begin() as s:
        with pytest.raises(SessionClaimed):
            claim(s, two, PATIENT, str(c.x), chair="Chair 2", now=T0)  # the database refuses the INSERT itself
        claim(s, two, DEVICE, SERIAL, chair="Chair 2", now=T0)
        create_patient(s, NewPatient.parse("P-0003"), now=T0)
    assert (DEVICE, SERIAL, two, "Chair 2") in claims(database)
    with database.Session.begin() as s:
        assert find_patient(s, "P-0003") is not None
        held = holder(s, PATIENT, str(c.x))
    assert held is not None and held.session_id == one


def test_a_savepoint_as_the_first_write_does_not_commit_early_on_sqlite(db_url: str) -> None:
    """pysqlite begins a transaction only before a write; the savepoint must not start one of SQLite's own."""
    database = open_database(db_url)
    try:
        with pytest.raises(RuntimeError), database.Session.begin() as s:
            create_patient(s, NewPatient.parse("P-0009"), now=T0)  # its INSERT runs in a savepoint
            raise RuntimeError("the caller's transaction fails later")
        with database.Session.begin() as s:
            assert find_patient(s, "P-0009") is None
    finally:
        database.close()


def test_a_session_left_open_before_claims_is_taken_over_by_the_chair_that_resumes_it(
    clinic: tuple[Database, Clinic],
) -> None:
    database, c = clinic
    legacy = opened(database, c.x_course, c.ada, "Chair 1")
    unclaimed = opened(database, c.y_course, c.bea, "Chair 1")
    with database.Session.begin() as s:  # as migration v0008 leaves them: chair unknown, or no claim at all
        s.execute(update(SessionClaim).where(SessionClaim.session_id == legacy).values(chair=LEGACY_CHAIR))
        s.execute(delete(SessionClaim).where(SessionClaim.session_id == unclaimed))
    with database.Session.begin() as s:
        assert find_resumable_session(s, chair="Chair 3") is not None, "offered to any chair"
        resume_session(s, legacy, now=T0, chair="Chair 2")
        resume_session(s, unclaimed, now=T0, chair="Chair 2")
    assert {(session_id, chair) for kind, _, session_id, chair in claims(database) if kind == PATIENT} == {
        (legacy, "Chair 2"),
        (unclaimed, "Chair 2"),
    }
    with pytest.raises(SessionClaimed, match="at Chair 2"), database.Session.begin() as s:
        resume_session(s, legacy, now=T0, chair="Chair 3")
    with database.Session.begin() as s:
        assert find_resumable_session(s, chair="Chair 3") is None, "both are Chair 2's now"


def test_the_start_up_offer_is_this_chairs_session_never_another_chairs(clinic: tuple[Database, Clinic]) -> None:
    database, c = clinic
    mine = opened(database, c.x_course, c.ada, "Chair 1")
    opened(database, c.y_course, c.bea, "Chair 2", T0 + timedelta(minutes=10))  # newer, but Chair 2's
    offer = resume_offer(database, PROTOCOL, chair="Chair 1")
    assert offer is not None and offer.view.id == mine
    assert resume_offer(database, PROTOCOL, chair="Chair 3") is None


def test_without_a_chair_name_the_session_is_held_by_this_computers_host_name(clinic: tuple[Database, Clinic]) -> None:
    database, c = clinic
    with database.Session.begin() as s:
        view = open_session(s, c.x_course, protocol=PROTOCOL, practitioner_id=c.ada, now=T0)
    assert claims(database) == {(PATIENT, str(c.x), view.id, default_chair_name())}
    offer = resume_offer(database, PROTOCOL)
    assert offer is not None and offer.view.id == view.id


# -- taking a session over from a chair that cannot go on with it ------------------------------------------

REASON = "Chair 1's computer does not start, patient moved to room 2"
T1 = T0 + timedelta(minutes=40)


def taken_over(
    database: Database, session_id: int, seen: str, chair: str, c: Clinic, reason: str = REASON, at: datetime = T1
) -> int:
    with database.Session.begin() as s:
        return take_over_session(
            s,
            session_id,
            seen_chair=seen,
            reason=reason,
            by="Dr Bea",
            now=at,
            chair=chair,
            signer=Signer(c.bea, "Dr Bea"),
            tz=UTC,
        ).id


def trail_of(database: Database) -> list[tuple[str, str, str]]:
    """Every audit entry: (table, action, actor)."""
    with database.Session.begin() as s:
        rows = s.execute(select(AuditEntry.table_name, AuditEntry.action, AuditEntry.actor).order_by(AuditEntry.seq))
        return [(table, action, actor) for table, action, actor in rows]


def test_a_chair_takes_over_a_session_another_chair_holds_and_the_trail_says_who_when_why_and_from_where(
    clinic: tuple[Database, Clinic],
) -> None:
    database, c = clinic
    first = opened(database, c.x_course, c.ada, "Chair 1")
    attached(database, first, SERIAL, HEAD_ID, "Chair 1")
    trail_before = len(trail_of(database))
    assert taken_over(database, first, "Chair 1", "Chair 2", c) == first
    assert claims(database) == {
        (PATIENT, str(c.x), first, "Chair 2"),
        (DEVICE, SERIAL, first, "Chair 2"),
        (HEAD, str(HEAD_ID), first, "Chair 2"),
    }
    with database.Session.begin() as s:
        held = holder(s, PATIENT, str(c.x))
        [kept] = course_overrides(s, c.x_course)
        signed = signatures_of(s, RECORD_TABLES[SignedAct.COURSE_OVERRIDE], [kept.id])[kept.id]
    assert held is not None and (held.chair, held.since, held.practitioner) == ("Chair 2", T1, "Dr Ada")
    override = kept.override
    assert (kept.session_id, override.gate, override.reason, override.by, override.at) == (
        first,
        CourseGate.SESSION_AT_ANOTHER_CHAIR,
        REASON,
        "Dr Bea",
        T1,
    )
    assert override.failure == (
        "Session 1 of P-0001 was open at Chair 1 by Dr Ada since 2026-12-05 09:30 UTC; taken over at Chair 2"
    )
    assert [(v.signer, v.meaning, v.signed_at) for v in signed] == [("Dr Bea", SignatureMeaning.OVERRIDDEN, T1)]
    # The record and its signature are in the audit trail (the claims are locks, not records).
    assert [(table, action) for table, action, _ in trail_of(database)[trail_before:]] == [
        ("course_overrides", "insert"),
        ("signatures", "insert"),
    ]
    # Now Chair 2's: it resumes there; Chair 1 is read only and is told who has it.
    with database.Session.begin() as s:
        assert resume_session(s, first, now=T1, chair="Chair 2").status == "open"
    with (
        pytest.raises(SessionClaimed, match="at Chair 2 \\(Dr Ada, since Sat 05 Dec 2026 10:10\\)"),
        database.Session.begin() as s,
    ):
        resume_session(s, first, now=T1, chair="Chair 1")


def test_a_take_over_after_another_chair_took_the_session_is_refused_and_changes_nothing(
    clinic: tuple[Database, Clinic],
) -> None:
    database, c = clinic
    first = opened(database, c.x_course, c.ada, "Chair 1")
    taken_over(database, first, "Chair 1", "Chair 3", c)
    before = claims(database), len(trail_of(database))
    with pytest.raises(TakeOverRefused) as refused:
        taken_over(database, first, "Chair 1", "Chair 2", c, at=T1 + timedelta(minutes=1))  # it saw Chair 1
    assert str(refused.value) == (
        "Session 1 of P-0001 is no longer open at Chair 1: Chair 3 has it since Sat 05 Dec 2026 10:10 "
        "(taken over or resumed there); nothing was changed."
    )
    assert (claims(database), len(trail_of(database))) == before
    with database.Session.begin() as s:
        [kept] = course_overrides(s, c.x_course)
    assert kept.override.failure.endswith("taken over at Chair 3")


@pytest.mark.parametrize("close", ["finish", "abandon"])
def test_a_take_over_of_a_session_closed_meanwhile_is_refused_and_changes_nothing(
    clinic: tuple[Database, Clinic], close: str
) -> None:
    database, c = clinic
    first = opened(database, c.x_course, c.ada, "Chair 1")
    with database.Session.begin() as s:
        (finish_session if close == "finish" else abandon_session)(s, first, now=T1)
    before = len(trail_of(database))
    status = "finished" if close == "finish" else "abandoned"
    with pytest.raises(TakeOverRefused, match=f"^Session 1 of P-0001 is {status} now: there is nothing to take over"):
        taken_over(database, first, "Chair 1", "Chair 2", c)
    assert claims(database) == set()
    assert len(trail_of(database)) == before
    with database.Session.begin() as s:
        assert course_overrides(s, c.x_course) == []


@pytest.mark.parametrize("reason", ["", "   ", "ok", "xxxxxxxxxxxx"])
def test_a_take_over_needs_a_real_reason(clinic: tuple[Database, Clinic], reason: str) -> None:
    database, c = clinic
    first = opened(database, c.x_course, c.ada, "Chair 1")
    with pytest.raises(OverrideRefused, match="session at another chair"):
        taken_over(database, first, "Chair 1", "Chair 2", c, reason=reason)
    assert claims(database) == {(PATIENT, str(c.x), first, "Chair 1")}
    with database.Session.begin() as s:
        assert course_overrides(s, c.x_course) == []


def test_a_chair_cannot_take_over_its_own_session(clinic: tuple[Database, Clinic]) -> None:
    database, c = clinic
    first = opened(database, c.x_course, c.ada, "Chair 1")
    with pytest.raises(TakeOverRefused, match="held by this chair \\(Chair 1\\) already: resume it with s"):
        taken_over(database, first, "Chair 1", "Chair 1", c)
    assert claims(database) == {(PATIENT, str(c.x), first, "Chair 1")}


# -- two processes racing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one chair's attempt came to, as the child process reports it."""

    ok: bool
    refusal: str = ""
    message: str = ""
    chair: str = ""
    practitioner: str = ""
    what: str = ""
    since: datetime | None = None


class _RollBack(Exception):
    pass


def _open(s: Session, *, course_id: int, practitioner_id: int, chair: str, now: datetime) -> object:
    return open_session(
        s, course_id, protocol=default_protocol(), practitioner_id=practitioner_id, now=now, chair=chair
    ).id


def _attach(s: Session, *, session_id: int, serial: str, head_id: int, chair: str, now: datetime) -> object:
    return attach_device(s, session_id, serial=serial, head_id=head_id, footprint_mm2=100, now=now, chair=chair).id


def _claim(s: Session, *, session_id: int, kind: ClaimKind, key: str, chair: str, now: datetime) -> object:
    claim(s, session_id, kind, key, chair=chair, now=now)
    return key


def _take_over(s: Session, *, session_id: int, seen: str, chair: str, signer_id: int, now: datetime) -> object:
    return take_over_session(
        s,
        session_id,
        seen_chair=seen,
        reason=f"{seen} is out of order, moved to {chair}",
        by="Dr Bea",
        now=now,
        chair=chair,
        signer=Signer(signer_id, "Dr Bea"),
    ).id


def _patient(s: Session, *, code: str, now: datetime) -> object:
    return create_patient(s, NewPatient.parse(code), now=now).id


def _course(s: Session, *, patient_id: int, now: datetime) -> object:
    return start_course(s, patient_id, now=now)


ACTIONS: dict[str, Callable[..., object]] = {
    "open": _open,
    "attach": _attach,
    "claim": _claim,
    "take_over": _take_over,
    "patient": _patient,
    "course": _course,
}


def attempt(
    url: str,
    action: str,
    params: dict[str, Any],
    *,
    start: Any = None,
    written: Any = None,
    release: Any = None,
    trying: Any = None,
    commit: bool = True,
) -> Outcome:
    """In a child process (one chair): ``action`` in one transaction on its own engine.

    ``start``: a barrier to wait on first; ``trying``: set just before the attempt; ``written``: set
    once the attempt has written (its transaction still open), then ``release`` is waited for before
    the transaction commits (or, ``commit`` false, rolls back).
    """
    database = open_database(url)
    try:
        if start is not None:
            start.wait(PATIENCE)
        if trying is not None:
            trying.set()
        try:
            with database.Session.begin() as s:
                done = ACTIONS[action](s, **params)
                if written is not None:
                    written.set()
                if release is not None and not release.wait(PATIENCE):
                    raise RuntimeError("never released")
                if not commit:
                    raise _RollBack
        except _RollBack:
            return Outcome(True, message="rolled back")
        except SessionClaimed as exc:
            return Outcome(False, "SessionClaimed", str(exc), exc.chair, exc.practitioner, exc.what, exc.since)
        except PatientInputError as exc:
            return Outcome(False, "PatientInputError", str(exc))
        except CourseError as exc:
            return Outcome(False, "CourseError", str(exc))
        except TakeOverRefused as exc:
            return Outcome(False, "TakeOverRefused", str(exc))
        return Outcome(True, message=str(done))
    finally:
        database.close()


@dataclass
class Workers:
    """Two spawned processes (the chairs) and a manager for the events and barriers they share."""

    pool: ProcessPoolExecutor
    manager: Any

    def submit(self, url: str, action: str, params: dict[str, Any], **signals: Any) -> Future[Outcome]:
        return self.pool.submit(attempt, url, action, params, **signals)


@pytest.fixture(scope="module")
def workers() -> Iterator[Workers]:
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(max_workers=2, mp_context=context) as pool:
        yield Workers(pool, manager)


Action = tuple[str, dict[str, Any]]


def race_at_once(workers: Workers, url: str, first: Action, second: Action) -> list[Outcome]:
    """Both chairs wait on one barrier, then try at the same moment."""
    start = workers.manager.Barrier(2)
    futures = [workers.submit(url, *action, start=start) for action in (first, second)]
    return [future.result(PATIENCE) for future in futures]


def race_held(workers: Workers, url: str, first: Action, second: Action, *, commit: bool = True) -> list[Outcome]:
    """The first chair writes and holds its transaction open; the second tries, is seen waiting, then the first
    commits (or rolls back)."""
    written, release, trying = (workers.manager.Event() for _ in range(3))
    held = workers.submit(url, *first, written=written, release=release, commit=commit)
    assert written.wait(PATIENCE), "the first chair never wrote"
    waiting = workers.submit(url, *second, trying=trying)
    assert trying.wait(PATIENCE)
    if url.startswith("postgresql"):
        wait_until(lambda: lock_waiters(url) >= 1)  # the second chair's backend waits on the first's lock
    else:
        with pytest.raises(TimeoutError):  # SQLite: the writer lock holds it back
            waiting.result(timeout=SQLITE_WATCH_S)
    assert not waiting.done(), "the second chair went ahead while the first held its transaction"
    release.set()
    return [held.result(PATIENCE), waiting.result(PATIENCE)]


def lock_waiters(url: str) -> int:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            count = connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar()
            return int(count or 0)
    finally:
        engine.dispose()


def wait_until(predicate: Callable[[], bool]) -> None:
    deadline = time.monotonic() + PATIENCE
    while not predicate():
        assert time.monotonic() < deadline, "still waiting"
        time.sleep(0.02)


def one_won(outcomes: list[Outcome], refusal: str) -> Outcome:
    """Exactly one chair got it; the other was refused with ``refusal``. The refusal, returned."""
    won = [outcome for outcome in outcomes if outcome.ok]
    lost = [outcome for outcome in outcomes if not outcome.ok]
    assert len(won) == 1 and len(lost) == 1, outcomes
    assert lost[0].refusal == refusal, lost[0]
    assert "\n" not in lost[0].message
    return lost[0]


def open_at(c: Clinic, chair: str, practitioner_id: int) -> Action:
    return "open", {"course_id": c.x_course, "practitioner_id": practitioner_id, "chair": chair, "now": T0}


def test_two_chairs_opening_the_same_patient_at_once_get_one_session(
    clinic: tuple[Database, Clinic], workers: Workers
) -> None:
    database, c = clinic
    outcomes = race_at_once(workers, c.url, open_at(c, "Chair 1", c.ada), open_at(c, "Chair 2", c.bea))
    lost = one_won(outcomes, "SessionClaimed")
    winner = "Chair 1" if outcomes[0].ok else "Chair 2"
    assert (lost.what, lost.chair, lost.practitioner) == (
        PATIENT,
        winner,
        "Dr Ada" if winner == "Chair 1" else "Dr Bea",
    )
    assert lost.since == T0
    assert open_sessions(database, c.x) == 1
    assert [(kind, chair) for kind, _, _, chair in claims(database)] == [(PATIENT, winner)]


def test_the_second_chair_waits_for_the_first_then_is_refused_naming_it(
    clinic: tuple[Database, Clinic], workers: Workers
) -> None:
    database, c = clinic
    first, second = race_held(workers, c.url, open_at(c, "Chair 1", c.ada), open_at(c, "Chair 2", c.bea))
    assert first.ok
    assert (second.refusal, second.chair, second.practitioner, second.since) == (
        "SessionClaimed",
        "Chair 1",
        "Dr Ada",
        T0,
    )
    assert "read only here" in second.message
    assert open_sessions(database, c.x) == 1


def test_the_second_chair_gets_the_patient_when_the_first_rolls_back(
    clinic: tuple[Database, Clinic], workers: Workers
) -> None:
    database, c = clinic
    first, second = race_held(workers, c.url, open_at(c, "Chair 1", c.ada), open_at(c, "Chair 2", c.bea), commit=False)
    assert first.message == "rolled back" and second.ok
    assert [(kind, chair) for kind, _, _, chair in claims(database)] == [(PATIENT, "Chair 2")]
    assert open_sessions(database, c.x) == 1


@pytest.mark.parametrize("held", [False, True], ids=["at-once", "held"])
def test_two_chairs_taking_over_the_same_session_at_once_one_gets_it(
    clinic: tuple[Database, Clinic], workers: Workers, held: bool
) -> None:
    database, c = clinic
    first = opened(database, c.x_course, c.ada, "Chair 1")
    attached(database, first, SERIAL, HEAD_ID, "Chair 1")

    def take_at(chair: str) -> Action:
        return "take_over", {"session_id": first, "seen": "Chair 1", "chair": chair, "signer_id": c.bea, "now": T1}

    race = race_held if held else race_at_once
    outcomes = race(workers, c.url, take_at("Chair 2"), take_at("Chair 3"))
    lost = one_won(outcomes, "TakeOverRefused")
    if held:
        assert outcomes[0].ok, "the chair that held its transaction got it"
    winner = "Chair 2" if outcomes[0].ok else "Chair 3"
    assert lost.message.startswith(f"Session 1 of P-0001 is no longer open at Chair 1: {winner} has it since ")
    assert lost.message.endswith("nothing was changed.")
    assert {(session_id, chair) for _, _, session_id, chair in claims(database)} == {(first, winner)}
    assert len(claims(database)) == 3
    with database.Session.begin() as s:
        [kept] = course_overrides(s, c.x_course)
    assert kept.override.failure.endswith(f"taken over at {winner}")


def attach_at(session_id: int, serial: str, head_id: int, chair: str) -> Action:
    return "attach", {"session_id": session_id, "serial": serial, "head_id": head_id, "chair": chair, "now": T0}


@pytest.mark.parametrize("same", ["stamp", "head"])
def test_two_chairs_attaching_the_same_stamp_or_head_at_once_one_gets_it(
    clinic: tuple[Database, Clinic], workers: Workers, same: str
) -> None:
    database, c = clinic
    one = opened(database, c.x_course, c.ada, "Chair 1")
    two = opened(database, c.y_course, c.bea, "Chair 2")
    other = (SERIAL, OTHER_HEAD_ID) if same == "stamp" else (OTHER_SERIAL, HEAD_ID)
    outcomes = race_at_once(
        workers, c.url, attach_at(one, SERIAL, HEAD_ID, "Chair 1"), attach_at(two, *other, "Chair 2")
    )
    lost = one_won(outcomes, "SessionClaimed")
    assert lost.what == (DEVICE if same == "stamp" else HEAD)
    winner = one if outcomes[0].ok else two
    loser = two if winner == one else one
    assert lost.chair == ("Chair 1" if winner == one else "Chair 2")
    key = SERIAL if same == "stamp" else str(HEAD_ID)
    assert [session_id for kind, k, session_id, _ in claims(database) if k == key] == [winner]
    assert {session_id for kind, _, session_id, _ in claims(database) if kind != PATIENT} == {winner}
    with database.Session.begin() as s:
        assert get_session(s, loser).device_id is None, "the link does not feed the refused session"


def test_the_second_chair_waits_on_the_stamp_then_is_refused(clinic: tuple[Database, Clinic], workers: Workers) -> None:
    database, c = clinic
    one = opened(database, c.x_course, c.ada, "Chair 1")
    two = opened(database, c.y_course, c.bea, "Chair 2")
    first, second = race_held(
        workers, c.url, attach_at(one, SERIAL, HEAD_ID, "Chair 1"), attach_at(two, SERIAL, OTHER_HEAD_ID, "Chair 2")
    )
    assert first.ok
    assert (second.refusal, second.what, second.chair, second.practitioner) == (
        "SessionClaimed",
        DEVICE,
        "Chair 1",
        "Dr Ada",
    )
    assert {(kind, session_id) for kind, _, session_id, _ in claims(database) if kind != PATIENT} == {
        (DEVICE, one),
        (HEAD, one),
    }


def test_the_unique_claim_itself_refuses_the_second_chair_after_waiting(
    clinic: tuple[Database, Clinic], workers: Workers
) -> None:
    """No use case's reading first: two sessions INSERT a claim on the same patient, the database decides."""
    database, c = clinic
    one = opened(database, c.y_course, c.ada, "Chair 1")
    two = opened(database, c.x_course, c.bea, "Chair 2")
    key = f"P-{c.x}-test"

    def claim_by(session_id: int, chair: str) -> Action:
        return "claim", {"session_id": session_id, "kind": PATIENT, "key": key, "chair": chair, "now": T0}

    first, second = race_held(workers, c.url, claim_by(one, "Chair 1"), claim_by(two, "Chair 2"))
    assert first.ok and (second.refusal, second.chair) == ("SessionClaimed", "Chair 1")
    assert [(session_id, chair) for _, k, session_id, chair in claims(database) if k == key] == [(one, "Chair 1")]


@pytest.mark.parametrize("held", [False, True], ids=["at-once", "held"])
def test_two_chairs_creating_the_same_patient_code_get_one_patient_and_a_clear_message(
    clinic: tuple[Database, Clinic], workers: Workers, held: bool
) -> None:
    database, c = clinic
    new: Action = ("patient", {"code": "P-0100", "now": T0})
    race = race_held if held else race_at_once
    outcomes = race(workers, c.url, new, new)
    lost = one_won(outcomes, "PatientInputError")
    assert lost.message == "patient code: 'P-0100' is already in use; pick that patient or another code"
    if held:
        assert outcomes[0].ok, "the chair that held its transaction got it"
    with database.Session.begin() as s:
        assert s.scalar(select(func.count(Patient.id)).where(Patient.code == "P-0100")) == 1


@pytest.mark.parametrize("held", [False, True], ids=["at-once", "held"])
def test_two_chairs_starting_a_course_for_one_patient_get_one_course(
    clinic: tuple[Database, Clinic], workers: Workers, held: bool
) -> None:
    """The check in start_course reads no active course at either chair; the database's partial unique
    index (one active course per patient, v0009) refuses the second INSERT."""
    database, c = clinic
    with database.Session.begin() as s:
        z = create_patient(s, NewPatient.parse("P-0300"), now=T0).id
    start: Action = ("course", {"patient_id": z, "now": T0})
    race = race_held if held else race_at_once
    lost = one_won(race(workers, c.url, start, start), "CourseError")
    assert lost.message.startswith("this patient already has an active course; finish or stop it first")
    with database.Session.begin() as s:
        assert s.scalar(select(func.count(Course.id)).where(Course.patient_id == z, Course.status == "active")) == 1


def test_a_database_with_two_active_courses_for_one_patient_is_not_upgraded_and_says_whose(tmp_path: Path) -> None:
    """v0009's index cannot be built over such a pair: the upgrade names the patient and changes nothing."""
    from sqlalchemy import create_engine

    from stampside.app.storage.errors import StorageError
    from stampside.app.storage.migrate import current_revision, upgrade_to

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    upgrade_to(engine, "0008")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO patients (id, code, created_at) VALUES (1, 'P-0007', '2026-12-01')"))
        for _ in range(2):
            connection.execute(
                text(
                    "INSERT INTO courses (patient_id, planned_sessions, interval_days, started_at, status) "
                    "VALUES (1, 6, 7, '2026-12-01', 'active')"
                )
            )
    with pytest.raises(StorageError, match="two active courses: P-0007") as refused:
        open_database(url)
    assert "\n" not in str(refused.value)
    assert current_revision(engine) == "0008"
    engine.dispose()
