"""Small pieces the session controller uses to run the guided steps, kept free of the controller's state.

* :func:`device_facts` turns what the link knows (DEVICE_INFO, BATTERY, HEAD_CHANGED, the
  time sync, the arm state) into the domain's :class:`~app.domain.gates.DeviceFacts`.
* :func:`default_cards_dir` and :func:`write_aftercare_card` put the aftercare card (text and
  HTML) in the clinic's data folder, next to a SQLite database file, else in the user data dir.
* :func:`read_figures` reads the stored stamps and coverage the summary shows.
* :func:`stamp_inputs` turns stored stamps into the stamping screen's input, on its clock.

All storage and file functions here block: call them in a worker thread.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

import platformdirs
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from app.domain.aftercare import AftercareCard, write_card
from app.domain.gates import DeviceFacts
from app.domain.treatment_protocol import TreatmentProtocol
from app.storage.location import APP_NAME
from app.storage.session_figures import session_figures
from app.storage.session_stamps import SessionStamp
from app.storage.sessions import SessionView
from app.tui.screens.stamping import StampInput
from app.tui.screens.steps import SessionFigures
from devicelink.session import LinkSession
from devicelink.state import LinkState

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


def default_cards_dir(database_url: URL) -> Path:
    """``aftercare/`` next to a SQLite database file, else in the platform's user data dir."""
    if database_url.get_backend_name() == "sqlite" and database_url.database not in (None, "", ":memory:"):
        return Path(str(database_url.database)).expanduser().absolute().parent / CARDS_FOLDER
    return platformdirs.user_data_path(APP_NAME, appauthor=False) / CARDS_FOLDER


def card_stem(view: SessionView, ended: datetime) -> str:
    """``aftercare-P-0042-s1-20261125``: patient code (made file-safe), session number, date."""
    code = re.sub(r"[^A-Za-z0-9._-]+", "_", view.patient_code).strip("._") or "patient"
    return f"aftercare-{code}-s{view.number}-{ended:%Y%m%d}"


def write_aftercare_card(card: AftercareCard, folder: Path, stem: str) -> tuple[Path, Path]:
    """Write the card as ``stem.txt`` and ``stem.html`` in ``folder`` (made if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    text = write_card(card, folder / f"{stem}.txt")
    page = write_card(card, folder / f"{stem}.html")
    return text, page


def read_figures(s: Session, session_id: int, protocol: TreatmentProtocol) -> SessionFigures:
    """The session's stored stamps and the coverage they give each zone, as the session report shows them.

    Computed by :func:`app.storage.session_figures.session_figures` (its fallbacks are in
    ``docs/coverage.md``), so the summary and the report of a session never disagree.
    """
    figures = session_figures(s, session_id, protocol)
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
        )
        for stamp in stamps
    ]
