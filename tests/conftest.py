"""Suite-wide settings: long soak runs are skipped unless STAMPSIDE_SOAK=1, and every test has
its own user state folder and the default clinic settings."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("STAMPSIDE_SOAK") == "1":
        return
    skip = pytest.mark.skip(reason="soak run: set STAMPSIDE_SOAK=1 (bench/ carries the long figures)")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def own_user_state_folder(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Point the user state folder at a folder of this test's own (subprocesses inherit it).

    ``stampside sim`` keeps the simulated device's boot counter, seq and buffer there between
    runs: without this, every test starting a simulator with the default serial would power
    up the device the previous test left behind (platformdirs honours XDG_STATE_HOME on Linux).
    """
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(autouse=True)
def no_clinic_settings(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The settings are the defaults unless a test says otherwise: an empty user config folder, and
    none of the settings' STAMPSIDE_ variables of the shell that runs the tests (STAMPSIDE_DB stays,
    as before: commands read it as --db)."""
    from stampside.app.settings import SETTINGS_ENV_VAR, env_var_name, setting_names

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("config")))
    monkeypatch.delenv(SETTINGS_ENV_VAR, raising=False)
    for name in setting_names():
        if name != "db":
            for variable in {env_var_name(name), env_var_name(name.split(".")[0])}:
                monkeypatch.delenv(variable, raising=False)


@pytest.fixture(autouse=True, scope="session")
def cheap_pin_hashing() -> Iterator[None]:
    """PINs are hashed with argon2's cheapest parameters in tests: the product's (RFC 9106's low-memory
    profile) take a tenth of a second each by design. Commands run as subprocesses keep the product's."""
    from argon2 import profiles

    from stampside.app.storage.pin_hashing import use_parameters

    before = use_parameters(profiles.CHEAPEST)
    yield
    use_parameters(before)


@pytest.fixture(autouse=True)
def collectable_after_the_test() -> Iterator[None]:
    """The app takes its long-lived objects out of the garbage collector's reach (``gc.freeze()``,
    :class:`~stampside.app.tui.app.StampsideApp`), as at the chair; after a test they are given back,
    so one test's app is collected before the next starts."""
    yield
    if gc.get_freeze_count():
        gc.unfreeze()
        gc.collect()
