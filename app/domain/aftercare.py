"""Aftercare: when the patient may wash their hair again, and the card they take home.

:func:`aftercare_window` turns the session's end and the protocol's hours into clock times;
:meth:`AftercareWindow.describe` says them the way the practitioner reads them out
("not before Thu 14:05; ideally Fri 14:05"). An :class:`AftercareCard` renders as plain text
or HTML (everything typed by a person is escaped) and :func:`write_card` saves it.

Times are shown in the time zone of the session's end time: pass a local ``datetime``.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from app.domain.treatment_protocol import AftercareRules

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def clock_time(moment: datetime, *, since: datetime | None = None) -> str:
    """``Thu 14:05``; with the date too (``Thu 3 Dec 14:05``) when it is 6 days or more after ``since``."""
    text = f"{_WEEKDAYS[moment.weekday()]} {moment:%H:%M}"
    if since is not None and (moment.date() - since.date()).days >= 6:
        text = f"{_WEEKDAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]} {moment:%H:%M}"
    return text


@dataclass(frozen=True, slots=True)
class AftercareWindow:
    """No hair wash before ``not_before``; ideally not before ``ideally_after``."""

    session_end: datetime
    not_before: datetime
    ideally_after: datetime

    def describe(self) -> str:
        """``not before Thu 14:05; ideally Fri 14:05``."""
        first = clock_time(self.not_before, since=self.session_end)
        if self.ideally_after == self.not_before:
            return f"not before {first}"
        return f"not before {first}; ideally {clock_time(self.ideally_after, since=self.session_end)}"


def aftercare_window(session_end: datetime, rules: AftercareRules) -> AftercareWindow:
    """The hair-wash window after a session that ended at ``session_end``."""
    return AftercareWindow(
        session_end=session_end,
        not_before=session_end + timedelta(hours=rules.no_hair_wash_min_hours),
        ideally_after=session_end + timedelta(hours=rules.no_hair_wash_ideal_hours),
    )


@dataclass(frozen=True, slots=True)
class AftercareCard:
    """What the patient takes home. ``clinic``, ``patient`` and ``notes`` are typed by people."""

    window: AftercareWindow
    instructions: tuple[str, ...]
    patient: str = ""
    practitioner: str = ""
    clinic: str = ""
    notes: str = ""
    session_label: str = ""

    @classmethod
    def for_session(
        cls,
        session_end: datetime,
        rules: AftercareRules,
        *,
        patient: str = "",
        practitioner: str = "",
        clinic: str = "",
        notes: str = "",
        session_label: str = "",
    ) -> AftercareCard:
        return cls(
            window=aftercare_window(session_end, rules),
            instructions=rules.instructions,
            patient=patient,
            practitioner=practitioner,
            clinic=clinic,
            notes=notes,
            session_label=session_label,
        )

    @property
    def wash_line(self) -> str:
        return f"Hair wash: {self.window.describe()}."


def _when(moment: datetime) -> str:
    return f"{_WEEKDAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]} {moment.year}, {moment:%H:%M}"


def render_text(card: AftercareCard) -> str:
    """The card as plain text, one item a line."""
    lines = ["AFTERCARE" + (f" — {card.clinic}" if card.clinic else "")]
    if card.patient:
        lines.append(f"Patient: {card.patient}")
    if card.session_label:
        lines.append(f"Session: {card.session_label}")
    lines.append(f"Treatment ended: {_when(card.window.session_end)}")
    if card.practitioner:
        lines.append(f"Practitioner: {card.practitioner}")
    lines += ["", card.wash_line]
    lines += [f"- {item}" for item in card.instructions]
    if card.notes.strip():
        lines += ["", "Notes:", *card.notes.strip().splitlines()]
    return "\n".join(lines) + "\n"


def render_html(card: AftercareCard) -> str:
    """The card as a small self-contained HTML page; every text is escaped."""

    def esc(text: str) -> str:
        return html.escape(text, quote=True)

    title = "Aftercare" + (f" — {card.clinic}" if card.clinic else "")
    facts = []
    if card.patient:
        facts.append(("Patient", card.patient))
    if card.session_label:
        facts.append(("Session", card.session_label))
    facts.append(("Treatment ended", _when(card.window.session_end)))
    if card.practitioner:
        facts.append(("Practitioner", card.practitioner))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        f"<title>{esc(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:36em;margin:2em auto;line-height:1.4}"
        "dt{font-weight:bold}.wash{font-size:1.3em;border:2px solid #000;padding:.5em}</style>",
        "</head>",
        "<body>",
        f"<h1>{esc(title)}</h1>",
        "<dl>",
        *(f"<dt>{esc(name)}</dt><dd>{esc(value)}</dd>" for name, value in facts),
        "</dl>",
        f'<p class="wash">{esc(card.wash_line)}</p>',
    ]
    if card.instructions:
        parts += ["<ul>", *(f"<li>{esc(item)}</li>" for item in card.instructions), "</ul>"]
    if card.notes.strip():
        parts += ["<h2>Notes</h2>", f"<p>{'<br>'.join(esc(line) for line in card.notes.strip().splitlines())}</p>"]
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def write_card(card: AftercareCard, path: Path | str, *, as_html: bool | None = None) -> Path:
    """Write the card to ``path``: HTML when the name ends in .html/.htm (or ``as_html``), else text."""
    path = Path(path)
    if as_html is None:
        as_html = path.suffix.lower() in (".html", ".htm")
    path.write_text(render_html(card) if as_html else render_text(card), encoding="utf-8")
    return path
