"""A first course session at 80×24 in a real terminal, pressing only keys the screen shows at that moment.

Real parts only: `stampside sim` on a pty, `stampside app` in tmux (80 columns, 24 rows) on a
SQLite file. Before every action key the test reads the screen and finds that key offered
there (in the footer, on a button or in a dialog's button); typing into a field and moving
between fields (tab, arrows) are the only keys it presses without. It walks what a new clinic
does: a practitioner added at the sign-in screen who chooses a PIN, a patient, the screening form
(its verdict signed with the PIN), the baseline photos picked from a folder with the file picker,
the seven steps of session 1 with a signed override and stamps in three zones, the session closed
and signed; then session 2 started early (a typed reason, signed), the app killed with SIGKILL,
started again, signed in again, and the open session resumed from the start-up offer.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from stampside.app.storage.database import Database, open_database
from stampside.app.storage.schema import Signature, StampEvent, StepRecordRow, TreatmentSession
from tests.app.tmux_terminal import needs_tmux, smoke_module, wait_pane_dead
from tests.devicelink.processes import STAMPSIDE, SimProcess

COLUMNS, ROWS = 80, 24
PRACTITIONER = "Dr Tester"
PIN = "2468"
PATIENT = "P-0080"
OVERRIDE = "dried under the lamp, checked by hand"
EARLY = "patient travels next week, agreed today"
PATIENCE = 60.0

pytestmark = [pytest.mark.e2e, needs_tmux]


SMOKE = smoke_module()


class Chair:
    """The terminal, read before every key: a key is pressed only when the screen offers it."""

    def __init__(self, name: str) -> None:
        self.term = SMOKE.Smoke(name)

    def screen(self) -> str:
        return str(self.term.screen())

    def wait_for(self, text: str, timeout: float = PATIENCE) -> str:
        return str(self.term.wait_for(text, timeout))

    def wait_until(self, check: Any, what: str, timeout: float = PATIENCE) -> str:
        return str(self.term.wait_until(check, what, timeout))

    def press(self, key: str, shown: str) -> None:
        """Press ``key`` (a tmux key name) once ``shown`` (a regex: how the screen offers it) is on screen."""
        self.wait_until(lambda s: re.search(shown, s) is not None, f"the key {key!r} offered as /{shown}/")
        self.term.keys(key)

    def type(self, text: str) -> None:
        self.term.type(text)

    def fields(self, *keys: str) -> None:
        """Keys that move between fields or through a list (tab, arrows, enter on a list)."""
        self.term.keys(*keys)

    def pin(self) -> None:
        """Type the PIN into the focused PIN field (its dots show, never the PIN)."""
        self.term.type_secret(PIN)

    def sign(self, meaning: str) -> None:
        """The PIN dialog that signs with ``meaning``: the PIN, then its shown Sign key."""
        self.wait_for(f"Sign: {meaning}")
        self.pin()
        self.press("Enter", r"Sign \(enter\)")
        self.wait_until(lambda s: f"Sign: {meaning}" not in s, f"signed ({meaning})")

    def sign_in(self) -> None:
        """At the sign-in screen (or the lock): the PIN of the practitioner highlighted, then Sign in."""
        self.wait_for(f"{PRACTITIONER}'s PIN")
        self.pin()
        self.press("Enter", r"Sign in \(enter\)")
        self.wait_until(lambda s: "Who is at the chair?" not in s, "signed in")


@pytest.fixture
def chair() -> Iterator[Chair]:
    terminal = Chair(f"stampside-80x24-{uuid.uuid4().hex[:8]}")
    yield terminal
    terminal.term.close()


FOOTER_ENTER = r"\benter Next\b"


def test_a_first_session_at_80x24_with_shown_keys_only_then_a_killed_session_resumed(
    tmp_path: Path, chair: Chair
) -> None:
    db_file = tmp_path / "clinic" / "stampside.db"
    db_file.parent.mkdir()
    protocol = SMOKE.short_timer_protocol(tmp_path / "protocol.toml")  # contact time overridden, rub-in 2 s
    # A short path: typed into a one-line field at 80 columns, it must be read back whole (pytest's
    # own folders grow with the test's name and, under xdist, the worker's).
    photos_dir = Path(tempfile.mkdtemp(prefix="camera-"))
    SMOKE.photo_files(photos_dir)
    link = tmp_path / "stamp"
    sim = SimProcess("--pty", str(link), "--rate", "8", "--seed", "1", "--quiet")
    app = (
        f"exec env -u COLUMNS -u LINES HOME={shlex.quote(str(tmp_path))} {shlex.quote(STAMPSIDE)} app "
        f"--device {shlex.quote(str(link))} --db {shlex.quote(str(db_file))} --protocol {shlex.quote(str(protocol))}"
    )
    try:
        term = chair.term
        term.tmux("new-session", "-d", "-s", term.name, "-x", str(COLUMNS), "-y", str(ROWS), app)
        term.tmux("set-option", "-t", term.name, "remain-on-exit", "on")
        first_session(chair, photos_dir)
        resume_after_kill(chair, app)
    finally:
        sim.stop()
        shutil.rmtree(photos_dir, ignore_errors=True)

    database = open_database(str(db_file))
    try:
        check_stored(database)
    finally:
        database.close()


def first_session(chair: Chair, photos_dir: Path) -> None:
    # who is at the chair: a practitioner added at the sign-in screen chooses a PIN; then a patient
    chair.wait_for("Who is at the chair?")
    chair.press("C-n", r"Add practitioner \(ctrl\+n\)")
    chair.wait_for("New practitioner")
    chair.type(PRACTITIONER)
    chair.press("Enter", r"Save \(enter\)")
    chair.wait_for(f"{PRACTITIONER}: choose a PIN")
    chair.pin()
    chair.fields("Enter")  # to the PIN again
    chair.pin()
    chair.press("Enter", r"Sign in \(enter\)")
    chair.wait_until(lambda s: "signed in" in s and "Who is at the chair?" not in s, "signed in")
    chair.press("n", r"\bn New patient")
    chair.wait_for("Pseudonymous code")
    chair.type(PATIENT)
    chair.press("C-s", r"Save \(ctrl\+s\)")
    chair.wait_for("Press s to")

    # s: no screening yet; the form is offered, and filled in by keyboard
    chair.press("s", r"\bs Start")
    chair.press("Enter", r"Screening \(y, enter\)")
    chair.wait_for(f"Screening · {PATIENT}")
    taken = (date.today() - timedelta(days=10)).isoformat()
    keys = ["Tab", "Enter", "Down", "Enter", "Tab", "Enter", "Down", "Enter"]  # sex male, smoker no
    keys += ["Tab", "Enter", "Down", "Down", "Down", "Down", "Enter"]  # Norwood 3
    for index in range(SMOKE.LABS):  # typed ahead in one burst: each value still lands in its field
        keys += ["Tab", *taken, "Tab", "Enter", "Down", "Enter", "Tab", *f"{10 + index}"]
    chair.fields(*keys)
    chair.wait_until(lambda s: s.count("normal") >= SMOKE.LABS - 1, "the lab results typed in")
    chair.press("C-s", r"\^s Save")
    chair.sign("reviewed")
    chair.wait_for("✓ Eligible: the course may start")
    chair.press("Escape", r"\besc Back")

    # the baseline photos, picked from a folder with the file picker
    chair.press("Enter", r"Register photos \(p, enter\)")
    chair.wait_for(f"Photos · {PATIENT}")
    chair.press("C-o", r"\^o Choose file")
    chair.wait_for("Choose a photo")
    chair.press("C-l", r"\^l Type a folder")
    chair.fields("C-u")
    chair.type(str(photos_dir))
    chair.fields("Enter")
    chair.wait_for("baseline-0-vertex.jpg")
    for number, view in enumerate(SMOKE.PHOTO_VIEWS):
        if number:
            chair.press("C-o", r"\^o Choose file")
            chair.wait_for("Choose a photo")
        chair.wait_until(lambda s, n=number: f"baseline-{n}-" in s and "JPEG" in s, f"the preview of photo {number}")
        chair.press("Enter", r"Pick \(enter\)")
        chair.wait_for(f"Registered {view} for Baseline")
    chair.wait_for("Baseline photos complete (5 views)")
    chair.press("Escape", r"\besc Back")

    # 1. pre-session checks pass
    chair.wait_for("Step 1 of 7 · Pre-session checks")
    chair.wait_until(lambda s: s.count("✓ ") >= 5 and "✗" not in s, "five passing checks")
    chair.press("Enter", FOOTER_ENTER)

    # 2. disinfection: enter confirms; the contact time is overridden with a reason
    chair.wait_for("Step 2 of 7 · Scalp disinfection")
    chair.press("Enter", FOOTER_ENTER)
    chair.wait_for(f"Disinfected: confirmed by {PRACTITIONER}")
    chair.press("C-o", r"\^o Override")
    chair.wait_for("Why is it safe to go on?")
    chair.type(OVERRIDE)
    chair.press("Enter", r"Override \(enter\)")
    chair.sign("overridden")
    chair.wait_for("Contact and dry time overridden")
    chair.press("Enter", FOOTER_ENTER)

    # 3. first application: lot and expiry typed, enter through the fields, then on
    chair.wait_for("Step 3 of 7 · First application")
    chair.type("LX-2291")
    chair.press("Enter", FOOTER_ENTER)
    chair.type((date.today() + timedelta(days=365)).isoformat())
    chair.press("Enter", FOOTER_ENTER)
    chair.wait_for("✓ Lot LX-2291 recorded")
    chair.press("Enter", FOOTER_ENTER)  # the volume as shown: recorded, out of the fields
    chair.wait_for("Volume 2.5 ml recorded")
    chair.press("Enter", FOOTER_ENTER)

    # 4. stamping in three zones, each credited while it is the active one
    chair.wait_for("Step 4 of 7 · Stamping")
    for key, zone in (("f", "Frontal"), ("m", "Mid-scalp"), ("v", "Vertex")):
        chair.press(key, rf"\b{key} {zone}")
        chair.wait_for(f"Active zone: {zone}")
        chair.wait_until(lambda s, z=zone: _active_zone_stamps(s, z) > 0, f"stamps counted in {zone}")
    chair.press("C-d", r"\^d Finish step")
    chair.press("y", r"Finish anyway \(y\)")

    # 5. second application: the lot is offered, confirmed with enter; the 2 s rub-in runs out
    chair.wait_for("Step 5 of 7 · Second application")
    chair.wait_for("as in the first application")
    for _ in range(3):
        chair.press("Enter", FOOTER_ENTER)
    chair.wait_for("Volume 2.5 ml recorded")
    chair.wait_for("Gentle rub-in: over ✓")
    chair.press("Enter", FOOTER_ENTER)

    # 6. aftercare, 7. summary: the session is closed
    chair.wait_for("Step 6 of 7 · Aftercare")
    chair.wait_for("No hair wash: not before")
    chair.press("Enter", FOOTER_ENTER)
    chair.wait_for("Step 7 of 7 · Summary")
    chair.press("Enter", r"Close session\s+enter")
    chair.sign("approved")
    chair.wait_for("Session 1 of 6 finished")


def _active_zone_stamps(screen: str, zone: str) -> int:
    """The stamps in the active zone's tile, read from the tile under its name."""
    lines = screen.splitlines()
    for index, line in enumerate(lines):
        if zone in line and "║" in line:  # the active tile is drawn with a double border
            for below in lines[index + 1 : index + 5]:
                if match := re.search(r"(\d+) stamps?", below):
                    return int(match.group(1))
    return 0


def resume_after_kill(chair: Chair, app: str) -> None:
    # session 2, a week early: the deviation needs a typed reason
    chair.press("s", r"\bs Start")
    chair.wait_for("Why is it safe to go on?")
    chair.type(EARLY)
    chair.press("Enter", r"Start anyway \(enter\)")
    chair.sign("overridden")
    chair.wait_for("Step 1 of 7 · Pre-session checks")
    chair.wait_for("session 2 of 6")

    term = chair.term
    pid = int(term.tmux("display-message", "-p", "-t", term.name, "#{pane_pid}"))
    os.kill(pid, signal.SIGKILL)
    wait_pane_dead(term, PATIENCE)

    term.tmux("respawn-pane", "-k", "-t", term.name, app)
    chair.sign_in()  # who is at the chair, first of all
    chair.wait_for("Resume it now?")
    screen = chair.wait_for(f"Session 2 of 6 for {PATIENT} is still open")
    assert "step 1 of 7 · Pre-session checks" in screen
    chair.press("Enter", r"Resume \(y, enter\)")
    chair.wait_for("Step 1 of 7 · Pre-session checks")
    chair.wait_for("session 2 of 6")
    chair.press("q", r"\bq Quit")
    chair.wait_for("Quit anyway?")  # quitting with an open session asks first
    chair.press("y", r"Quit \(y\)")
    wait_pane_dead(term, PATIENCE)


def check_stored(database: Database) -> None:
    with database.Session.begin() as s:
        sessions = s.execute(select(TreatmentSession.number, TreatmentSession.status).order_by(TreatmentSession.number))
        assert list(sessions) == [(1, "finished"), (2, "open")]
        first_id = s.scalar(select(TreatmentSession.id).where(TreatmentSession.number == 1))
        zones = set(s.scalars(select(StampEvent.credited_zone).where(StampEvent.session_id == first_id)))
        assert {1, 2, 3} <= zones, f"stamps credited to three zones, got {zones}"
        steps = s.execute(
            select(StepRecordRow.step_id, StepRecordRow.lot, StepRecordRow.confirmed_by)
            .where(StepRecordRow.session_id == first_id)
            .order_by(StepRecordRow.position)
        ).all()
        assert len(steps) == 7 and all(confirmed == PRACTITIONER for _, _, confirmed in steps)
        lots = {step: lot for step, lot, _ in steps}
        assert lots["first_application"] == lots["second_application"] == "LX-2291"
        signed = s.execute(select(Signature.record_type, Signature.meaning, Signature.signer_name)).all()
        assert sorted(signed) == [
            ("schedule_deviations", "overridden", PRACTITIONER),
            ("screenings", "reviewed", PRACTITIONER),
            ("step_overrides", "overridden", PRACTITIONER),
            ("treatment_sessions", "approved", PRACTITIONER),
        ]
