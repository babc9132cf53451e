"""The course sections of the protocol file: defaults, old files without them, and bad data."""

from __future__ import annotations

import re

import pytest

from stampside.app.domain.treatment_protocol import (
    DEFAULT_PROTOCOL_PATH,
    FollowUpRules,
    OutcomeRules,
    PhotoRules,
    ProtocolFileError,
    ScreeningRules,
    default_protocol,
    parse_protocol,
)

TEXT = DEFAULT_PROTOCOL_PATH.read_text(encoding="utf-8")
COURSE_TABLES = ("follow_up", "screening", "photos", "outcomes")


def without_course_sections(text: str) -> str:
    """The default file as it was before the course sections: everything from [follow_up] to the first step removed."""
    head, rest = text.split("[follow_up]", 1)
    steps = rest.index("[[steps]]")
    head = re.sub(r"window_(min|max)_days = \d+.*\n", "", head)
    return head + rest[steps:]


def test_the_default_file_spells_out_the_model_defaults() -> None:
    protocol = default_protocol()
    assert protocol.screening == ScreeningRules()
    assert protocol.follow_up == FollowUpRules()
    assert protocol.photos == PhotoRules()
    assert protocol.outcomes == OutcomeRules()


def test_a_protocol_file_without_the_course_sections_still_loads_with_the_missions_rules() -> None:
    old = without_course_sections(TEXT)
    for table in COURSE_TABLES:
        assert f"[{table}" not in old
    protocol = parse_protocol(old)
    assert protocol.model_dump(exclude={"course"}) == default_protocol().model_dump(exclude={"course"})
    assert (protocol.course.earliest_days, protocol.course.latest_days) == (5, 10)


def error(text: str) -> str:
    with pytest.raises(ProtocolFileError) as caught:
        parse_protocol(text, source="clinic.toml")
    return str(caught.value)


def test_a_window_that_misses_the_interval_is_refused() -> None:
    message = error(TEXT.replace("window_min_days = 5", "window_min_days = 8"))
    assert "course: the window 8–10 days must contain interval_days (7)" in message


def test_a_time_point_naming_an_unknown_view_is_refused() -> None:
    message = error(TEXT.replace("gates_session = true", 'gates_session = true\nviews = ["vertex", "crown"]'))
    assert "names unknown views: crown" in message


def test_a_time_point_after_a_session_the_course_lacks_is_refused() -> None:
    message = error(TEXT.replace("session = 6\n", "session = 8\n"))
    assert "names session 8, but the course has 6" in message


def test_a_follow_up_time_point_needs_a_follow_up_month() -> None:
    message = error(TEXT.replace("months = [3, 6]", "months = [3, 12]"))
    assert "is at month 6, which is not a follow-up month (3, 12)" in message


def test_iga_labels_must_match_the_scale() -> None:
    message = error(TEXT.replace("iga_max = 3", "iga_max = 4"))
    assert "iga_labels needs one label per point from -3 to 4 (8), got 7" in message


def test_a_choice_question_needs_choices_and_ids_are_unique() -> None:
    message = error(TEXT.replace('id = "satisfied"', 'id = "overall"'))
    assert "question ids must be unique: 'overall'" in message
    message = error(TEXT.replace('kind = "yes_no"', 'kind = "choice"', 1))
    assert "a choice question needs at least 2 choices" in message


def test_a_bad_screening_value_names_its_field_and_line() -> None:
    text = TEXT.replace('norwood_grades = ["3", "3V", "4"]', 'norwood_grades = ["3", "9"]')
    message = error(text)
    line = next(n for n, row in enumerate(text.splitlines(), start=1) if row.startswith("norwood_grades"))
    assert f"line {line}: screening.norwood_grades[1]" in message
