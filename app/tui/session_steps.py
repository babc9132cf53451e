"""Small pieces the session controller uses to run the guided steps, kept free of the controller's state.

* :func:`device_facts` turns what the link knows (DEVICE_INFO, BATTERY, HEAD_CHANGED, the
  time sync, the arm state) into the domain's :class:`~stampside.app.domain.gates.DeviceFacts`.
* :func:`read_figures` reads the stored stamps and coverage the summary shows.
* :func:`stamp_inputs` turns stored stamps into the stamping screen's input, on its clock.

All storage and file functions here block: call them in a worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from sqlalchemy.orm import Session

from stampside.app.domain.coverage import SessionCoverage
from stampside.app.domain.gates import DeviceFacts
from stampside.app.domain.treatment_protocol import TreatmentProtocol
from stampside.app.storage.session_figures import session_figures
from stampside.app.storage.session_stamps import SessionStamp
from stampside.app.tui.screens.stamping import StampInput
from stampside.app.tui.screens.steps import SessionFigures
from stampside.devicelink.session import LinkSession
from stampside.devicelink.state import LinkState

CARDS_FOLDER = "aftercare"


def device_facts(session: LinkSession | None, head_used: Callable[[str, int], bool | None]) -> DeviceFacts | None:
    """The device as the gates see it now; ``None`` while the head's history is still being read.

    ``head_used(serial, head_id)`` says whether the head was used in another session, or
    ``None`` when not known yet. A link that is not connected means no identified device.
    """
    if session is None or session.device is None or session.state is not LinkState.CONNECTED:
        return DeviceFacts()
    info = session.device
    head_id = session.head.head_id if session.head is not None else info.head_id
    battery = session.battery.pct if session.battery is not None else info.battery_pct
    used = head_used(info.serial, head_id)
    if used is None:
        return None
    return DeviceFacts(
        identified=True,
        serial=info.serial,
        needle_um=info.needle_um,
        head_id=head_id,
        head_used_elsewhere=used,
        battery_pct=battery,
        clock_synced=session.last_time_sync is not None,
        armed=session.armed is True,
    )


def read_figures(s: Session, session_id: int, protocol: TreatmentProtocol) -> SessionFigures:
    """The session's stored stamps and the coverage they give each zone, as the session report shows them.

    Computed by :func:`stampside.app.storage.session_figures.session_figures` (its fallbacks are in
    ``docs/coverage.md``), so the summary and the report of a session never disagree.
    """
    return summary_figures(session_figures(s, session_id, protocol))


def summary_figures(figures: SessionCoverage) -> SessionFigures:
    """What the summary screen shows of a session's figures."""
    return SessionFigures(figures.stamps, figures.zones, figures.unassigned)


def stamp_inputs(stamps: Iterable[SessionStamp], now_monotonic: float | None = None) -> list[StampInput]:
    """Stored stamps as the stamping screen counts them, their receive time moved onto ``time.monotonic``."""
    mono = time.monotonic() if now_monotonic is None else now_monotonic
    wall = time.time()
    return [
        StampInput(
            stamp.boot,
            stamp.seq,
            stamp.device_time_ms,
            stamp.force_dn,
            stamp.zone,
            mono - max(0.0, wall - stamp.received_at.timestamp()),
            stamp.credited,
            stamp.life,
        )
        for stamp in stamps
    ]
