"""Use cases on practitioners: add one, list who can be chosen at the start, retire one.

Step records name practitioners by name (as :class:`stampside.app.domain.steps.StepRecord` does), so a
retired practitioner stays readable in old sessions; retiring only hides them from the list.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from stampside.app.storage.schema import Practitioner

MAX_NAME_CHARS = 120


class PractitionerError(ValueError):
    """A practitioner name that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class PractitionerView:
    id: int
    name: str
    active: bool


def _view(row: Practitioner) -> PractitionerView:
    return PractitionerView(row.id, row.name, row.active)


def add_practitioner(session: Session, name: str) -> PractitionerView:
    """Add a practitioner (or make a retired one active again) by name; return them."""
    clean = " ".join(name.split())
    if not clean:
        raise PractitionerError("the practitioner's name is empty; type their name")
    if len(clean) > MAX_NAME_CHARS:
        raise PractitionerError(f"the practitioner's name is longer than {MAX_NAME_CHARS} characters")
    row = session.scalars(select(Practitioner).where(Practitioner.name == clean)).one_or_none()
    if row is None:
        row = Practitioner(name=clean, active=True)
        session.add(row)
    row.active = True
    session.flush()
    return _view(row)


def list_practitioners(session: Session, *, include_retired: bool = False) -> list[PractitionerView]:
    """Practitioners by name; only active ones unless ``include_retired``."""
    query = select(Practitioner).order_by(Practitioner.name)
    if not include_retired:
        query = query.where(Practitioner.active.is_(True))
    return [_view(row) for row in session.scalars(query)]


def retire_practitioner(session: Session, practitioner_id: int) -> None:
    """Hide a practitioner from the start screen; their records keep their name."""
    row = session.get(Practitioner, practitioner_id)
    if row is None:
        raise PractitionerError(f"no practitioner with id {practitioner_id}")
    row.active = False
