"""Photo time points: which sets are needed when, and the baseline gate before session 1."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stampside.app.domain.course_gates import CourseGate, OverrideRefused
from stampside.app.domain.timepoints import (
    check_photo_gate,
    next_missing_view,
    photo_set_status,
    sets_due,
    time_point_reached,
    when_label,
)
from stampside.app.domain.treatment_protocol import TimePointAnchor, default_protocol

PROTOCOL = default_protocol()
VIEWS = ("vertex", "frontal", "mid_scalp", "temporal_left", "temporal_right")
AT = datetime(2026, 11, 2, 9, tzinfo=UTC)


def test_the_default_time_points_and_views() -> None:
    points = PROTOCOL.photos.time_points
    assert [p.id for p in points] == ["baseline", "after_session_6", "month_3", "month_6"]
    assert [when_label(p) for p in points] == [
        "before session 1",
        "after session 6",
        "at the 3-month follow-up",
        "at the 6-month follow-up",
    ]
    assert tuple(v.id for v in PROTOCOL.photos.views) == VIEWS
    assert all(PROTOCOL.photos.views_for(p) == VIEWS for p in points)
    assert points[0].gates_session and points[0].anchor is TimePointAnchor.BEFORE_SESSION


def test_a_set_lists_its_missing_views_in_order() -> None:
    status = photo_set_status(PROTOCOL.photos, "baseline", ["frontal", "vertex"])
    assert not status.complete
    assert status.missing == ("mid_scalp", "temporal_left", "temporal_right")
    assert status.message == (
        "Baseline photos incomplete: missing Mid-scalp, Temporal left, Temporal right; register them before session 1"
    )
    assert photo_set_status(PROTOCOL.photos, "baseline", VIEWS).complete


def test_the_next_view_to_take_is_the_next_missing_one_after_the_last_registered() -> None:
    def after(registered: list[str], last: str | None) -> str | None:
        return next_missing_view(photo_set_status(PROTOCOL.photos, "baseline", registered), last)

    assert after([], None) == "vertex"
    assert after(["vertex"], "vertex") == "frontal"
    # Skipped views come up again once the later ones are done (the search wraps round).
    assert after(["vertex", "mid_scalp"], "mid_scalp") == "temporal_left"
    assert after(["vertex", "mid_scalp", "temporal_left", "temporal_right"], "temporal_right") == "frontal"
    # Registered out of order: the first missing view after the one just registered.
    assert after(["frontal", "temporal_left"], "frontal") == "mid_scalp"
    # Without a last view, or with one the set does not need: the first missing view.
    assert after(["vertex"], None) == "frontal"
    assert after(["vertex"], "no_such_view") == "frontal"
    # The only missing view is the one named: it is still the next one.
    assert after(["frontal", "mid_scalp", "temporal_left", "temporal_right"], "vertex") == "vertex"
    assert after(list(VIEWS), "vertex") is None


def test_session_1_is_gated_on_a_complete_baseline() -> None:
    gate = check_photo_gate(PROTOCOL, 1, {"baseline": VIEWS[:4]})
    assert gate.gate is CourseGate.BASELINE_PHOTOS
    assert not gate.ok
    assert "Temporal right" in gate.message
    assert check_photo_gate(PROTOCOL, 1, {"baseline": VIEWS}).ok
    assert check_photo_gate(PROTOCOL, 1, {}).message.startswith("Baseline photos incomplete")


def test_other_sessions_are_not_gated_on_photos() -> None:
    gate = check_photo_gate(PROTOCOL, 2, {})
    assert gate.passed
    assert gate.message == "no photo set is needed before session 2"


def test_the_baseline_gate_can_be_overridden_only_with_a_reason() -> None:
    gate = check_photo_gate(PROTOCOL, 1, {"baseline": VIEWS[:2]})
    with pytest.raises(OverrideRefused):
        gate.overridden("camera", by="Dr Ada", at=AT)
    passed = gate.overridden("camera broken, photos taken on day 2", by="Dr Ada", at=AT)
    assert passed.ok and passed.override is not None
    assert passed.override.failure == gate.message
    with pytest.raises(OverrideRefused):
        check_photo_gate(PROTOCOL, 1, {"baseline": VIEWS}).overridden("nothing to let through", by="Dr Ada", at=AT)


@pytest.mark.parametrize(
    ("finished", "follow_ups", "due"),
    [
        (0, (), ["baseline"]),
        (3, (), ["baseline"]),
        (6, (), ["baseline", "after_session_6"]),
        (6, (3,), ["baseline", "after_session_6", "month_3"]),
        (6, (3, 6), ["baseline", "after_session_6", "month_3", "month_6"]),
    ],
)
def test_which_sets_are_needed_when(finished: int, follow_ups: tuple[int, ...], due: list[str]) -> None:
    assert [s.time_point for s in sets_due(PROTOCOL, finished, {}, follow_ups_reached=follow_ups)] == due


def test_complete_sets_are_not_due() -> None:
    registered = {"baseline": VIEWS, "after_session_6": VIEWS[:1]}
    assert [s.time_point for s in sets_due(PROTOCOL, 6, registered)] == ["after_session_6"]
    assert len(sets_due(PROTOCOL, 6, registered, include_complete=True)) == 2


def test_time_point_reached_for_each_anchor() -> None:
    baseline, after, month_3, _ = PROTOCOL.photos.time_points
    assert time_point_reached(baseline, 0)
    assert not time_point_reached(after, 5) and time_point_reached(after, 6)
    assert not time_point_reached(month_3, 6) and time_point_reached(month_3, 6, [3])
