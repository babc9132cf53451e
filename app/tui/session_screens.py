"""The aftercare and summary steps' screens, built from what the session's use cases give.

Both read or write through :mod:`stampside.app.chairside.session_cases` in a worker thread; a failure is
shown on the screen and as a notification, never raised.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from stampside.app.chairside import session_cases as cases
from stampside.app.domain.aftercare import AftercareCard
from stampside.app.domain.signatures import SignatureMark
from stampside.app.domain.treatment_protocol import Step
from stampside.app.storage.schedule import ScheduleError
from stampside.app.storage.sessions import SessionError
from stampside.app.tui.screens.steps import AftercareScreen, SessionFigures, SummaryScreen
from stampside.app.tui.session_steps import summary_figures

if TYPE_CHECKING:
    from stampside.app.tui.session_controller import SessionController


async def aftercare_screen(controller: SessionController, step: Step, number: int) -> AftercareScreen:
    """The aftercare step: the wash window, the next appointment, the clinic's phone and address; the card as text
    and HTML.

    The card is read from storage (:func:`~stampside.app.chairside.session_cases.aftercare_card`, with the
    settings file's clinic); the screen shows the card's own lines, so the two say the same.
    """
    database, view, flow = controller.database, controller.view, controller.flow
    assert database is not None and view is not None
    record = flow.current_record
    ended = flow.treatment_ended_at or (record.started_at if record is not None else controller.clock())
    local_end = controller.local(ended)
    clinic = controller.clinic
    try:
        card = await asyncio.to_thread(
            cases.aftercare_card,
            database,
            view.id,
            controller.protocol,
            ended=local_end,
            clinic=clinic,
            practitioner=controller.practitioner,
            tz=controller.tz,
        )
    except (SQLAlchemyError, SessionError, ScheduleError) as exc:
        controller.notify_error(f"The next appointment could not be read: {exc}", "Aftercare card")
        card = AftercareCard.for_session(
            local_end,
            controller.protocol.aftercare,
            patient=view.patient_code,
            practitioner=controller.practitioner,
            clinic=clinic.name,
            phone=clinic.phone,
            address=clinic.address,
            session_label=view.label,
        )
    folder = controller.cards_dir or cases.default_cards_dir(database.url)
    error: str | None = None
    try:
        controller.card_paths = await asyncio.to_thread(
            cases.write_aftercare, card, folder, cases.card_stem(view, local_end)
        )
    except OSError as exc:
        error = f"{exc.strerror or exc} ({folder})"
        controller.notify_error(f"The aftercare card could not be written: {error}", "Aftercare card")
    return AftercareScreen(controller, step, number, card, card_paths=controller.card_paths, card_error=error)


async def summary_screen(controller: SessionController, step: Step, number: int) -> SummaryScreen:
    """The summary: its figures are the session report's (one computation, from what is stored), and the
    overrides' signatures as stored."""
    database, view = controller.database, controller.view
    assert database is not None and view is not None
    figures: SessionFigures | None = None
    try:
        figures = summary_figures(await asyncio.to_thread(cases.summary, database, view.id, controller.protocol))
    except (SQLAlchemyError, SessionError) as exc:
        controller.notify_error(str(exc), "Stamps not read")
    signatures: dict[tuple[int, int], SignatureMark] = {}
    if await controller.saved():
        try:
            signatures = await asyncio.to_thread(cases.override_signatures, database, view.id)
        except SQLAlchemyError as exc:
            controller.notify_error(str(exc), "Signatures not read")
    return SummaryScreen(controller, step, number, figures=figures, signatures=signatures)
