"""A zone area as the practitioner types it."""

from __future__ import annotations

import pytest

from stampside.app.domain.zone_area import MAX_AREA_CM2, ZoneAreaError, parse_zone_area


@pytest.mark.parametrize(
    ("text", "area"),
    [("52", 52.0), (" 52.5 ", 52.5), ("52,5", 52.5), ("60 cm²", 60.0), ("60cm2", 60.0), ("0.5", 0.5)],
)
def test_areas_are_read_with_or_without_a_unit(text: str, area: float) -> None:
    assert parse_zone_area(text) == area


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "type the zone's area"),
        ("lots", "is not a number"),
        ("0", "more than 0"),
        ("-4", "more than 0"),
        ("nan", "more than 0"),
        (str(MAX_AREA_CM2 + 1), "more than a scalp zone can be"),
    ],
)
def test_a_bad_area_says_what_to_type(text: str, message: str) -> None:
    with pytest.raises(ZoneAreaError, match=message):
        parse_zone_area(text)
