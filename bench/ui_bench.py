"""Chairside app benchmarks: stamp-on-screen latency, cold start, and load while stamping,
each against a bare Textual app measured the same way in the same run.

Usage:
  python bench/ui_bench.py latency [--stamps 180] [--rate 3]
  python bench/ui_bench.py startup [--runs 7]
  python bench/ui_bench.py load    [--minutes 1] [--rate 3] [--every 5]
  python bench/ui_bench.py all     [--minutes 1]      (everything, then a summary of the ratios)

Every app here runs in its own process on a real pseudo-terminal (100×30, TERM=xterm-256color)
with Textual's real terminal driver; this script reads and discards what it draws, as a
terminal would. The simulator runs in a process of its own (bench/sim_child.py), as
`stampside demo` runs it, so its work is not counted as the app's. The machines are shared
and their speed varies, so the targets are ratios against bare Textual apps run alongside.

* latency: first the **floor**, a bare Textual app whose one ``Digits`` is updated by a
  message posted from another thread at the stamping rate, each value timed from its post to
  the first frame handed to the terminal driver that draws it. Then the stamping screen
  (StampingScreen on the StampsideApp with the session banner, its LinkBridge armed against
  the simulator, stamps stored in an open session through the DatabaseSink into a temporary
  SQLite file): for each stamp, from the moment the simulator made it (its device time on the
  monotonic clock every process shares) to the first frame that draws the new count in the
  big counter, split into link, storage and message, and drawing. Target: p99 at most 1.5x the
  floor's p99. Last, the **link floor** (not a target): the same link and storage (LinkBridge,
  DatabaseSink, an open session) feeding a bare Textual app's one ``Digits``, timed the same
  way: the stamp's whole path with a minimal screen, so the stamping screen's own share shows.
* startup: process start to the app's first frame (its header "Stampside", footer and the
  "opening the database" indicator) and on to the first screen ready to use (the sign-in
  screen's "No practitioners yet"), `stampside app` on a new, empty SQLite file each run,
  beside a bare Textual hello-world's first paint measured the same way. Targets: first
  screen at most 1.5x, start screen ready at most 2x the hello-world.
* load: the same stamping screen at 3 stamps/s for --minutes, then the floor app at the same
  rate; CPU (% of one core) and resident memory of each process, sampled with psutil; memory
  growth per 1000 stamps; and, to tell the screen's share, `stampside link record` storing the
  same stamps with no screen. Targets: CPU <= 2 % of a core, < 200 MB, no growth with the
  stamps beyond the session's own records.

Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import gc
import json
import os
import re
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import percentile, simulator_process, temp_database

HERE = Path(__file__).resolve()
SIZE = (100, 30)
#: The app opens on sign-in ("Who is at the chair?"); on a new database it is ready to use once it
#: has read the practitioners from it and says there are none yet.
APP_MARKER = "No practitioners yet"
#: The app's first frame: its header's title (with the footer and the "opening the database"
#: indicator), painted before storage is imported and the database opened.
FIRST_PAINT_MARKER = "Stampside"
HELLO_MARKER = "Hello, world"
#: Seconds the load benchmark lets the app settle before sampling.
SETTLE_S = 5.0
HELLO_APP = """\
from textual.app import App, ComposeResult
from textual.widgets import Static


class Hello(App[None]):
    def compose(self) -> ComposeResult:
        yield Static("Hello, world")


Hello().run()
"""
#: Terminal escape sequences (CSI, OSC, DCS, charset and single-character ones), removed to find text.
_ANSI = re.compile(
    rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|P[^\x1b]*\x1b\\|[()][0-9A-Za-z]|[=>78DEHMc])"
)


def sim_config(rate: float) -> dict[str, Any]:
    """The simulator stamps steadily at ``rate``, battery drain off, no faults."""
    return {
        "seed": 3,
        "device": {"battery_per_stamp": 0, "battery_per_minute": 0},
        "stamping": {"rate": rate},
    }


def stampside_exe() -> str:
    exe = Path(sys.executable).parent / "stampside"
    return str(exe) if exe.exists() else "stampside"


# -- a process on a real pty -------------------------------------------------------------


class PtyProcess:
    """A child process whose stdin, stdout and stderr are a new pty of the given size."""

    def __init__(self, argv: list[str], *, size: tuple[int, int] = SIZE, env: dict[str, str] | None = None) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
        child_env = dict(os.environ if env is None else env)
        child_env["TERM"] = "xterm-256color"
        child_env.pop("STAMPSIDE_DB", None)
        self.master = master
        self.output = bytearray()
        self._drainer: threading.Thread | None = None
        #: perf_counter() just before the process was started.
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=child_env, start_new_session=True, close_fds=True
        )
        os.close(slave)

    def _read(self, timeout: float) -> bytes | None:
        """Bytes the child wrote, b"" if none within ``timeout``, None once the pty is closed."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return b""
        try:
            data = os.read(self.master, 65536)
        except OSError:
            return None
        return data or None

    def wait_for_text(self, text: str, timeout: float) -> float:
        """perf_counter() when ``text`` first appeared on the screen (escape sequences removed)."""
        needle = text.encode()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self._read(0.5)
            if data is None:
                break
            if data:
                self.output += data
                if needle in _ANSI.sub(b"", bytes(self.output)):
                    return time.perf_counter()
        tail = _ANSI.sub(b"", bytes(self.output[-2000:])).decode(errors="replace")
        raise RuntimeError(f"{text!r} did not appear within {timeout:.0f} s; the screen ended with:\n{tail}")

    def drain(self) -> None:
        """Read and discard everything the child draws, in a thread, as a terminal would."""

        def run() -> None:
            while self._read(1.0) is not None:
                pass

        self._drainer = threading.Thread(target=run, daemon=True)
        self._drainer.start()

    def tail(self) -> str:
        return _ANSI.sub(b"", bytes(self.output[-2000:])).decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self._drainer is not None:
            self._drainer.join(5)
        os.close(self.master)


@contextlib.contextmanager
def pty_process(argv: list[str], env: dict[str, str] | None = None) -> Iterator[PtyProcess]:
    child = PtyProcess(argv, env=env)
    try:
        yield child
    finally:
        child.close()


# -- the app process: the stamping screen against a device -----------------------------------


class FrameProbe:
    """Times values of a ``Digits`` from when each was due to the first frame that draws it.

    ``due[i]`` is when value ``i + 1`` was due (``time.monotonic()``). It wraps the digits'
    ``render_lines`` (notes the value it drew) and ``App._display`` (the compositor's frame handed to
    the terminal driver: the values drawn into that frame are on screen now). The stamping
    screen and the bare floor app are timed by this same probe.
    """

    def __init__(self) -> None:
        self.due: list[float] = []
        self.drawn = 0
        self.shown = 0
        self.delays_ms: list[float] = []
        #: Index (into ``due``) of each entry of ``delays_ms``, for subclasses that split it.
        self.shown_index: list[int] = []
        self.frames = 0
        #: Garbage-collector pauses in the app process, ms (a suspect for the slowest frames).
        self.gc_ms: list[float] = []
        self._gc_start = 0.0
        self.gc_full = 0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gc_ms.append((time.perf_counter() - self._gc_start) * 1000)
            self.gc_full += info["generation"] == 2

    def install_frames(self, app: Any, digits: Any) -> None:
        render_lines, display = digits.render_lines, app._display

        def counted_render(crop: Any) -> Any:
            # The compositor asks the widget for its lines for every frame it is in: the value
            # it holds then is in that frame (the app's counter draws a line at a time, the
            # floor's Digits through render(); both answer render_lines).
            self.drawn = max(self.drawn, int(digits.value or 0))
            return render_lines(crop)

        def timed_display(on: Any, renderable: Any) -> None:
            display(on, renderable)
            if renderable is None:
                return
            self.frames += 1
            if self.drawn > self.shown:
                now = time.monotonic()
                for index in range(self.shown, self.drawn):
                    self.delays_ms.append((now - self.due[index]) * 1000)
                    self.shown_index.append(index)
                self.shown = self.drawn

        gc.callbacks.append(self._on_gc)
        digits.render_lines = counted_render
        app._display = timed_display

    def result(self) -> dict[str, Any]:
        return {"delays_ms": self.delays_ms, "frames": self.frames, "gc_ms": self.gc_ms, "gc_full": self.gc_full}


class LatencyProbe(FrameProbe):
    """Times each stamp from its making in the simulator to the frame that draws its count.

    Besides the :class:`FrameProbe` wrappers it wraps the screen's ``record_stamps``, which
    notes when each new stamp was due on the simulator (and when the link session received it).
    """

    def __init__(self, t0: float) -> None:
        super().__init__()
        self.t0 = t0
        #: When the link session received each stamp (the part of the delay spent before the UI).
        self.received: list[float] = []
        #: When the screen got each stamp as stored (the commit and the message are before it).
        self.handled: list[float] = []
        self.seen: set[tuple[int, int]] = set()

    def install(self, app: Any, screen: Any) -> None:
        from textual.widgets import Digits

        record = screen.record_stamps

        def timed_record(stamps: Iterable[Any]) -> None:
            stamps = list(stamps)
            for stamp in stamps:
                key = (stamp.boot, stamp.seq)
                if key not in self.seen:
                    self.seen.add(key)
                    self.due.append(self.t0 + stamp.device_time_ms / 1000)
                    self.received.append(time.monotonic() if stamp.received_at is None else stamp.received_at)
                    self.handled.append(time.monotonic())
            record(stamps)

        self.install_frames(app, screen.query_one("#stamp-count", Digits))
        screen.record_stamps = timed_record

    def result(self) -> dict[str, Any]:
        shown = self.shown_index
        link_ms = [(self.received[i] - self.due[i]) * 1000 for i in shown]
        stored_ms = [(self.handled[i] - self.received[i]) * 1000 for i in shown]
        return {**super().result(), "link_ms": link_ms, "stored_ms": stored_ms}


def _open_session(database: Any, protocol: Any) -> Any:
    """A practitioner, a patient, a course and its first session, open: where the stamps go."""
    from datetime import UTC, datetime

    from stampside.app.storage.courses import start_course
    from stampside.app.storage.patients import NewPatient, create_patient
    from stampside.app.storage.practitioners import add_practitioner
    from stampside.app.storage.sessions import open_session

    now = datetime.now(UTC)
    with database.Session.begin() as s:
        who = add_practitioner(s, "Dr Bench")
        patient = create_patient(s, NewPatient.parse("P-BENCH"), now=now)
        course = start_course(s, patient.id, now=now)
        return open_session(s, course, protocol=protocol, practitioner_id=who.id, now=now)


def stamping_child(args: argparse.Namespace) -> None:
    """The app process: StampsideApp with the stamping screen on top, its LinkBridge armed."""
    from stampside.app.domain.zones import Zone
    from stampside.app.storage.database import open_database
    from stampside.app.storage.sink import DatabaseSink
    from stampside.app.tui.app import AppConfig, create_app
    from stampside.app.tui.link_bridge import LinkBridge
    from stampside.app.tui.screens.stamping import StampingScreen
    from stampside.app.tui.widgets.session_banner import BannerInfo

    database = open_database(args.db)
    app = create_app(AppConfig(database=database, device_url=args.device))
    probe = LatencyProbe(args.t0) if args.out else None

    async def drive(pilot: Any) -> None:
        # The start screen first, settled: its offer to resume an open session is not made then.
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        session = _open_session(database, app.config.protocol)
        banner = BannerInfo(session.patient_code, None, session.number, session.planned_sessions, session.started_at)
        screen = StampingScreen.for_protocol(app.config.protocol, frozenset(Zone), 100, banner=banner)
        bridge = LinkBridge(args.device, sink=DatabaseSink(database), arm=True, target=screen)
        # Stamps are stored in (and the screen counts those of) the open session, as in a real one.
        bridge.set_place(session.id, Zone.FRONTAL)
        await app.push_screen(screen)
        await pilot.pause()
        if probe is not None:
            probe.install(app, screen)
        if args.gc_freeze:
            gc.freeze()
        await bridge.start()
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline and (probe is None or len(probe.delays_ms) < args.stamps):
            await asyncio.sleep(0.1)
        await bridge.aclose()
        app.exit()

    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    app.run(auto_pilot=drive)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    database.close()
    if probe is not None:
        Path(args.out).write_text(json.dumps(probe.result()))


def floor_child(args: argparse.Namespace) -> None:
    """The floor's process: a bare Textual app whose one ``Digits`` shows a value another thread
    posts as a message, ``--rate`` times a second; each timed from the post to its frame."""
    from textual.app import App, ComposeResult
    from textual.message import Message
    from textual.widgets import Digits

    class Posted(Message):
        def __init__(self, value: int) -> None:
            super().__init__()
            self.value = value

    class Floor(App[None]):
        def compose(self) -> ComposeResult:
            yield Digits("0")

        def on_posted(self, message: Posted) -> None:
            self.query_one(Digits).update(str(message.value))

    app = Floor()
    probe = FrameProbe()
    stop = threading.Event()

    def poster() -> None:
        start = time.monotonic()
        for value in range(1, args.stamps + 1):
            if stop.wait(max(0.0, start + value / args.rate - time.monotonic())):
                return
            probe.due.append(time.monotonic())
            app.post_message(Posted(value))

    async def drive(pilot: Any) -> None:
        await pilot.pause()
        probe.install_frames(app, app.query_one(Digits))
        thread = threading.Thread(target=poster, name="floor poster", daemon=True)
        thread.start()
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline and len(probe.delays_ms) < args.stamps:
            await asyncio.sleep(0.1)
        stop.set()
        app.exit()

    app.run(auto_pilot=drive)
    Path(args.out).write_text(json.dumps(probe.result()))


def link_floor_child(args: argparse.Namespace) -> None:
    """The link floor's process: the stamping screen's link and storage (a LinkBridge armed against
    the simulator, stamps stored in an open session through the DatabaseSink) feeding a bare
    Textual app whose one ``Digits`` shows the count of stamps stored: the stamp's path without
    the stamping screen, timed by the same probe."""
    from textual import on
    from textual.app import App, ComposeResult
    from textual.widgets import Digits

    from stampside.app.domain.zones import Zone
    from stampside.app.storage.database import open_database
    from stampside.app.storage.sink import DatabaseSink
    from stampside.app.tui.link_bridge import LinkBridge
    from stampside.app.tui.screens.stamping import StampsStored

    database = open_database(args.db)
    probe = LatencyProbe(args.t0)

    class LinkFloor(App[None]):
        def __init__(self) -> None:
            super().__init__()
            self.seen: set[tuple[int, int]] = set()

        def compose(self) -> ComposeResult:
            yield Digits("0", id="stamp-count")

        @on(StampsStored)
        def _stored(self, message: StampsStored) -> None:
            self.record_stamps(message.stamps)

        def record_stamps(self, stamps: Iterable[Any]) -> None:
            self.seen.update((stamp.boot, stamp.seq) for stamp in stamps)
            self.query_one(Digits).update(str(len(self.seen)))

    app = LinkFloor()

    async def drive(pilot: Any) -> None:
        from stampside.app.domain.treatment_protocol import default_protocol

        await pilot.pause()
        session = _open_session(database, default_protocol())
        bridge = LinkBridge(args.device, sink=DatabaseSink(database), arm=True, target=app)
        bridge.set_place(session.id, Zone.FRONTAL)
        probe.install(app, app)
        await bridge.start()
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline and len(probe.delays_ms) < args.stamps:
            await asyncio.sleep(0.1)
        await bridge.aclose()
        app.exit()

    app.run(auto_pilot=drive)
    database.close()
    Path(args.out).write_text(json.dumps(probe.result()))


def child_argv(device: str, db: str, *, seconds: float, t0: float = 0.0, out: str = "", stamps: int = 0) -> list[str]:
    argv = [sys.executable, str(HERE), "_stamping-child", "--device", device, "--db", db, "--seconds", str(seconds)]
    return [*argv, "--t0", repr(t0), "--out", out, "--stamps", str(stamps)]


def link_floor_argv(device: str, db: str, *, seconds: float, t0: float, out: str, stamps: int) -> list[str]:
    argv = [sys.executable, str(HERE), "_link-floor-child", "--device", device, "--db", db, "--seconds", str(seconds)]
    return [*argv, "--t0", repr(t0), "--out", out, "--stamps", str(stamps)]


def floor_argv(*, rate: float, stamps: int, seconds: float, out: str) -> list[str]:
    argv = [sys.executable, str(HERE), "_floor-child", "--rate", repr(rate), "--stamps", str(stamps)]
    return [*argv, "--seconds", str(seconds), "--out", out]


# -- the benchmarks -----------------------------------------------------------------------

#: Figures of this run for the closing summary: name -> value.
RESULTS: dict[str, float] = {}

LATENCY_RATIO_TARGET = 1.5
READY_RATIO_TARGET = 2.0
FIRST_PAINT_RATIO_TARGET = 1.5
CPU_TARGET = 2.0


def _met(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def _run_child(name: str, argv: list[str], out: str, budget: float) -> dict[str, Any]:
    """Run a child on a pty until it exits; the JSON it wrote to ``out``."""
    with pty_process(argv) as child:
        child.drain()
        try:
            child.proc.wait(budget + 30)
        except subprocess.TimeoutExpired:
            raise SystemExit(f"{name}: the app did not finish in time") from None
    if not Path(out).exists():
        raise SystemExit(f"{name}: the app wrote no figures (exit code {child.proc.returncode})")
    result: dict[str, Any] = json.loads(Path(out).read_text())
    if not result["delays_ms"]:
        raise SystemExit(f"{name}: nothing reached the screen ({result['frames']} frames drawn)")
    return result


def _print_frames(ms: list[float], result: dict[str, Any]) -> None:
    p50, p99 = percentile(ms, 50), percentile(ms, 99)
    print(f"  p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(ms):.1f} ms ({result['frames']} frames drawn)")
    gc_ms = result["gc_ms"]
    if gc_ms:
        print(f"  garbage collections meanwhile: {len(gc_ms)} ({result['gc_full']} full), longest {max(gc_ms):.1f} ms")


def latency(stamps: int, rate: float, gc_freeze: bool = False) -> None:
    budget = stamps / rate + 60
    with tempfile.TemporaryDirectory(prefix="stampside-ui-") as tmp:
        # The floor first: a bare Textual app, a value posted from another thread at the same rate.
        out = str(Path(tmp) / "floor.json")
        floor = _run_child("floor", floor_argv(rate=rate, stamps=stamps, seconds=budget, out=out), out, budget)
        with simulator_process(sim_config(rate)) as (url, t0), temp_database() as db:
            out = str(Path(tmp) / "latency.json")
            argv = child_argv(url, db, seconds=budget, t0=t0, out=out, stamps=stamps) + ["--gc-freeze"] * gc_freeze
            result = _run_child("stamping screen", argv, out, budget)
        with simulator_process(sim_config(rate)) as (url, t0), temp_database() as db:
            out = str(Path(tmp) / "link_floor.json")
            argv = link_floor_argv(url, db, seconds=budget, t0=t0, out=out, stamps=stamps)
            link_floor = _run_child("link floor", argv, out, budget)
    floor_ms: list[float] = floor["delays_ms"]
    print(
        f"floor: a bare Textual app, its Digits updated by a message posted from another thread,"
        f" {len(floor_ms)} posts at {rate:g}/s (post -> the frame that draws it):"
    )
    _print_frames(floor_ms, floor)
    ms: list[float] = result["delays_ms"]
    p50, p99 = percentile(ms, 50), percentile(ms, 99)
    print(f"stamping screen: {len(ms)} stamps at {rate:g}/s (simulator makes a stamp -> its count drawn in a frame):")
    _print_frames(ms, result)
    link, stored = result["link_ms"], result["stored_ms"]
    draw = [total - a - b for total, a, b in zip(ms, link, stored, strict=True)]
    print(
        f"  of which simulator -> link session received it: p50 {percentile(link, 50):.1f} ms, p99 "
        f"{percentile(link, 99):.1f} ms; received -> stored and at the screen: p50 {percentile(stored, 50):.1f},"
        f" p99 {percentile(stored, 99):.1f} ms; at the screen -> frame: p50 {percentile(draw, 50):.1f},"
        f" p99 {percentile(draw, 99):.1f} ms" + (" (an extra gc.freeze() from the bench)" if gc_freeze else "")
    )
    slowest = sorted(range(len(ms)), key=ms.__getitem__, reverse=True)[:3]
    print("  slowest: " + ", ".join(f"stamp {i + 1} {ms[i]:.1f} ms (link {link[i]:.1f})" for i in sorted(slowest)))
    f50, f99 = percentile(floor_ms, 50), percentile(floor_ms, 99)
    RESULTS.update(latency_p50=p50, latency_p99=p99, floor_p50=f50, floor_p99=f99)
    print(
        f"  vs the floor: p50 {p50 / f50:.2f}x, p99 {p99 / f99:.2f}x;"
        f" target p99 <= {LATENCY_RATIO_TARGET}x the floor's -> {_met(p99 <= LATENCY_RATIO_TARGET * f99)}"
    )
    lf_ms: list[float] = link_floor["delays_ms"]
    print(
        f"link floor: the same link and storage (LinkBridge, DatabaseSink, an open session) feeding a bare"
        f" Textual app's Digits, {len(lf_ms)} stamps (simulator makes a stamp -> its count drawn in a frame):"
    )
    _print_frames(lf_ms, link_floor)
    lf_link, lf_stored = link_floor["link_ms"], link_floor["stored_ms"]
    lf_draw = [total - a - b for total, a, b in zip(lf_ms, lf_link, lf_stored, strict=True)]
    print(
        f"  of which link p50 {percentile(lf_link, 50):.1f} / p99 {percentile(lf_link, 99):.1f} ms; stored and at"
        f" the app p50 {percentile(lf_stored, 50):.1f} / p99 {percentile(lf_stored, 99):.1f} ms; at the app ->"
        f" frame p50 {percentile(lf_draw, 50):.1f} / p99 {percentile(lf_draw, 99):.1f} ms"
    )
    l50, l99 = percentile(lf_ms, 50), percentile(lf_ms, 99)
    RESULTS.update(link_floor_p50=l50, link_floor_p99=l99)
    print(f"  the stamping screen vs the link floor: p50 {p50 / l50:.2f}x, p99 {p99 / l99:.2f}x (not a target)")


def _paint_times(argv: list[str], *markers: str) -> list[float]:
    """Seconds from process start until each marker (in order) first showed on the pty.

    Python may write bytecode here even where the environment says not to
    (``PYTHONDONTWRITEBYTECODE``): the warm-up run compiles the app's modules once, as
    installing the app does, so that no run is timed compiling them.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with pty_process(argv, env=env) as child:
        return [child.wait_for_text(marker, timeout=60) - child.started for marker in markers]


def startup(runs: int) -> None:
    hello = [sys.executable, "-c", HELLO_APP]
    # (first paint, start screen ready) per run
    cold: list[list[float]] = []
    warm: list[list[float]] = []
    hello_times: list[float] = []
    markers = (FIRST_PAINT_MARKER, APP_MARKER)
    with tempfile.TemporaryDirectory(prefix="stampside-start-") as tmp:

        def app_argv(run: int) -> list[str]:
            return [stampside_exe(), "app", "--db", f"sqlite:///{tmp}/cold-{run}.sqlite3"]

        # One warm-up each (compiled bytecode, file cache), then alternate so drift hits both.
        _paint_times(hello, HELLO_MARKER)
        _paint_times(app_argv(-1), *markers)
        for run in range(runs):
            hello_times.extend(_paint_times(hello, HELLO_MARKER))
            cold.append(_paint_times(app_argv(run), *markers))
            warm.append(_paint_times(app_argv(-1), *markers))

    def ms(times: list[list[float]], which: int) -> float:
        return statistics.median(t[which] for t in times) * 1000

    hello_ms = statistics.median(hello_times) * 1000
    first_ms, ready_ms = ms(cold, 0), ms(cold, 1)
    ratio, ready_ratio = first_ms / hello_ms, ready_ms / hello_ms
    RESULTS.update(hello_ms=hello_ms, first_paint_ms=first_ms, ready_ms=ready_ms, ready_existing_ms=ms(warm, 1))
    print(f"cold start, median of {runs} runs each (real pty, 100x30):")
    print(f"  bare Textual hello-world, first paint:          {hello_ms:.0f} ms (min {min(hello_times) * 1000:.0f})")
    print(
        f"  stampside app, new empty SQLite file: first paint {first_ms:.0f} ms"
        f" (min {min(t[0] for t in cold) * 1000:.0f}), start screen ready {ready_ms:.0f} ms"
        f" (min {min(t[1] for t in cold) * 1000:.0f})"
    )
    print(
        f"  stampside app, database already made: first paint {ms(warm, 0):.0f} ms,"
        f" start screen ready {ms(warm, 1):.0f} ms ({ms(warm, 1) / hello_ms:.2f}x)"
    )
    print(
        f"  first paint {ratio:.2f}x the hello-world; target <= {FIRST_PAINT_RATIO_TARGET}x"
        f" -> {_met(ratio <= FIRST_PAINT_RATIO_TARGET)}"
    )
    print(
        f"  start screen ready (new database) {ready_ratio:.2f}x the hello-world's first paint;"
        f" target <= {READY_RATIO_TARGET}x -> {_met(ready_ratio <= READY_RATIO_TARGET)}"
    )


def _sample(child: PtyProcess, seconds: float, every: float) -> list[tuple[float, float, float]]:
    """(elapsed s, CPU % of one core, RSS MB) of ``child`` every ``every`` s for ``seconds``, after it settled."""
    import psutil  # type: ignore[import-untyped]

    proc = psutil.Process(child.proc.pid)
    time.sleep(SETTLE_S)  # start-up is the startup benchmark's business
    proc.cpu_percent(None)
    samples = [(0.0, 0.0, proc.memory_info().rss / 2**20)]
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        time.sleep(min(every, max(0.1, seconds - elapsed)))
        if child.proc.poll() is not None:
            raise SystemExit(f"the app exited early (code {child.proc.returncode}):\n{child.tail()}")
        samples.append((time.monotonic() - start, proc.cpu_percent(None), proc.memory_info().rss / 2**20))
    return samples


def _recorder_cpu(rate: float, seconds: float) -> float:
    """CPU % of one core of ``stampside link record`` storing the same stamps into SQLite: the link
    and the storage the stamping screen also runs, without a screen (and with the recorder's own
    status loop, ten wake-ups a second), to tell the screen's share of the app's CPU."""
    import psutil  # type: ignore[import-untyped]

    with (
        simulator_process(sim_config(rate)) as (url, _t0),
        temp_database() as db,
        tempfile.TemporaryFile() as said,
    ):
        argv = [stampside_exe(), "link", "record", url, "--db", db, "--status-every", "0"]
        with subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=said) as recorder:
            try:
                proc = psutil.Process(recorder.pid)
                time.sleep(SETTLE_S)
                proc.cpu_percent(None)
                time.sleep(seconds)
                if recorder.poll() is not None:
                    said.seek(0)
                    raise SystemExit(f"link record exited early:\n{said.read().decode(errors='replace')}")
                return float(proc.cpu_percent(None))
            finally:
                recorder.terminate()
                recorder.wait(30)


def load(minutes: float, rate: float, every: float, profile: str = "") -> None:
    seconds = minutes * 60
    with (
        simulator_process(sim_config(rate)) as (url, _t0),
        temp_database() as db,
        pty_process([*child_argv(url, db, seconds=seconds + SETTLE_S + 1), "--profile", profile]) as child,
    ):
        child.drain()
        samples = _sample(child, seconds, every)
        child.proc.wait(60)  # it stops on its own a little later (and writes its profile)
    posts = int((seconds + SETTLE_S + 5) * rate)
    with (
        tempfile.TemporaryDirectory(prefix="stampside-ui-") as tmp,
        pty_process(floor_argv(rate=rate, stamps=posts, seconds=seconds + SETTLE_S + 1, out=f"{tmp}/f.json")) as floor,
    ):
        floor.drain()
        floor_samples = _sample(floor, seconds, every)
        floor.proc.wait(60)
    recorder_cpu = _recorder_cpu(rate, seconds)
    cpu = [c for _, c, _ in samples[1:]]
    rss = [m for _, _, m in samples]
    half = len(rss) // 2
    cpu_first, cpu_second = statistics.fmean(cpu[: max(1, half)]), statistics.fmean(cpu[half - 1 :])
    growth = rss[-1] - rss[half]
    stamps_all, stamps_half = rate * samples[-1][0], rate * (samples[-1][0] - samples[half][0])
    per_1000 = (rss[-1] - rss[0]) / stamps_all * 1000
    per_1000_half = growth / stamps_half * 1000
    flat = growth < 2 and cpu_second <= cpu_first * 1.5 + 0.5
    floor_cpu = statistics.fmean(c for _, c, _ in floor_samples[1:])
    floor_rss = [m for _, _, m in floor_samples]
    mean_cpu = statistics.fmean(cpu)
    RESULTS.update(
        cpu=mean_cpu,
        floor_cpu=floor_cpu,
        recorder_cpu=recorder_cpu,
        rss_per_1000=per_1000,
        rss_per_1000_half=per_1000_half,
    )
    print(
        f"load: stamping screen at {rate:g} stamps/s for {seconds:.0f} s (~{stamps_all:.0f} stamps),"
        f" sampled every {every:g} s:"
    )
    print(
        f"  CPU % of one core: mean {mean_cpu:.1f}, max {max(cpu):.1f}"
        f" (first half {cpu_first:.1f}, second half {cpu_second:.1f});"
        f" the floor app at the same rate: {floor_cpu:.1f};"
        f" the link and storage alone (`stampside link record`, no screen): {recorder_cpu:.1f}"
    )
    print(
        f"  RSS MB: start {rss[0]:.1f}, end {rss[-1]:.1f}, max {max(rss):.1f};"
        f" growth {per_1000:+.2f} MB per 1000 stamps (second half {growth:+.2f} MB, {per_1000_half:+.2f} per 1000);"
        f" the floor {floor_rss[0]:.1f} -> {floor_rss[-1]:.1f}"
    )
    print(
        f"  target CPU <= {CPU_TARGET:g} % of a core -> {_met(mean_cpu <= CPU_TARGET)};"
        f" < 200 MB -> {_met(max(rss) < 200)}; flat -> {'yes' if flat else 'CHECK'}"
    )


def summary() -> None:
    r = RESULTS
    print("summary (ratios against the floor and the hello-world measured in this run):")
    if "latency_p99" in r:
        print(
            f"  stamp to screen: p50 {r['latency_p50']:.1f} ms / floor {r['floor_p50']:.1f} ms"
            f" = {r['latency_p50'] / r['floor_p50']:.2f}x;"
            f" p99 {r['latency_p99']:.1f} ms / floor {r['floor_p99']:.1f} ms = {r['latency_p99'] / r['floor_p99']:.2f}x"
            f" (target <= {LATENCY_RATIO_TARGET}x: {_met(r['latency_p99'] <= LATENCY_RATIO_TARGET * r['floor_p99'])});"
            f" vs the link floor p99 {r['link_floor_p99']:.1f} ms: {r['latency_p99'] / r['link_floor_p99']:.2f}x"
        )
    if "ready_ms" in r:
        print(
            f"  start screen ready {r['ready_ms']:.0f} ms / hello-world first paint {r['hello_ms']:.0f} ms"
            f" = {r['ready_ms'] / r['hello_ms']:.2f}x (target <= {READY_RATIO_TARGET}x:"
            f" {_met(r['ready_ms'] <= READY_RATIO_TARGET * r['hello_ms'])}); first paint"
            f" {r['first_paint_ms'] / r['hello_ms']:.2f}x (target <= {FIRST_PAINT_RATIO_TARGET}x)"
        )
    if "cpu" in r:
        print(
            f"  CPU at 3 Hz {r['cpu']:.1f} % of a core, the floor {r['floor_cpu']:.1f} %"
            f" (target <= {CPU_TARGET:g} %: {_met(r['cpu'] <= CPU_TARGET)}), the link and storage alone"
            f" {r['recorder_cpu']:.1f} %;"
            f" RSS growth {r['rss_per_1000']:+.2f} MB per 1000 stamps (second half {r['rss_per_1000_half']:+.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "which", choices=["latency", "startup", "load", "all", "_stamping-child", "_floor-child", "_link-floor-child"]
    )
    parser.add_argument("--minutes", type=float, default=1.0, help="load: how long to stamp (default 1)")
    parser.add_argument("--rate", type=float, default=3.0, help="stamps per second (default 3)")
    parser.add_argument("--stamps", type=int, default=180, help="latency: stamps to time (default 180)")
    parser.add_argument("--runs", type=int, default=7, help="startup: runs of each app (default 7)")
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="latency: one more gc.freeze() from the bench once the screen is up (the app freezes by itself)",
    )
    parser.add_argument("--every", type=float, default=5.0, help="load: seconds between samples (default 5)")
    # For the app process this script starts (not for people):
    parser.add_argument("--device", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=60.0, help=argparse.SUPPRESS)
    parser.add_argument("--t0", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--out", default="", help=argparse.SUPPRESS)
    parser.add_argument("--profile", default="", metavar="FILE", help="load: cProfile the app's UI thread into FILE")
    args = parser.parse_args()
    if args.which == "_stamping-child":
        stamping_child(args)
        return
    if args.which == "_floor-child":
        floor_child(args)
        return
    if args.which == "_link-floor-child":
        link_floor_child(args)
        return
    if args.which in ("latency", "all"):
        latency(args.stamps, args.rate, args.gc_freeze)
    if args.which in ("startup", "all"):
        startup(args.runs)
    if args.which in ("load", "all"):
        load(args.minutes, args.rate, args.every, args.profile)
    summary()


if __name__ == "__main__":
    main()
