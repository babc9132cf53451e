"""Practitioner sign-in and PIN checks as the app uses them: each one unit of work on the database.

* :func:`sign_in_choices` — who can sign in (active practitioners), and who has no PIN yet.
* :func:`check_signer` — a practitioner's PIN, to sign in, to unlock, or to sign a record:
  the :class:`~stampside.app.domain.signatures.Signer`, or :class:`~stampside.app.domain.pins.PinRefused` with what
  to show ("wrong PIN: 3 tries left", "locked for 5 minutes more"). The count of wrong PINs and
  a lockout are committed before the refusal is raised.
* :func:`choose_first_pin` — a practitioner without a PIN chooses one (typed twice) and is signed in.

Every function blocks (argon2 takes about a tenth of a second by design): the app calls them
in a worker thread. Storage errors come out as they are, for the caller to show.
"""

from __future__ import annotations

from datetime import datetime

from stampside.app.chairside.sign_in_peek import SignInChoice
from stampside.app.domain.pins import PinRefused
from stampside.app.domain.signatures import Signer
from stampside.app.storage.database import Database
from stampside.app.storage.pins import check_pin, pin_states, set_pin
from stampside.app.storage.practitioners import list_practitioners

__all__ = ["SignInChoice", "check_signer", "choose_first_pin", "sign_in_choices"]


def sign_in_choices(database: Database) -> list[SignInChoice]:
    """The active practitioners by name, each with whether they have a PIN yet."""
    with database.Session.begin() as s:
        states = pin_states(s)
        return [SignInChoice(p.id, p.name, p.id in states) for p in list_practitioners(s)]


def check_signer(database: Database, practitioner_id: int, pin: str, *, now: datetime) -> Signer:
    """The practitioner as a signer if ``pin`` is theirs; :class:`PinRefused` (after the count is stored) if not."""
    with database.Session.begin() as s:
        checked = check_pin(s, practitioner_id, pin, now=now)
    if checked.signer is None:
        raise PinRefused(checked.message)
    return checked.signer


def choose_first_pin(database: Database, practitioner_id: int, pin: str, again: str, *, now: datetime) -> Signer:
    """A practitioner without a PIN chooses one (typed twice); :class:`PinRefused` when it will not do."""
    with database.Session.begin() as s:
        return set_pin(s, practitioner_id, pin, again, now=now)
