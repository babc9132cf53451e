"""The clinic board's warnings as plain rules: a lost link, a single-use head used before, a timer
left running out past its minute of grace."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from stampside.app.domain.chair_warnings import (
    TIMER_OVERDUE_AFTER_S,
    ChairWarning,
    WarningKind,
    head_warning,
    link_warning,
    timer_warning,
)
from stampside.app.domain.steps import StepRecord
from stampside.app.domain.treatment_protocol import StepKind

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
DISINFECTION = StepRecord(
    step_id="disinfection",
    kind=StepKind.DISINFECTION,
    position=1,
    started_at=NOW - timedelta(minutes=5),
    started_by="Dr Ada",
    timer_seconds=60,
    timer_started_at=NOW - timedelta(minutes=5),
)


def test_only_a_lost_link_warns_and_says_for_how_long() -> None:
    lost = link_warning("lost", NOW - timedelta(seconds=75))
    assert lost == ChairWarning(WarningKind.LINK_LOST, NOW - timedelta(seconds=75))
    assert lost.text(NOW) == "link lost 1:15"
    assert link_warning("connected", NOW) is None and link_warning(None, None) is None


def test_a_used_head_warns_only_where_the_protocol_makes_heads_single_use() -> None:
    assert head_warning(used_before=True, single_use=True) == ChairWarning(WarningKind.HEAD_USED)
    assert head_warning(used_before=True, single_use=False) is None
    assert head_warning(used_before=False, single_use=True) is None
    assert ChairWarning(WarningKind.HEAD_USED).text(NOW) == "head used before"


def test_a_timer_is_overdue_once_it_ran_out_a_minute_ago_and_the_step_is_still_open() -> None:
    ran_out = DISINFECTION.started_at + timedelta(seconds=60)
    assert timer_warning(DISINFECTION, ran_out - timedelta(seconds=1)) is None  # still running
    assert timer_warning(DISINFECTION, ran_out + timedelta(seconds=TIMER_OVERDUE_AFTER_S - 1)) is None
    overdue = timer_warning(DISINFECTION, ran_out + timedelta(seconds=TIMER_OVERDUE_AFTER_S))
    assert overdue == ChairWarning(WarningKind.TIMER_OVERDUE, ran_out)
    assert overdue.text(ran_out + timedelta(seconds=125)) == "timer overdue 2:05"
    restarted = replace(DISINFECTION, timer_started_at=NOW - timedelta(seconds=30))
    assert timer_warning(restarted, NOW) is None  # a restarted timer counts from its restart


def test_a_finished_step_a_step_without_a_timer_or_no_step_is_never_overdue() -> None:
    assert timer_warning(replace(DISINFECTION, ended_at=NOW - timedelta(minutes=1)), NOW) is None
    assert timer_warning(replace(DISINFECTION, timer_seconds=None, timer_started_at=None), NOW) is None
    assert timer_warning(None, NOW) is None
