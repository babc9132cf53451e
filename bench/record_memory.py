"""Resident memory of `stampside link record` over a long run.

Usage: python bench/record_memory.py [--seconds 120] [--rate 50] [--every 5]

Runs `stampside sim` on a pty and `stampside link record` against it as separate
processes, samples the recorder's resident set size (/proc/PID/status VmRSS), and prints
the first, last and largest figures and the growth over the second half of the run. The
issue's check is a one-hour run: `--seconds 3600` (the default two minutes is a quick look).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--rate", type=float, default=50, help="stamps per second (default 50)")
    parser.add_argument("--every", type=float, default=5, help="seconds between samples")
    args = parser.parse_args()
    exe = shutil.which("stampside") or str(Path(sys.executable).parent / "stampside")
    with tempfile.TemporaryDirectory(prefix="stampside-mem-") as tmp:
        link = Path(tmp) / "stamp"
        sim = subprocess.Popen(
            [exe, "sim", "--pty", str(link), "--rate", str(args.rate), "--battery-per-stamp", "0", "--quiet"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert sim.stdout is not None
        sim.stdout.readline()
        rec = subprocess.Popen(
            [exe, "link", "record", str(link), "--db", f"sqlite:///{tmp}/mem.sqlite3"],
            stderr=subprocess.DEVNULL,
        )
        samples: list[tuple[float, float]] = []
        start = time.monotonic()
        try:
            while (elapsed := time.monotonic() - start) < args.seconds:
                time.sleep(args.every)
                if rec.poll() is not None:
                    raise SystemExit(f"link record exited early with code {rec.returncode}")
                samples.append((elapsed, rss_mb(rec.pid)))
        finally:
            rec.send_signal(signal.SIGINT)
            rec.wait(10)
            sim.terminate()
            sim.wait(10)
        count = subprocess.run(
            [exe, "export", "--db", f"sqlite:///{tmp}/mem.sqlite3", "--format", "jsonl"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.count("\n")
    half = [mb for t, mb in samples if t >= args.seconds / 2]
    peak = max(mb for _, mb in samples)
    print(f"link record over {args.seconds:.0f} s at {args.rate:g} stamps/s ({count:,} stamps stored):")
    print(f"  RSS first {samples[0][1]:.1f} MB, last {samples[-1][1]:.1f} MB, peak {peak:.1f} MB")
    print(f"  growth over the second half: {half[-1] - half[0]:+.2f} MB")
    print(f"  target < 100 MB and flat -> {'MET' if peak < 100 and half[-1] - half[0] < 2 else 'CHECK'}")


if __name__ == "__main__":
    main()
