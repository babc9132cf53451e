"""Exactly once across implementations, long: the C device (``stampdev``) recorded by ``link record``.

Builds firmware_protocol/c/ into a temporary folder, then runs the cross-implementation test's
scenario (tests/c/test_cross_implementation.py) at length: stampdev counts ``--stamps`` stamps at
``--rate`` with link drops, bit flips both ways and reboots; once it has counted ``--restart-after``
it is stopped (SIGTERM: its state file keeps what was not acknowledged) and started again on the
same port and state file for the rest; ``stampside link record`` records both into SQLite (or the
``--db postgresql`` server: ``$STAMPSIDE_BENCH_POSTGRES_URL``, else a throw-away
``scripts/postgres`` cluster); once stampdev has exited (everything acknowledged) the recorder is
stopped and ``stampside export`` is compared with stampdev's truth logs.

Prints the figures: stamps counted, stored, duplicates, missing, extra, time, and what was lived
through (drops, reboots, stamps carried over the restart, bad frames, resyncs, reconnects, replays).
Target: duplicates 0, missing 0, extra 0 (exit 1 otherwise).

    .venv/bin/python bench/c_device_bench.py [--stamps 20000] [--rate 2000] [--corrupt 0.01]
        [--reboot-every 3000] [--drop-every 2.0] [--drop-for 0.8] [--versions 1-2] [--db sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import postgres_database
from tests.c.conftest import build_into
from tests.c.test_cross_implementation import Figures, exactly_once_through_a_restart


@contextlib.contextmanager
def _database(kind: str, folder: Path) -> Iterator[str]:
    if kind == "postgresql":
        with postgres_database() as url:
            yield url
    else:
        yield f"sqlite:///{folder / 'bench.db'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stamps", type=int, default=20_000)
    parser.add_argument("--restart-after", type=int, default=None, help="default: half the stamps")
    parser.add_argument("--rate", type=float, default=2000.0, help="stamps per second once armed")
    parser.add_argument("--corrupt", type=float, default=0.01, help="probability a byte gets a bit flipped")
    parser.add_argument("--reboot-every", type=int, default=3000, help="counted stamps")
    parser.add_argument("--drop-every", type=float, default=2.0, help="seconds")
    parser.add_argument("--drop-for", type=float, default=0.8, help="seconds")
    parser.add_argument("--versions", default="1-2", help="protocol versions stampdev speaks")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    faults = (
        *("--corrupt", f"{args.corrupt:g}", "--reboot-every", str(args.reboot_every)),
        *("--drop-every", f"{args.drop_every:g}", "--drop-for", f"{args.drop_for:g}"),
    )
    with tempfile.TemporaryDirectory(prefix="stampside-c-bench-") as tmp:
        folder = Path(tmp)
        # The recorder's user folders (settings, state) are the run's own, as in the test suite.
        for name in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
            (folder / name).mkdir()
            os.environ[name] = str(folder / name)
        build = build_into(folder / "c-build")
        print(f"{args.stamps:,} stamps at {args.rate:g}/s, versions {args.versions}, faults: {' '.join(faults)}")
        figures = Figures()
        try:
            with _database(args.db, folder) as db:
                figures = exactly_once_through_a_restart(
                    build.stampdev,
                    folder,
                    db,
                    stamps=args.stamps,
                    restart_after=args.restart_after or args.stamps // 2,
                    rate=args.rate,
                    faults=faults,
                    versions=args.versions,
                    seed=args.seed,
                )
        except AssertionError as exc:
            print(f"FAILED: {exc}")
            return 1
    print(f"  stamps counted {figures.stamps:,}, stored {figures.stored:,}, duplicates {figures.duplicates}, "
          f"missing {figures.missing}, extra {figures.extra}, time {figures.seconds:.1f} s "
          f"({figures.stamps / figures.seconds:,.0f} stamps/s end to end)")  # fmt: skip
    print(f"  target: every stamp exactly once -> {'MET' if figures.exactly_once else 'MISSED'}")
    return 0 if figures.exactly_once else 1


if __name__ == "__main__":
    sys.exit(main())
