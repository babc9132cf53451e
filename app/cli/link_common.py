"""What the ``stampside link`` subcommands share: logging, the event loop, the link's options and errors.

Every subcommand that opens a link takes it as a URL (see ``stampside.app.cli.link``). User errors
become :class:`~stampside.app.cli.errors.CliError`: one line, exit code 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from stampside.app.cli.errors import CliError
from stampside.app.cli.options import clinic_database
from stampside.app.storage import DatabaseSink, StorageError, open_database
from stampside.devicelink.capture import CaptureError
from stampside.devicelink.errors import HandshakeFailed
from stampside.devicelink.session import LinkOptions, LinkSession
from stampside.devicelink.transport import Transport, TransportOpenError
from stampside.devicelink.urls import transport_for_url
from stampside.firmware_protocol import IncompatibleVersion

T = TypeVar("T")

URL_HELP = "device path, pty path, socket://HOST:PORT, loop://, ble, ble:NAME or ble:ADDRESS"


def setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    quiet_session_warnings("incompatible")  # raised as the command's one Error: line


class _SaidElsewhere(logging.Filter):
    """Drops the link session's warnings of these link-log kinds ("fault: BUFFER_FULL detail=12")."""

    def __init__(self, kinds: frozenset[str]) -> None:
        super().__init__()
        self.kinds = kinds

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage().partition(":")[0] not in self.kinds


def quiet_session_warnings(*kinds: str) -> None:
    """Leave out the session's warnings of these kinds: the command says them itself, once.

    Replaces what an earlier call left out (commands may run one after another in a process).
    """
    logger = logging.getLogger("stampside.devicelink.session")
    for old in [f for f in logger.filters if isinstance(f, _SaidElsewhere)]:
        logger.removeFilter(old)
    logger.addFilter(_SaidElsewhere(frozenset(kinds)))


def run(main: Callable[[asyncio.Event], Awaitable[T]]) -> T:
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
        quiet_stdout()
        raise SystemExit(0) from None


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so interpreter shutdown stays quiet after a broken pipe."""
    with contextlib.suppress(OSError):
        sys.stdout = open("/dev/null", "w")  # noqa: SIM115


def open_sink(db_url: str | None) -> DatabaseSink:
    """The clinic's database (``db_url``, else the settings') as the link's sink."""
    try:
        return DatabaseSink(open_database(clinic_database(db_url)))
    except StorageError as exc:
        raise CliError(str(exc)) from None


def make_transport(url: str, hci: str | None) -> Transport:
    """The transport for URL; a malformed BLE URL is a user error."""
    try:
        return transport_for_url(url, hci=hci)
    except TransportOpenError as exc:
        raise CliError(str(exc)) from None


def link_options(link_timeout: float) -> LinkOptions:
    if link_timeout <= 0:
        raise CliError("--link-timeout must be more than 0 seconds")
    return LinkOptions(link_timeout=link_timeout)


async def _event_set(event: asyncio.Event) -> None:
    await event.wait()


async def wait_for_stop(
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


def raise_session_error(session: LinkSession) -> None:
    if session.error is not None:
        if isinstance(session.error, IncompatibleVersion | HandshakeFailed):
            raise session.error
        raise click.ClickException(f"the link session failed: {session.error}")


# == options several subcommands share =========================================================

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
