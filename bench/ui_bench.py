"""Chairside app benchmarks: stamp-on-screen latency, cold start, and load while stamping.

Usage:
  python bench/ui_bench.py latency [--stamps 180] [--rate 3]
  python bench/ui_bench.py startup [--runs 7]
  python bench/ui_bench.py load    [--minutes 1] [--rate 3] [--every 5]
  python bench/ui_bench.py all     [--minutes 1]

Every app here runs in its own process on a real pseudo-terminal (100×30, TERM=xterm-256color)
with Textual's real terminal driver; this script reads and discards what it draws, as a
terminal would. The simulator runs in a process of its own (bench/sim_child.py), as
`stampside demo` runs it, so its work is not counted as the app's.

* latency: the stamping screen (StampingScreen on the StampsideApp, its LinkBridge armed
  against the simulator, stamps stored through the DatabaseSink into a temporary SQLite file).
  For each stamp: from the moment the simulator made it (its device time on the monotonic
  clock every process shares) to the moment the first frame that draws the new count in the
  big counter is handed to the terminal driver. Target p99 <= 50 ms.
* startup: process start to the app's first frame (its header "Stampside", footer and the
  "opening the database" indicator) and on to the start screen ready ("Practitioner"),
  `stampside app` on a new, empty SQLite file each run, beside a bare Textual hello-world
  measured the same way. Target: first screen at most 1.5x the hello-world.
* load: the same stamping screen at 3 stamps/s for --minutes; CPU (% of one core) and
  resident memory of the app process, sampled with psutil. Targets <= 5 % and < 200 MB, flat.

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
#: What the start screen shows once it is painted (its first pane's title): the app is ready to use.
APP_MARKER = "Practitioner"
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
def pty_process(argv: list[str]) -> Iterator[PtyProcess]:
    child = PtyProcess(argv)
    try:
        yield child
    finally:
        child.close()


# -- the app process: the stamping screen against a device -----------------------------------


class LatencyProbe:
    """Times each stamp from its making in the simulator to the frame that draws its count.

    It wraps three things of the running app: the screen's ``record_stamps`` (notes when
    each new stamp was due on the simulator), the big counter's ``render`` (notes the count
    it drew) and ``App._display`` (the compositor's frame handed to the terminal driver:
    the counts drawn into that frame are on screen now).
    """

    def __init__(self, t0: float) -> None:
        self.t0 = t0
        self.due: list[float] = []
        #: When the link session received each stamp (the part of the delay spent before the UI).
        self.received: list[float] = []
        self.link_ms: list[float] = []
        self.seen: set[tuple[int, int]] = set()
        self.drawn = 0
        self.shown = 0
        self.delays_ms: list[float] = []
        self.frames = 0
        #: Garbage-collector pauses in the app process, ms (a suspect for the slowest stamps).
        self.gc_ms: list[float] = []
        self._gc_start = 0.0
        self.gc_full = 0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        else:
            self.gc_ms.append((time.perf_counter() - self._gc_start) * 1000)
            self.gc_full += info["generation"] == 2

    def install(self, app: Any, screen: Any) -> None:
        from textual.widgets import Digits

        digits = screen.query_one("#stamp-count", Digits)
        render, record, display = digits.render, screen.record_stamps, app._display

        def counted_render() -> Any:
            self.drawn = max(self.drawn, int(digits.value or 0))
            return render()

        def timed_record(stamps: Iterable[Any]) -> None:
            stamps = list(stamps)
            for stamp in stamps:
                key = (stamp.boot, stamp.seq)
                if key not in self.seen:
                    self.seen.add(key)
                    self.due.append(self.t0 + stamp.device_time_ms / 1000)
                    self.received.append(time.monotonic() if stamp.received_at is None else stamp.received_at)
            record(stamps)

        def timed_display(on: Any, renderable: Any) -> None:
            display(on, renderable)
            if renderable is None:
                return
            self.frames += 1
            if self.drawn > self.shown:
                now = time.monotonic()
                for index in range(self.shown, self.drawn):
                    self.delays_ms.append((now - self.due[index]) * 1000)
                    self.link_ms.append((self.received[index] - self.due[index]) * 1000)
                self.shown = self.drawn

        gc.callbacks.append(self._on_gc)
        digits.render = counted_render
        screen.record_stamps = timed_record
        app._display = timed_display


def stamping_child(args: argparse.Namespace) -> None:
    """The app process: StampsideApp with the stamping screen on top, its LinkBridge armed."""
    from app.domain.zones import Zone
    from app.storage.database import open_database
    from app.storage.sink import DatabaseSink
    from app.tui.app import AppConfig, create_app
    from app.tui.link_bridge import LinkBridge
    from app.tui.screens.stamping import StampingScreen

    database = open_database(args.db)
    app = create_app(AppConfig(database=database, device_url=args.device))
    screen = StampingScreen.for_protocol(app.config.protocol, frozenset(Zone), 100)
    bridge = LinkBridge(args.device, sink=DatabaseSink(database), arm=True, target=screen)
    probe = LatencyProbe(args.t0) if args.out else None

    async def drive(pilot: Any) -> None:
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
        result = {
            "delays_ms": probe.delays_ms,
            "link_ms": probe.link_ms,
            "frames": probe.frames,
            "gc_ms": probe.gc_ms,
            "gc_full": probe.gc_full,
        }
        Path(args.out).write_text(json.dumps(result))


def child_argv(device: str, db: str, *, seconds: float, t0: float = 0.0, out: str = "", stamps: int = 0) -> list[str]:
    argv = [sys.executable, str(HERE), "_stamping-child", "--device", device, "--db", db, "--seconds", str(seconds)]
    return [*argv, "--t0", repr(t0), "--out", out, "--stamps", str(stamps)]


# -- the three benchmarks -----------------------------------------------------------------


def latency(stamps: int, rate: float, gc_freeze: bool = False) -> None:
    budget = stamps / rate + 60
    with (
        simulator_process(sim_config(rate)) as (url, t0),
        temp_database() as db,
        tempfile.TemporaryDirectory(prefix="stampside-ui-") as tmp,
    ):
        out = str(Path(tmp) / "latency.json")
        argv = child_argv(url, db, seconds=budget, t0=t0, out=out, stamps=stamps) + ["--gc-freeze"] * gc_freeze
        with pty_process(argv) as child:
            child.drain()
            try:
                child.proc.wait(budget + 30)
            except subprocess.TimeoutExpired:
                raise SystemExit("the app did not finish in time") from None
        if not Path(out).exists():
            raise SystemExit(f"the app wrote no figures (exit code {child.proc.returncode})")
        result = json.loads(Path(out).read_text())
    ms: list[float] = result["delays_ms"]
    if not ms:
        raise SystemExit("no stamp reached the screen")
    p50, p99 = percentile(ms, 50), percentile(ms, 99)
    print(f"latency over {len(ms)} stamps at {rate:g}/s (simulator makes a stamp -> its count drawn in a frame):")
    print(f"  p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(ms):.1f} ms ({result['frames']} frames drawn)")
    link = result["link_ms"]
    print(
        f"  of which simulator -> link session received it: p50 {percentile(link, 50):.1f} ms, p99 "
        f"{percentile(link, 99):.1f} ms; the rest is the app (message, redraw, next frame)"
    )
    gc_ms = result["gc_ms"]
    if gc_ms:
        print(
            f"  garbage collections in the app meanwhile: {len(gc_ms)} ({result['gc_full']} full),"
            f" longest {max(gc_ms):.1f} ms{' (an extra gc.freeze() from the bench)' if gc_freeze else ''}"
        )
    slowest = sorted(range(len(ms)), key=ms.__getitem__, reverse=True)[:3]
    print("  slowest: " + ", ".join(f"stamp {i + 1} {ms[i]:.1f} ms (link {link[i]:.1f})" for i in sorted(slowest)))
    print(f"  target p99 <= 50 ms -> {'MET' if p99 <= 50 else 'MISSED'}")


def _paint_times(argv: list[str], *markers: str) -> list[float]:
    """Seconds from process start until each marker (in order) first showed on the pty."""
    with pty_process(argv) as child:
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
    ratio = first_ms / hello_ms
    print(f"cold start, median of {runs} runs each (real pty, 100x30):")
    print(f"  bare Textual hello-world, first paint:          {hello_ms:.0f} ms (min {min(hello_times) * 1000:.0f})")
    print(
        f"  stampside app, new empty SQLite file: first paint {first_ms:.0f} ms"
        f" (min {min(t[0] for t in cold) * 1000:.0f}), start screen ready {ready_ms:.0f} ms"
        f" (min {min(t[1] for t in cold) * 1000:.0f})"
    )
    print(
        f"  stampside app, database already made: first paint {ms(warm, 0):.0f} ms,"
        f" start screen ready {ms(warm, 1):.0f} ms"
    )
    print(f"  first paint {ratio:.2f}x the hello-world; target <= 1.5x -> {'MET' if ratio <= 1.5 else 'MISSED'}")
    print(f"  start screen ready {ready_ms / hello_ms:.2f}x the hello-world (figure only)")


def load(minutes: float, rate: float, every: float, profile: str = "") -> None:
    import psutil

    seconds = minutes * 60
    samples: list[tuple[float, float, float]] = []  # (elapsed s, cpu % of one core, rss MB)
    with (
        simulator_process(sim_config(rate)) as (url, _t0),
        temp_database() as db,
        pty_process([*child_argv(url, db, seconds=seconds + SETTLE_S + 1), "--profile", profile]) as child,
    ):
        child.drain()
        proc = psutil.Process(child.proc.pid)
        time.sleep(SETTLE_S)  # start-up is the startup benchmark's business
        proc.cpu_percent(None)
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < seconds:
            time.sleep(min(every, max(0.1, seconds - elapsed)))
            if child.proc.poll() is not None:
                raise SystemExit(f"the app exited early (code {child.proc.returncode}):\n{child.tail()}")
            samples.append((time.monotonic() - start, proc.cpu_percent(None), proc.memory_info().rss / 2**20))
        child.proc.wait(60)  # it stops on its own a little later (and writes its profile)
    cpu = [c for _, c, _ in samples]
    rss = [m for _, _, m in samples]
    half = len(samples) // 2
    cpu_first, cpu_second = statistics.fmean(cpu[: max(1, half)]), statistics.fmean(cpu[half:])
    growth = rss[-1] - rss[half]
    flat = growth < 2 and cpu_second <= cpu_first * 1.5 + 0.5
    print(f"load: stamping screen at {rate:g} stamps/s for {seconds:.0f} s, sampled every {every:g} s:")
    print(
        f"  CPU % of one core: mean {statistics.fmean(cpu):.1f}, max {max(cpu):.1f}"
        f" (first half {cpu_first:.1f}, second half {cpu_second:.1f})"
    )
    print(f"  RSS MB: start {rss[0]:.1f}, end {rss[-1]:.1f}, max {max(rss):.1f}; second-half growth {growth:+.2f}")
    met = statistics.fmean(cpu) <= 5 and max(rss) < 200
    print(f"  targets <= 5 % CPU, < 200 MB -> {'MET' if met else 'MISSED'}; flat -> {'yes' if flat else 'CHECK'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=["latency", "startup", "load", "all", "_stamping-child"])
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
    if args.which in ("latency", "all"):
        latency(args.stamps, args.rate, args.gc_freeze)
    if args.which in ("startup", "all"):
        startup(args.runs)
    if args.which in ("load", "all"):
        load(args.minutes, args.rate, args.every, args.profile)


if __name__ == "__main__":
    main()
