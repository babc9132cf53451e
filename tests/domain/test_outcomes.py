"""Outcomes: IGA scores on the protocol's scale, the self-assessment, adverse events, blinded pairs."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from stampside.app.domain.outcomes import (
    BlindedCall,
    OutcomeInputError,
    PairSource,
    Severity,
    Side,
    blinded_pairs,
    outcome_time_points,
    validate_adverse_event,
    validate_iga,
    validate_self_assessment,
)
from stampside.app.domain.treatment_protocol import default_protocol

PROTOCOL = default_protocol()
TODAY = date(2027, 3, 1)


def test_outcomes_are_recorded_after_session_6_and_at_each_follow_up() -> None:
    assert outcome_time_points(PROTOCOL) == ("after_session_6", "month_3", "month_6")


@pytest.mark.parametrize(("typed", "score"), [(2, 2), ("+2", 2), ("-3", -3), ("−1", -1), (" 0 ", 0), (3, 3)])
def test_iga_scores_are_read_as_typed(typed: int | str, score: int) -> None:
    assessment = validate_iga(PROTOCOL, time_point="month_3", density=typed, coverage=0, rater=" Dr Ada ")
    assert (assessment.density, assessment.rater) == (score, "Dr Ada")


def test_iga_scores_outside_the_scale_or_not_numbers_are_explained() -> None:
    with pytest.raises(OutcomeInputError) as caught:
        validate_iga(PROTOCOL, time_point="baseline", density=4, coverage="lots", rater="")
    lines = str(caught.value).splitlines()
    assert len(lines) == 4
    assert "not an outcome time point" in lines[0]
    assert "density: +4 is not on the scale -3 … +3" in lines[1]
    assert "coverage: 'lots' is not a whole number" in lines[2]
    assert "rater" in lines[3]


def test_iga_improvement_uses_the_protocol_threshold() -> None:
    rules = PROTOCOL.outcomes
    assert validate_iga(PROTOCOL, time_point="month_6", density=1, coverage=0, rater="A").improved(rules)
    assert not validate_iga(PROTOCOL, time_point="month_6", density=0, coverage=-1, rater="A").improved(rules)
    assert rules.iga_label(-3) == "Greatly decreased" and rules.iga_label(0) == "No change"


def test_a_self_assessment_follows_the_questionnaire() -> None:
    answers = validate_self_assessment(
        PROTOCOL,
        time_point="after_session_6",
        answers={"overall": "Slightly better", "density": "no_change", "satisfied": True, "recommend": "n"},
    )
    assert [(a.question_id, a.value, a.score) for a in answers.answers] == [
        ("overall", "slightly_better", 1),
        ("density", "no_change", 0),
        ("satisfied", "yes", None),
        ("recommend", "no", None),
    ]
    assert answers.improved(PROTOCOL.outcomes) is True


def test_a_self_assessment_refuses_missing_unknown_and_wrong_answers() -> None:
    with pytest.raises(OutcomeInputError) as caught:
        validate_self_assessment(
            PROTOCOL,
            time_point="month_3",
            answers={"overall": "fabulous", "satisfied": "perhaps", "mood": "good"},
        )
    message = str(caught.value)
    assert "mood: not a question" in message
    assert "overall: 'fabulous' is not one of" in message
    assert "density: needs an answer" in message
    assert "satisfied: answer yes or no" in message
    assert "comments" not in message  # optional


def test_an_adverse_event_has_what_when_and_severity() -> None:
    event = validate_adverse_event(
        what=" erythema  beyond 48 h ", onset_on=date(2027, 2, 1), severity="Moderate", today=TODAY, session_number=3
    )
    assert (event.what, event.severity, event.session_number) == ("erythema beyond 48 h", Severity.MODERATE, 3)


def test_a_bad_adverse_event_is_explained() -> None:
    with pytest.raises(OutcomeInputError) as caught:
        validate_adverse_event(
            what="", onset_on=date(2027, 3, 2), severity="awful", today=TODAY, resolved_on=date(2027, 3, 1)
        )
    message = str(caught.value)
    assert "what:" in message and "severity: 'awful'" in message
    assert "onset: 2027-03-02 is in the future" in message and "before the onset" in message


SOURCES = [
    PairSource(course, view, course * 100 + 1, course * 100 + 2)
    for course in range(1, 9)
    for view in ("vertex", "frontal")
]


def test_blinded_pairs_are_seeded_and_order_independent() -> None:
    first = blinded_pairs(SOURCES, seed=42)
    assert first == blinded_pairs(list(reversed(SOURCES)), seed=42)
    assert first != blinded_pairs(SOURCES, seed=43)
    assert [p.position for p in first] == list(range(1, len(SOURCES) + 1))
    assert {(p.course_id, p.view) for p in first} == {(s.course_id, s.view) for s in SOURCES}
    sides = Counter(p.after_side for p in first)
    assert sides[Side.LEFT] and sides[Side.RIGHT]
    assert [(p.course_id, p.view) for p in first] != [(s.course_id, s.view) for s in SOURCES]


def test_a_blinded_call_reads_back_as_improved_or_not() -> None:
    for pair in blinded_pairs(SOURCES, seed=7):
        source = next(s for s in SOURCES if (s.course_id, s.view) == (pair.course_id, pair.view))
        assert (pair.before_photo_id, pair.after_photo_id) == (source.before_photo_id, source.after_photo_id)
        assert {pair.left_photo_id, pair.right_photo_id} == {source.before_photo_id, source.after_photo_id}
        after_call = BlindedCall(pair.after_side.value)
        before_call = BlindedCall.RIGHT if after_call is BlindedCall.LEFT else BlindedCall.LEFT
        assert pair.improved(after_call) is True
        assert pair.improved(before_call) is False
        assert pair.improved(BlindedCall.SAME) is None
