"""Aftercare: hair-wash times from the session end, the clinic's phone and address, the next appointment,
and the card as text and escaped, printable HTML."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from stampside.app.domain.aftercare import (
    AftercareCard,
    aftercare_window,
    clock_time,
    contact_text,
    full_time,
    render_html,
    render_text,
    write_card,
)
from stampside.app.domain.schedule import NextAppointment, next_appointments
from stampside.app.domain.treatment_protocol import AftercareRules, default_protocol

PROTOCOL = default_protocol()
RULES = PROTOCOL.aftercare
WEDNESDAY = datetime(2026, 11, 25, 14, 5, tzinfo=timezone(timedelta(hours=1)))
PHONE = "+44 20 7946 0000"
#: "Wed 25 Nov 2026": a weekday, the day, the month and the year.
FULL_DATE = re.compile(r"\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]{2} \d{4}\b")


def card(**fields: Any) -> AftercareCard:
    return AftercareCard.for_session(WEDNESDAY, RULES, **fields)


def test_a_session_ending_wednesday_1405_may_wash_thursday_and_ideally_friday() -> None:
    window = aftercare_window(WEDNESDAY, RULES)
    assert window.not_before == WEDNESDAY + timedelta(hours=24)
    assert window.ideally_after == WEDNESDAY + timedelta(hours=48)
    assert window.describe() == "not before Thu 26 Nov 2026, 14:05; ideally Fri 27 Nov 2026, 14:05"


def test_the_window_follows_the_protocols_hours() -> None:
    rules = AftercareRules(no_hair_wash_min_hours=12, no_hair_wash_ideal_hours=12)
    assert aftercare_window(WEDNESDAY, rules).describe() == "not before Thu 26 Nov 2026, 02:05"


def test_a_time_across_the_new_year_has_its_own_year() -> None:
    assert full_time(datetime(2026, 12, 31, 23, 30) + timedelta(hours=24)) == "Fri 1 Jan 2027, 23:30"


def test_a_time_a_week_or_more_away_shows_its_date() -> None:
    assert clock_time(WEDNESDAY + timedelta(days=8), since=WEDNESDAY) == "Thu 3 Dec 14:05"
    assert clock_time(WEDNESDAY + timedelta(days=2), since=WEDNESDAY) == "Fri 14:05"


def test_the_text_card_has_the_wash_times_and_every_instruction() -> None:
    text = render_text(card(patient="P-0042", practitioner="Dr Ada", clinic="Scalp Clinic", notes="Call if sore"))
    assert "Hair wash: not before Thu 26 Nov 2026, 14:05; ideally Fri 27 Nov 2026, 14:05." in text
    assert "Patient: P-0042" in text and "Practitioner: Dr Ada" in text and "Scalp Clinic" in text
    assert "Treatment ended: Wed 25 Nov 2026, 14:05" in text
    for instruction in RULES.instructions[:3]:
        assert f"- {instruction}" in text
    assert text.rstrip().endswith("Call if sore")


def test_the_html_card_escapes_everything_a_person_typed() -> None:
    page = render_html(
        card(
            patient="<script>alert(1)</script>",
            practitioner='Dr "Ada" & co',
            clinic="<b>Clinic</b>",
            notes="line <1>\nline 2",
        )
    )
    assert "<script>" not in page and "<b>Clinic" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Dr &quot;Ada&quot; &amp; co" in page
    assert "line &lt;1&gt;<br>line 2" in page
    assert "not before Thu 26 Nov 2026, 14:05; ideally Fri 27 Nov 2026, 14:05" in page
    assert page.startswith("<!DOCTYPE html>")


def test_write_card_picks_html_or_text_by_suffix(tmp_path: Path) -> None:
    html_path = write_card(card(patient="P-1"), tmp_path / "card.html")
    text_path = write_card(card(patient="P-1"), tmp_path / "card.txt")
    assert html_path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert text_path.read_text(encoding="utf-8").startswith("AFTERCARE")
    forced = write_card(card(), tmp_path / "card", as_html=True)
    assert "<html" in forced.read_text(encoding="utf-8")


def test_the_card_names_the_clinic_and_its_phone_wherever_it_says_call_the_clinic() -> None:
    assert any("call the clinic" in line for line in RULES.instructions), "the protocol's own wording"
    made = card(clinic="Scalp Clinic", phone=PHONE)
    for page in (render_text(made), render_html(made)):
        assert "Scalp Clinic" in page
        assert "Questions or a problem? Call Scalp Clinic on +44 20 7946 0000." in page
        assert "call Scalp Clinic on +44 20 7946 0000 if they get worse" in page
        assert "call the clinic" not in page.lower()
        assert not re.search(r"\bcall\s+on\b", page, re.IGNORECASE)


def test_a_phone_without_a_name_says_the_clinic_with_its_number() -> None:
    text = render_text(card(phone=PHONE))
    assert "call the clinic on +44 20 7946 0000 if they get worse" in text
    assert "Questions or a problem? Call the clinic on +44 20 7946 0000." in text
    assert not re.search(r"call the clinic(?! on \+44 20 7946 0000)", text, re.IGNORECASE)


def test_the_clinics_address_is_printed_beside_its_name_and_phone_and_escaped() -> None:
    made = card(clinic="Scalp Clinic", phone=PHONE, address=" 1 High Street, London N1 9GU ")
    assert made.address_line == "Scalp Clinic, 1 High Street, London N1 9GU"
    text = render_text(made)
    contact = "Questions or a problem? Call Scalp Clinic on +44 20 7946 0000."
    assert f"{contact}\nScalp Clinic, 1 High Street, London N1 9GU\n" in text
    page = render_html(card(clinic="A&B", phone=PHONE, address="<b>1</b> High St"))
    assert "<dt>Clinic address</dt><dd>&lt;b&gt;1&lt;/b&gt; High St</dd>" in page
    assert "Call A&amp;B on +44 20 7946 0000.<br>A&amp;B, &lt;b&gt;1&lt;/b&gt; High St</p>" in page
    assert "<b>" not in page
    assert card(address="1 High Street").address_line == "The clinic: 1 High Street"
    assert "address" not in render_html(card(clinic="Scalp Clinic")).lower(), "no address set: none printed"


def test_without_settings_the_card_still_reads_well() -> None:
    text = render_text(card())
    assert "Questions or a problem? Contact the clinic that treated you." in text
    assert " on ." not in text and "Call  " not in text and "call  " not in text
    assert text.startswith("AFTERCARE\n")
    assert contact_text("Scalp Clinic") == "Questions or a problem? Contact Scalp Clinic."


def test_every_time_and_date_on_the_card_has_its_weekday_and_full_date() -> None:
    visits = next_appointments(PROTOCOL, 1, WEDNESDAY.date())
    text = render_text(card(next_visits=visits))
    assert "Treatment ended: Wed 25 Nov 2026, 14:05" in text
    assert "not before Thu 26 Nov 2026, 14:05; ideally Fri 27 Nov 2026, 14:05" in text
    assert "Session 2 of 6: Wed 2 Dec 2026 (any day from Mon 30 Nov 2026 to Sat 5 Dec 2026)" in text
    clocks = re.findall(r"\b\d{2}:\d{2}\b", text)
    dated_clocks = re.findall(FULL_DATE.pattern + r", \d{2}:\d{2}\b", text)
    assert len(clocks) == len(dated_clocks) == 3, "every clock time comes after its full date"
    assert len(FULL_DATE.findall(text)) == 6


def test_after_the_last_session_the_card_lists_both_follow_ups() -> None:
    visits = next_appointments(PROTOCOL, 6, WEDNESDAY.date())
    made = card(next_visits=visits)
    assert made.next_title == "Next appointments"
    assert made.next_lines == (
        "3-month follow-up: Thu 25 Feb 2027 (any day from Thu 11 Feb 2027 to Thu 11 Mar 2027)",
        "6-month follow-up: Tue 25 May 2027 (any day from Tue 11 May 2027 to Tue 8 Jun 2027)",
    )
    page = render_html(made)
    assert "<h2>Next appointments</h2>" in page
    assert all(f"<li>{line}</li>" in page for line in made.next_lines)


def test_the_html_card_escapes_the_clinic_phone_and_appointment() -> None:
    odd = NextAppointment('<i>"visit"</i>', date(2026, 12, 2), date(2026, 11, 30), date(2026, 12, 5))
    page = render_html(card(clinic="A&B <Clinic>", phone="<script>1</script>", next_visits=(odd,)))
    assert "<script>" not in page and "<i>" not in page and "<Clinic>" not in page
    assert "A&amp;B &lt;Clinic&gt;" in page
    assert "&lt;script&gt;1&lt;/script&gt;" in page
    assert "&lt;i&gt;&quot;visit&quot;&lt;/i&gt;: Wed 2 Dec 2026" in page


def test_the_html_card_prints_on_its_own() -> None:
    page = render_html(card(clinic="Scalp Clinic", phone=PHONE))
    assert "@media print" in page and "@page" in page
    [page_rule] = re.findall(r"@page\{[^}]*\}", page)
    assert "size" not in page_rule, "no paper size forced: A5 and A4 both print it"
    for external in ("http:", "https:", "//", "<link", "<script", "<img", "url(", "@import"):
        assert external not in page.replace("<!DOCTYPE html>", ""), external
