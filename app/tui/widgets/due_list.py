"""What is due today and this week, overdue first: sessions and the 3- and 6-month follow-ups.

The list is :func:`~stampside.app.storage.schedule.list_due_items`, read in a worker thread; each line
says how pressing it is, the patient, what is due, the day and its window. Choosing a line
(enter) posts :class:`DueList.Chosen` with the patient, so the start screen can select them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, tzinfo

from sqlalchemy.exc import SQLAlchemyError
from textual import work
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from stampside.app.domain.schedule import DueItem, DueKind, DueWhen
from stampside.app.domain.treatment_protocol import TreatmentProtocol
from stampside.app.storage.database import Database
from stampside.app.storage.errors import explain
from stampside.app.storage.schedule import list_due_items

_WHEN = {
    DueWhen.OPEN: "OPEN",
    DueWhen.OVERDUE: "OVERDUE",
    DueWhen.TODAY: "today",
    DueWhen.THIS_WEEK: "this week",
    DueWhen.LATER: "later",
}


def _day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def format_due(item: DueItem) -> str:
    """``OVERDUE    P-0042  session 3 of 6   due Thu 19 Nov (window 17 Nov – 22 Nov)``."""
    label = item.label[:1].upper() + item.label[1:]
    if item.kind is DueKind.OPEN:
        return f"{_WHEN[item.when]:<9}  {item.patient_code:<8}  {label:<24}  in progress: choose it, then s resumes it"
    return (
        f"{_WHEN[item.when]:<9}  {item.patient_code:<8}  {label:<18}  due {_day(item.due_on)} "
        f"(window {_day(item.earliest)} – {_day(item.latest)})"
    )


class DueList(OptionList):
    """The due items; empty says "nothing due this week"."""

    class Chosen(Message):
        """A due item was chosen: its patient should be selected."""

        def __init__(self, item: DueItem) -> None:
            super().__init__()
            self.item = item

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.items: list[DueItem] = []

    def reload(self, database: Database, protocol: TreatmentProtocol, today: date, tz: tzinfo | None) -> None:
        """Read the due items for ``today`` off the UI thread and show them."""

        def read() -> list[DueItem]:
            try:
                with database.Session.begin() as s:
                    return list_due_items(s, protocol=protocol, today=today, tz=tz)
            except SQLAlchemyError as exc:
                raise explain(database.url, exc) from None

        self._load(read)

    @work(group="due-list", exclusive=True)
    async def _load(self, read: Callable[[], list[DueItem]]) -> None:
        try:
            items = await asyncio.to_thread(read)
        except Exception as exc:  # shown in the list, never a traceback
            self.set_options([Option(f"Due items cannot be read: {exc}", disabled=True)])
            return
        self.show_items(items)

    def show_items(self, items: list[DueItem]) -> None:
        self.items = items
        if not items:
            self.set_options([Option("Nothing due today or this week.", disabled=True)])
            return
        self.set_options(Option(format_due(item), id=str(index)) for index, item in enumerate(items))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option.id is not None:
            self.post_message(self.Chosen(self.items[int(event.option.id)]))
