"""The clinic board's rows: every open session, one per chair, computed in one place from what is stored.

:func:`board_rows` is the one truth of the board (``stampside board`` and the app's "Clinic board"
show what it gives, nothing else). Each figure comes from the function the session's own
screens and reports use:

* chair — the chair that holds the session's patient (``session_claims``; ``None`` when none does);
* practitioner, patient, session k of n, start — :func:`~stampside.app.storage.sessions.get_session`;
* step — the stored step records restored into the protocol's
  :class:`~stampside.app.domain.steps.SessionFlow` (the current step as the app resumes it); a
  session run with a protocol the board was not given shows the step its records name;
* stamps — :func:`~stampside.app.storage.session_stamps.count_session_stamps`, the summary's and the
  report's count;
* rate — the stamping screen's :class:`~stampside.app.domain.stamping_stats.StampingStats` over the
  stamps stored in the last minute (stamps placed by when the device made them, so a replayed
  burst after a drop is no spike);
* link — the newest ``connected``/``lost`` event of the session's stamp since the session began
  (:func:`~stampside.app.storage.link_events.iter_link_events`);
* warnings — :mod:`stampside.app.domain.chair_warnings`: link lost, head used before (the pre-session
  gate's :func:`~stampside.app.storage.heads.head_used_elsewhere`), timer overdue.

Only reads: :func:`read_board` runs one transaction on a database opened read-only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from stampside.app.domain.chair_warnings import ChairWarning, head_warning, link_warning, timer_warning
from stampside.app.domain.stamping_stats import StampingStats
from stampside.app.domain.steps import SessionFlow, StepError, StepRecord
from stampside.app.domain.treatment_protocol import StepKind, TreatmentProtocol, default_protocol
from stampside.app.storage.board_reads import chairs_of, open_session_ids
from stampside.app.storage.database import Database
from stampside.app.storage.heads import head_used_elsewhere
from stampside.app.storage.link_events import iter_link_events
from stampside.app.storage.session_stamps import count_session_stamps, load_session_stamps
from stampside.app.storage.sessions import SessionView, get_session
from stampside.app.storage.step_records import load_step_records

__all__ = ["LINK_STATE_KINDS", "RATE_WINDOW_S", "BoardRow", "BoardSnapshot", "StepPlace", "board_rows", "read_board"]

#: The link events that say what state the link is in (the others — faults, reboots — do not change it).
LINK_STATE_KINDS = ("connected", "lost")
#: The stamping screen's rate window: stamps per minute over the last minute.
RATE_WINDOW_S = 60.0


@dataclass(frozen=True, slots=True)
class StepPlace:
    """Where a session is in its protocol: the current step's title, and ``number`` of ``of`` when known."""

    title: str
    number: int | None = None
    of: int | None = None

    @property
    def counter(self) -> str:
        """``4/7``, ``4`` (the protocol not known), or empty."""
        if self.number is None:
            return ""
        return f"{self.number}/{self.of}" if self.of is not None else str(self.number)


@dataclass(frozen=True, slots=True)
class BoardRow:
    """One chair's open session as the board shows it; times are aware UTC."""

    session_id: int
    #: The chair holding the session's patient; ``None``: no claim (a session opened before claims).
    chair: str | None
    practitioner: str
    patient_code: str
    session_number: int
    planned_sessions: int
    step: StepPlace
    stamps: int
    rate_per_min: float
    #: ``connected``, ``lost``, or ``None`` before the link said anything in this session.
    link: str | None
    link_since: datetime | None
    started_at: datetime
    warnings: tuple[ChairWarning, ...] = ()

    def time_in_session(self, now: datetime) -> timedelta:
        return max(timedelta(0), now - self.started_at)


@dataclass(frozen=True, slots=True)
class BoardSnapshot:
    """The board as read at ``read_at``: its rows, chairs in name order (sessions without a chair last)."""

    rows: tuple[BoardRow, ...]
    read_at: datetime


def board_rows(s: Session, now: datetime, *, protocols: Sequence[TreatmentProtocol] = ()) -> list[BoardRow]:
    """Every open session's row at ``now`` (aware). ``protocols``: the protocols whose steps the board
    can name and time (a session's is found by its stored name and version)."""
    ids = open_session_ids(s)
    chairs = chairs_of(s, ids)
    known = {(protocol.name, protocol.version): protocol for protocol in protocols}
    rows = [_row(s, get_session(s, session_id), chairs.get(session_id), known, now) for session_id in ids]
    return sorted(rows, key=lambda row: (row.chair is None, (row.chair or "").casefold(), row.started_at))


def read_board(database: Database, now: datetime, *, protocols: Sequence[TreatmentProtocol] = ()) -> BoardSnapshot:
    """:func:`board_rows` in one transaction of its own."""
    with database.Session() as s, s.begin():
        return BoardSnapshot(tuple(board_rows(s, now, protocols=protocols)), now)


def _row(
    s: Session,
    view: SessionView,
    chair: str | None,
    known: dict[tuple[str, str], TreatmentProtocol],
    now: datetime,
) -> BoardRow:
    protocol = known.get((view.protocol_name, view.protocol_version))
    records = load_step_records(s, view.id)
    step, current = _step_place(protocol, records, now)
    link, link_since = _link_state(s, view)
    used_before = (
        view.device_serial is not None
        and view.head_id is not None
        and head_used_elsewhere(s, serial=view.device_serial, head_id=view.head_id, session_id=view.id)
    )
    single_use = protocol.device.head_must_be_unused if protocol is not None else True
    warnings = (
        link_warning(link, link_since),
        head_warning(used_before=used_before, single_use=single_use),
        timer_warning(current, now),
    )
    return BoardRow(
        session_id=view.id,
        chair=chair,
        practitioner=view.practitioner_name,
        patient_code=view.patient_code,
        session_number=view.number,
        planned_sessions=view.planned_sessions,
        step=step,
        stamps=count_session_stamps(s, view.id),
        rate_per_min=_rate(s, view.id, protocol, current, now),
        link=link,
        link_since=link_since,
        started_at=view.started_at,
        warnings=tuple(warning for warning in warnings if warning is not None),
    )


def _step_place(
    protocol: TreatmentProtocol | None, records: list[StepRecord], now: datetime
) -> tuple[StepPlace, StepRecord | None]:
    """The current step (and its open record) as the app resumes the session: through the protocol's
    flow when the board knows the protocol, else from the records alone."""
    if protocol is not None:
        try:
            flow = SessionFlow.restore(protocol, records, clock=lambda: now)
        except StepError:
            flow = None
        if flow is not None:
            total = len(protocol.steps)
            step = flow.current_step
            if step is None:
                return StepPlace("all steps done", total, total), None
            return StepPlace(step.title, flow.position + 1, total), flow.current_record
    ordered = sorted(records, key=lambda record: record.position)
    if not ordered:
        return StepPlace("not started"), None
    last = ordered[-1]
    if not last.completed:
        return StepPlace(_title(last.step_id), last.position + 1), last
    return StepPlace(f"after {_title(last.step_id)}", last.position + 1), None


def _title(step_id: str) -> str:
    return step_id.replace("_", " ").capitalize()


def _link_state(s: Session, view: SessionView) -> tuple[str | None, datetime | None]:
    """The newest link state of the session's stamp since the session began, and when it began."""
    if view.device_serial is None:
        return None, None
    newest = list(
        iter_link_events(
            s, serial=view.device_serial, since=view.started_at, kinds=LINK_STATE_KINDS, limit=1, unattributed=False
        )
    )
    return (newest[0].kind, newest[0].at) if newest else (None, None)


def _rate(
    s: Session, session_id: int, protocol: TreatmentProtocol | None, current: StepRecord | None, now: datetime
) -> float:
    """Stamps per minute over the last minute, as the stamping screen counts them."""
    recent = load_session_stamps(s, session_id, received_after=now - timedelta(seconds=RATE_WINDOW_S))
    if not recent:
        return 0.0
    at = now.timestamp()
    force = (protocol or default_protocol()).force  # the board shows no force; the statistics sort it anyway
    stats = StampingStats(force, lambda: at, rate_window_s=RATE_WINDOW_S)
    if current is not None and current.kind is StepKind.STAMPING:
        # The screen's window is the step's time so far until it has run a full minute.
        stats.start(max(0.0, (now - current.started_at).total_seconds()))
    for stamp in recent:
        stats.add(
            stamp.boot, stamp.seq, stamp.device_time_ms, stamp.force_dn, stamp.received_at.timestamp(), life=stamp.life
        )
    return stats.rate_per_min()
