"""Typed expiry dates and volumes: what is read, and the messages for what is not."""

from __future__ import annotations

from datetime import date

import pytest

from stampside.app.domain.entry import EntryError, parse_expiry, parse_volume


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2027-03-31", date(2027, 3, 31)),
        (" 2027-3-1 ", date(2027, 3, 1)),
        ("2027-02", date(2027, 2, 28)),
        ("2028-02", date(2028, 2, 29)),
        ("12/2027", date(2027, 12, 31)),
    ],
)
def test_expiry_dates_are_read(text: str, expected: date) -> None:
    assert parse_expiry(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "type the lot's expiry date"),
        ("soon", "is not a date"),
        ("2027-13-01", "months are 1–12"),
        ("2027-02-30", "has no day 30"),
        ("31.03.2027", "is not a date"),
    ],
)
def test_bad_expiry_dates_say_what_to_type(text: str, words: str) -> None:
    with pytest.raises(EntryError, match=words):
        parse_expiry(text)


@pytest.mark.parametrize(("text", "expected"), [("2.5", 2.5), ("2,5", 2.5), ("3 ml", 3.0), (" 1.25ML ", 1.25)])
def test_volumes_are_read(text: str, expected: float) -> None:
    assert parse_volume(text) == expected


@pytest.mark.parametrize("text", ["", "two", "nan", "inf", "2.5.1"])
def test_bad_volumes_say_what_to_type(text: str) -> None:
    with pytest.raises(EntryError, match="ml"):
        parse_volume(text)
