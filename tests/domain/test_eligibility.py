"""Screening against the protocol's eligibility rules: each rule, stale results, overrides."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from stampside.app.domain.course_gates import CourseGate
from stampside.app.domain.eligibility import (
    LabFlag,
    LabResult,
    OverrideRefused,
    Rule,
    Screening,
    ScreeningInputError,
    evaluate_screening,
    parse_screening_grade,
)
from stampside.app.domain.treatment_protocol import ScreeningRules, Sex, default_protocol, parse_protocol

RULES = default_protocol().screening
DAY = date(2026, 11, 2)
AT = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
LABS = ("vitamin_d", "vitamin_b12", "ferritin", "tsh")


def labs(*, taken_on: date = DAY - timedelta(days=10), abnormal: tuple[str, ...] = ()) -> list[LabResult]:
    return [
        LabResult(test=t, taken_on=taken_on, flag=LabFlag.ABNORMAL if t in abnormal else LabFlag.NORMAL) for t in LABS
    ]


def form(**changes: object) -> Screening:
    fields: dict[str, object] = {
        "screened_on": DAY,
        "sex": "male",
        "smoker": False,
        "norwood_grade": "3V",
        "labs": labs(),
        "contraindications": (),
    }
    fields.update(changes)
    return Screening.parse(**fields)


def test_the_missions_patient_is_eligible() -> None:
    result = evaluate_screening(form(), RULES)
    assert result.eligible and result.ok
    assert result.findings == ()
    assert result.message == "eligible"
    assert result.gate_result().passed


@pytest.mark.parametrize("test", LABS)
def test_an_abnormal_result_excludes(test: str) -> None:
    result = evaluate_screening(form(labs=labs(abnormal=(test,))), RULES)
    assert not result.eligible
    assert [(f.rule, f.subject) for f in result.exclusions] == [(Rule.LAB_ABNORMAL, test)]
    assert RULES.lab(test).label in result.message


@pytest.mark.parametrize("test", LABS)
def test_a_missing_result_excludes(test: str) -> None:
    result = evaluate_screening(form(labs=[lab for lab in labs() if lab.test != test]), RULES)
    assert [(f.rule, f.subject) for f in result.exclusions] == [(Rule.LAB_MISSING, test)]
    assert "no result" in result.message


def test_smokers_are_excluded() -> None:
    result = evaluate_screening(form(smoker=True), RULES)
    assert [f.rule for f in result.exclusions] == [Rule.SMOKER]


@pytest.mark.parametrize("sex", ["female", "other"])
def test_the_course_is_for_men(sex: str) -> None:
    result = evaluate_screening(form(sex=sex), RULES)
    assert [f.rule for f in result.exclusions] == [Rule.SEX]
    assert "male" in result.message


@pytest.mark.parametrize(
    ("typed", "eligible"), [("3", True), ("III vertex", True), ("IV", True), ("2", False), ("5", False), ("3a", False)]
)
def test_norwood_grades_3_3v_and_4_only(typed: str, eligible: bool) -> None:
    result = evaluate_screening(form(norwood_grade=typed), RULES)
    assert result.eligible is eligible
    if not eligible:
        assert [f.rule for f in result.exclusions] == [Rule.NORWOOD]


@pytest.mark.parametrize("item", [c.id for c in RULES.contraindications])
def test_each_contraindication_excludes(item: str) -> None:
    result = evaluate_screening(form(contraindications=[item]), RULES)
    assert [(f.rule, f.subject) for f in result.exclusions] == [(Rule.CONTRAINDICATION, item)]


def test_the_contraindications_are_protocol_data() -> None:
    ids = {c.id for c in RULES.contraindications}
    assert {"chlorhexidine_allergy", "active_scalp_infection", "anticoagulants", "keloid_tendency"} <= ids


def test_every_problem_is_listed_at_once() -> None:
    result = evaluate_screening(form(smoker=True, sex="female", labs=labs(abnormal=("tsh",))), RULES)
    assert {f.rule for f in result.exclusions} == {Rule.SMOKER, Rule.SEX, Rule.LAB_ABNORMAL}


def test_a_result_older_than_the_protocol_age_is_flagged_but_does_not_exclude() -> None:
    old = DAY - timedelta(days=RULES.max_result_age_days + 1)
    result = evaluate_screening(form(labs=labs(taken_on=old)), RULES)
    assert result.eligible
    assert result.stale_tests == LABS
    assert all(f.rule is Rule.LAB_STALE and not f.excludes for f in result.warnings)
    assert "days old" in result.message


def test_a_result_exactly_at_the_age_limit_is_not_stale() -> None:
    edge = DAY - timedelta(days=RULES.max_result_age_days)
    assert evaluate_screening(form(labs=labs(taken_on=edge)), RULES).stale_tests == ()


def test_results_go_stale_by_the_day_they_are_judged() -> None:
    screening = form()
    later = DAY + timedelta(days=RULES.max_result_age_days)
    assert evaluate_screening(screening, RULES, as_of=later).stale_tests == LABS


def test_a_protocol_can_make_stale_results_exclude() -> None:
    rules = ScreeningRules(stale_results_exclude=True, max_result_age_days=30)
    result = evaluate_screening(form(labs=labs(taken_on=DAY - timedelta(days=31))), rules)
    assert not result.eligible
    assert {f.rule for f in result.exclusions} == {Rule.LAB_STALE}


def test_rules_are_data_a_protocol_can_change() -> None:
    rules = ScreeningRules(sexes=(Sex.MALE, Sex.FEMALE), norwood_grades=("2", "3"), smokers_excluded=False)
    assert evaluate_screening(form(sex="female", norwood_grade="2", smoker=True), rules).eligible


def test_a_protocol_file_without_a_screening_table_gets_the_missions_rules() -> None:
    text = default_protocol_text_without("[screening]", "[photos]")
    assert parse_protocol(text).screening == ScreeningRules()


def default_protocol_text_without(start: str, end: str) -> str:
    from stampside.app.domain.treatment_protocol import DEFAULT_PROTOCOL_PATH

    text = DEFAULT_PROTOCOL_PATH.read_text(encoding="utf-8")
    head, rest = text.split(start, 1)
    return head + end + rest.split(end, 1)[1]


def test_an_override_needs_a_typed_reason_and_is_recorded() -> None:
    result = evaluate_screening(form(labs=labs(abnormal=("ferritin",))), RULES)
    with pytest.raises(OverrideRefused):
        result.overridden("ok", by="Dr Ada", at=AT)
    with pytest.raises(OverrideRefused):
        result.overridden("ferritin was rechecked normal", by="  ", at=AT)
    passed = result.overridden("  ferritin   rechecked normal on day 2 ", by="Dr Ada", at=AT)
    assert passed.ok and not passed.eligible
    assert passed.override is not None
    assert passed.override.gate is CourseGate.SCREENING
    assert passed.override.reason == "ferritin rechecked normal on day 2"
    assert (passed.override.by, passed.override.at) == ("Dr Ada", AT)
    assert "Ferritin" in passed.override.failure
    gate = passed.gate_result()
    assert gate.ok and not gate.passed


def test_an_eligible_screening_cannot_be_overridden() -> None:
    with pytest.raises(OverrideRefused):
        evaluate_screening(form(), RULES).overridden("no reason needed here", by="Dr Ada", at=AT)


def test_bad_input_is_explained_per_field() -> None:
    with pytest.raises(ScreeningInputError) as caught:
        Screening.parse(screened_on=DAY, sex="alien", smoker="maybe", norwood_grade="9")
    message = str(caught.value)
    assert "sex:" in message and "smoker:" in message and "norwood_grade:" in message


def test_a_lab_entered_twice_or_dated_after_the_screening_is_refused() -> None:
    with pytest.raises(ScreeningInputError, match="twice"):
        form(labs=[*labs(), LabResult(test="tsh", taken_on=DAY, flag=LabFlag.NORMAL)])
    with pytest.raises(ScreeningInputError, match="after the screening"):
        form(labs=labs(taken_on=DAY + timedelta(days=1)))


def test_unknown_lab_or_contraindication_ids_are_refused() -> None:
    with pytest.raises(ScreeningInputError, match="not a lab test"):
        evaluate_screening(form(labs=[*labs(), LabResult(test="zinc", taken_on=DAY, flag=LabFlag.NORMAL)]), RULES)
    with pytest.raises(ScreeningInputError, match="not in the protocol's list"):
        evaluate_screening(form(contraindications=["hiccups"]), RULES)


@pytest.mark.parametrize(
    ("typed", "grade"), [("3", "3"), ("3v", "3V"), ("III vertex", "3V"), ("IVa", "4A"), ("Norwood 5", "5")]
)
def test_norwood_grades_are_read_as_typed(typed: str, grade: str) -> None:
    assert parse_screening_grade(typed) == grade


def test_an_unreadable_grade_names_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="accepted: 1, 2"):
        parse_screening_grade("eight")
