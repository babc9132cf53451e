"""Screening: who may start a course, under the protocol's eligibility rules.

A :class:`Screening` is what the screening form records: the lab results (each with the day
it was taken and a normal/abnormal flag), smoker or not, sex, Norwood grade and the
contraindications found. :func:`evaluate_screening` checks it against
:class:`~stampside.app.domain.treatment_protocol.ScreeningRules` and returns an
:class:`EligibilityResult`: one :class:`Finding` per rule that is not met, each excluding or
only a warning, with a message a practitioner can act on.

With the default protocol a patient is excluded by a missing or abnormal vitamin D, vitamin
B12, ferritin or TSH result, by smoking, by a sex other than male, by a Norwood grade other
than 3, 3V or 4, and by any listed contraindication. A result taken more than
``max_result_age_days`` before the day it is judged is flagged stale (a warning, or an
exclusion when the protocol says ``stale_results_exclude``).

A patient who is not eligible can still start with an override: a typed reason, who made it
and when (:meth:`EligibilityResult.overridden`, the rules of :mod:`stampside.app.domain.course_gates`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stampside.app.domain.course_gates import (
    CourseGate,
    CourseGateResult,
    CourseOverride,
    OverrideRefused,
    make_course_override,
)
from stampside.app.domain.treatment_protocol import NORWOOD_SCREENING_GRADES, NorwoodValue, ScreeningRules, Sex

__all__ = [
    "EligibilityResult",
    "Finding",
    "LabFlag",
    "LabResult",
    "OverrideRefused",
    "Rule",
    "Screening",
    "ScreeningInputError",
    "Sex",
    "evaluate_screening",
    "parse_screening_grade",
]


class ScreeningInputError(ValueError):
    """A screening form cannot be judged as filled in; one line per problem, naming the field."""


class LabFlag(StrEnum):
    NORMAL = "normal"
    ABNORMAL = "abnormal"


class Rule(StrEnum):
    """The eligibility rule a finding is about."""

    LAB_MISSING = "lab_missing"
    LAB_ABNORMAL = "lab_abnormal"
    LAB_STALE = "lab_stale"
    SMOKER = "smoker"
    SEX = "sex"
    NORWOOD = "norwood"
    CONTRAINDICATION = "contraindication"


_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7"}
_GRADE = re.compile(r"^(?P<num>vii|vi|iv|v|iii|ii|i|[1-7])(?P<variant>a|v|vertex|anterior)?$")


def parse_screening_grade(text: str) -> NorwoodValue:
    """A Norwood–Hamilton grade as typed ("3", "3V", "III vertex", "IVa", "norwood 5") in its stored form.

    Raises :class:`ValueError` naming what was typed and what is accepted.
    """
    compact = re.sub(r"[\s\-_.]", "", text).lower().removeprefix("norwood").removeprefix("nw")
    match = _GRADE.match(compact)
    if match:
        variant = match["variant"] or ""
        grade = _ROMAN.get(match["num"], match["num"]) + ("V" if variant.startswith("v") else "A" if variant else "")
        for known in NORWOOD_SCREENING_GRADES:
            if known == grade:
                return known
    accepted = ", ".join(NORWOOD_SCREENING_GRADES)
    raise ValueError(f"{text.strip()!r} is not a Norwood grade (accepted: {accepted})")


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class LabResult(_Input):
    """One lab result: which test (a protocol lab id), the day it was taken, normal or abnormal."""

    test: str = Field(min_length=1, max_length=40)
    taken_on: date
    flag: LabFlag
    #: The value as the lab wrote it ("18 ng/ml"), kept for the record; the flag decides.
    value: str | None = Field(None, max_length=60)


class Screening(_Input):
    """A filled-in screening form."""

    screened_on: date
    sex: Sex
    smoker: bool
    norwood_grade: NorwoodValue
    labs: tuple[LabResult, ...] = ()
    #: Ids of the protocol contraindications found (an empty tuple: none found).
    contraindications: tuple[str, ...] = ()
    notes: Annotated[str, Field(max_length=2000)] = ""

    @field_validator("norwood_grade", mode="before")
    @classmethod
    def _grade(cls, value: object) -> object:
        return parse_screening_grade(value) if isinstance(value, str) else value

    @field_validator("contraindications", mode="before")
    @classmethod
    def _sorted(cls, value: object) -> object:
        if isinstance(value, Iterable) and not isinstance(value, str):
            return tuple(sorted(set(value)))
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Screening:
        tests = [lab.test for lab in self.labs]
        twice = sorted({test for test in tests if tests.count(test) > 1})
        if twice:
            raise ValueError(f"a lab test is entered twice: {', '.join(twice)}")
        future = [lab.test for lab in self.labs if lab.taken_on > self.screened_on]
        if future:
            raise ValueError(f"a lab result is dated after the screening: {', '.join(future)}")
        return self

    @classmethod
    def parse(cls, **fields: object) -> Screening:
        """Validate typed values; raises :class:`ScreeningInputError` with a line per field."""
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            raise ScreeningInputError(_explain(exc)) from None

    def lab(self, test: str) -> LabResult | None:
        for lab in self.labs:
            if lab.test == test:
                return lab
        return None


def _explain(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "screening"
        lines.append(f"{field}: {str(error['msg']).removeprefix('Value error, ')}")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule the screening does not meet. ``subject`` is the lab or contraindication id, if any."""

    rule: Rule
    message: str
    excludes: bool
    subject: str = ""


@dataclass(frozen=True, slots=True)
class EligibilityResult:
    """The verdict on a screening: ``eligible`` when no finding excludes; ``ok`` also when overridden."""

    findings: tuple[Finding, ...]
    as_of: date
    override: CourseOverride | None = None

    @property
    def eligible(self) -> bool:
        return not self.exclusions

    @property
    def ok(self) -> bool:
        return self.eligible or self.override is not None

    @property
    def exclusions(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if finding.excludes)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(finding for finding in self.findings if not finding.excludes)

    @property
    def stale_tests(self) -> tuple[str, ...]:
        """The lab tests whose results are stale (flagged)."""
        return tuple(finding.subject for finding in self.findings if finding.rule is Rule.LAB_STALE)

    @property
    def message(self) -> str:
        """One line: "eligible", or "not eligible: ..." with each exclusion."""
        if self.eligible:
            text = "eligible"
            if self.warnings:
                text += " (" + "; ".join(finding.message for finding in self.warnings) + ")"
            return text
        text = "not eligible: " + "; ".join(finding.message for finding in self.exclusions)
        if self.override is not None:
            text += f" (overridden by {self.override.by}: {self.override.reason})"
        return text

    def gate_result(self) -> CourseGateResult:
        """As a :class:`~stampside.app.domain.course_gates.CourseGateResult` of the screening gate."""
        return CourseGateResult(CourseGate.SCREENING, self.eligible, self.message, self.override)

    def overridden(self, reason: str, *, by: str, at: datetime) -> EligibilityResult:
        """This result let through by ``by`` at ``at`` for ``reason``; refused if it is eligible."""
        if self.eligible:
            raise OverrideRefused("the screening passed; there is nothing to override")
        failure = "; ".join(finding.message for finding in self.exclusions)
        return replace(self, override=make_course_override(CourseGate.SCREENING, reason, by=by, at=at, failure=failure))

    def with_override(self, override: CourseOverride | None) -> EligibilityResult:
        """This result with a stored override attached (as read back from storage)."""
        return replace(self, override=override)


def evaluate_screening(screening: Screening, rules: ScreeningRules, *, as_of: date | None = None) -> EligibilityResult:
    """Judge ``screening`` under ``rules``; staleness is counted up to ``as_of`` (default: the screening day).

    A lab test or contraindication id the rules do not know raises :class:`ScreeningInputError`.
    """
    as_of = as_of or screening.screened_on
    _check_known(screening, rules)
    findings: list[Finding] = []
    for lab in rules.labs:
        result = screening.lab(lab.id)
        if result is None:
            findings.append(Finding(Rule.LAB_MISSING, f"{lab.label}: no result", True, lab.id))
            continue
        if result.flag is LabFlag.ABNORMAL:
            verdict = "abnormal" + (f" ({result.value})" if result.value else "")
            findings.append(Finding(Rule.LAB_ABNORMAL, f"{lab.label}: {verdict}", lab.abnormal_excludes, lab.id))
        age = (as_of - result.taken_on).days
        if age > rules.max_result_age_days:
            findings.append(
                Finding(
                    Rule.LAB_STALE,
                    f"{lab.label}: result from {result.taken_on.isoformat()} is {age} days old "
                    f"(more than {rules.max_result_age_days}); repeat the test",
                    rules.stale_results_exclude,
                    lab.id,
                )
            )
    if screening.smoker and rules.smokers_excluded:
        findings.append(Finding(Rule.SMOKER, "smoker", True))
    if screening.sex not in rules.sexes:
        allowed = ", ".join(sex.value for sex in rules.sexes)
        findings.append(Finding(Rule.SEX, f"sex {screening.sex.value}: the course is for {allowed}", True))
    if screening.norwood_grade not in rules.norwood_grades:
        allowed = ", ".join(rules.norwood_grades)
        findings.append(
            Finding(Rule.NORWOOD, f"Norwood grade {screening.norwood_grade}: the course is for {allowed}", True)
        )
    for item_id in screening.contraindications:
        item = rules.contraindication(item_id)
        findings.append(Finding(Rule.CONTRAINDICATION, item.label, item.excludes, item.id))
    return EligibilityResult(tuple(findings), as_of)


def _check_known(screening: Screening, rules: ScreeningRules) -> None:
    problems = []
    known_labs = {lab.id for lab in rules.labs}
    for lab in screening.labs:
        if lab.test not in known_labs:
            problems.append(f"labs: {lab.test!r} is not a lab test of the protocol ({', '.join(sorted(known_labs))})")
    known = {item.id for item in rules.contraindications}
    for item_id in screening.contraindications:
        if item_id not in known:
            problems.append(f"contraindications: {item_id!r} is not in the protocol's list")
    if problems:
        raise ScreeningInputError("\n".join(problems))
