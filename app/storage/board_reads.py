"""The few reads the clinic board needs that no other screen makes: which sessions are open, at which
chair, and their stamps of the last moments. Everything else the board shows comes from the use
cases the session screens and reports use (:mod:`stampside.app.chairside.board`).

Each takes the session of a transaction the caller opened, and only reads.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.orm import Session

from stampside.app.storage.schema import SessionClaim, TreatmentSession

__all__ = ["chairs_of", "open_session_ids"]


def open_session_ids(session: Session) -> list[int]:
    """Every treatment session still open, oldest first."""
    return list(
        session.scalars(
            select(TreatmentSession.id)
            .where(TreatmentSession.status == "open")
            .order_by(TreatmentSession.started_at, TreatmentSession.id)
        )
    )


def chairs_of(session: Session, session_ids: Collection[int]) -> dict[int, str]:
    """The chair holding each of these sessions: its ``patient`` claim's chair (a session without one
    is missing from the answer)."""
    if not session_ids:
        return {}
    rows = session.execute(
        select(SessionClaim.session_id, SessionClaim.chair).where(
            SessionClaim.kind == "patient", SessionClaim.session_id.in_(sorted(session_ids))
        )
    )
    return {session_id: chair for session_id, chair in rows}
