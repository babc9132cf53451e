"""Aftercare: when the patient may wash their hair again, what comes next, and the card they take home.

:func:`aftercare_window` turns the session's end and the protocol's hours into times;
:meth:`AftercareWindow.describe` says them with their full dates, the way the card prints them
("not before Thu 26 Nov 2026, 14:05; ideally Fri 27 Nov 2026, 14:05"). An :class:`AftercareCard`
also carries the clinic's name, address and phone (the settings, :mod:`stampside.app.settings`) and the
next appointment (:func:`stampside.app.domain.schedule.next_appointments`); its ``contact_line``,
``address_line``, ``instruction_lines`` and ``next_lines`` are what both the card and the
aftercare screen show.
The card renders as plain text or as a printable, self-contained HTML page (everything escaped)
and :func:`write_card` saves it.

Times are shown in the time zone of the session's end time: pass a local ``datetime``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from stampside.app.domain.schedule import NextAppointment
from stampside.app.domain.treatment_protocol import AftercareRules

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: "call the clinic" (also contact / phone / ring) in an instruction: the number goes after it.
_CALL_THE_CLINIC = re.compile(r"\b(call|contact|phone|ring) the clinic\b", re.IGNORECASE)


def clock_time(moment: datetime, *, since: datetime | None = None) -> str:
    """``Thu 14:05``; with the date too (``Thu 3 Dec 14:05``) when it is 6 days or more after ``since``."""
    text = f"{_WEEKDAYS[moment.weekday()]} {moment:%H:%M}"
    if since is not None and (moment.date() - since.date()).days >= 6:
        text = f"{_WEEKDAYS[moment.weekday()]} {moment.day} {_MONTHS[moment.month - 1]} {moment:%H:%M}"
    return text


def full_date(day: date) -> str:
    """``Sat 5 Dec 2026``."""
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def full_time(moment: datetime) -> str:
    """``Sat 5 Dec 2026, 16:30``."""
    return f"{full_date(moment.date())}, {moment:%H:%M}"


@dataclass(frozen=True, slots=True)
class AftercareWindow:
    """No hair wash before ``not_before``; ideally not before ``ideally_after``."""

    session_end: datetime
    not_before: datetime
    ideally_after: datetime

    def describe(self) -> str:
        """``not before Thu 26 Nov 2026, 14:05; ideally Fri 27 Nov 2026, 14:05``."""
        first = full_time(self.not_before)
        if self.ideally_after == self.not_before:
            return f"not before {first}"
        return f"not before {first}; ideally {full_time(self.ideally_after)}"


def aftercare_window(session_end: datetime, rules: AftercareRules) -> AftercareWindow:
    """The hair-wash window after a session that ended at ``session_end``."""
    return AftercareWindow(
        session_end=session_end,
        not_before=session_end + timedelta(hours=rules.no_hair_wash_min_hours),
        ideally_after=session_end + timedelta(hours=rules.no_hair_wash_ideal_hours),
    )


def appointment_text(visit: NextAppointment) -> str:
    """``Session 2 of 6: Wed 2 Dec 2026 (any day from Mon 30 Nov 2026 to Sat 5 Dec 2026)``."""
    when = full_date(visit.due_on)
    if visit.earliest != visit.latest:
        when += f" (any day from {full_date(visit.earliest)} to {full_date(visit.latest)})"
    return f"{visit.label[:1].upper()}{visit.label[1:]}: {when}"


def contact_text(clinic: str = "", phone: str = "") -> str:
    """Who to call, in words that read well with or without the clinic's name and phone."""
    who = clinic or "the clinic"
    if phone:
        return f"Questions or a problem? Call {who} on {phone}."
    return f"Questions or a problem? Contact {clinic or 'the clinic that treated you'}."


def with_phone(instruction: str, clinic: str = "", phone: str = "") -> str:
    """``call the clinic`` in an instruction gets the clinic's name and number when a phone is set."""
    if not phone or phone in instruction:
        return instruction
    who = clinic or "the clinic"
    return _CALL_THE_CLINIC.sub(lambda match: f"{match.group(1)} {who} on {phone}", instruction)


@dataclass(frozen=True, slots=True)
class AftercareCard:
    """What the patient takes home. ``clinic``, ``address``, ``phone``, ``patient`` and ``notes`` are typed by people.

    ``next_visits`` are the appointments to come (:func:`stampside.app.domain.schedule.next_appointments`);
    none when not known.
    """

    window: AftercareWindow
    instructions: tuple[str, ...]
    patient: str = ""
    practitioner: str = ""
    clinic: str = ""
    notes: str = ""
    session_label: str = ""
    phone: str = ""
    next_visits: tuple[NextAppointment, ...] = ()
    address: str = ""

    @classmethod
    def for_session(
        cls,
        session_end: datetime,
        rules: AftercareRules,
        *,
        patient: str = "",
        practitioner: str = "",
        clinic: str = "",
        phone: str = "",
        address: str = "",
        notes: str = "",
        session_label: str = "",
        next_visits: tuple[NextAppointment, ...] = (),
    ) -> AftercareCard:
        return cls(
            window=aftercare_window(session_end, rules),
            instructions=rules.instructions,
            patient=patient,
            practitioner=practitioner,
            clinic=clinic.strip(),
            notes=notes,
            session_label=session_label,
            phone=phone.strip(),
            next_visits=tuple(next_visits),
            address=address.strip(),
        )

    @property
    def wash_line(self) -> str:
        return f"Hair wash: {self.window.describe()}."

    @property
    def ended_text(self) -> str:
        """When the treatment ended, with its full date."""
        return full_time(self.window.session_end)

    @property
    def instruction_lines(self) -> tuple[str, ...]:
        """The protocol's instructions; "call the clinic" says the number when the clinic has one."""
        return tuple(with_phone(line, self.clinic, self.phone) for line in self.instructions)

    @property
    def contact_line(self) -> str:
        """``Questions or a problem? Call Scalp Clinic on +44 20 7946 0000.``"""
        return contact_text(self.clinic, self.phone)

    @property
    def address_line(self) -> str:
        """``Scalp Clinic, 1 High Street, London N1 9GU``; empty when the clinic's address is not set."""
        if not self.address:
            return ""
        return f"{self.clinic}, {self.address}" if self.clinic else f"The clinic: {self.address}"

    @property
    def next_title(self) -> str:
        return "Next appointment" if len(self.next_visits) == 1 else "Next appointments"

    @property
    def next_lines(self) -> tuple[str, ...]:
        """One line per appointment to come, with full dates (empty when none is known)."""
        return tuple(appointment_text(visit) for visit in self.next_visits)


def render_text(card: AftercareCard) -> str:
    """The card as plain text, one item a line."""
    lines = ["AFTERCARE" + (f" — {card.clinic}" if card.clinic else "")]
    if card.patient:
        lines.append(f"Patient: {card.patient}")
    if card.session_label:
        lines.append(f"Session: {card.session_label}")
    lines.append(f"Treatment ended: {card.ended_text}")
    if card.practitioner:
        lines.append(f"Practitioner: {card.practitioner}")
    lines += ["", card.wash_line]
    lines += [f"- {item}" for item in card.instruction_lines]
    if card.next_lines:
        lines += ["", f"{card.next_title}:", *(f"- {line}" for line in card.next_lines)]
    lines += ["", card.contact_line]
    if card.address_line:
        lines.append(card.address_line)
    if card.notes.strip():
        lines += ["", "Notes:", *card.notes.strip().splitlines()]
    return "\n".join(lines) + "\n"


#: Screen and paper: fits A5 and A4 (no page size forced), black on white, no external resources.
_STYLE = (
    "body{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em;line-height:1.4;"
    "color:#000;background:#fff}"
    "h1{font-size:1.5em;margin:0 0 .5em}h2{font-size:1.1em;margin:1em 0 .3em}"
    'dl{margin:0}dt{font-weight:bold;float:left;clear:left;margin-right:.5em}dt::after{content:":"}'
    "dd{margin:0 0 .1em}"
    ".wash{font-size:1.25em;font-weight:bold;border:2px solid #000;padding:.5em}"
    ".contact{font-weight:bold;border:1px solid #000;padding:.5em}"
    "ul{padding-left:1.3em}li,.wash,.contact,.next{break-inside:avoid;page-break-inside:avoid}"
    "@page{margin:12mm}"
    "@media print{body{max-width:none;margin:0;padding:0;font-size:11pt}}"
)


def render_html(card: AftercareCard) -> str:
    """The card as a small self-contained, printable HTML page; every text is escaped."""

    def esc(text: str) -> str:
        return html.escape(text, quote=True)

    title = "Aftercare" + (f" — {card.clinic}" if card.clinic else "")
    facts = []
    if card.patient:
        facts.append(("Patient", card.patient))
    if card.session_label:
        facts.append(("Session", card.session_label))
    facts.append(("Treatment ended", card.ended_text))
    if card.practitioner:
        facts.append(("Practitioner", card.practitioner))
    if card.phone:
        facts.append(("Clinic phone", card.phone))
    if card.address:
        facts.append(("Clinic address", card.address))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>{esc(title)}</h1>",
        "<dl>",
        *(f"<dt>{esc(name)}</dt><dd>{esc(value)}</dd>" for name, value in facts),
        "</dl>",
        f'<p class="wash">{esc(card.wash_line)}</p>',
    ]
    if card.instructions:
        parts += ["<ul>", *(f"<li>{esc(item)}</li>" for item in card.instruction_lines), "</ul>"]
    if card.next_lines:
        parts += [
            '<div class="next">',
            f"<h2>{esc(card.next_title)}</h2>",
            "<ul>",
            *(f"<li>{esc(line)}</li>" for line in card.next_lines),
            "</ul>",
            "</div>",
        ]
    contact = esc(card.contact_line) + (f"<br>{esc(card.address_line)}" if card.address_line else "")
    parts.append(f'<p class="contact">{contact}</p>')
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
