"""Signed records (21 CFR Part 11 §11.50): what is signed, with which meaning, and how a signature reads.

Some records are signed: the practitioner types their PIN again, and the record keeps a
signature with the signer's name as signed, the time and the meaning. :data:`SIGNED_ACTS`
says which acts are signed and what signing each one means:

* an override (of a step's check, a course gate such as the baseline photos, a failed
  screening, a start outside the schedule's window): **overridden**;
* a screening's verdict: **reviewed**;
* an outcome entry (the investigator's assessment, the patient's questionnaire, an adverse
  event): **performed**;
* closing a treatment session: **approved**;
* a correction of a stored record (an outcome, an adverse event, a screening's results, a
  patient's details, :mod:`stampside.app.domain.corrections`): **approved**: the signer approves
  the corrected values, and the reason, as the record from now on.

:func:`manifestation` is how a signature reads wherever it is shown (the app's screens and
the reports print the same words).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum

__all__ = [
    "SIGNED_ACTS",
    "SignatureMark",
    "SignatureMeaning",
    "SignedAct",
    "Signer",
    "manifestation",
]


class SignatureMeaning(StrEnum):
    """What a signature says the signer did (stored as the value)."""

    PERFORMED = "performed"
    REVIEWED = "reviewed"
    APPROVED = "approved"
    OVERRIDDEN = "overridden"


class SignedAct(StrEnum):
    """Every act the app has signed."""

    STEP_OVERRIDE = "step_override"
    COURSE_OVERRIDE = "course_override"
    SCHEDULE_DEVIATION = "schedule_deviation"
    SCREENING_VERDICT = "screening_verdict"
    SCREENING_OVERRIDE = "screening_override"
    OUTCOME_ASSESSMENT = "outcome_assessment"
    SELF_ASSESSMENT = "self_assessment"
    ADVERSE_EVENT = "adverse_event"
    SESSION_CLOSE = "session_close"
    CORRECTION = "correction"

    @property
    def meaning(self) -> SignatureMeaning:
        return SIGNED_ACTS[self]


#: Each signed act and what signing it means.
SIGNED_ACTS: dict[SignedAct, SignatureMeaning] = {
    SignedAct.STEP_OVERRIDE: SignatureMeaning.OVERRIDDEN,
    SignedAct.COURSE_OVERRIDE: SignatureMeaning.OVERRIDDEN,
    SignedAct.SCHEDULE_DEVIATION: SignatureMeaning.OVERRIDDEN,
    SignedAct.SCREENING_OVERRIDE: SignatureMeaning.OVERRIDDEN,
    SignedAct.SCREENING_VERDICT: SignatureMeaning.REVIEWED,
    SignedAct.OUTCOME_ASSESSMENT: SignatureMeaning.PERFORMED,
    SignedAct.SELF_ASSESSMENT: SignatureMeaning.PERFORMED,
    SignedAct.ADVERSE_EVENT: SignatureMeaning.PERFORMED,
    SignedAct.SESSION_CLOSE: SignatureMeaning.APPROVED,
    SignedAct.CORRECTION: SignatureMeaning.APPROVED,
}


@dataclass(frozen=True, slots=True)
class Signer:
    """A practitioner who has just typed their PIN and may sign: made only by checking the PIN."""

    practitioner_id: int
    name: str


@dataclass(frozen=True, slots=True)
class SignatureMark:
    """A stored signature as it is shown: who signed (the name as signed), with which meaning, when."""

    signer: str
    meaning: SignatureMeaning
    signed_at: datetime


def manifestation(mark: SignatureMark, tz: tzinfo | None = None, *, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """``signed Dr. Ana Ruiz · overridden · 2026-11-26 14:05``: name, meaning and time, in ``tz`` (None: local)."""
    return f"signed {mark.signer} · {mark.meaning.value} · {mark.signed_at.astimezone(tz):{fmt}}"
