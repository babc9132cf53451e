"""Cross-implementation, end to end: the C device (``stampdev``) and the Python host (``link record``).

The C reference device (firmware_protocol/c/, built by tests/c/conftest.py) runs as its POSIX TCP
program with link drops, bit flips both ways and reboots, and is switched off mid-run (SIGTERM) and
on again on its state file, the stamps it had not had acknowledged carried over;
``stampside link record`` records it into a real database (SQLite, then the suite's PostgreSQL);
once stampdev has exited (every stamp it counted acknowledged) the recorder is stopped and
``stampside export`` must hold every stamp of stampdev's truth logs exactly once — same serial,
boot, seq, device time, force, contact and zone — and nothing else. A wiped device (its boot
counter back at 1, or a new board under the serial), spoken to in v2 and in v1 only, must be kept
apart as the serial's next numbering with nothing lost, as tests/devicelink/test_second_life.py
checks for the simulator.

Real processes, real TCP sockets, real databases; fixed seeds. Drops and reboots depend on the
clock, so their counts vary from run to run; the comparison does not. Nothing waits by sleeping:
every wait is for a condition, with a deadline. The figures (stamps, drops, bad frames, reboots)
are printed and listed at the end of the run (tests/c/conftest.py). ``bench/c_device_bench.py``
runs the long version (20,000 stamps); so does the soak test (STAMPSIDE_SOAK=1).
"""

from __future__ import annotations

import re
import select
import signal
import struct
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from tests.c.conftest import FIGURES_PROPERTY, Build, needs_c_toolchain
from tests.devicelink.processes import STAMPSIDE
from tests.devicelink.test_end_to_end import rows
from tests.devicelink.test_second_life import exported, part, truth

pytestmark = [needs_c_toolchain, pytest.mark.e2e]

SERIAL = "SS-C00001"
#: stampdev's faults: a byte in a hundred damaged (one bit, both ways), a reboot every 400 counted
#: stamps, the connection closed every 1.2 s for 0.3 s (new clients turned away meanwhile).
FAULTS = ("--corrupt", "0.01", "--reboot-every", "400", "--drop-every", "1.2", "--drop-for", "0.3")
#: The longest any one step may take (a process starting, stopping, all stamps acknowledged).
DEADLINE = 60.0
#: A stampdev state file starts with six little-endian u32: magic, layout, boot, last_seq, epoch,
#: and the number of unacknowledged stamps it holds (posix/stampdev.c save_state).
STATE_HEADER = struct.Struct("<6I")
#: The numbers in ``link record``'s status line (app/cli/link_record.py status_line).
STATUS = re.compile(
    r"new (?P<new>\d+) acked \S+ \| dup (?P<dup>\d+) replayed (?P<replayed>\d+) resumes (?P<resumes>\d+) \| "
    r"bad frames (?P<bad>\d+) resyncs (?P<resyncs>\d+) \| reconnects (?P<reconnects>\d+)"
)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    """Return once ``condition()`` holds; fail the test if it has not within ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}")
        time.sleep(0.02)


class Stampdev:
    """A stampdev process serving on TCP, its status lines kept in ``NAME.log``, its truth in ``NAME.jsonl``."""

    def __init__(self, binary: Path, folder: Path, name: str, *args: str, listen: str = "127.0.0.1:0") -> None:
        self.name = name
        self.truth = folder / f"{name}.jsonl"
        self.log_path = folder / f"{name}.log"
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [str(binary), "--listen", listen, "--serial", SERIAL, "--truth", str(self.truth), *args],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], DEADLINE)
        line = self.proc.stdout.readline().split() if ready else []
        if line[:1] != ["listen"]:
            self.kill()
            raise AssertionError(f"stampdev did not start ({line}): {self.log()}")
        #: HOST:PORT, to start the next stampdev where the recorder looks for it.
        self.address = line[1]

    @property
    def url(self) -> str:
        return f"socket://{self.address}"

    def log(self) -> str:
        return self.log_path.read_text()

    def counted(self) -> int:
        """Stamps counted so far (whole lines of the truth log)."""
        return self.truth.read_bytes().count(b"\n") if self.truth.exists() else 0

    def running(self) -> bool:
        return self.proc.poll() is None

    def wait(self, what: str) -> None:
        """Wait for stampdev to exit by itself (every stamp counted and acknowledged): it must exit 0."""
        try:
            code = self.proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name}: {what} within {DEADLINE:g} s\n{self.log()[-3000:]}") from None
        assert code == 0, f"{self.name} exited {code}: {self.log()[-3000:]}"

    def stop(self) -> None:
        """SIGTERM (stampdev saves its state file and exits 0), as a power switch with a clean shutdown."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
        self.wait("did not stop on SIGTERM")

    def kill(self) -> None:
        if self.running():
            self.proc.kill()
        self.proc.wait(DEADLINE)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    @property
    def drops(self) -> int:
        return self.log().count("link drop starts")

    @property
    def reboots(self) -> int:
        return self.log().count("rebooting at seq")

    @property
    def bytes_dropped(self) -> int:
        found = re.search(r"(\d+) bytes dropped", self.log())
        return int(found[1]) if found else 0


class Recorder:
    """``stampside link record URL --db DB`` in the background, its stderr kept in a file."""

    def __init__(self, url: str, db: str, folder: Path) -> None:
        self.log_path = folder / "record.log"
        self._log: IO[str] = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [STAMPSIDE, "link", "record", url, "--db", db, "--link-timeout", "0.5", "--status-every", "1"],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> str:
        """SIGTERM (the recorder stores and acknowledges what is in flight, says its last status line
        and exits 0); its stderr."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"link record did not stop on SIGTERM: {self.log()[-3000:]}") from None
        self._log.close()
        assert code == 0, f"link record exited {code}: {self.log()[-3000:]}"
        return self.log()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(DEADLINE)
        self._log.close()


@contextmanager
def cleanup() -> Iterator[Callable[[Stampdev | Recorder], Any]]:
    """Kill whatever a failing test left running."""
    with ExitStack() as stack:
        yield lambda process: stack.callback(process.kill)


@dataclass
class Figures:
    """What one run counted, stored and lived through."""

    stamps: int = 0  #: counted by stampdev (its truth logs)
    stored: int = 0  #: exported
    duplicates: int = 0  #: stored more than once
    missing: int = 0  #: counted, not stored
    extra: int = 0  #: stored, never counted
    drops: int = 0  #: connections stampdev closed
    reboots: int = 0  #: stampdev's reboots (--reboot-every)
    restarts: int = 0  #: stampdev stopped and started again on its state file (or wiped)
    carried: int = 0  #: unacknowledged stamps a state file carried into the next process
    bytes_dropped: int = 0  #: device bytes that met a closed or full link
    host: dict[str, int] = field(default_factory=dict)  #: link record's last status line
    seconds: float = 0.0

    def add_device(self, dev: Stampdev) -> None:
        self.drops += dev.drops
        self.reboots += dev.reboots
        self.bytes_dropped += dev.bytes_dropped

    def add_host(self, said: str) -> None:
        found = [m.groupdict() for line in said.splitlines() if (m := STATUS.search(line))]
        assert found, f"no status line from link record: {said[-3000:]}"
        self.host = {key: int(value) for key, value in found[-1].items()}

    def compare(self, expected: list[tuple[Any, ...]], stored: list[tuple[Any, ...]]) -> None:
        """Count what differs between the truth (``expected``) and the export (``stored``)."""
        want, got = Counter(expected), Counter(stored)
        self.stamps, self.stored = len(expected), len(stored)
        self.duplicates = sum(n - 1 for n in got.values() if n > 1)
        self.missing = sum((want - got).values())
        self.extra = sum((got - want).values())

    @property
    def exactly_once(self) -> bool:
        return self.stamps == self.stored and (self.duplicates, self.missing, self.extra) == (0, 0, 0)

    def __str__(self) -> str:
        host = self.host
        return (
            f"{self.stamps:,} stamps counted, {self.stored:,} stored, duplicates {self.duplicates}, "
            f"missing {self.missing}, extra {self.extra} in {self.seconds:.1f} s | stampdev: {self.drops} drops, "
            f"{self.reboots} reboots, {self.restarts} restarts ({self.carried} stamps carried over), "
            f"{self.bytes_dropped:,} bytes dropped | link record: bad frames {host.get('bad', 0)}, "
            f"resyncs {host.get('resyncs', 0)}, reconnects {host.get('reconnects', 0)}, "
            f"resumes {host.get('resumes', 0)}, replayed {host.get('replayed', 0)}, "
            f"duplicates received {host.get('dup', 0)}"
        )


def buffered(state: Path) -> int:
    """How many unacknowledged stamps a stampdev state file holds."""
    count: int = STATE_HEADER.unpack_from(state.read_bytes())[5]
    return count


def exactly_once_through_a_restart(
    stampdev: Path,
    folder: Path,
    db: str,
    *,
    stamps: int,
    restart_after: int,
    rate: float,
    faults: tuple[str, ...] = FAULTS,
    versions: str = "1-2",
    seed: int = 1,
) -> Figures:
    """stampdev counts ``stamps`` stamps at ``rate`` with ``faults``, recorded into ``db``: stopped once it
    has counted ``restart_after`` and started again on its state file, it counts the rest; then every
    stamp of both truth logs must be in the export once, and nothing else."""
    figures = Figures(restarts=1)
    state = folder / "device.state"
    common = ("--state", str(state), "--rate", f"{rate:g}", "--versions", versions, *faults)
    started = time.monotonic()
    with cleanup() as on_failure:
        first = Stampdev(stampdev, folder, "run1", *common, "--stamps", str(stamps), "--seed", str(seed))
        on_failure(first)
        recorder = Recorder(first.url, db, folder)
        on_failure(recorder)
        # Switched off mid-run: what the recorder has not acknowledged yet stays in the state file.
        wait_until(lambda: first.counted() >= restart_after or not first.running(), "stamps counted")
        first.stop()
        figures.carried = buffered(state)
        rest = stamps - first.counted()
        second = Stampdev(
            stampdev, folder, "run2", *common, "--stamps", str(rest), "--seed", str(seed + 1), listen=first.address
        )
        on_failure(second)
        second.wait("not every stamp was acknowledged")
        said = recorder.stop()
    figures.seconds = time.monotonic() - started
    for dev in (first, second):
        figures.add_device(dev)
    figures.add_host(said)
    expected = truth(first.truth) + truth(second.truth)
    stored = exported(db)
    figures.compare(expected, rows(stored))
    print(figures)
    assert figures.stamps == stamps
    assert (figures.duplicates, figures.missing, figures.extra) == (0, 0, 0), figures
    assert sorted(rows(stored)) == sorted(expected)
    assert {(r["device_serial"], r["life"]) for r in stored} == {(SERIAL, 1)}, "one device, one numbering"
    assert "restarted its numbering" not in said
    return figures


def test_every_stamp_once_through_drops_corruption_reboots_and_a_restart(
    build: Build, tmp_path: Path, db_url: str, record_property: Callable[[str, object], None]
) -> None:
    """On SQLite and on PostgreSQL (``db_url``)."""
    figures = exactly_once_through_a_restart(
        build.stampdev, tmp_path, db_url, stamps=1500, restart_after=900, rate=1000
    )
    record_property(FIGURES_PROPERTY, str(figures))
    assert figures.reboots >= 2  # run1's at 400 and 800 counted stamps; run2's count of its own


def test_a_v1_only_device_every_stamp_once_through_the_same(
    build: Build, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """A device that speaks only v1: no epoch in RESUME or its reply, the rest the same."""
    db = f"sqlite:///{tmp_path / 'clinic.db'}"
    figures = exactly_once_through_a_restart(
        build.stampdev, tmp_path, db, stamps=1000, restart_after=500, rate=1000, versions="1-1", seed=7
    )
    record_property(FIGURES_PROPERTY, str(figures))
    assert {row["epoch"] for row in exported(db)} == {None}, "a v1 device shows no epoch"


@pytest.mark.parametrize(
    ("versions", "wipe"),
    [("1-2", "boot counter back to 1"), ("1-1", "a new board under the serial")],
)
def test_a_wiped_device_is_kept_apart_and_loses_nothing(
    build: Build, tmp_path: Path, versions: str, wipe: str, record_property: Callable[[str, object], None]
) -> None:
    """The same serial counts from boot 1, seq 1 again (``--boot 1`` over its state file, or a state file
    of its own), under the same running recorder: its stamps are the serial's numbering 2, none dropped
    as already acknowledged, the recorder says so once (tests/devicelink/test_second_life.py, simulator)."""
    db = f"sqlite:///{tmp_path / 'clinic.db'}"
    state = tmp_path / "device.state"
    common = ("--rate", "1000", "--versions", versions, *FAULTS)
    figures = Figures(restarts=1)
    started = time.monotonic()
    with cleanup() as on_failure:
        first = Stampdev(
            build.stampdev, tmp_path, "run1", *common, "--state", str(state), "--epoch", "0x5EED0001",
            "--stamps", "500", "--seed", "3",
        )  # fmt: skip
        on_failure(first)
        recorder = Recorder(first.url, db, tmp_path)
        on_failure(recorder)
        first.wait("not every stamp was acknowledged")
        wiped_state = ("--state", str(state), "--boot", "1") if wipe.startswith("boot") else ("--state", f"{state}.new")
        second = Stampdev(
            build.stampdev, tmp_path, "run2", *common, *wiped_state, "--epoch", "0x5EED0002",
            "--stamps", "450", "--seed", "4", listen=first.address,
        )  # fmt: skip
        on_failure(second)
        second.wait("not every stamp was acknowledged")
        said = recorder.stop()
    figures.seconds = time.monotonic() - started
    for dev in (first, second):
        figures.add_device(dev)
    figures.add_host(said)
    stored = exported(db)
    figures.compare(
        [(1, *t) for t in truth(first.truth)] + [(2, *t) for t in truth(second.truth)],
        [(r["life"], *t) for r, t in zip(stored, rows(stored), strict=True)],
    )
    print(figures)
    record_property(FIGURES_PROPERTY, str(figures))
    assert (figures.stamps, figures.duplicates, figures.missing, figures.extra) == (950, 0, 0, 0), figures
    assert part(stored, 1) == truth(first.truth)
    assert part(stored, 2) == truth(second.truth)
    assert {r["device_serial"] for r in stored} == {SERIAL}
    lines = [line for line in said.splitlines() if "restarted its numbering" in line]
    assert len(lines) == 1, said
    assert "numbering 2" in lines[0] and "none is dropped" in lines[0]
    epochs = {(r["life"], r["epoch"]) for r in stored}
    assert epochs == ({(1, 0x5EED0001), (2, 0x5EED0002)} if versions == "1-2" else {(1, None), (2, None)})


@pytest.mark.soak
def test_soak_twenty_thousand_stamps_through_drops_corruption_reboots_and_a_restart(
    build: Build, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """The first test, 13 times longer and faster (STAMPSIDE_SOAK=1; bench/c_device_bench.py prints the same)."""
    figures = exactly_once_through_a_restart(
        build.stampdev, tmp_path, f"sqlite:///{tmp_path / 'soak.db'}", stamps=20_000, restart_after=10_000,
        rate=2000, faults=("--corrupt", "0.01", "--reboot-every", "3000", "--drop-every", "2.0", "--drop-for", "0.8"),
        seed=5,
    )  # fmt: skip
    record_property(FIGURES_PROPERTY, str(figures))
