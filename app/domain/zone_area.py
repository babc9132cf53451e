"""Reading a zone area typed by the practitioner ("52", "52.5", "52,5 cm²")."""

from __future__ import annotations

import math
import re

#: The largest area a scalp zone can plausibly have, in cm².
MAX_AREA_CM2 = 400.0

_UNIT = re.compile(r"\s*(cm²|cm2|cm\^2|sq\s*cm)\s*$", re.IGNORECASE)


class ZoneAreaError(ValueError):
    """The typed area is not a number of cm² a zone can have; the message says what to type."""


def parse_zone_area(text: str) -> float:
    """The area in cm²: a number above 0 and at most :data:`MAX_AREA_CM2`, with an optional unit."""
    cleaned = _UNIT.sub("", text.strip()).replace(",", ".").strip()
    if not cleaned:
        raise ZoneAreaError("type the zone's area in cm², for example 52 or 52.5")
    try:
        value = float(cleaned)
    except ValueError:
        raise ZoneAreaError(f"{text.strip()!r} is not a number: type the area in cm², for example 52.5") from None
    if not math.isfinite(value) or value <= 0:
        raise ZoneAreaError("the area must be more than 0 cm²")
    if value > MAX_AREA_CM2:
        raise ZoneAreaError(f"{value:g} cm² is more than a scalp zone can be (at most {MAX_AREA_CM2:g} cm²)")
    return value
