"""The course schedule: session windows (early, on time, late), deviations, follow-ups, due items."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from stampside.app.domain.schedule import (
    CourseState,
    DeviationRefused,
    DueKind,
    DueWhen,
    Timing,
    add_months,
    check_session_timing,
    due_items,
    follow_ups,
    next_appointments,
    session_window,
)
from stampside.app.domain.treatment_protocol import CourseRules, default_protocol

PROTOCOL = default_protocol()
RULES = PROTOCOL.course
MON = date(2026, 11, 2)
AT = datetime(2026, 11, 2, 9, tzinfo=UTC)


def test_the_default_window_is_5_to_10_days() -> None:
    assert (RULES.interval_days, RULES.earliest_days, RULES.latest_days) == (7, 5, 10)


def test_the_next_session_is_due_a_week_after_the_last() -> None:
    window = session_window(RULES, 2, MON)
    assert window.due_on == MON + timedelta(days=7)
    assert (window.earliest, window.latest) == (MON + timedelta(days=5), MON + timedelta(days=10))


@pytest.mark.parametrize(
    ("days", "timing"),
    [
        (3, Timing.EARLY),
        (4, Timing.EARLY),
        (5, Timing.ON_TIME),
        (7, Timing.ON_TIME),
        (10, Timing.ON_TIME),
        (11, Timing.LATE),
        (30, Timing.LATE),
    ],
)
def test_a_start_is_early_on_time_or_late(days: int, timing: Timing) -> None:
    check = check_session_timing(RULES, 2, MON, MON + timedelta(days=days))
    assert check.timing is timing
    assert check.days_since_previous == days
    assert check.needs_confirmation is (timing is not Timing.ON_TIME)
    assert f"{days} days" in check.message


def test_the_first_session_is_never_early_or_late() -> None:
    check = check_session_timing(RULES, 1, None, MON)
    assert check.timing is Timing.FIRST and not check.needs_confirmation


def test_an_early_start_is_confirmed_into_a_recorded_deviation() -> None:
    check = check_session_timing(RULES, 3, MON, MON + timedelta(days=4))
    deviation = check.confirm(by=" Dr Ada ", at=AT, reason="patient  travels next week")
    assert deviation.timing is Timing.EARLY
    assert (deviation.session_number, deviation.days_since_previous) == (3, 4)
    assert deviation.due_on == MON + timedelta(days=7)
    assert (deviation.earliest_days, deviation.latest_days) == (5, 10)
    assert (deviation.confirmed_by, deviation.confirmed_at, deviation.note) == (
        "Dr Ada",
        AT,
        "patient travels next week",
    )
    assert "early" in deviation.message and "5–10 days" in deviation.message


def test_a_deviation_needs_a_practitioner_and_a_start_outside_the_window() -> None:
    late = check_session_timing(RULES, 2, MON, MON + timedelta(days=12))
    with pytest.raises(DeviationRefused):
        late.confirm(by="  ", at=AT, reason="patient was ill last week")
    on_time = check_session_timing(RULES, 2, MON, MON + timedelta(days=7))
    with pytest.raises(DeviationRefused, match="nothing to confirm"):
        on_time.confirm(by="Dr Ada", at=AT, reason="patient was ill last week")


@pytest.mark.parametrize("reason", ["", "   ", "ill", "ok fine"])
def test_a_deviation_needs_a_reason_like_every_override(reason: str) -> None:
    late = check_session_timing(RULES, 2, MON, MON + timedelta(days=12))
    with pytest.raises(DeviationRefused, match="reason"):
        late.confirm(by="Dr Ada", at=AT, reason=reason)


def test_a_window_must_contain_the_interval() -> None:
    with pytest.raises(ValueError, match="must contain interval_days"):
        CourseRules(sessions=6, interval_days=7, window_min_days=8, window_max_days=10)
    fortnightly = CourseRules(sessions=4, interval_days=14)
    assert (fortnightly.earliest_days, fortnightly.latest_days) == (12, 17)


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 12, 14), 6, date(2027, 6, 14)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
    ],
)
def test_months_are_calendar_months(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


def test_follow_ups_fall_3_and_6_months_after_the_last_session() -> None:
    last = date(2026, 12, 7)
    due = follow_ups(PROTOCOL, last)
    assert [(f.months, f.time_point, f.due_on) for f in due] == [
        (3, "month_3", date(2027, 3, 7)),
        (6, "month_6", date(2027, 6, 7)),
    ]
    assert due[0].earliest == date(2027, 3, 7) - timedelta(days=14)
    assert due[0].latest == date(2027, 3, 7) + timedelta(days=14)


def state(course_id: int, code: str, *session_days: date, **kw: object) -> CourseState:
    fields: dict[str, object] = {
        "course_id": course_id,
        "patient_id": course_id,
        "patient_code": code,
        "status": "active",
        "planned_sessions": 6,
        "interval_days": 7,
        "started_on": session_days[0] if session_days else MON,
        "session_days": session_days,
    }
    fields.update(kw)
    return CourseState(**fields)  # type: ignore[arg-type]


def test_due_items_today_this_week_and_overdue() -> None:
    today = MON + timedelta(days=21)
    states = [
        state(1, "P-TODAY", MON + timedelta(days=14)),  # due today
        state(2, "P-WEEK", MON + timedelta(days=17)),  # due in 3 days
        state(3, "P-LATE", MON),  # due 14 days ago, window closed 11 days ago
        state(4, "P-LATER", MON + timedelta(days=20)),  # due in 6 days: still this week
        state(5, "P-NEXT", MON + timedelta(days=21)),  # due in 7 days: later
        state(6, "P-INWIN", MON + timedelta(days=12)),  # due 2 days ago, still in its window
    ]
    items = due_items(states, PROTOCOL, today)
    assert [(i.patient_code, i.when) for i in items] == [
        ("P-LATE", DueWhen.OVERDUE),
        ("P-INWIN", DueWhen.TODAY),
        ("P-TODAY", DueWhen.TODAY),
        ("P-WEEK", DueWhen.THIS_WEEK),
        ("P-LATER", DueWhen.THIS_WEEK),
    ]
    assert all(i.kind is DueKind.SESSION and i.label == "session 2 of 6" for i in items)
    assert [i.in_window for i in items] == [False, True, True, False, False]
    later = due_items(states, PROTOCOL, today, include_later=True)
    assert later[-1].patient_code == "P-NEXT" and later[-1].when is DueWhen.LATER


def test_a_new_course_has_session_1_due_on_its_start_day() -> None:
    [item] = due_items([state(1, "P-NEW", started_on=MON)], PROTOCOL, MON)
    assert (item.session_number, item.due_on, item.when) == (1, MON, DueWhen.TODAY)


def test_an_open_session_comes_first_and_a_stopped_course_has_nothing_due() -> None:
    late = state(3, "P-LATE", MON - timedelta(days=40))
    states = [late, state(1, "P-OPEN", MON, has_open_session=True), state(2, "P-STOP", MON, status="stopped")]
    items = due_items(states, PROTOCOL, MON + timedelta(days=7))
    assert [(item.patient_code, item.kind, item.when) for item in items] == [
        ("P-OPEN", DueKind.OPEN, DueWhen.OPEN),
        ("P-LATE", DueKind.SESSION, DueWhen.OVERDUE),
    ]
    assert items[0].label == "session 2 of 6, open"  # one finished (MON), the second left open


def test_a_completed_course_has_its_follow_ups_due_until_done() -> None:
    days = tuple(MON + timedelta(days=7 * n) for n in range(6))
    last = days[-1]
    done = state(1, "P-DONE", *days, status="completed")
    at_3_months = add_months(last, 3)
    [item] = due_items([done], PROTOCOL, at_3_months)
    assert (item.kind, item.months, item.time_point, item.when) == (DueKind.FOLLOW_UP, 3, "month_3", DueWhen.TODAY)
    assert item.label == "3-month follow-up"
    seen = state(1, "P-DONE", *days, status="completed", follow_ups_done=frozenset({3}))
    assert due_items([seen], PROTOCOL, at_3_months) == []
    [six] = due_items([seen], PROTOCOL, at_3_months, include_later=True)
    assert six.months == 6
    assert due_items([seen], PROTOCOL, add_months(last, 6) - timedelta(days=3))[0].when is DueWhen.THIS_WEEK


def test_after_session_k_the_next_appointment_is_session_k_plus_1_in_its_window() -> None:
    [visit] = next_appointments(PROTOCOL, 2, MON)
    assert (visit.label, visit.session_number, visit.months) == ("session 3 of 6", 3, None)
    assert (visit.due_on, visit.earliest, visit.latest) == (date(2026, 11, 9), date(2026, 11, 7), date(2026, 11, 12))
    [fifth] = next_appointments(PROTOCOL, 5, MON)
    assert fifth.label == "session 6 of 6"


def test_the_next_appointment_follows_the_courses_own_sessions_and_interval() -> None:
    rules = CourseRules(sessions=4, interval_days=14)
    [visit] = next_appointments(PROTOCOL, 3, MON, rules=rules)
    assert (visit.label, visit.due_on) == ("session 4 of 4", MON + timedelta(days=14))
    assert (visit.earliest, visit.latest) == (MON + timedelta(days=12), MON + timedelta(days=17))
    assert [v.months for v in next_appointments(PROTOCOL, 4, MON, rules=rules)] == [3, 6]


def test_after_the_last_session_the_next_appointments_are_the_3_and_6_month_follow_ups() -> None:
    month_3, month_6 = next_appointments(PROTOCOL, 6, date(2026, 12, 28))
    assert (month_3.label, month_3.months, month_3.session_number) == ("3-month follow-up", 3, None)
    assert (month_3.due_on, month_3.earliest, month_3.latest) == (
        date(2027, 3, 28),
        date(2027, 3, 14),
        date(2027, 4, 11),
    )
    assert (month_6.label, month_6.due_on) == ("6-month follow-up", date(2027, 6, 28))


def test_a_stopped_course_has_no_next_appointment() -> None:
    assert next_appointments(PROTOCOL, 2, MON, stopped=True) == ()
