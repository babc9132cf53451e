"""A stored session's stamp count and coverage, read in one place for every screen and report.

:func:`session_figures` is what the summary screen (``stampside.app.tui.session_steps.read_figures``),
the session report (and through it the course report) and the demo data's checks show. It
reads what is stored — the session's zones, footprint and credited stamps, and the patient's
Norwood grade when no zone is stored — and hands it to the pure
:func:`stampside.app.domain.coverage.session_coverage`, which holds the fallbacks
(``docs/coverage.md``, "A stored session's figures").
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from stampside.app.domain.coverage import CreditedStamp, SessionCoverage, session_coverage
from stampside.app.domain.treatment_protocol import TreatmentProtocol
from stampside.app.domain.zones import NorwoodGrade
from stampside.app.storage.patients import get_patient
from stampside.app.storage.session_stamps import count_session_stamps, load_credited_stamps
from stampside.app.storage.sessions import get_session


def session_figures(s: Session, session_id: int, protocol: TreatmentProtocol | None) -> SessionCoverage:
    """The figures of session ``session_id``; ``SessionError`` if it does not exist.

    ``protocol`` gives the target density of a zone stored without one (``None`` when the
    session's protocol is not known: such a zone is then not treated). Before the device is
    attached no stamp can be credited, so the coverage is empty, but every stamp stored with
    the session is still counted.
    """
    view = get_session(s, session_id)
    grade: NorwoodGrade | None = None
    if not view.zones:
        patient = get_patient(s, view.patient_id)
        grade = patient.norwood_grade if patient is not None else None
    credited: list[CreditedStamp] = load_credited_stamps(s, session_id) if view.device_id is not None else []
    return session_coverage(
        view.zones,
        protocol.coverage.densities() if protocol is not None else {},
        view.footprint_mm2,
        credited,
        norwood_grade=grade,
        stored_stamps=count_session_stamps(s, session_id),
    )
