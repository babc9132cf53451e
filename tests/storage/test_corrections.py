"""Corrections on a real SQLite file: the record changes, the reason and the old values are kept, the trail verifies."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from stampside.app.cli.main import main
from stampside.app.domain.corrections import CorrectionRefused
from stampside.app.domain.eligibility import LabFlag, LabResult, Screening
from stampside.app.domain.outcomes import (
    AdverseEvent,
    IgaAssessment,
    Severity,
    validate_self_assessment,
)
from stampside.app.domain.signatures import SignatureMeaning
from stampside.app.domain.treatment_protocol import default_protocol
from stampside.app.storage import Database
from stampside.app.storage.audit_trail import read_trail
from stampside.app.storage.audit_verify import verify_trail
from stampside.app.storage.corrections import (
    CorrectionError,
    correct_adverse_event,
    correct_assessment,
    correct_patient,
    correct_screening,
    correct_self_assessment,
    corrections_of,
    corrections_of_patient,
)
from stampside.app.storage.outcomes import (
    list_adverse_events,
    list_assessments,
    list_self_assessments,
    record_adverse_event,
    record_assessment,
    record_self_assessment,
)
from stampside.app.storage.patients import NewPatient, get_patient
from stampside.app.storage.pins import set_pin
from stampside.app.storage.schema import CorrectionRow, ScreeningLabResult
from stampside.app.storage.screening import get_screening, save_screening
from stampside.app.storage.sessions import finish_session, open_session
from stampside.app.storage.signatures import signatures_of
from tests.storage.conftest import T0, Seeded

PROTOCOL = default_protocol()
REASON = "typed into the wrong field at the chair"
LATER = T0 + timedelta(days=3)


def assessment(clinic: Database, seeded: Seeded, density: int = 1, coverage: int = 0) -> int:
    with clinic.Session.begin() as s:
        return record_assessment(
            s, seeded.course_id, IgaAssessment("after_session_6", density, coverage, "Dr Ada"), now=T0
        ).id


def corrections_stored(clinic: Database) -> int:
    with clinic.Session.begin() as s:
        return s.scalar(select(func.count()).select_from(CorrectionRow)) or 0


def test_an_assessment_is_corrected_with_its_reason_and_the_trail_keeps_the_old_values(
    clinic: Database, seeded: Seeded
) -> None:
    assessment_id = assessment(clinic, seeded)
    with clinic.Session.begin() as s:
        signer = set_pin(s, seeded.practitioner_id, "4711", "4711", now=T0)
    with clinic.Session.begin() as s:
        view = correct_assessment(
            s,
            assessment_id,
            IgaAssessment("after_session_6", 2, 0, "Dr Ada", "seen again in daylight"),
            reason=REASON,
            by="Dr Ada",
            now=LATER,
            signer=signer,
        )
    assert [str(change) for change in view.changes] == [
        "IGA density: 1 → 2",
        "note: (empty) → seen again in daylight",
    ]
    assert view.note().startswith("corrected 2026-11-05 by Dr Ada: typed into the wrong field")
    with clinic.Session.begin() as s:
        (stored,) = list_assessments(s, seeded.course_id)
        assert (stored.assessment.density, stored.assessment.note) == (2, "seen again in daylight")
        assert stored.assessment.rater == "Dr Ada", "who rated stays"
        (kept,) = corrections_of(s, "outcome_assessments", [assessment_id])[assessment_id]
        assert (kept.reason, kept.corrected_by, kept.corrected_at) == (REASON, "Dr Ada", LATER)
        assert kept.signature is not None and kept.signature.meaning is SignatureMeaning.APPROVED
        (signature,) = signatures_of(s, "corrections", [kept.id])[kept.id]
        assert signature.patient_id == seeded.patient_id
        updates = [e for e in read_trail(s, tables=["outcome_assessments"]) if e.action == "update"]
        assert len(updates) == 1
        assert updates[0].before is not None and updates[0].after is not None
        assert (updates[0].before["iga_density"], updates[0].after["iga_density"]) == (1, 2)
        assert updates[0].patient_id == seeded.patient_id
        (logged,) = list(read_trail(s, tables=["corrections"]))
        assert logged.action == "insert" and logged.after is not None and logged.after["reason"] == REASON
        assert logged.patient_id == seeded.patient_id
        result = verify_trail(s)
        assert result.ok, [str(f) for f in result.findings]


def test_no_reason_a_short_one_or_nothing_changed_is_refused_and_nothing_is_stored(
    clinic: Database, seeded: Seeded
) -> None:
    assessment_id = assessment(clinic, seeded)
    for reason, message in (("", "needs a reason"), ("typo", "too short"), ("   wrong   ", "too short")):
        with pytest.raises(CorrectionRefused, match=message), clinic.Session.begin() as s:
            correct_assessment(
                s,
                assessment_id,
                IgaAssessment("after_session_6", 3, 0, "Dr Ada"),
                reason=reason,
                by="Dr Ada",
                now=LATER,
            )
    with pytest.raises(CorrectionRefused, match="nothing changed"), clinic.Session.begin() as s:
        correct_assessment(
            s, assessment_id, IgaAssessment("after_session_6", 1, 0, "Dr Ada"), reason=REASON, by="Dr Ada", now=LATER
        )
    with pytest.raises(CorrectionError, match="no assessment with id 99"), clinic.Session.begin() as s:
        correct_assessment(s, 99, IgaAssessment("after_session_6", 1, 0, "Dr Ada"), reason=REASON, by="x", now=LATER)
    assert corrections_stored(clinic) == 0
    with clinic.Session.begin() as s:
        assert list_assessments(s, seeded.course_id)[0].assessment.density == 1
        assert not [e for e in read_trail(s, tables=["outcome_assessments"]) if e.action == "update"]


def test_a_self_assessment_answer_is_corrected_added_and_taken_back(clinic: Database, seeded: Seeded) -> None:
    answers = {"overall": "better", "density": "slightly_better", "satisfied": "yes", "recommend": "yes"}
    with clinic.Session.begin() as s:
        first = validate_self_assessment(PROTOCOL, time_point="after_session_6", answers=answers)
        stored = record_self_assessment(s, seeded.course_id, first, recorded_by="Dr Ada", now=T0)
    corrected = validate_self_assessment(
        PROTOCOL,
        time_point="after_session_6",
        answers={**answers, "overall": "much_better", "comments": "less shedding"},
    )
    with clinic.Session.begin() as s:
        view = correct_self_assessment(
            s, stored.id, corrected, reason=REASON, by="Dr Ada", now=LATER, labels={"overall": "Overall"}
        )
    assert [str(change) for change in view.changes] == [
        "Overall: better → much_better",
        "answer comments: (none) → less shedding",
    ]
    with clinic.Session.begin() as s:
        (again,) = list_self_assessments(s, seeded.course_id)
        overall = again.self_assessment.answer("overall")
        assert overall is not None and overall.value == "much_better" and overall.score == 3
        updates = [e for e in read_trail(s, tables=["self_assessment_answers"]) if e.action == "update"]
        assert [(e.before or {}).get("value") for e in updates] == ["better"]
        assert verify_trail(s).ok


def test_an_adverse_event_is_corrected_and_linked_to_another_session(clinic: Database, seeded: Seeded) -> None:
    with clinic.Session.begin() as s:
        for number in range(2):
            at = T0 + timedelta(days=7 * number)
            opened = open_session(
                s, seeded.course_id, protocol=PROTOCOL, practitioner_id=seeded.practitioner_id, now=at
            )
            finish_session(s, opened.id, now=at + timedelta(hours=1))
        event = AdverseEvent("itching", date(2026, 11, 10), Severity.MILD, None, 1, "")
        stored = record_adverse_event(s, seeded.course_id, event, recorded_by="Dr Ada", now=T0)
    corrected = AdverseEvent("itching", date(2026, 11, 10), Severity.MODERATE, date(2026, 11, 12), 2, "")
    with clinic.Session.begin() as s:
        view = correct_adverse_event(s, stored.id, corrected, reason=REASON, by="Dr Ada", now=LATER)
    assert [str(c) for c in view.changes] == [
        "severity: mild → moderate",
        "resolved on: (none) → 2026-11-12",
        "after session: 1 → 2",
    ]
    with clinic.Session.begin() as s:
        (again,) = list_adverse_events(s, seeded.course_id)
        assert (again.event.severity, again.event.session_number, again.recorded_by) == (Severity.MODERATE, 2, "Dr Ada")
        (update,) = [e for e in read_trail(s, tables=["adverse_events"]) if e.action == "update"]
        assert (update.before or {})["severity"] == "mild" and (update.after or {})["severity"] == "moderate"
    with pytest.raises(CorrectionError, match="no session 5"), clinic.Session.begin() as s:
        correct_adverse_event(
            s,
            stored.id,
            AdverseEvent("itching", date(2026, 11, 10), Severity.MILD, None, 5, ""),
            reason=REASON,
            by="Dr Ada",
            now=LATER,
        )


def screening_form(flag: LabFlag = LabFlag.NORMAL, **changes: object) -> Screening:
    labs = [
        LabResult(test=t, taken_on=date(2026, 10, 25), flag=flag if t == "ferritin" else LabFlag.NORMAL)
        for t in ("vitamin_d", "vitamin_b12", "ferritin", "tsh")
    ]
    fields: dict[str, object] = {
        "screened_on": date(2026, 11, 1),
        "sex": "male",
        "smoker": False,
        "norwood_grade": "3V",
        "labs": labs,
    }
    fields.update(changes)
    return Screening.parse(**fields)


def test_a_screenings_lab_result_is_corrected_and_its_verdict_judged_again(clinic: Database, seeded: Seeded) -> None:
    with clinic.Session.begin() as s:
        saved = save_screening(s, seeded.patient_id, screening_form(), protocol=PROTOCOL, screened_by="Dr Ada", now=T0)
    assert saved.stored_result == "eligible"
    with clinic.Session.begin() as s:
        view = correct_screening(
            s,
            saved.id,
            screening_form(LabFlag.ABNORMAL, smoker=True),
            protocol=PROTOCOL,
            reason="lab report misread, ferritin was low",
            by="Dr Ada",
            now=LATER,
        )
    shown = [str(c) for c in view.changes]
    assert "smoker: no → yes" in shown
    assert any(c.startswith("Ferritin (iron stores): 2026-10-25 normal → 2026-10-25 abnormal") for c in shown), shown
    assert "verdict: eligible → not_eligible" in shown
    with clinic.Session.begin() as s:
        again = get_screening(s, saved.id, protocol=PROTOCOL)
        assert again.stored_result == "not_eligible" and again.screening.smoker
        updates = [e for e in read_trail(s, tables=["screening_lab_results"]) if e.action == "update"]
        assert [((e.before or {})["flag"], (e.after or {})["flag"]) for e in updates] == [("normal", "abnormal")]
        assert s.scalar(select(func.count()).select_from(ScreeningLabResult)) == 4
        assert verify_trail(s).ok


def test_patient_details_are_corrected_but_not_the_code(clinic: Database, seeded: Seeded) -> None:
    corrected = NewPatient.parse("P-0042", name="Jon Smith", birth_year=1979, norwood_grade="3V")
    with clinic.Session.begin() as s:
        view = correct_patient(
            s, seeded.patient_id, corrected, reason="name spelled as on the ID card", by="Dr Ada", now=LATER
        )
    assert [str(c) for c in view.changes] == ["name: (none) → Jon Smith", "year of birth: (none) → 1979"]
    with clinic.Session.begin() as s:
        patient = get_patient(s, seeded.patient_id)
        assert patient is not None and (patient.name, patient.birth_year) == ("Jon Smith", 1979)
        (update,) = [e for e in read_trail(s, tables=["patients"]) if e.action == "update"]
        assert (update.before or {})["name"] is None and (update.after or {})["name"] == "Jon Smith"
        assert [c.table for c in corrections_of_patient(s, seeded.patient_id)] == ["patients"]
    with pytest.raises(CorrectionError, match="code is not corrected"), clinic.Session.begin() as s:
        correct_patient(s, seeded.patient_id, NewPatient.parse("P-0043"), reason=REASON, by="Dr Ada", now=LATER)


def test_audit_verify_exits_0_after_a_correction_and_show_prints_its_reason(
    clinic: Database, seeded: Seeded, clinic_url: str
) -> None:
    assessment_id = assessment(clinic, seeded)
    with clinic.Session.begin() as s:
        correct_assessment(
            s, assessment_id, IgaAssessment("after_session_6", 2, 0, "Dr Ada"), reason=REASON, by="Dr Ada", now=LATER
        )
    runner = CliRunner()
    verified = runner.invoke(main, ["audit", "verify", "--db", clinic_url])
    assert verified.exit_code == 0, verified.output
    shown = runner.invoke(main, ["audit", "show", "--db", clinic_url, "--table", "corrections"])
    assert shown.exit_code == 0, shown.output
    assert f"correction of outcome_assessments id={assessment_id}" in shown.output
    assert REASON in shown.output and "IGA density: 1 → 2" in shown.output
