"""Real-terminal smoke run of `stampside demo` in tmux: a whole treatment session, as a practitioner drives it.

Usage: python scripts/tmux_smoke.py [--db sqlite:///FILE]

It starts the demo in a detached 100×30 tmux session and, reading the screen with
`capture-pane` at every step, goes through session 1 of a new patient's course:

* signs in: at the sign-in screen it adds a practitioner (ctrl+n), who chooses their PIN
  (typed twice), then adds a new patient;
* `s`: the course cannot start without a screening, so it fills in the screening form
  (sex, smoker, Norwood grade, four normal lab results) and saves it: eligible, the verdict
  signed with the PIN;
* the baseline photo set is incomplete, so it registers the five views from small JPEG
  files it writes with Pillow;
* pre-session checks (all pass), disinfection (`c`, then the contact time is overridden
  with `ctrl+o`, a typed reason and the PIN), the first application (lot, expiry, volume),
  stamping until the simulated stamps are counted (switching zone, finishing under
  target), the second application (its rub-in timer runs out), aftercare (card written),
  the summary (the override shown with its signature), closing the session with the PIN,
  and back on the start screen with "Session 2 of 6";
* quits, and checks the demo's exit code.

The demo runs with a protocol file made from the built-in one with a 10-minute contact
time (overridden) and a 2-second rub-in (waited for), so nothing waits long. Each step
waits for what the screen should show (generous timeouts), never a fixed time. Exit code
0 when every screen showed what it should; otherwise it prints the last screen and exits
1. The test suite (tests/app/test_demo_tmux.py) runs it when tmux is installed and then
checks the database.
"""

from __future__ import annotations

import argparse
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROTOCOL = ROOT / "app" / "protocols" / "default.toml"

PRACTITIONER = "Smoke Tester"
#: The PIN the smoke run's practitioner chooses at their first sign-in.
PIN = "2468"
PATIENT = "SMOKE-1"
LOT = "LX-2291"
OVERRIDE_REASON = "dried under the lamp, checked by hand"
#: The baseline views in the order of the photo screen's View list (the built-in protocol's).
PHOTO_VIEWS = ("Vertex", "Frontal", "Mid-scalp", "Temporal left", "Temporal right")
#: The lab tests of the built-in protocol's screening form.
LABS = 4
#: The contact time (overridden) and the rub-in (waited for) in the smoke run's protocol file.
CONTACT_S = 600
RUB_IN_S = 2

#: Printed by the tmux pane's shell when the demo exits, with its exit code.
EXIT_MARK = "stampside-smoke-exit="
#: The stamping screen's rate line, e.g. "12 /min  ·  00:04 elapsed": stamps are being counted.
STAMPS_COUNTED = re.compile(r"\b[1-9]\d* /min")


class Smoke:
    """One detached tmux session; every step waits for what the screen should show, never a fixed time.

    It runs on a tmux server of its own (socket ``-L name``, no configuration file), so neither
    another tmux server's global environment nor a user's ~/.tmux.conf changes what it sees.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def tmux(self, *args: str) -> str:
        argv = ["tmux", "-L", self.name, "-f", "/dev/null", *args]
        return subprocess.run(argv, check=True, capture_output=True, text=True).stdout

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.name, "kill-server"], capture_output=True)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-t", self.name, "-p")

    def keys(self, *keys: str) -> None:
        """Press keys (tmux key names: Enter, C-d, ...); the caller then waits for their effect."""
        self.tmux("send-keys", "-t", self.name, *keys)

    def type(self, text: str) -> None:
        """Type ``text`` literally and wait until it shows (it is in the input, not still in flight)."""
        self.tmux("send-keys", "-t", self.name, "-l", text)
        self.wait_for(text)

    def wait_until(self, check: Callable[[str], bool], what: str, timeout: float = 30.0) -> str:
        """Poll the screen until ``check(screen)``; AssertionError with the last screen after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if check(screen):
                return screen
            if EXIT_MARK in screen or time.monotonic() > deadline:
                size = self.tmux("display-message", "-p", "-t", self.name, "#{pane_width}x#{pane_height}").strip()
                raise AssertionError(f"{what} did not appear on the {size} screen:\n{screen}")
            time.sleep(0.1)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        return self.wait_until(lambda screen: text in screen, repr(text), timeout)

    def type_secret(self, text: str) -> None:
        """Type ``text`` into a password field and wait until its dots show (the text itself never does)."""
        before = self.screen().count("•")
        self.tmux("send-keys", "-t", self.name, "-l", text)
        self.wait_until(lambda s: s.count("•") >= before + len(text), "the PIN typed (its dots)")

    def cursor(self) -> tuple[int, int]:
        """Where the terminal cursor is: Textual puts it in the focused text input."""
        x, y = self.tmux("display-message", "-p", "-t", self.name, "#{cursor_x} #{cursor_y}").split()
        return int(x), int(y)

    def next_field(self, key: str = "Enter") -> None:
        """Press ``key`` in a text input that moves the focus to the next input; wait until the cursor is there."""
        before = self.cursor()
        self.keys(key)
        deadline = time.monotonic() + 30.0
        while self.cursor() == before:
            if time.monotonic() > deadline:
                raise AssertionError(f"{key} did not move the focus to the next field:\n{self.screen()}")
            time.sleep(0.05)

    def focus_input(self, key: str = "Tab") -> None:
        """Move the focus with ``key`` onto a text input and wait until it is there.

        The footer tells (a focused text input takes the printable keys, so "q Quit" leaves it);
        from one text input to the next the footer does not change, so then the terminal cursor,
        which Textual puts in the focused input, must have moved too. Without that the wait
        ended before the key was handled and the next text went into the old field.
        """
        from_input = not quit_in_footer(self.screen())
        before = self.cursor()
        self.keys(key)
        self.wait_until(
            lambda s: not quit_in_footer(s) and (not from_input or self.cursor() != before),
            f"{key}: the focus on a text input",
            15,
        )

    def wait_exit(self, timeout: float = 30.0) -> int:
        """Wait until the demo has exited; its exit code."""
        deadline = time.monotonic() + timeout
        while (match := re.search(re.escape(EXIT_MARK) + r"(\d+)", screen := self.screen())) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the demo did not exit:\n{screen}")
            time.sleep(0.1)
        return int(match.group(1))


#: The summary's stamp line, e.g. "73 stamps stored in this session."
SUMMARY_STAMPS = re.compile(r"(\d+) stamps stored in this session")


def short_timer_protocol(out: Path) -> Path:
    """The built-in protocol file with the contact time and the rub-in changed (its two timers, in order)."""
    text = DEFAULT_PROTOCOL.read_text(encoding="utf-8")
    timers = iter((CONTACT_S, RUB_IN_S))
    text, count = re.subn(r"(\[steps\.timer\]\s*\nseconds\s*=\s*)\d+", lambda m: f"{m.group(1)}{next(timers)}", text)
    if count != 2:
        raise AssertionError(f"expected two step timers in {DEFAULT_PROTOCOL}, found {count}")
    out.write_text(text, encoding="utf-8")
    return out


def photo_files(folder: Path) -> list[Path]:
    """One small JPEG per baseline view (different colours, so their SHA-256 differ)."""
    from PIL import Image

    files = []
    for index, view in enumerate(PHOTO_VIEWS):
        path = folder / f"baseline-{index}-{view.lower().replace(' ', '-')}.jpg"
        Image.new("RGB", (64, 48), (90 + 30 * index, 80, 70)).save(path, "JPEG")
        files.append(path)
    return files


def quit_in_footer(screen: str) -> bool:
    """The footer (the last line) offers "q Quit": the focus is not in a text input or an open list."""
    lines = screen.rstrip().splitlines()
    return bool(lines) and " q Quit " in lines[-1] + " "


def choose(smoke: Smoke, downs: int, shown: str, what: str) -> None:
    """On a focused Select: open it, move ``downs`` options down, pick; wait until ``shown`` (a regex) is on screen.

    It then waits until the focus is back on the Select (the footer offers "q Quit" again, not the
    open list's "Dismiss menu"): a Tab pressed before that would be swallowed.
    """
    smoke.keys("Enter")
    smoke.wait_until(lambda s: "▲" in s and "Dismiss menu" in s, f"{what}: the list opening", 15)
    smoke.keys(*(["Down"] * downs), "Enter")
    smoke.wait_until(lambda s: "▲" not in s and re.search(shown, s) is not None and quit_in_footer(s), what)


def sign(smoke: Smoke, meaning: str) -> None:
    """The PIN dialog: what is signed means ``meaning``; the PIN, then enter."""
    smoke.wait_for(f"Sign: {meaning}")
    smoke.type_secret(PIN)
    smoke.keys("Enter")
    smoke.wait_until(lambda s: f"Sign: {meaning}" not in s, f"the {meaning} signature")


def add_practitioner_and_patient(smoke: Smoke) -> None:
    smoke.wait_for("Who is at the chair?", 60)
    smoke.wait_for("No practitioners yet")
    smoke.keys("C-n")
    smoke.wait_for("New practitioner")
    smoke.type(PRACTITIONER)
    smoke.keys("Enter")
    smoke.wait_for(f"{PRACTITIONER}: choose a PIN")  # the first sign-in: the PIN chosen, typed twice
    smoke.type_secret(PIN)
    smoke.keys("Enter")
    smoke.type_secret(PIN)
    smoke.keys("Enter")
    smoke.wait_until(lambda s: "signed in" in s and "Who is at the chair?" not in s, "signed in")
    smoke.keys("n")
    smoke.wait_for("Pseudonymous code")
    smoke.type(PATIENT)
    smoke.keys("Enter")
    smoke.wait_for("Session 1 of 6")


def fill_screening(smoke: Smoke) -> None:
    """The screening form, by keyboard: an eligible patient (male, non-smoker, Norwood 3, normal labs)."""
    smoke.wait_for(f"Screening · {PATIENT}")
    smoke.keys("Tab")  # from "Screened on" (today, prefilled) to Sex
    smoke.wait_until(quit_in_footer, "the focus on Sex")
    choose(smoke, 1, r"▊  male\s+▼", "sex: male")
    smoke.keys("Tab")
    choose(smoke, 1, r"▊  no\s+▼", "smoker: no")
    smoke.keys("Tab")
    choose(smoke, 4, r"▊  3\s+▼", "Norwood grade 3")  # after the prompt: 1, 2, 2A, 3
    taken = (date.today() - timedelta(days=10)).isoformat()
    for lab in range(1, LABS + 1):
        smoke.focus_input()  # the lab's date
        smoke.tmux("send-keys", "-t", smoke.name, "-l", taken)
        smoke.keys("Tab")  # its flag; the date shows whole once the field is left
        smoke.wait_until(lambda s, n=lab: s.count(taken) >= n, f"lab {lab}'s date")
        smoke.wait_until(quit_in_footer, f"the focus on lab {lab}'s flag")
        choose(smoke, 1, r"(?s)" + r"normal\s+▼.*" * lab, f"lab {lab}: normal")
        smoke.focus_input()  # its value (optional), left empty
    smoke.keys("C-s")
    sign(smoke, "reviewed")
    smoke.wait_for("✓ Eligible: the course may start")
    smoke.wait_for(f"signed {PRACTITIONER} · reviewed")
    smoke.keys("Escape")


def register_baseline_photos(smoke: Smoke, files: list[Path]) -> None:
    """The photo screen for the baseline: one typed path per view; after each photo the screen
    moves the View list on to the next missing view by itself, and the focus stays in the path."""
    smoke.wait_for("Baseline photos incomplete")
    smoke.keys("p")
    smoke.wait_for(f"Photos · {PATIENT}")
    for view, path in zip(PHOTO_VIEWS, files, strict=True):
        smoke.wait_until(lambda s, v=view: re.search(rf"▊  {v}\s+▼", s) is not None, f"the view {view} chosen")
        smoke.type(str(path))
        smoke.keys("Enter")
        smoke.wait_for(f"Registered {view} for Baseline")
    smoke.wait_for("✓ Baseline photos complete")
    smoke.keys("Escape")  # back: the start goes on


def run(db: str) -> int:
    """Drive the demo through a whole session on ``db``; the number of stamps the summary showed."""
    exe = shutil.which("stampside") or str(Path(sys.executable).parent / "stampside")
    smoke = Smoke(f"stampside-smoke-{uuid.uuid4().hex[:8]}")
    with tempfile.TemporaryDirectory(prefix="stampside-smoke-files-") as tmp:
        folder = Path(tmp)
        protocol = short_timer_protocol(folder / "protocol.toml")
        photos = photo_files(folder)
        # The pane stays after the demo exits, showing its exit code, until the server is killed.
        # COLUMNS/LINES from the caller would override the pane's real size (shutil.get_terminal_size).
        demo = (
            f"env -u COLUMNS -u LINES {shlex.quote(exe)} demo --db {shlex.quote(db)} "
            f"--protocol {shlex.quote(str(protocol))} --rate 10 --seed 1"
        )
        command = f"{demo}; echo {EXIT_MARK}$?; sleep 600"
        smoke.tmux("new-session", "-d", "-s", smoke.name, "-x", "100", "-y", "30", command)
        try:
            return drive(smoke, photos)
        finally:
            smoke.close()


def drive(smoke: Smoke, photos: list[Path]) -> int:
    add_practitioner_and_patient(smoke)

    # s: no screening yet, so the course cannot start; the form is offered
    smoke.keys("s")
    smoke.wait_for("The course cannot start")
    smoke.keys("y")
    fill_screening(smoke)
    # the start goes on: the baseline photo set is incomplete
    register_baseline_photos(smoke, photos)

    # 1. pre-session checks: every check passes
    smoke.wait_for("Step 1 of 7 · Pre-session checks")
    smoke.wait_until(lambda s: s.count("│ ✓ ") == 5 and "✗" not in s, "five passing checks")
    smoke.keys("C-n")

    # 2. disinfection: confirmed, the contact time overridden with a typed reason
    smoke.wait_for("Step 2 of 7 · Scalp disinfection")
    smoke.keys("c")
    smoke.wait_for(f"Disinfected: confirmed by {PRACTITIONER}")
    smoke.wait_for("⏱ Contact and dry time: running")
    smoke.keys("C-o")
    smoke.wait_for("Why is it safe to go on?")
    smoke.type(OVERRIDE_REASON)
    smoke.keys("Enter")
    sign(smoke, "overridden")
    smoke.wait_for(f"⚑ Contact and dry time: overridden by {PRACTITIONER}")
    smoke.keys("C-n")

    # 3. first application: lot, expiry, volume (the protocol's 2.5 ml)
    smoke.wait_for("Step 3 of 7 · First application")
    smoke.wait_for("No lot recorded yet")
    smoke.type(LOT)
    smoke.next_field()  # to the expiry
    expiry = (date.today() + timedelta(days=365)).isoformat()
    smoke.type(expiry)
    smoke.next_field()  # the lot is recorded; to the volume
    smoke.wait_for(f"✓ Lot {LOT} recorded, expires {expiry}")
    smoke.keys("Enter")  # the volume as shown
    smoke.wait_for("Volume 2.5 ml recorded")
    smoke.keys("C-n")

    # 4. stamping: the stamp is armed and its stamps are counted; another zone; finished under target
    smoke.wait_for("Step 4 of 7 · Stamping")
    smoke.wait_for("connected")
    smoke.wait_until(STAMPS_COUNTED.search, "a stamp rate above zero (stamps counted)")
    smoke.keys("v")
    smoke.wait_for("Active zone: Vertex")
    smoke.keys("C-d")
    smoke.wait_for("Finish stamping anyway?")
    smoke.keys("y")

    # 5. second application: the rub-in timer runs out
    smoke.wait_for("Step 5 of 7 · Second application")
    smoke.wait_for("Gentle rub-in: over ✓")
    smoke.keys("C-n")

    # 6. aftercare: the hair-wash window and the card
    smoke.wait_for("Step 6 of 7 · Aftercare")
    smoke.wait_for("No hair wash: not before")
    smoke.wait_for("Aftercare card written:")
    smoke.keys("C-n")

    # 7. summary, read back from storage; closing it finishes the session
    smoke.wait_for("Step 7 of 7 · Summary")
    screen = smoke.wait_until(SUMMARY_STAMPS.search, "the stored stamps on the summary")
    match = SUMMARY_STAMPS.search(screen)
    assert match is not None
    stamps = int(match.group(1))
    if stamps == 0:
        raise AssertionError(f"the summary shows no stored stamps:\n{screen}")
    if OVERRIDE_REASON[:20] not in screen:  # the line may wrap after it
        raise AssertionError(f"the summary does not show the override:\n{screen}")
    if f"✍ signed {PRACTITIONER} · overridden" not in screen:
        raise AssertionError(f"the summary does not show the override's signature:\n{screen}")
    smoke.keys("C-n")
    sign(smoke, "approved")  # closing the session

    # back on the start screen: the course moved on
    smoke.wait_for("Session 2 of 6")
    smoke.keys("q")
    code = smoke.wait_exit()
    if code != 0:
        raise AssertionError(f"the demo exited with code {code}:\n{smoke.screen()}")
    return stamps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is not installed (apt-get install tmux)")
    with tempfile.TemporaryDirectory(prefix="stampside-smoke-") as tmp:
        try:
            stamps = run(args.db or f"sqlite:///{tmp}/smoke.db")
        except AssertionError as exc:
            print(exc)
            raise SystemExit(1) from None
    print(f"tmux smoke run: OK (a whole session, {stamps} stamps stored)")


if __name__ == "__main__":
    main()
