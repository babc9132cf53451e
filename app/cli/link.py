"""``stampside link``: watch, drive, capture and record a device link from the command line.

Every subcommand takes the link as a URL: a device path (``/dev/ttyACM0``), a pty path
(what ``stampside sim --pty`` prints or links), ``socket://HOST:PORT``, ``loop://``, or BLE:
``ble`` (the first stamp found), ``ble:NAME`` or ``ble:ADDRESS``. ``--hci SPEC`` (or
``$STAMPSIDE_BLE_HCI``) runs BLE through bumble's host stack on that HCI transport (the
simulator's virtual link, a USB dongle) instead of the operating system's Bluetooth.
A wrong URL, a busy port or a missing permission ends with one line saying what to do and
exit code 2. ``docs/link.md`` has the details and the capture format.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TextIO, TypeVar

import click

from app.cli.errors import CliError
from app.cli.options import db_option
from app.storage import DatabaseSink, StorageError, open_database
from devicelink.capture import CaptureError, CaptureMarker, CaptureWriter, CapturingTransport, replay_capture
from devicelink.errors import CommandRefused, CommandTimeout, HandshakeFailed, LinkError
from devicelink.events import FrameRecord, StateChange
from devicelink.frame_text import (
    clock,
    format_frame_record,
    format_state_change,
    frame_record_dict,
    message_fields,
    state_change_dict,
)
from devicelink.session import LinkOptions, LinkSession
from devicelink.sink import StampSink
from devicelink.state import LinkState
from devicelink.transport import Transport, TransportOpenError
from devicelink.urls import transport_for_url
from firmware_protocol import Frame, Heartbeat, IncompatibleVersion, Message, Stamp

T = TypeVar("T")

URL_HELP = "device path, pty path, socket://HOST:PORT, loop://, ble, ble:NAME or ble:ADDRESS"


# == plumbing ================================================================================


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _run(main: Callable[[asyncio.Event], Awaitable[T]]) -> T:
    """Run ``main(stop)`` in an event loop; Ctrl-C and SIGTERM set ``stop`` for a clean exit.

    User errors become :class:`CliError` (one line, exit code 2).
    """

    async def runner() -> T:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
        try:
            return await main(stop)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(sig)

    try:
        return asyncio.run(runner())
    except (TransportOpenError, StorageError, IncompatibleVersion, HandshakeFailed, CaptureError) as exc:
        raise CliError(str(exc)) from None
    except BrokenPipeError:
        # The reader of our output went away (| head): not an error of ours.
        with contextlib.suppress(OSError):
            sys.stdout = open("/dev/null", "w")  # noqa: SIM115 - keep interpreter shutdown quiet
        raise SystemExit(0) from None


def _open_sink(db_url: str | None) -> DatabaseSink:
    try:
        return DatabaseSink(open_database(db_url))
    except StorageError as exc:
        raise CliError(str(exc)) from None


def _transport(url: str, hci: str | None) -> Transport:
    """The transport for URL; a malformed BLE URL is a user error."""
    try:
        return transport_for_url(url, hci=hci)
    except TransportOpenError as exc:
        raise CliError(str(exc)) from None


def _options(link_timeout: float) -> LinkOptions:
    if link_timeout <= 0:
        raise CliError("--link-timeout must be more than 0 seconds")
    return LinkOptions(link_timeout=link_timeout)


async def _event_set(event: asyncio.Event) -> None:
    await event.wait()


async def _wait_for_stop(
    stop: asyncio.Event, session: LinkSession, duration: float | None, output: asyncio.Future[None] | None = None
) -> None:
    """Until Ctrl-C/SIGTERM, ``duration`` seconds, the session ends, or ``output`` (the
    printing task) ends, e.g. because the reader of a pipe went away."""
    tasks: list[asyncio.Future[None]] = [
        asyncio.ensure_future(_event_set(stop)),
        asyncio.ensure_future(session.wait_closed()),
    ]
    try:
        await asyncio.wait(
            [*tasks, *([output] if output else [])], timeout=duration, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _raise_session_error(session: LinkSession) -> None:
    if session.error is not None:
        if isinstance(session.error, IncompatibleVersion | HandshakeFailed):
            raise session.error
        raise click.ClickException(f"the link session failed: {session.error}")


class _Printer:
    """Writes frame records and state changes to stdout, as text or as JSON lines."""

    def __init__(self, out: TextIO, *, as_json: bool, with_hex: bool, hide_heartbeats: bool = False) -> None:
        self.out = out
        self.as_json = as_json
        self.with_hex = with_hex
        self.hide_heartbeats = hide_heartbeats
        self.lines = 0

    def frame(self, record: FrameRecord) -> None:
        event = record.event
        if self.hide_heartbeats and isinstance(event, Frame) and isinstance(event.message, Heartbeat):
            return
        if self.as_json:
            self._write(json.dumps(frame_record_dict(record, with_hex=self.with_hex)))
        else:
            self._write(format_frame_record(record, with_hex=self.with_hex))

    def state(self, change: StateChange) -> None:
        if self.as_json:
            self._write(json.dumps(state_change_dict(change)))
        else:
            self._write(format_state_change(change))

    def note(self, kind: str, text: str, **extra: object) -> None:
        """A line of our own (replay markers, ...)."""
        if self.as_json:
            self._write(json.dumps({"t": round(time.time(), 6), "kind": kind, "text": text, **extra}))
        else:
            self._write(text)

    def _write(self, line: str) -> None:
        self.out.write(line + "\n")
        self.lines += 1

    def flush(self) -> None:
        self.out.flush()


async def _pump_frames(session: LinkSession, printer: _Printer) -> None:
    frames = session.subscribe_frames()
    states = session.subscribe_states()

    async def frames_loop() -> None:
        async for record in frames:
            printer.frame(record)
            if not frames.pending():
                printer.flush()

    async def states_loop() -> None:
        async for change in states:
            printer.state(change)
            printer.flush()

    try:
        await asyncio.gather(frames_loop(), states_loop())
    finally:
        frames.close()
        states.close()


# == the group ===============================================================================


@click.group()
def link_group() -> None:
    """Talk to a device link: monitor, send commands, capture, replay, record.

    \b
    URL is a device path (/dev/ttyACM0), a pty path (stampside sim --pty PATH),
    socket://HOST:PORT (stampside sim --listen HOST:PORT), loop://, or BLE:
    ble (the first stamp found), ble:NAME or ble:ADDRESS ('stampside link scan'
    lists them). BLE uses the computer's Bluetooth, or with --hci SPEC (or
    $STAMPSIDE_BLE_HCI) bumble's host stack on that HCI transport, e.g. the
    simulator's virtual link: --hci tcp-client:127.0.0.1:7100.
    """


url_argument = click.argument("url", metavar="URL")
link_timeout_option = click.option(
    "--link-timeout",
    type=float,
    default=2.0,
    show_default=True,
    metavar="S",
    help="Declare the link lost after S seconds without a valid frame, then reconnect.",
)
verbose_option = click.option("-v", "--verbose", count=True, help="Log the session's steps on stderr (-vv: more).")
hci_option = click.option(
    "--hci",
    metavar="SPEC",
    envvar="STAMPSIDE_BLE_HCI",
    help="BLE URLs only: use bumble's host stack on this HCI transport (tcp-client:HOST:PORT for the "
    "simulator's virtual link, usb:0 for a dongle) instead of the OS Bluetooth. Env: STAMPSIDE_BLE_HCI.",
)


# == monitor =================================================================================


@link_group.command("monitor")
@url_argument
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (frames, bad frames, state changes).")
@click.option("--hex", "with_hex", is_flag=True, help="Show the raw bytes of every frame.")
@click.option("--arm", is_flag=True, help="Arm the device (and re-arm it after reconnects).")
@click.option(
    "--db",
    "db_url",
    metavar="DB_URL",
    help="Store the stamps in this database and acknowledge them (as record does). "
    "Without --db or --store nothing is stored and nothing is acknowledged.",
)
@click.option(
    "--store",
    is_flag=True,
    help="Store and acknowledge in the default database ($STAMPSIDE_DB or the user data folder).",
)
@click.option("--hide-heartbeats", is_flag=True, help="Leave HEARTBEAT frames out.")
@click.option("--duration", type=float, metavar="S", help="Stop after S seconds.")
@link_timeout_option
@hci_option
@verbose_option
def monitor_command(
    url: str,
    as_json: bool,
    with_hex: bool,
    arm: bool,
    db_url: str | None,
    store: bool,
    hide_heartbeats: bool,
    duration: float | None,
    link_timeout: float,
    hci: str | None,
    verbose: int,
) -> None:
    """Show the frames going both ways, decoded, with timestamps and bad-frame reports.

    Without --db the monitor only watches: it never acknowledges a stamp (an ACK would make
    the device forget stamps nobody stored) and it shows live stamps, not the device's
    buffer. With --db it stores and acknowledges every stamp, exactly once.
    """
    _setup_logging(verbose)
    options = _options(link_timeout)
    sink: StampSink | None = _open_sink(db_url) if (db_url or store) else None
    printer = _Printer(sys.stdout, as_json=as_json, with_hex=with_hex, hide_heartbeats=hide_heartbeats)
    if sink is None:
        click.echo("monitor: watching only; stamps are not stored or acknowledged (use --db to store)", err=True)

    async def main(stop: asyncio.Event) -> None:
        session = LinkSession(_transport(url, hci), sink=sink, arm=arm, options=options)
        pump = asyncio.ensure_future(_pump_frames(session, printer))
        try:
            await session.start()
            await _wait_for_stop(stop, session, duration, pump)
        finally:
            await session.close()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            printer.flush()
            if not as_json and session.device is not None:
                click.echo(_status_line(session, "monitor"), err=True)
        _raise_session_error(session)

    _run(main)


# == send ====================================================================================


def _print_reply(name: str, message: Message | None, as_json: bool, extra: dict[str, object] | None = None) -> None:
    extra = extra or {}
    if as_json:
        body: dict[str, object] = {"command": name, **extra}
        if message is not None:
            body["reply"] = {"type": message.TYPE.name, "fields": message_fields(message)}
        click.echo(json.dumps(body))
        return
    if message is not None:
        click.echo(f"{message.TYPE.name}")
        for key, value in message_fields(message).items():
            click.echo(f"  {key}: {value}")
    for key, value in extra.items():
        click.echo(f"  {key}: {value}")


SEND_COMMANDS = ("info", "ping", "arm", "disarm", "time-sync", "resume")


@link_group.command("send")
@url_argument
@click.argument("command", type=click.Choice(SEND_COMMANDS))
@click.argument("args", nargs=-1, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the reply as one JSON object.")
@click.option("--timeout", type=float, default=5.0, show_default=True, metavar="S", help="Give up after S seconds.")
@hci_option
@verbose_option
def send_command(
    url: str, command: str, args: tuple[int, ...], as_json: bool, timeout: float, hci: str | None, verbose: int
) -> None:
    """Connect, send one COMMAND, print the reply.

    \b
    info           the device's DEVICE_INFO (from the handshake)
    ping           round-trip time
    arm / disarm   turn counting on / off; prints ARM_STATE
    time-sync      send the host clock; prints TIME_SYNC_REPLY
    resume BOOT SEQ
                   RESUME(BOOT, SEQ): ACKNOWLEDGES every event up to SEQ (the device
                   drops them from its buffer!), then prints the reply and the replayed
                   stamps. "resume 0 0" acknowledges nothing: it lists the whole buffer.
    """
    _setup_logging(verbose)
    expected_args = 2 if command == "resume" else 0
    if len(args) != expected_args:
        need = "BOOT SEQ" if expected_args else "no arguments"
        raise CliError(f"{command} takes {need}")

    async def main(stop: asyncio.Event) -> None:
        session = LinkSession(_transport(url, hci), options=LinkOptions(link_timeout=max(2.0, timeout)))
        await session.start()
        try:
            try:
                info = await session.wait_connected(timeout)
            except TimeoutError:
                raise CliError(
                    f"no answer from a device at {url} within {timeout:g} s: is it switched on, and is this its port?"
                ) from None
            try:
                await _send(session, command, args, as_json, info_reply=info)
            except CommandTimeout as exc:
                raise CliError(f"{exc}: the link is too noisy or the device hangs") from None
            except CommandRefused as exc:
                raise CliError(str(exc)) from None
            except LinkError as exc:
                raise CliError(f"{command} failed: {exc}") from None
        finally:
            await session.close()

    _run(main)


async def _send(session: LinkSession, command: str, args: tuple[int, ...], as_json: bool, info_reply: Message) -> None:
    if command == "info":
        _print_reply(
            command, info_reply, as_json, {"protocol_version": session.device.selected_version if session.device else 0}
        )
    elif command == "ping":
        rtt = await session.ping()
        _print_reply(command, None, as_json, {"rtt_ms": round(rtt * 1000, 3)})
    elif command == "arm":
        _print_reply(command, await session.arm(), as_json)
    elif command == "disarm":
        _print_reply(command, await session.disarm(), as_json)
    elif command == "time-sync":
        _print_reply(command, await session.time_sync(), as_json)
    else:
        boot, seq = args
        if seq > 0:
            click.echo(
                f"warning: RESUME({boot}, {seq}) acknowledges every event up to seq {seq}: "
                "the device drops them from its buffer, stored or not",
                err=True,
            )
        with session.subscribe_frames() as frames:
            reply = await session.resume(boot, seq)
            replayed = await _collect_replays(frames, reply.count)
        _print_reply(command, reply, as_json, {"replayed": len(replayed)})
        for stamp in replayed:
            if as_json:
                click.echo(json.dumps({"type": "STAMP", "replay": True, "fields": message_fields(stamp)}))
            else:
                click.echo("STAMP [REPLAY] " + " ".join(f"{k}={v}" for k, v in message_fields(stamp).items()))


async def _collect_replays(frames: AsyncIterator[FrameRecord], count: int, quiet: float = 1.0) -> list[Stamp]:
    stamps: list[Stamp] = []
    iterator = frames.__aiter__()
    while len(stamps) < count:
        try:
            record = await asyncio.wait_for(iterator.__anext__(), quiet)
        except (TimeoutError, StopAsyncIteration):
            break
        event = record.event
        if isinstance(event, Frame) and isinstance(event.message, Stamp) and event.replay:
            stamps.append(event.message)
    return stamps


# == capture and replay ======================================================================


@link_group.command("capture")
@url_argument
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--arm", is_flag=True, help="Arm the device (and re-arm it after reconnects).")
@click.option("--duration", type=float, metavar="S", help="Stop after S seconds.")
@link_timeout_option
@hci_option
@verbose_option
def capture_command(
    url: str, file: Path, arm: bool, duration: float | None, link_timeout: float, hci: str | None, verbose: int
) -> None:
    """Record every byte both ways, with timestamps, into FILE (see docs/link.md).

    The host side runs as monitor does (handshake, heartbeats, reconnects) and
    acknowledges nothing. Stop with Ctrl-C or --duration; read it back with
    'stampside link replay FILE'.
    """
    _setup_logging(verbose)
    options = _options(link_timeout)

    async def main(stop: asyncio.Event) -> None:
        writer = CaptureWriter(file, url)
        session = LinkSession(CapturingTransport(_transport(url, hci), writer), arm=arm, options=options)
        try:
            await session.start()
            click.echo(f"capturing {url} to {file}; Ctrl-C to stop", err=True)
            await _wait_for_stop(stop, session, duration)
        finally:
            await session.close()
            writer.close()
        stats = session.stats()
        click.echo(
            f"captured {writer.chunks} chunks ({stats.bytes_rx} bytes in, {stats.bytes_tx} out, "
            f"{stats.frames_rx} frames in, {stats.bad_total} bad) to {file}",
            err=True,
        )
        _raise_session_error(session)

    _run(main)


@link_group.command("replay")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--hex", "with_hex", is_flag=True, help="Show the raw bytes of every frame.")
@click.option("--hide-heartbeats", is_flag=True, help="Leave HEARTBEAT frames out.")
def replay_command(file: Path, as_json: bool, with_hex: bool, hide_heartbeats: bool) -> None:
    """Decode a capture FILE through the same decoder as a live link and print it like monitor."""
    printer = _Printer(sys.stdout, as_json=as_json, with_hex=with_hex, hide_heartbeats=hide_heartbeats)
    try:
        for item in replay_capture(file):
            if isinstance(item, CaptureMarker):
                printer.note("marker", f"{clock(item.wall)} -- transport {item.event}", event=item.event, t=item.wall)
            else:
                printer.frame(item)
        printer.flush()
    except CaptureError as exc:
        raise CliError(str(exc)) from None
    except BrokenPipeError:
        with contextlib.suppress(OSError):
            sys.stdout = open("/dev/null", "w")  # noqa: SIM115
        raise SystemExit(0) from None


# == record ==================================================================================


def _status_line(session: LinkSession, who_am_i: str = "record") -> str:
    stats = session.stats()
    device = session.device
    who = f"{device.serial} boot {device.boot}" if device else "no device yet"
    rtt = f"{stats.rtt.mean * 1000:.1f} ms" if stats.rtt.mean is not None else "-"
    line = (
        f"{who_am_i}: {session.state.value} {session.state_age:.1f}s | {who} | new {stats.stored} "
        f"acked {stats.acked_boot}:{stats.acked_seq} | dup {stats.duplicates} replayed {stats.replayed} "
        f"resumes {stats.resumes} | bad frames {stats.bad_total} resyncs {stats.resyncs} | "
        f"reconnects {max(0, stats.connects - 1)} | rtt {rtt}"
    )
    if session.storage_error is not None:
        line += f" | STORAGE ERROR (retrying): {session.storage_error}"
    return line


@link_group.command("record")
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
    """
    _setup_logging(verbose)
    options = _options(link_timeout)
    sink = _open_sink(db_url)
    click.echo(f"record: storing into {sink.database.description}", err=True)

    async def main(stop: asyncio.Event) -> bool:
        session = LinkSession(_transport(url, hci), sink=sink, arm=not no_arm, options=options)
        started = time.monotonic()
        idle_done = False
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
                if now >= next_status:
                    click.echo(_status_line(session), err=True)
                    next_status = now + status_every
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.1)
        finally:
            await session.close()
        click.echo(_status_line(session), err=True)
        _raise_session_error(session)
        return idle_done

    if _run(main) and idle_exit is not None:
        click.echo(f"record: idle for {idle_exit:g} s with everything stored and acknowledged; done", err=True)


# == scan ====================================================================================


@link_group.command("scan")
@click.option("--timeout", type=float, default=5.0, show_default=True, metavar="S", help="Listen for S seconds.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per stamp: name, address, rssi.")
@hci_option
@verbose_option
def scan_command(timeout: float, as_json: bool, hci: str | None, verbose: int) -> None:
    """List the stamps advertising nearby over BLE: name, address and signal strength (RSSI).

    Connect to one with 'stampside link record ble:NAME' (or ble:ADDRESS).
    """
    _setup_logging(verbose)
    if timeout <= 0:
        raise CliError("--timeout must be more than 0 seconds")
    from devicelink.ble_transport import scan

    async def main(stop: asyncio.Event) -> None:
        listen = asyncio.ensure_future(scan(hci, timeout))
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({listen, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not listen.done():
            listen.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listen
            return
        found = listen.result()
        if as_json:
            for stamp in found:
                click.echo(json.dumps({"name": stamp.name, "address": stamp.address, "rssi": stamp.rssi}))
            return
        if not found:
            click.echo(
                f"no stamp found in {timeout:g} s: check that it is switched on and in range "
                "(or that the simulator runs with --ble)",
                err=True,
            )
            return
        click.echo(f"{'NAME':<10} {'ADDRESS':<38} RSSI")
        for stamp in found:
            click.echo(f"{stamp.name:<10} {stamp.address:<38} {stamp.rssi} dBm")

    _run(main)
