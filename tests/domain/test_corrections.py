"""The correction rule: a real reason (the override rule), someone named, something changed, and what changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from stampside.app.domain.corrections import (
    CorrectionRefused,
    FieldChange,
    changed_fields,
    checked_correction_reason,
    correction_note,
    describe_changes,
    plan_correction,
)
from stampside.app.domain.gates import MIN_REASON_CHARS, MIN_REASON_WORDS
from stampside.app.domain.signatures import SignatureMeaning, SignedAct

OLD = {"iga_density": 1, "iga_coverage": 0, "note": ""}


def test_a_correction_names_each_changed_field_old_and_new_in_the_forms_order() -> None:
    planned = plan_correction(
        OLD,
        {"iga_density": 2, "iga_coverage": 0, "note": "seen again"},
        reason="  typed into   the wrong field ",
        by=" Dr Ada ",
        labels={"iga_density": "IGA density"},
    )
    assert planned.changes == (FieldChange("iga_density", 1, 2, "IGA density"), FieldChange("note", "", "seen again"))
    assert planned.reason == "typed into the wrong field" and planned.by == "Dr Ada"
    assert describe_changes(planned.changes) == "IGA density: 1 → 2; note: (empty) → seen again"


def test_nothing_changed_is_refused_even_with_a_good_reason() -> None:
    with pytest.raises(CorrectionRefused, match="nothing changed"):
        plan_correction(OLD, dict(OLD), reason="typed into the wrong field", by="Dr Ada")


@pytest.mark.parametrize("reason", ["", "   ", "typo", "wrong", "a b", "x" * 30])
def test_the_reason_follows_the_override_rule(reason: str) -> None:
    assert MIN_REASON_WORDS == 2 and MIN_REASON_CHARS == 10
    with pytest.raises(CorrectionRefused, match="reason"):
        plan_correction(OLD, {**OLD, "iga_density": 2}, reason=reason, by="Dr Ada")


def test_a_correction_needs_who_makes_it_and_a_reason_not_too_long() -> None:
    with pytest.raises(CorrectionRefused, match="practitioner"):
        plan_correction(OLD, {**OLD, "iga_density": 2}, reason="typed into the wrong field", by="  ")
    with pytest.raises(CorrectionRefused, match="longer than 1000"):
        checked_correction_reason("word " * 300)


def test_values_read_for_people_and_a_missing_field_is_none() -> None:
    changes = changed_fields({"smoker": False}, {"smoker": True, "name": "Jon", "grade": None, "labs": ["a", "b"]})
    assert [str(c) for c in changes] == ["smoker: no → yes", "name: (none) → Jon", "labs: (none) → a, b"]
    assert FieldChange.from_dict(changes[1].as_dict()) == FieldChange("name", None, "Jon", "name")


def test_a_correction_reads_with_its_day_by_and_reason_and_is_signed_approved() -> None:
    at = datetime(2026, 12, 5, 23, 30, tzinfo=UTC)
    assert correction_note("Dr X", at, "typed into the wrong field", UTC) == (
        "corrected 2026-12-05 by Dr X: typed into the wrong field"
    )
    assert correction_note("Dr X", at, "r", timezone(timedelta(hours=2))).startswith("corrected 2026-12-06")
    assert SignedAct.CORRECTION.meaning is SignatureMeaning.APPROVED
