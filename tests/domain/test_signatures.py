"""What is signed and what signing it means; how a signature reads (§11.50), and when the app locks itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from stampside.app.domain.idle_lock import IdleLock
from stampside.app.domain.signatures import SIGNED_ACTS, SignatureMark, SignatureMeaning, SignedAct, manifestation


def test_every_signed_act_has_a_meaning_and_every_meaning_is_used() -> None:
    assert set(SIGNED_ACTS) == set(SignedAct)
    assert set(SIGNED_ACTS.values()) == set(SignatureMeaning)


def test_overrides_are_overridden_verdicts_reviewed_outcomes_performed_closing_approved() -> None:
    overrides = {
        SignedAct.STEP_OVERRIDE,
        SignedAct.COURSE_OVERRIDE,
        SignedAct.SCHEDULE_DEVIATION,
        SignedAct.SCREENING_OVERRIDE,
    }
    assert {act for act, meaning in SIGNED_ACTS.items() if meaning is SignatureMeaning.OVERRIDDEN} == overrides
    assert SignedAct.SCREENING_VERDICT.meaning is SignatureMeaning.REVIEWED
    assert {SignedAct.OUTCOME_ASSESSMENT, SignedAct.SELF_ASSESSMENT, SignedAct.ADVERSE_EVENT} == {
        act for act, meaning in SIGNED_ACTS.items() if meaning is SignatureMeaning.PERFORMED
    }
    assert SignedAct.SESSION_CLOSE.meaning is SignatureMeaning.APPROVED


def test_a_signature_reads_name_meaning_and_time_in_the_clinics_zone() -> None:
    mark = SignatureMark("Dr. Ana Ruiz", SignatureMeaning.OVERRIDDEN, datetime(2026, 11, 26, 14, 5, tzinfo=UTC))
    assert manifestation(mark, UTC) == "signed Dr. Ana Ruiz · overridden · 2026-11-26 14:05"
    madrid = timezone(timedelta(hours=1))
    assert manifestation(mark, madrid) == "signed Dr. Ana Ruiz · overridden · 2026-11-26 15:05"


def test_the_idle_lock_is_due_after_the_minutes_without_a_key_and_a_key_starts_them_again() -> None:
    lock = IdleLock.minutes(5, now=1000.0)
    assert not lock.due(1000.0 + 299) and lock.remaining_s(1000.0 + 299) == 1
    assert lock.due(1000.0 + 300)
    lock.touch(1200.0)
    assert not lock.due(1000.0 + 300) and lock.due(1200.0 + 300)
    lock.touch(1100.0)  # a clock reading from before the last key changes nothing
    assert lock.last_touch == 1200.0


def test_no_idle_lock_when_its_minutes_are_zero() -> None:
    lock = IdleLock.minutes(0, now=0.0)
    assert not lock.due(10**9) and lock.remaining_s(10**9) == float("inf")
