"""``stampside link record``: the headless collector, its status line and the device's fault lines."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import click

from stampside.app.cli.link_common import (
    hci_option,
    link_options,
    link_timeout_option,
    make_transport,
    open_sink,
    quiet_session_warnings,
    raise_session_error,
    run,
    setup_logging,
    url_argument,
    verbose_option,
)
from stampside.app.cli.link_faults import CatchUp, DeviceConditions, follow_device
from stampside.app.cli.options import db_option
from stampside.devicelink.broadcast import Subscription
from stampside.devicelink.session import LinkSession
from stampside.devicelink.sink import LinkLogEntry
from stampside.devicelink.state import LinkState


def status_line(
    session: LinkSession, who_am_i: str = "record", conditions: DeviceConditions | None = None, missed: int = 0
) -> str:
    """One line on the link, the delivery and (with ``conditions``) the device's state and faults."""
    stats = session.stats()
    device = session.device
    who = f"{device.serial} boot {device.boot}" if device else "no device yet"
    ledger = session.host.ledger
    if ledger is not None and ledger.life > 1:
        who += f" (numbering {ledger.life})"
    rtt = f"{stats.rtt.mean * 1000:.1f} ms" if stats.rtt.mean is not None else "-"
    line = (
        f"{who_am_i}: {session.state.value} {session.state_age:.1f}s | {who} | new {stats.stored} "
        f"acked {stats.acked_boot}:{stats.acked_seq} | dup {stats.duplicates} replayed {stats.replayed} "
        f"resumes {stats.resumes} | bad frames {stats.bad_total} resyncs {stats.resyncs} | "
        f"reconnects {max(0, stats.connects - 1)} | rtt {rtt}"
    )
    if conditions is not None and (summary := conditions.summary()):
        line += f" | {summary}"
    if missed:
        line += f" | {missed} frames went by too fast to read (flood); faults caught up from the session"
    if session.storage_error is not None:
        line += f" | STORAGE ERROR (retrying): {session.storage_error}"
    return line


def _say(line: str) -> None:
    click.echo(line, err=True)


class StorageWatch:
    """One line when the database goes away (the stamps wait on the device, unacknowledged) and
    one when it is back and the recorder caught up; the retries in between are not repeated."""

    def __init__(self) -> None:
        self.away_since: float | None = None

    def __call__(self, session: LinkSession, now: float) -> str | None:
        error = session.storage_error
        boot, seq = session.acked
        if error is not None and self.away_since is None:
            self.away_since = now
            return (
                f"record: the database is away ({error}); the device keeps its stamps after {boot}:{seq} "
                "unacknowledged until they are stored; retrying"
            )
        if error is None and self.away_since is not None:
            away = now - self.away_since
            self.away_since = None
            return f"record: the database is back after {away:.1f} s; stored and acknowledged up to {boot}:{seq}"
        return None


def _not_a_commit_retry(record: logging.LogRecord) -> bool:
    """The commit pipeline logs each failed retry; ``link record`` says it once (:class:`StorageWatch`)."""
    return not record.getMessage().startswith("storing stamps failed")


async def _say_numberings(notes: Subscription[LinkLogEntry]) -> None:
    """One plain line whenever the device turns out to have restarted its numbering."""
    with notes:
        async for note in notes:
            if note.kind == "new-numbering":
                _say(note.detail)


@click.command("record")
@url_argument
@db_option
@click.option(
    "--idle-exit",
    type=float,
    metavar="SECONDS",
    help="Exit 0 once no new stamp came for SECONDS and the device is connected with everything "
    "stored and acknowledged.",
)
@click.option("--no-arm", is_flag=True, help="Do not arm the device; record what it sends.")
@click.option(
    "--status-every", type=float, default=5.0, show_default=True, metavar="S", help="Status line on stderr (0: none)."
)
@link_timeout_option
@hci_option
@verbose_option
def record_command(
    url: str,
    db_url: str | None,
    idle_exit: float | None,
    no_arm: bool,
    status_every: float,
    link_timeout: float,
    hci: str | None,
    verbose: int,
) -> None:
    """Headless collector: connect, arm, store every stamp exactly once, acknowledge, reconnect.

    Runs until Ctrl-C/SIGTERM (then stores and acknowledges what is in flight) or, with
    --idle-exit, until the device has been quiet that long with nothing left to store.

    \b
    On stderr: a status line every --status-every seconds and at the end, and one line
    the moment the device reports a fault or a condition, e.g.
      SS-000001: buffer full — the device stopped counting (12 stamps refused so far);
      it resumes once stored stamps are acknowledged
    (also: battery low or empty, sensor fault, unexpected reboot, ARM refused, and
    "counting again" when it is over). Stored faults: 'stampside link events --kind fault'.

    
    When the database goes away (a server restarting, a network cut), one line says so: the
    device keeps the stamps unacknowledged in its buffer while the recorder retries, and a
    second line says when the database is back and everything caught up.

    A device that restarted its numbering (wiped, re-flashed, a new board under the same
    serial) is said once too; its stamps are stored apart, as its next numbering:
      SS-000001 restarted its numbering (its newest seq 12 is below the stored 50); its
      stamps are stored apart from the 50 before, as numbering 2, and none is dropped
    """
    setup_logging(verbose)
    # The fault lines and the numbering line say these.
    quiet_session_warnings("incompatible", "fault", "arm-refused", "new-numbering")
    pipeline_log = logging.getLogger("stampside.devicelink.commit_pipeline")
    if verbose == 0 and _not_a_commit_retry not in pipeline_log.filters:
        pipeline_log.addFilter(_not_a_commit_retry)
    storage = StorageWatch()
    options = link_options(link_timeout)
    sink = open_sink(db_url)
    click.echo(f"record: storing into {sink.database.description}", err=True)
    conditions = DeviceConditions(arming=not no_arm)

    async def main(stop: asyncio.Event) -> bool:
        session = LinkSession(make_transport(url, hci), sink=sink, arm=None if no_arm else True, options=options)
        frames = session.subscribe_frames()
        follower = asyncio.ensure_future(follow_device(frames, conditions, _say))
        notes = session.subscribe_notes()
        numbering = asyncio.ensure_future(_say_numberings(notes))
        catch_up = CatchUp(frames, conditions)
        started = time.monotonic()
        idle_done = False
        try:
            await session.start()
            try:
                next_status = started + status_every if status_every > 0 else float("inf")
                while not stop.is_set() and session.state is not LinkState.CLOSED:
                    now = time.monotonic()
                    if idle_exit is not None:
                        last = session.last_stamp_at or started
                        if now - last >= idle_exit and session.settled:
                            idle_done = True
                            break
                    for line in catch_up(session):
                        _say(line)
                    if said := storage(session, now):
                        _say(said)
                    if now >= next_status:
                        _say(status_line(session, conditions=conditions, missed=frames.dropped))
                        next_status = now + status_every
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 0.1)
            finally:
                await session.close()
        finally:
            frames.close()  # the follower says what is still queued, then ends
            notes.close()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
            with contextlib.suppress(asyncio.CancelledError):
                await numbering
        for line in catch_up(session):
            _say(line)
        _say(status_line(session, conditions=conditions, missed=frames.dropped))
        raise_session_error(session)
        return idle_done

    if run(main) and idle_exit is not None:
        _say(f"record: idle for {idle_exit:g} s with everything stored and acknowledged; done")
