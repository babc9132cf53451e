"""A practitioner's PIN (or passphrase): what a new one must be, and when wrong ones lock the practitioner out.

The PIN itself is never kept: storage keeps an argon2 hash (:mod:`stampside.app.storage.pin_hashing`).
These are the rules around it, in plain Python:

* :func:`check_new_pin`: a new PIN is typed twice and must be the same both times, from
  :data:`MIN_PIN_CHARS` to :data:`MAX_PIN_CHARS` characters (digits or any text, so a
  passphrase does too), not only spaces. Surrounding spaces are kept: what is typed is the PIN.
* :class:`LockoutPolicy`: :attr:`~LockoutPolicy.max_failures` wrong PINs in a row (5) lock
  the practitioner out for :attr:`~LockoutPolicy.lock_for` (5 minutes); a right PIN starts the
  count again. While locked out even the right PIN is refused, so guessing stays slow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "MAX_PIN_CHARS",
    "MIN_PIN_CHARS",
    "Attempt",
    "LockoutPolicy",
    "PinRefused",
    "check_new_pin",
    "minutes_text",
]

#: A PIN has at least this many characters (a 4-digit PIN is the shortest)…
MIN_PIN_CHARS = 4
#: …and at most this many (a passphrase).
MAX_PIN_CHARS = 128


class PinRefused(ValueError):
    """A new PIN that will not do, or a PIN that was not accepted; the message says why."""


def check_new_pin(pin: str, again: str) -> str:
    """The new PIN, typed twice; :class:`PinRefused` when it is too short, too long, blank or typed differently."""
    if not pin.strip():
        raise PinRefused(f"type a PIN of at least {MIN_PIN_CHARS} digits, or a passphrase")
    if len(pin) < MIN_PIN_CHARS:
        raise PinRefused(f"the PIN is too short: at least {MIN_PIN_CHARS} characters")
    if len(pin) > MAX_PIN_CHARS:
        raise PinRefused(f"the PIN is too long: at most {MAX_PIN_CHARS} characters")
    if pin != again:
        raise PinRefused("the two PINs differ: type the same PIN twice")
    return pin


def minutes_text(span: timedelta) -> str:
    """``5 minutes``, ``1 minute``, ``less than a minute``: how long a lockout still lasts, rounded up."""
    seconds = max(0.0, span.total_seconds())
    if seconds < 60:
        return "less than a minute"
    minutes = int(-(-seconds // 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one PIN attempt comes to: accepted or not, the practitioner's new count and lockout, and what to say.

    ``locked_now`` is true for the wrong PIN that locked the practitioner out: a security event.
    """

    accepted: bool
    failures: int
    locked_until: datetime | None
    message: str
    locked_now: bool = False


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """How many wrong PINs in a row lock a practitioner out, and for how long."""

    max_failures: int = 5
    lock_for: timedelta = timedelta(minutes=5)

    def locked(self, locked_until: datetime | None, now: datetime) -> bool:
        """Whether a practitioner locked out until ``locked_until`` is still locked out at ``now``."""
        return locked_until is not None and now < locked_until

    def attempt(self, *, matches: bool, failures: int, locked_until: datetime | None, now: datetime) -> Attempt:
        """One PIN attempt by a practitioner with ``failures`` wrong PINs so far (and maybe locked out).

        ``matches``: the PIN typed matches the stored hash. While locked out nothing is accepted
        and nothing is counted.
        """
        if self.locked(locked_until, now):
            assert locked_until is not None
            wait = minutes_text(locked_until - now)
            return Attempt(False, failures, locked_until, f"too many wrong PINs: locked for {wait} more")
        if matches:
            return Attempt(True, 0, None, "")
        count = (0 if locked_until is not None else failures) + 1  # a lockout that ran out starts a new count
        if count >= self.max_failures:
            until = now + self.lock_for
            return Attempt(
                False,
                count,
                until,
                f"wrong PIN {count} times: locked for {minutes_text(self.lock_for)}",
                locked_now=True,
            )
        left = self.max_failures - count
        return Attempt(False, count, None, f"wrong PIN: {left} {'try' if left == 1 else 'tries'} left")
