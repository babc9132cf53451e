"""Shared set-up for the link benchmarks: a simulator process and a host session."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import serial

HERE = Path(__file__).resolve().parent


@contextlib.contextmanager
def simulator_process(config: dict[str, Any], events: Path | None = None) -> Iterator[tuple[str, float]]:
    """Run bench/sim_child.py (with ``events``: the device's power-ups and arms logged there); yield (url, t0)."""
    extra = [str(events)] if events is not None else []
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "sim_child.py"), json.dumps(config), *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("the simulator did not start")
        info = json.loads(line)
        yield info["url"], float(info["t0"])
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def temp_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="stampside-bench-") as tmp:
        yield f"sqlite:///{tmp}/bench.sqlite3"


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A new database on a PostgreSQL server: ``$STAMPSIDE_BENCH_POSTGRES_URL``'s, else a throw-away
    cluster started here with ``scripts/postgres up`` (fsync and synchronous_commit on, as for a
    clinic) and stopped afterwards. Yields its SQLAlchemy URL; the database is dropped after."""
    from sqlalchemy import create_engine, make_url, text

    script = HERE.parent / "scripts" / "postgres"
    given = os.environ.get("STAMPSIDE_BENCH_POSTGRES_URL")
    data = Path(tempfile.gettempdir()) / f"stampside-pg-bench-{os.getpid()}"
    env = {**os.environ, "STAMPSIDE_PG_DATA": str(data)}
    if given:
        server = given
    else:
        started = subprocess.run([str(script), "up"], capture_output=True, text=True, env=env, check=True)
        server = started.stdout.strip().splitlines()[-1]
    name = f"bench_{os.getpid()}"
    admin = create_engine(make_url(server).set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    finally:
        admin.dispose()
        if not given:
            subprocess.run([str(script), "down"], capture_output=True, env=env)


def raw_pty_rate(megabytes: int = 64) -> float:
    """Bytes per second pyserial reads from a pty that a thread fills as fast as it can."""
    master, slave = os.openpty()
    tty.setraw(slave)
    name = os.ttyname(slave)
    port = serial.Serial(name, timeout=1)
    block = bytes(range(1, 256)) * 256
    total = megabytes * 1024 * 1024

    def writer() -> None:
        sent = 0
        while sent < total:
            sent += os.write(master, block[: min(len(block), total - sent)])

    got = 0
    start = time.perf_counter()
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    while got < total:
        got += len(port.read(max(1, port.in_waiting)))
    elapsed = time.perf_counter() - start
    thread.join()
    port.close()
    os.close(master)
    os.close(slave)
    return got / elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]
