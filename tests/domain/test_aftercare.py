"""Aftercare: hair-wash clock times from the session end, and the card as text and escaped HTML."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from app.domain.aftercare import (
    AftercareCard,
    aftercare_window,
    clock_time,
    render_html,
    render_text,
    write_card,
)
from app.domain.treatment_protocol import AftercareRules, default_protocol

RULES = default_protocol().aftercare
WEDNESDAY = datetime(2026, 11, 25, 14, 5, tzinfo=timezone(timedelta(hours=1)))


def card(**fields: str) -> AftercareCard:
    return AftercareCard.for_session(WEDNESDAY, RULES, **fields)


def test_a_session_ending_wednesday_1405_may_wash_thursday_and_ideally_friday() -> None:
    window = aftercare_window(WEDNESDAY, RULES)
    assert window.not_before == WEDNESDAY + timedelta(hours=24)
    assert window.ideally_after == WEDNESDAY + timedelta(hours=48)
    assert window.describe() == "not before Thu 14:05; ideally Fri 14:05"


def test_the_window_follows_the_protocols_hours() -> None:
    rules = AftercareRules(no_hair_wash_min_hours=12, no_hair_wash_ideal_hours=12)
    assert aftercare_window(WEDNESDAY, rules).describe() == "not before Thu 02:05"


def test_a_time_a_week_or_more_away_shows_its_date() -> None:
    assert clock_time(WEDNESDAY + timedelta(days=8), since=WEDNESDAY) == "Thu 3 Dec 14:05"
    assert clock_time(WEDNESDAY + timedelta(days=2), since=WEDNESDAY) == "Fri 14:05"


def test_the_text_card_has_the_wash_times_and_every_instruction() -> None:
    text = render_text(card(patient="P-0042", practitioner="Dr Ada", clinic="Scalp Clinic", notes="Call if sore"))
    assert "Hair wash: not before Thu 14:05; ideally Fri 14:05." in text
    assert "Patient: P-0042" in text and "Practitioner: Dr Ada" in text and "Scalp Clinic" in text
    assert "Treatment ended: Wed 25 Nov 2026, 14:05" in text
    for instruction in RULES.instructions:
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
    assert "not before Thu 14:05; ideally Fri 14:05" in page
    assert page.startswith("<!DOCTYPE html>")


def test_write_card_picks_html_or_text_by_suffix(tmp_path: Path) -> None:
    html_path = write_card(card(patient="P-1"), tmp_path / "card.html")
    text_path = write_card(card(patient="P-1"), tmp_path / "card.txt")
    assert html_path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert text_path.read_text(encoding="utf-8").startswith("AFTERCARE")
    forced = write_card(card(), tmp_path / "card", as_html=True)
    assert "<html" in forced.read_text(encoding="utf-8")
