"""Corrections: a stored record changed in the app, with a reason, never silently.

Outcomes, adverse events, screening results and patient details can be corrected after they
were entered. A correction

* needs a **reason**, by the same rule as an override (:func:`stampside.app.domain.gates.clean_reason`,
  at least :data:`~stampside.app.domain.gates.MIN_REASON_WORDS` words and
  :data:`~stampside.app.domain.gates.MIN_REASON_CHARS` characters): "typo" will not do;
* names **who** corrects;
* must **change something**: a form saved unchanged is refused, so the record's history holds
  no empty corrections;
* names **what changed**: one :class:`FieldChange` per field, its old and its new value.

:func:`plan_correction` checks all of this and gives the :class:`Correction` to store; the
storage keeps it next to the corrected record (and the audit trail keeps the record's old
values). :func:`correction_note` is how a correction reads on a screen or a report:
``corrected 2026-12-05 by Dr X: IGA typed in the wrong field``.

Values are plain JSON values (text, whole numbers, true/false, ``None``); dates are ISO text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from stampside.app.domain.gates import MIN_REASON_CHARS, MIN_REASON_WORDS, clean_reason

__all__ = [
    "MAX_CORRECTION_REASON_CHARS",
    "Correction",
    "CorrectionRefused",
    "FieldChange",
    "changed_fields",
    "checked_correction_reason",
    "correction_note",
    "describe_changes",
    "plan_correction",
    "show_value",
]

#: A reason is stored up to this length.
MAX_CORRECTION_REASON_CHARS = 1000


class CorrectionRefused(ValueError):
    """A correction cannot be made as asked (no reason, nothing changed, nobody named); the message says why."""


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of a record: its value before the correction and after it (``label`` is how people call it)."""

    field: str
    old: Any
    new: Any
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.field.replace("_", " ")

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "label": self.name, "old": self.old, "new": self.new}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> FieldChange:
        return cls(str(values.get("field", "")), values.get("old"), values.get("new"), str(values.get("label", "")))

    def __str__(self) -> str:
        return f"{self.name}: {show_value(self.old)} → {show_value(self.new)}"


@dataclass(frozen=True, slots=True)
class Correction:
    """A checked correction: what changed, why, and who made it."""

    changes: tuple[FieldChange, ...]
    reason: str
    by: str


def show_value(value: Any) -> str:
    """A value as people read it: text as it is (empty: ``(empty)``), ``None``: ``(none)``, yes/no, numbers."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value if value.strip() else "(empty)"
    if isinstance(value, list | tuple):
        return ", ".join(show_value(item) for item in value) if value else "(none)"
    return str(value)


def changed_fields(
    old: Mapping[str, Any], new: Mapping[str, Any], labels: Mapping[str, str] | None = None
) -> tuple[FieldChange, ...]:
    """A :class:`FieldChange` for each field of ``new`` whose value differs from ``old`` (in ``new``'s order).

    A field missing from ``old`` reads as ``None``; fields only in ``old`` are left alone.
    """
    names = labels or {}
    return tuple(
        FieldChange(field, old.get(field), value, names.get(field, ""))
        for field, value in new.items()
        if old.get(field) != value
    )


def checked_correction_reason(reason: str) -> str:
    """The cleaned reason; :class:`CorrectionRefused` unless it is a real one (the override rule)."""
    text = clean_reason(reason)
    if not text:
        raise CorrectionRefused("a correction needs a reason; type why the record was wrong")
    if len(text) < MIN_REASON_CHARS or len(text.split()) < MIN_REASON_WORDS:
        raise CorrectionRefused(
            f"the reason is too short: write at least {MIN_REASON_WORDS} words and {MIN_REASON_CHARS} "
            "characters saying why the record was wrong"
        )
    if len(text) > MAX_CORRECTION_REASON_CHARS:
        raise CorrectionRefused(f"the reason is longer than {MAX_CORRECTION_REASON_CHARS} characters")
    return text


def plan_correction(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    reason: str,
    by: str,
    labels: Mapping[str, str] | None = None,
) -> Correction:
    """The correction of a record from ``old`` to ``new`` values; :class:`CorrectionRefused` if it will not do.

    Refused: nothing differs, no real reason (:func:`checked_correction_reason`), nobody named.
    """
    changes = changed_fields(old, new, labels)
    if not changes:
        raise CorrectionRefused("nothing changed: correct at least one value, or cancel")
    text = checked_correction_reason(reason)
    who = " ".join(by.split())
    if not who:
        raise CorrectionRefused("a correction needs the practitioner who makes it")
    return Correction(changes, text, who)


def describe_changes(changes: tuple[FieldChange, ...] | list[FieldChange]) -> str:
    """``density: +1 → +2; note: (empty) → seen again``."""
    return "; ".join(str(change) for change in changes)


def correction_note(by: str, at: datetime, reason: str, tz: tzinfo | None = None) -> str:
    """``corrected 2026-12-05 by Dr X: reason`` (the day in ``tz``; ``None``: local)."""
    return f"corrected {at.astimezone(tz):%Y-%m-%d} by {by}: {reason}"
