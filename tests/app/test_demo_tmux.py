"""`stampside demo` in a real terminal (tmux), driven with send-keys and read with capture-pane.

scripts/tmux_smoke.py walks a whole treatment session (screening, baseline photos, every
step to the summary); this test then reads what the run stored: the finished session with
each step's record, the override, and the stamps (through `stampside export`), and the
aftercare card, and the signatures: the screening's verdict, the override, the closing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from stampside.app.domain.gates import Gate
from stampside.app.domain.treatment_protocol import StepKind
from stampside.app.storage.database import open_database
from stampside.app.storage.schema import Signature, TreatmentSession
from stampside.app.storage.sessions import get_session
from stampside.app.storage.step_records import load_step_records
from tests.app.tmux_terminal import needs_tmux, smoke_module

pytestmark = [pytest.mark.e2e, needs_tmux]


def test_demo_runs_a_whole_session_in_a_real_terminal(tmp_path: Path) -> None:
    smoke = smoke_module()
    db = f"sqlite:///{tmp_path / 'smoke.db'}"
    shown = smoke.run(db)

    # the session: finished, every step recorded and confirmed by the practitioner chosen
    database = open_database(db)
    try:
        with database.Session.begin() as s:
            ids = s.scalars(select(TreatmentSession.id)).all()
            assert len(ids) == 1, ids
            view = get_session(s, ids[0])
            records = load_step_records(s, view.id)
            signed = s.execute(select(Signature.record_type, Signature.meaning, Signature.signer_name)).all()
    finally:
        database.close()
    assert view.status == "finished"
    assert sorted(signed) == [
        ("screenings", "reviewed", smoke.PRACTITIONER),
        ("step_overrides", "overridden", smoke.PRACTITIONER),
        ("treatment_sessions", "approved", smoke.PRACTITIONER),
    ]
    assert (view.patient_code, view.number) == (smoke.PATIENT, 1)
    assert [record.kind for record in records] == [
        StepKind.PRE_CHECKS,
        StepKind.DISINFECTION,
        StepKind.APPLICATION,
        StepKind.STAMPING,
        StepKind.APPLICATION,
        StepKind.AFTERCARE,
        StepKind.SUMMARY,
    ]
    assert all(record.completed and record.confirmed_by == smoke.PRACTITIONER for record in records)
    checks, disinfection, first, stamping, second = records[:5]
    assert checks.checks and all(check.passed for check in checks.checks)
    (override,) = disinfection.overrides
    assert (override.gate, override.reason, override.by) == (
        Gate.TIMER_ELAPSED,
        smoke.OVERRIDE_REASON,
        smoke.PRACTITIONER,
    )
    assert disinfection.timer_seconds == smoke.CONTACT_S
    assert (first.lot, first.volume_ml) == (smoke.LOT, 2.5)
    assert first.lot_expiry is not None
    assert stamping.started_at <= stamping.ended_at  # type: ignore[operator]
    assert second.timer_seconds == smoke.RUB_IN_S
    assert second.timer_ran_seconds is not None and second.timer_ran_seconds >= smoke.RUB_IN_S

    # the stamps: as many as the summary showed, each once, all in this session of this patient
    exported = subprocess.run(
        [sys.executable, "-m", "stampside.app.cli", "export", "--db", db, "--format", "jsonl"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [json.loads(line) for line in exported.splitlines()]
    assert len(rows) == shown > 0
    assert len({(row["boot"], row["seq"]) for row in rows}) == len(rows)
    assert {(row["patient"], row["session"], row["session_number"]) for row in rows} == {(smoke.PATIENT, view.id, 1)}
    # Every stamp keeps the zone it was counted in, also those the link delivered as the step ended.
    assert all(row["credited_zone"] in range(1, 6) for row in rows), [
        (row["seq"], row["credited_zone"]) for row in rows if not row["credited_zone"]
    ]

    # the aftercare card, next to the database file
    cards = sorted(path.suffix for path in (tmp_path / "aftercare").iterdir())
    assert cards == [".html", ".txt"]
