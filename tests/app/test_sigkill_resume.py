"""SIGKILL in the middle of stamping, then a restart: the open session is offered, resumed, and nothing is lost.

Real parts only: the simulator runs as its own process (`stampside sim`) on a pty with a
truth log; the chairside app (`stampside app`) runs in a real terminal (tmux) against it
on a SQLite file. The test drives the app to the stamping step, waits until some stamps
are stored, kills the app with SIGKILL while the stamp keeps counting into its buffer,
starts the app again and resumes the session. Then the session's stored stamps must be
exactly the simulator's truth (every (boot, seq) once, all in the session) and the screen's
counter must show that total.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import select
from textual.renderables.digits import Digits

from stampside.app.storage.database import Database, open_database
from stampside.app.storage.patients import NewPatient, create_patient
from stampside.app.storage.pins import set_pin
from stampside.app.storage.practitioners import add_practitioner
from stampside.app.storage.schema import StampEvent, TreatmentSession
from stampside.simulator.truth import read_truth
from tests.app.tmux_terminal import needs_tmux, smoke_module
from tests.devicelink.processes import STAMPSIDE, SimProcess
from tests.tui.course_helpers import WHO, ready_for_course

ROOT = Path(__file__).resolve().parents[2]
PATIENT = "P-KILL"
PIN = "2468"
#: The simulator stamps this many at this rate once armed, then stops (it keeps serving the link).
STAMPS = 60
RATE_HZ = 6
#: Stamps stored before the app is killed.
STORED_BEFORE_KILL = 8
#: Generous: the suite runs on a loaded 2-core machine.
PATIENCE = 60.0

pytestmark = [pytest.mark.e2e, needs_tmux]


def one_second_timers(out: Path) -> Path:
    """The built-in protocol file with every step timer set to 1 s."""
    text = (ROOT / "app" / "protocols" / "default.toml").read_text(encoding="utf-8")
    text, count = re.subn(r"(\[steps\.timer\]\s*\nseconds\s*=\s*)\d+", r"\g<1>1", text)
    assert count == 2
    out.write_text(text, encoding="utf-8")
    return out


def big_digits(number: int) -> list[str]:
    """The three lines the counter's large digits show for ``number`` (Textual's bold 3×3 font)."""
    console = Console(width=80, file=io.StringIO(), record=True, color_system=None)
    console.print(Digits(str(number), style="bold"))
    return console.export_text().splitlines()[:3]


def shows_count(screen: str, number: int) -> bool:
    """``number`` is on the screen in large digits (three lines, one above the other, same column)."""
    top, middle, bottom = big_digits(number)
    lines = screen.splitlines()
    for row in range(len(lines) - 2):
        start = lines[row].find(top)
        while start >= 0:
            below = lines[row + 1][start : start + len(middle)], lines[row + 2][start : start + len(bottom)]
            if below == (middle, bottom):
                return True
            start = lines[row].find(top, start + 1)
    return False


def session_stamps(db: Database) -> list[tuple[int, int, int | None]]:
    with db.Session.begin() as s:
        return [tuple(row) for row in s.execute(select(StampEvent.boot, StampEvent.seq, StampEvent.session_id))]  # type: ignore[misc]


def wait_until(check: Any, what: str, timeout: float = PATIENCE) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def smoke() -> Iterator[Any]:
    module = smoke_module()
    terminal = module.Smoke(f"stampside-kill-{uuid.uuid4().hex[:8]}")
    yield terminal
    terminal.close()


def test_sigkill_while_stamping_then_resume_fetches_every_buffered_stamp(tmp_path: Path, smoke: Any) -> None:
    module = smoke_module()
    now = datetime.now(UTC)
    db_file = tmp_path / "stampside.db"
    db = open_database(str(db_file))
    try:
        with db.Session.begin() as s:
            practitioner = add_practitioner(s, WHO)
            set_pin(s, practitioner.id, PIN, PIN, now=now)
            patient = create_patient(s, NewPatient.parse(PATIENT), now=now - timedelta(days=30))
        ready_for_course(db, patient.id, now)  # screened, course started, baseline photos
        protocol = one_second_timers(tmp_path / "protocol.toml")
        truth_file = tmp_path / "truth.jsonl"
        link = tmp_path / "stamp"
        sim = SimProcess(
            "--pty", str(link), "--truth", str(truth_file), "--rate", str(RATE_HZ), "--stamps", str(STAMPS),
            "--seed", "1", "--quiet",
        )  # fmt: skip
        try:
            run(smoke, module, db, db_file, protocol, link, truth_file)
        finally:
            sim.stop()
    finally:
        db.close()


def run(smoke: Any, module: Any, db: Database, db_file: Path, protocol: Path, link: Path, truth_file: Path) -> None:
    app = (
        f"exec env -u COLUMNS -u LINES {shlex.quote(STAMPSIDE)} app --device {shlex.quote(str(link))} "
        f"--db {shlex.quote(str(db_file))} --protocol {shlex.quote(str(protocol))}"
    )
    smoke.tmux("new-session", "-d", "-s", smoke.name, "-x", "100", "-y", "30", app)
    smoke.tmux("set-option", "-t", smoke.name, "remain-on-exit", "on")  # the pane stays when the app is killed

    # sign in, start session 1 and walk to stamping
    sign_in(smoke)
    choose_patient(smoke, "Press s to start")
    smoke.keys("s")
    smoke.wait_for("Step 1 of 7 · Pre-session checks", PATIENCE)
    smoke.wait_until(lambda s: s.count("│ ✓ ") == 5 and "✗" not in s, "five passing checks", PATIENCE)
    smoke.keys("C-n")
    smoke.wait_for("Step 2 of 7 · Scalp disinfection")
    smoke.keys("c")
    smoke.wait_for("Contact and dry time: over ✓")
    smoke.keys("C-n")
    smoke.wait_for("Step 3 of 7 · First application")
    smoke.wait_for("No lot recorded yet")
    smoke.type("LX-2291")
    smoke.next_field()
    smoke.type((date.today() + timedelta(days=365)).isoformat())
    smoke.next_field()
    smoke.wait_for("✓ Lot LX-2291 recorded")
    smoke.keys("C-n")
    smoke.wait_for("Step 4 of 7 · Stamping")

    with db.Session.begin() as s:
        session_id = s.scalars(select(TreatmentSession.id)).one()
    wait_until(lambda: len(session_stamps(db)) >= STORED_BEFORE_KILL, f"{STORED_BEFORE_KILL} stored stamps")

    # SIGKILL: no chance to store, acknowledge or close anything
    pid = int(smoke.tmux("display-message", "-p", "-t", smoke.name, "#{pane_pid}"))
    os.kill(pid, signal.SIGKILL)
    wait_until(
        lambda: smoke.tmux("display-message", "-p", "-t", smoke.name, "#{pane_dead}").strip() == "1", "the app's death"
    )
    stored_at_kill = len(session_stamps(db))
    # the stamp goes on counting into its buffer until it has stamped them all
    wait_until(
        lambda: truth_file.exists() and len(read_truth(truth_file)) == STAMPS, f"the simulator's {STAMPS} stamps"
    )
    assert stored_at_kill < STAMPS, "the app was killed after every stamp was stored: nothing was buffered"

    # start again: the open session is offered first of all, and resumed on its step with enter
    smoke.tmux("respawn-pane", "-k", "-t", smoke.name, app)
    sign_in(smoke)  # who is at the chair, first of all
    smoke.wait_for("Resume it now?", PATIENCE)
    smoke.wait_for("step 4 of 7 · Stamping")
    smoke.keys("Enter")
    smoke.wait_for("Step 4 of 7 · Stamping", PATIENCE)

    truth = {(record["boot"], record["seq"]) for record in read_truth(truth_file)}
    assert len(truth) == STAMPS
    wait_until(lambda: len(session_stamps(db)) >= STAMPS, "every buffered stamp stored")
    stored = session_stamps(db)
    keys = [(boot, seq) for boot, seq, _ in stored]
    assert len(keys) == len(set(keys)), "a stamp stored twice"
    assert set(keys) == truth
    assert {session for _, _, session in stored} == {session_id}, "every stamp is credited to the session"
    smoke.wait_until(lambda s: shows_count(s, STAMPS), f"{STAMPS} on the stamping screen's counter", PATIENCE)


def sign_in(smoke: Any) -> None:
    """The sign-in screen: the practitioner's PIN, then enter."""
    smoke.wait_for(f"{WHO}'s PIN", PATIENCE)
    smoke.type_secret(PIN)
    smoke.keys("Enter")
    smoke.wait_until(lambda s: "Who is at the chair?" not in s, "signed in", PATIENCE)


def choose_patient(smoke: Any, shown: str) -> None:
    """On the start screen: search the patient, highlight them; wait until their course shows ``shown``."""
    module = smoke_module()
    smoke.wait_until(lambda s: WHO in s and module.quit_in_footer(s), "the start screen, ready for keys", PATIENCE)
    smoke.focus_input("/")
    smoke.type(PATIENT)
    smoke.wait_until(lambda s: s.count(PATIENT) >= 2, "the patient in the list")  # search field and list
    smoke.keys("Enter")  # to the list: the first match is highlighted and its course shown
    smoke.wait_for(shown)
