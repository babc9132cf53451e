"""Use cases on practitioners' PINs: set one, check one (counting wrong ones), say who has one.

A PIN is kept only as an argon2 hash (:mod:`stampside.app.storage.pin_hashing`) in
``practitioner_pins``; a practitioner without a row there has no PIN yet and chooses one at
their first sign-in. :func:`check_pin` applies the lockout rule
(:class:`stampside.app.domain.pins.LockoutPolicy`): it returns what the attempt came to instead of
raising, so the caller's transaction commits the count of wrong PINs (and, for the one that
locks the practitioner out, the ``pin_lockout`` security event) before the refusal is shown.
A right PIN gives a :class:`~stampside.app.domain.signatures.Signer`: the only way to get one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from stampside.app.domain.pins import LockoutPolicy, PinRefused, check_new_pin
from stampside.app.domain.signatures import Signer
from stampside.app.storage.pin_hashing import hash_pin, needs_rehash, pin_matches
from stampside.app.storage.schema import Practitioner, PractitionerPin
from stampside.app.storage.security_events import PIN_LOCKOUT, PIN_RESET, PIN_SET, log_security_event

__all__ = ["LOCKOUT", "PinCheck", "PinState", "check_pin", "pin_states", "set_pin"]

#: The clinic's lockout rule: five wrong PINs in a row lock a practitioner out for five minutes.
LOCKOUT = LockoutPolicy()


@dataclass(frozen=True, slots=True)
class PinState:
    """Whether a practitioner has a PIN yet, and until when they are locked out (None: they are not)."""

    practitioner_id: int
    has_pin: bool
    locked_until: datetime | None


@dataclass(frozen=True, slots=True)
class PinCheck:
    """What a PIN attempt came to: the signer when it was right, else the message to show."""

    signer: Signer | None
    message: str
    locked_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.signer is not None


def _practitioner(session: Session, practitioner_id: int) -> Practitioner:
    row = session.get(Practitioner, practitioner_id)
    if row is None:
        raise PinRefused(f"no practitioner with id {practitioner_id}")
    if not row.active:
        raise PinRefused(f"{row.name} is retired and cannot sign in")
    return row


def pin_states(session: Session) -> dict[int, PinState]:
    """Every practitioner with a PIN, by id (one missing has none yet)."""
    return {
        row.practitioner_id: PinState(row.practitioner_id, True, row.locked_until)
        for row in session.scalars(select(PractitionerPin))
    }


def set_pin(
    session: Session,
    practitioner_id: int,
    pin: str,
    again: str,
    *,
    now: datetime,
    replace: bool = False,
    how: str = "at their first sign-in",
) -> Signer:
    """Give practitioner ``practitioner_id`` the PIN typed twice; returns them as a signer.

    Without ``replace`` only a practitioner who has no PIN yet may get one (their first sign-in,
    ``stampside practitioner add``); with it (``stampside practitioner set-pin``) a PIN is
    replaced and a lockout lifted. Either way a security event says so, and ``how``: ``pin_set``
    for a first PIN, ``pin_reset`` for a replaced one. :class:`PinRefused` when the PIN will not do.
    """
    practitioner = _practitioner(session, practitioner_id)
    checked = check_new_pin(pin, again)
    row = session.get(PractitionerPin, practitioner_id)
    if row is not None and not replace:
        raise PinRefused(f"{practitioner.name} has a PIN already: type it to sign in")
    kind = PIN_RESET if row is not None else PIN_SET
    if row is None:
        row = PractitionerPin(practitioner_id=practitioner_id)
        session.add(row)
    row.pin_hash = hash_pin(checked)
    row.set_at = now
    row.failures = 0
    row.locked_until = None
    what = "PIN replaced" if kind == PIN_RESET else "PIN set"
    log_security_event(
        session, kind, at=now, practitioner_id=practitioner_id, detail=f"{practitioner.name}: {what} {how}"
    )
    return Signer(practitioner.id, practitioner.name)


def check_pin(
    session: Session, practitioner_id: int, pin: str, *, now: datetime, policy: LockoutPolicy = LOCKOUT
) -> PinCheck:
    """Check practitioner ``practitioner_id``'s PIN, counting a wrong one; never raises for a wrong PIN.

    The caller's transaction must commit even when the PIN was wrong: that stores the count
    and a lockout. :class:`PinRefused` only for a practitioner who cannot sign in at all
    (unknown, retired).
    """
    practitioner = _practitioner(session, practitioner_id)
    row = session.get(PractitionerPin, practitioner_id)
    if row is None:
        return PinCheck(None, f"{practitioner.name} has no PIN yet: choose one at sign-in")
    locked = policy.locked(row.locked_until, now)
    matches = not locked and pin_matches(row.pin_hash, pin)  # no hashing while locked out
    attempt = policy.attempt(matches=matches, failures=row.failures, locked_until=row.locked_until, now=now)
    if (row.failures, row.locked_until) != (attempt.failures, attempt.locked_until):
        row.failures, row.locked_until = attempt.failures, attempt.locked_until
    if attempt.accepted:
        if needs_rehash(row.pin_hash):
            row.pin_hash = hash_pin(pin)
        return PinCheck(Signer(practitioner.id, practitioner.name), "")
    if attempt.locked_now and attempt.locked_until is not None:
        until = attempt.locked_until.astimezone(UTC)
        log_security_event(
            session,
            PIN_LOCKOUT,
            at=now,
            practitioner_id=practitioner_id,
            detail=f"{practitioner.name}: {attempt.failures} wrong PINs in a row; locked until {until:%H:%M:%S} UTC",
        )
    return PinCheck(None, attempt.message, attempt.locked_until)
