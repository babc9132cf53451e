"""The app opens ``ble:`` device URLs: through ``AppConfig.ble_hci`` or ``$STAMPSIDE_BLE_HCI``, and a
link that cannot be opened is one clear message in the app, never a traceback.

The simulator is a bumble GATT peripheral on the virtual link (no radio); the app reaches it
through its ordinary bleak code with the bumble backend.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stampside.app.storage.database import Database
from stampside.app.tui.screens.steps import PreChecksScreen
from stampside.devicelink.ble_bumble import ENV_HCI
from stampside.devicelink.state import LinkState
from stampside.simulator.config import BleConfig
from stampside.simulator.runner import Simulator
from tests.tui.session_helpers import (
    MovableClock,
    current,
    make_app,
    next_enabled,
    seed,
    sim_config,
    start_session_for,
    wait_for,
)


@pytest.fixture
async def ble_sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(sim_config().model_copy(update={"ble": BleConfig.virtual()}))
    await simulator.start()
    yield simulator
    await simulator.stop()


def device_link_errors(app: object) -> list[str]:
    return [n.message for n in app._notifications if n.title == "Device link"]  # type: ignore[attr-defined]


async def test_the_hci_spec_can_come_from_the_environment(
    db_path: Path, db: Database, ble_sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ble_sim.ble_hci is not None
    monkeypatch.setenv(ENV_HCI, ble_sim.ble_hci)
    seed(db)
    app = make_app(db_path, ble_sim.url, MovableClock())  # no ble_hci in the config
    async with app.run_test(size=(100, 30)) as pilot:
        await start_session_for(pilot, "P-0042")
        await wait_for(pilot, lambda: isinstance(current(pilot), PreChecksScreen))
        await wait_for(pilot, lambda: next_enabled(current(pilot)))  # the device was identified over BLE
        bridge = app.session_controller.bridge
        assert bridge is not None and bridge.session is not None
        assert bridge.status.state is LinkState.CONNECTED
        assert bridge.status.serial == ble_sim.config.device.serial
        assert device_link_errors(app) == []


async def test_no_simulator_behind_the_hci_spec_is_one_message_saying_what_to_do(
    db_path: Path, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_HCI, raising=False)
    seed(db)
    # Port 1 on localhost: nothing listens there.
    app = make_app(db_path, "ble:SS000001", MovableClock(), ble_hci="tcp-client:127.0.0.1:1")
    async with app.run_test(size=(100, 30)) as pilot:
        await start_session_for(pilot, "P-0042")
        await wait_for(pilot, lambda: bool(device_link_errors(app)))
        [message] = device_link_errors(app)
        assert "cannot open the HCI transport tcp-client:127.0.0.1:1" in message
        assert "start the simulator first" in message
        assert "Traceback" not in message and "\n" not in message
        bridge = app.session_controller.bridge
        assert bridge is not None and bridge.status.state is LinkState.CLOSED


async def test_a_stamp_that_refuses_every_connection_is_one_message_saying_what_to_do(
    db_path: Path, db: Database, ble_sim: Simulator
) -> None:
    ble_sim.ble_refuse(1000)
    seed(db)
    app = make_app(db_path, ble_sim.url, MovableClock(), ble_hci=ble_sim.ble_hci)
    async with app.run_test(size=(100, 30)) as pilot:
        await start_session_for(pilot, "P-0042")
        await wait_for(pilot, lambda: bool(device_link_errors(app)))
        [message] = device_link_errors(app)
        assert message.startswith("could not connect to the stamp named SS000001") and "try again" in message
        assert "Traceback" not in message and "\n" not in message
