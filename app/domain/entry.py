"""What a practitioner types at the chair, read into values: a lot's expiry date and a volume.

Both raise :class:`EntryError` with a message saying what to type instead. The rules about
the values themselves (an expired lot, a volume out of range) stay in :mod:`stampside.app.domain.steps`.
"""

from __future__ import annotations

import calendar
import re
from datetime import date

from stampside.app.domain.steps import StepError


class EntryError(StepError):
    """Typed text could not be read; the message says what to type."""


_ISO_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_ISO_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_SLASH_MONTH = re.compile(r"^(\d{1,2})/(\d{4})$")

EXPIRY_HINT = "YYYY-MM-DD, or YYYY-MM for the end of that month"


def parse_expiry(text: str) -> date:
    """``2027-03-31``; ``2027-03`` and ``03/2027`` (as printed on vials) mean the last day of that month."""
    value = text.strip()
    if not value:
        raise EntryError(f"type the lot's expiry date ({EXPIRY_HINT})")
    year = month = day = None
    if match := _ISO_DAY.match(value):
        year, month, day = (int(part) for part in match.groups())
    elif match := _ISO_MONTH.match(value):
        year, month = int(match.group(1)), int(match.group(2))
    elif match := _SLASH_MONTH.match(value):
        month, year = int(match.group(1)), int(match.group(2))
    if year is None or month is None:
        raise EntryError(f"expiry {value!r} is not a date: type it as {EXPIRY_HINT} (e.g. 2027-03-31)")
    if not 1 <= month <= 12:
        raise EntryError(f"expiry {value!r} has no month {month}: months are 1–12")
    last = calendar.monthrange(year, month)[1]
    if day is None:
        day = last
    if not 1 <= day <= last:
        raise EntryError(f"expiry {value!r}: {calendar.month_name[month]} {year} has no day {day}")
    return date(year, month, day)


def parse_volume(text: str) -> float:
    """``2.5``, ``2,5`` or ``2.5 ml`` → 2.5 (the range is checked by the step)."""
    value = text.strip().lower().removesuffix("ml").strip().replace(",", ".")
    if not value:
        raise EntryError("type the volume used, in ml (e.g. 2.5)")
    try:
        volume = float(value)
    except ValueError:
        raise EntryError(f"volume {text.strip()!r} is not a number of ml (e.g. 2.5)") from None
    if volume != volume or volume in (float("inf"), float("-inf")):
        raise EntryError(f"volume {text.strip()!r} is not a number of ml (e.g. 2.5)")
    return volume
