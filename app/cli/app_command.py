"""``stampside app``: the chairside Textual app."""

from __future__ import annotations

from pathlib import Path

import click

from app.cli.errors import CliError
from app.cli.options import db_option, read_settings, settings_option


@click.command("app")
@click.option(
    "--device",
    "device_url",
    metavar="URL",
    help="The stamp's link URL: a serial port or pty path, or ble, ble:NAME, ble:ADDRESS for Bluetooth LE.",
)
@click.option(
    "--hci",
    "ble_hci",
    metavar="SPEC",
    envvar="STAMPSIDE_BLE_HCI",
    help="BLE only: reach the stamp through bumble's host stack on this HCI transport (tcp-client:HOST:PORT "
    "for the simulator's virtual link, usb:0 for a dongle) instead of the OS Bluetooth. Env: STAMPSIDE_BLE_HCI.",
)
@db_option
@click.option(
    "--protocol",
    "protocol_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A clinic's treatment protocol file [default: the built-in protocol].",
)
@settings_option
def app_command(
    device_url: str | None,
    ble_hci: str | None,
    db_url: str | None,
    protocol_file: Path | None,
    settings_file: str | None,
) -> None:
    """The chairside app: choose practitioner and patient, then run a treatment session.

    A protocol file that does not validate is reported with its line and field (exit code 2);
    `stampside protocol check FILE` checks one without starting the app.

    A stamp on Bluetooth LE: --device ble:SS000001 (its advertised name), or plain ble for the
    first stamp found; add --hci tcp-client:HOST:PORT for the simulator's virtual link
    (`stampside sim --ble virtual --hci-serve ...` prints the spec; `stampside demo --ble` does
    it all). A link that cannot be opened is shown in the app as one message.
    """
    protocol = None  # the built-in one, which the app builds after its first paint
    if protocol_file is not None:
        from app.domain.treatment_protocol import ProtocolFileError, load_protocol

        try:
            protocol = load_protocol(protocol_file)
        except ProtocolFileError as exc:
            raise CliError(str(exc)) from None
    settings = read_settings(settings_file)
    # Textual is imported only when the app really starts, so `--help` and errors stay fast.
    from app.tui.app import AppConfig, create_app

    app = create_app(
        AppConfig(database=db_url, device_url=device_url, protocol=protocol, ble_hci=ble_hci, settings=settings)
    )
    app.run()
    if app.return_code:
        raise SystemExit(app.return_code)
